"""`make clean-data` deletes the stores only while no fraudcast command uses them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import data.in_use
from data.in_use import run_exclusive

pytestmark = pytest.mark.skipif(data.in_use.fcntl is None, reason="no flock on this system")


def _holder(lock: Path) -> subprocess.Popen[str]:
    """A process that holds the shared lock as every `fraudcast` command does, until its stdin
    closes."""
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import data.in_use
        data.in_use.IN_USE = Path({str(lock)!r})
        with data.in_use.in_use():
            print("held", flush=True)
            sys.stdin.read()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_the_stores_are_deleted_only_when_no_fraudcast_process_uses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / ".in-use"
    monkeypatch.setattr(data.in_use, "IN_USE", lock)
    store = tmp_path / "fraudcast.db"
    store.write_text("figures")
    delete = ["rm", "-f", str(store)]

    holder = _holder(lock)
    try:
        assert run_exclusive(delete) == 1
        assert store.exists()  # nothing was deleted under the running service
        assert "stop it first; nothing was deleted" in capsys.readouterr().err
    finally:
        holder.communicate("")  # the service stops
    assert run_exclusive(delete) == 0
    assert not store.exists()


def test_two_fraudcast_processes_use_the_stores_at_once(tmp_path: Path) -> None:
    lock = tmp_path / ".in-use"
    first, second = _holder(lock), _holder(lock)  # the second did not wait for the first
    first.communicate("")
    second.communicate("")


def test_every_fraudcast_command_holds_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    import serving.cli

    held: list[object] = []
    monkeypatch.setattr(serving.cli, "app", lambda: held.append(True))
    monkeypatch.setattr(data.in_use, "in_use", _recording(held))
    serving.cli.main()
    assert held == ["entered", True, "left"]


def _recording(held: list[object]):  # type: ignore[no-untyped-def]
    from contextlib import contextmanager

    @contextmanager
    def in_use():  # type: ignore[no-untyped-def]
        held.append("entered")
        yield
        held.append("left")

    return in_use


def test_make_clean_leaves_the_venv_of_a_running_service_alone(tmp_path: Path) -> None:
    """`make clean` had deleted .venv under a running service, which then answered 500 to
    charts, briefs and writes."""
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "data").mkdir()
    for name in ("Makefile", "data/in_use.py"):
        (tmp_path / name).write_text((root / name).read_text())
    venv = tmp_path / ".venv"
    venv.mkdir()
    clean = [
        "make",
        "--no-print-directory",
        "-C",
        str(tmp_path),
        "clean",
        f"PYTHON={sys.executable}",
    ]
    holder = _holder(tmp_path / "data" / ".in-use")
    try:
        refused = subprocess.run(clean, capture_output=True, text=True)
        assert refused.returncode != 0 and venv.exists()
        assert "stop it first; nothing was deleted" in refused.stderr
    finally:
        holder.communicate("")
    assert subprocess.run(clean, capture_output=True, text=True).returncode == 0
    assert not venv.exists()


def test_make_clean_data_deletes_every_store_and_copy_quietly_after_retrains(
    tmp_path: Path,
) -> None:
    """After a few retrains, clean-data printed dozens of "find: 'mlruns/artifacts/…': No
    such file or directory" and failed with Error 1 although all was deleted; and the drop
    folder's copies of every figures file added (processed/, rejected/) stayed."""
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "data").mkdir()
    for name in ("Makefile", "data/in_use.py"):
        (tmp_path / name).write_text((root / name).read_text())
    (tmp_path / "data" / "fraudcast.db").write_text("figures")
    runs = tmp_path / "mlruns"
    for run in range(3):  # nested folders, as MLflow's artifacts are
        (runs / "artifacts" / f"series_{run}" / "model").mkdir(parents=True)
        (runs / "artifacts" / f"series_{run}" / "model" / "model.pkl").write_text("model")
    (runs / ".gitkeep").write_text("")
    (runs / "mlflow.db").write_text("runs")
    incoming = tmp_path / "data" / "incoming"
    for folder in ("processed", "rejected"):
        (incoming / folder).mkdir(parents=True)
        (incoming / folder / "20260101T000000Z-npa.csv").write_text("series_id,year\n")
    (incoming / "waiting.csv").write_text("series_id,year\n")  # not added yet

    make = ["make", "--no-print-directory", "-C", str(tmp_path), f"PYTHON={sys.executable}"]
    cleaned = subprocess.run(
        [*make, "clean-data", "CONFIRM=yes"],
        capture_output=True,
        text=True,
    )

    assert cleaned.returncode == 0, cleaned.stderr
    assert "No such file" not in cleaned.stderr and "Error" not in cleaned.stderr
    assert sorted(path.name for path in runs.iterdir()) == [".gitkeep"]
    assert not (tmp_path / "data" / "fraudcast.db").exists()
    assert sorted(path.name for path in incoming.iterdir()) == ["waiting.csv"]
    assert "Files still waiting in data/incoming/ were left there." in cleaned.stdout
