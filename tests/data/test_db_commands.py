"""`fraudcast db upgrade` and `fraudcast db current`, as a user runs them."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from data.migrations import VERSION_TABLE, head_revision
from data.settings import StoreSettings
from data.store import FigureStore
from serving.cli import app
from tests.data.schemas import BROKEN_UPGRADE, make_store_0_1_0, stored_revision, table_rows


@pytest.fixture
def runner() -> CliRunner:
    """A terminal wide enough that a message stays on one line."""
    return CliRunner(env={"COLUMNS": "400"})


def test_current_then_upgrade_a_store_made_before_migrations(runner: CliRunner) -> None:
    url = StoreSettings().database_url
    make_store_0_1_0(url)
    rows = table_rows(url)

    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 0, current.output
    assert (
        f"the tables of fraudcast 0.1.0 (no revision); this release's is revision {head_revision()}"
        in current.stdout
    )
    assert stored_revision(url) is None  # `current` changes nothing

    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert (
        f"Upgraded the figure store at {url} from the tables of fraudcast 0.1.0 (no revision) "
        f"to revision {head_revision()}." in upgraded.stdout
    )
    assert stored_revision(url) == head_revision()
    assert table_rows(url) == rows

    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0, again.output
    assert f"is at revision {head_revision()}; nothing to do" in again.stdout
    current = runner.invoke(app, ["db", "current"])
    assert f"revision {head_revision()} (this release's); up to date" in current.stdout


def test_upgrade_creates_the_tables_of_a_new_store(runner: CliRunner) -> None:
    result = runner.invoke(app, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert "Created the figure store's tables at sqlite:///" in result.stdout
    assert f"(revision {head_revision()})" in result.stdout
    assert FigureStore.from_settings().list_series() == []


def test_a_failed_upgrade_exits_1_and_says_the_store_is_as_it_was(
    runner: CliRunner, next_release: Callable[[str], str]
) -> None:
    url = StoreSettings().database_url
    make_store_0_1_0(url)
    rows = table_rows(url)
    next_release(BROKEN_UPGRADE)

    result = runner.invoke(app, ["db", "upgrade"])

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    said = " ".join(result.stderr.split())
    assert "could not upgrade the figure store's tables: upgrading from the tables of" in said
    assert "to 9001 failed: no such table: no_such_table." in said
    assert "The upgrade was rolled back; the store is as it was." in said
    assert stored_revision(url) is None and table_rows(url) == rows


def test_current_on_a_store_a_newer_release_upgraded_says_to_run_that_release(
    runner: CliRunner,
) -> None:
    """`db current` said "`fraudcast db upgrade` upgrades it" of a store that `db upgrade`
    then refused."""
    url = StoreSettings().database_url
    FigureStore(url).ensure_seeded()
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        connection.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0999'")
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 1, current.output
    assert (
        f"revision 0999, which this release (at revision {head_revision()}) does not know: "
        "a newer fraudcast upgraded it; run that release (or restore a backup)."
    ) in current.stdout
    assert "db upgrade" not in current.stdout
    assert stored_revision(url) == "0999"


def test_backup_copies_figures_models_and_artifacts_and_says_how_to_restore(
    runner: CliRunner, isolated_stores
) -> None:
    """The README had no backup, and a plain copy of a live SQLite store misses what is still
    in its write-ahead log: the copy's newest revision was 1 where the live store's was 2."""
    from mlflow.tracking import MlflowClient

    from tests.support import QUICK_CANDIDATES
    from training.pipeline import retrain

    store = FigureStore.from_settings()
    [outcome] = retrain(["jp_cybercrime_cleared"], store=store, candidates=QUICK_CANDIDATES)
    assert outcome.status == "promoted", outcome.reason
    target = isolated_stores / "backup"
    made = runner.invoke(app, ["db", "backup", str(target)])
    assert made.exit_code == 0, made.output
    copy = FigureStore(f"sqlite:///{target / 'fraudcast.db'}")
    assert copy.figures().equals(store.figures())
    assert [r.id for r in copy.revisions()] == [r.id for r in store.revisions()]
    models = MlflowClient(tracking_uri=f"sqlite:///{target / 'mlflow.db'}")
    [model] = models.search_registered_models()
    assert model.name == "fraudcast.jp_cybercrime_cleared"
    assert (target / "artifacts" / "fraudcast_jp_cybercrime_cleared").is_dir()
    assert "Restore into the same paths" in (target / "RESTORE.txt").read_text()
    assert "artifacts/     <- the series' folders under" in made.stdout
    again = runner.invoke(app, ["db", "backup", str(target)])  # never over an earlier backup
    assert again.exit_code == 2 and "a folder with files in it; nothing written" in again.stderr

    # the commands RESTORE.txt gives put the stores back as they were at the backup
    backed_up = store.figures()
    columns = ["series_id", "year", "value", "unit", "source_publisher", "source_title"]
    columns += ["source_url", "accessed_via", "note"]
    latest = backed_up[backed_up["series_id"] == "jp_cybercrime_cleared"].tail(1)[columns]
    later = latest.assign(year=2026, value=round(float(latest["value"].iloc[0]) * 1.1))
    assert not store.add_figures(later, source="test", message="after the backup").no_op
    store.close()
    commands = [
        line.strip()
        for line in (target / "RESTORE.txt").read_text().splitlines()
        if line.strip().startswith(("cp ", "mkdir "))
    ]
    assert len(commands) == 3  # the two databases and the artifacts (no token made yet)
    for command in commands:
        subprocess.run(["bash", "-c", command], cwd=target, check=True)
    restored = FigureStore.from_settings()
    assert restored.figures().equals(backed_up)


def test_a_backup_names_a_tracking_server_without_its_password(
    runner: CliRunner, isolated_stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup had printed "not copied: MLflow at http://u:MlPw99@..." and written the
    same line, password and all, into RESTORE.txt."""
    monkeypatch.setenv("FRAUDCAST_MLFLOW_TRACKING_URI", "http://ops:MlPw99secret@127.0.0.1:1")
    FigureStore.from_settings().ensure_seeded()
    target = isolated_stores / "backup"
    made = runner.invoke(app, ["db", "backup", str(target)])
    assert made.exit_code == 0, made.output
    assert "MLflow at http://ops:***@127.0.0.1:1" in made.stdout
    written = "".join(path.read_text() for path in target.iterdir() if path.suffix == ".txt")
    assert "http://ops:***@127.0.0.1:1" in written
    assert "MlPw99secret" not in made.output + written


def _make_store_at(url: str, revision: str) -> None:
    """A store as an older release left it: its tables at ``revision``."""
    from alembic import command
    from sqlalchemy import create_engine

    from data.migrations import alembic_config

    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
    engine.dispose()


def test_a_command_that_upgrades_the_store_on_first_use_says_so_once() -> None:
    """A store made by older code (revision 0002) was upgraded by `figures seed` (as by `make
    run`) without a word: the command said only what it seeded or "Already seeded"."""
    url = StoreSettings().database_url
    _make_store_at(url, "0002")
    command = [sys.executable, "-m", "serving.cli", "figures", "seed"]

    first = subprocess.run(command, capture_output=True, text=True, check=True)
    again = subprocess.run(command, capture_output=True, text=True, check=True)

    said = f"Upgraded the figure store at {url} from revision 0002 to revision {head_revision()}."
    assert first.stderr.splitlines() == [said], first.stderr
    assert "Seeded" in first.stdout and said not in first.stdout  # stdout stays the command's
    assert stored_revision(url) == head_revision()
    assert said not in again.stdout + again.stderr
    assert "Already seeded; nothing to do." in again.stdout


def test_a_store_upgraded_on_first_use_logs_it_once(caplog: pytest.LogCaptureFixture) -> None:
    """`serve` upgraded a store of revision 0002 and logged nothing of it."""
    url = StoreSettings().database_url
    _make_store_at(url, "0002")
    with caplog.at_level(logging.INFO, logger="data.store"):
        for _ in range(2):  # a second store on the same database finds it upgraded
            store = FigureStore(url)
            store.list_series()
            store.list_series()
            store.close()
    upgrades = [r for r in caplog.records if r.name == "data.store"]
    assert [r.getMessage() for r in upgrades] == [
        f"Upgraded the figure store at {url} from revision 0002 to revision {head_revision()}."
    ]


def test_a_backup_without_the_figure_store_fails_and_says_what_it_holds(
    runner: CliRunner, isolated_stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the figure store on PostgreSQL and a tracking server, `db backup` exited 0 saying
    "Backup written" having copied only the API token, and RESTORE.txt still spoke of the
    databases and their -wal files."""
    from contextlib import nullcontext

    import training.locking

    url = "postgresql+psycopg://ops:PgPw99secret@dbhost:5432/fraudcast"
    monkeypatch.setenv("FRAUDCAST_DATABASE_URL", url)
    monkeypatch.setenv("FRAUDCAST_MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.setattr(training.locking, "retrain_lock", lambda *_: nullcontext())
    (isolated_stores / "api-token").write_text("fc-token")
    target = isolated_stores / "backup"

    made = runner.invoke(app, ["db", "backup", str(target)])

    assert made.exit_code == 1, made.output
    assert "Backup written" not in made.output
    assert "Backup incomplete:" in made.stderr and "holds api-token, but not the figure" in (
        made.stderr
    )
    assert (
        "pg_dump --format=custom --file=fraudcast.dump "
        "'postgresql://ops@dbhost:5432/fraudcast'" in made.stdout
    )
    restore = (target / "RESTORE.txt").read_text()
    assert "api-token" in restore and "pg_dump" in restore
    assert "-wal" not in restore and "databases" not in restore
    assert "PgPw99secret" not in made.output + restore
