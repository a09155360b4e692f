"""The drop folder takes regular files only, and its reports leak nothing they should not."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import data.in_use
import data.incoming
from data.incoming import ERROR_SUFFIX, IncomingOutcome
from data.store import FigureStore
from data.validation import read_figures_csv
from serving.commands import train as train_commands
from tests.data.conftest import WriteFigures, age, process, row

TOKEN = "fc-secret-token-0123456789abcdefghijklmnopqrstuvwxyz"


def error_file(outcome: IncomingOutcome) -> Path:
    return outcome.moved_to.with_name(outcome.moved_to.name + ERROR_SUFFIX)


def error_text(outcome: IncomingOutcome) -> str:
    return error_file(outcome).read_text("utf-8")


def test_links_are_refused_without_reading_what_they_point_to(
    seeded_store: FigureStore,
    incoming: Path,
    write_figures: WriteFigures,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = tmp_path / "api-token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    good_elsewhere = age(write_figures([row()], name="elsewhere.csv"))
    age(secret)
    (incoming / "tok.csv").symlink_to(secret)
    (incoming / "figures.csv").symlink_to(good_elsewhere)
    (incoming / "environ.csv").symlink_to("/proc/self/environ")
    for name in ("tok.csv", "figures.csv", "environ.csv"):
        age(incoming / name)

    with caplog.at_level(logging.INFO):
        outcomes = process(seeded_store, incoming)

    assert sorted(o.name for o in outcomes) == ["environ.csv", "figures.csv", "tok.csv"]
    assert len(seeded_store.revisions()) == 1  # the valid CSV behind the link was not ingested
    for outcome in outcomes:
        assert not outcome.accepted and outcome.error is not None
        assert "not a regular file" in outcome.error
        assert outcome.moved_to.parent == incoming / "rejected"
        assert outcome.moved_to.is_symlink()  # the link itself moved, its target untouched
        assert not (incoming / outcome.name).exists()
        assert TOKEN[:8] not in error_text(outcome)
        assert "PATH=" not in error_text(outcome)
    assert TOKEN[:8] not in caplog.text and "PATH=" not in caplog.text
    assert secret.read_text(encoding="utf-8") == TOKEN + "\n"
    assert good_elsewhere.exists()


def test_other_non_regular_files_are_refused_not_left_forever(
    seeded_store: FigureStore, incoming: Path
) -> None:
    os.mkfifo(incoming / "pipe.csv")
    age(incoming / "pipe.csv")

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    assert "not a regular file" in outcome.error
    assert stat.S_ISFIFO(outcome.moved_to.lstat().st_mode)
    assert not (incoming / "pipe.csv").exists()


def test_error_reports_are_readable_by_their_owner_only(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    drop([row(value="-1")])

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted
    assert stat.S_IMODE(error_file(outcome).stat().st_mode) & 0o077 == 0


def test_a_secret_dropped_as_a_header_is_quoted_only_as_a_short_escaped_excerpt(
    seeded_store: FigureStore, incoming: Path, caplog: pytest.LogCaptureFixture
) -> None:
    long_secret = TOKEN * 20
    dropped = incoming / "copied-token.csv"
    dropped.write_text(f"{long_secret}\n{long_secret}\x1b[2J\n", encoding="utf-8")
    age(dropped)

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    for text in (outcome.error, error_text(outcome), caplog.text):
        assert long_secret[:41] not in text
        assert "\x1b" not in text
    assert f"{long_secret[:40]}…" in outcome.error


def test_a_hard_link_to_another_file_is_refused(
    seeded_store: FigureStore, incoming: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "api-token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    os.link(secret, incoming / "tok.csv")
    age(incoming / "tok.csv")

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    assert "other hard links" in outcome.error
    assert TOKEN[:8] not in error_text(outcome)
    assert secret.read_text(encoding="utf-8") == TOKEN + "\n"


def test_a_link_swapped_in_after_the_check_is_still_refused(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = tmp_path / "api-token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    dropped = drop([row()])
    checked = data.incoming._not_regular

    def check_then_swap(status: os.stat_result) -> str | None:
        verdict = checked(status)
        if dropped.exists() and not dropped.is_symlink():  # the attacker wins the race
            dropped.unlink()
            dropped.symlink_to(secret)
        return verdict

    monkeypatch.setattr(data.incoming, "_not_regular", check_then_swap)
    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    assert "not a regular file (a symbolic link)" in outcome.error
    assert TOKEN[:8] not in error_text(outcome)
    assert len(seeded_store.revisions()) == 1


def stored_rows(store: FigureStore) -> set[tuple[int, float]]:
    current = store.figures("jp_ib_transfer_cases")
    return {(int(y), float(v)) for y, v in zip(current["year"], current["value"], strict=True)}


def file_rows(path: Path) -> set[tuple[int, float]]:
    frame = read_figures_csv(path)
    return {(int(y), float(v)) for y, v in zip(frame["year"], frame["value"], strict=True)}


def test_a_row_appended_while_the_file_is_added_is_not_in_processed_and_not_lost_silently(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dropped = drop([row(year="2024", value="4369")])
    add_figures = seeded_store.add_figures

    def add_then_the_writer_appends(*args: object, **kwargs: object) -> object:
        result = add_figures(*args, **kwargs)  # type: ignore[arg-type]
        with open(dropped, "a", encoding="utf-8") as late:  # a slow writer, 4.5 s on
            late.write("jp_ib_transfer_cases,2010,5000,count,NPA,Report,,primary,late row\n")
        return result

    monkeypatch.setattr(seeded_store, "add_figures", add_then_the_writer_appends)
    [outcome] = process(seeded_store, incoming)

    assert outcome.accepted
    # What processed/ holds is exactly what was stored...
    assert file_rows(outcome.moved_to) == {(2024, 4369.0)}
    assert (2024, 4369.0) in stored_rows(seeded_store)
    assert 2010 not in {year for year, _ in stored_rows(seeded_store)}
    # ...and the file as it is now, late row and all, waits in rejected/ with the reason.
    [late] = [p for p in (incoming / "rejected").iterdir() if p.suffix == ".csv"]
    assert "late row" in late.read_text(encoding="utf-8")
    reason = late.with_name(late.name + ERROR_SUFFIX).read_text(encoding="utf-8")
    assert "changed after it was read" in reason
    assert "changed after it was read" in caplog.text
    assert not dropped.exists()


def test_a_file_replaced_while_it_is_added_is_left_for_the_next_tick(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    write_figures: WriteFigures,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dropped = drop([row(year="2024", value="4369")])
    add_figures = seeded_store.add_figures

    def add_then_a_new_file_is_renamed_in(*args: object, **kwargs: object) -> object:
        result = add_figures(*args, **kwargs)  # type: ignore[arg-type]
        write_figures([row(year="2010", value="5000")], name="next.csv").replace(dropped)
        return result

    monkeypatch.setattr(seeded_store, "add_figures", add_then_a_new_file_is_renamed_in)
    [outcome] = process(seeded_store, incoming)
    monkeypatch.undo()

    assert outcome.accepted and file_rows(outcome.moved_to) == {(2024, 4369.0)}
    assert file_rows(dropped) == {(2010, 5000.0)}  # the new file is still there...
    age(dropped)
    [second] = process(seeded_store, incoming)  # ...and added on the next look
    assert second.accepted and (2010, 5000.0) in stored_rows(seeded_store)


def test_a_file_name_with_a_newline_cannot_forge_log_lines(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    age(drop([row(value="-1")], name="bad\nCRITICAL forged.csv"), seconds=120)
    age(drop([row()], name="good\nCRITICAL forged.csv"), seconds=60)

    with caplog.at_level(logging.INFO):
        rejected, added = process(seeded_store, incoming)

    assert not rejected.accepted and added.accepted
    assert not [line for line in caplog.text.splitlines() if line.startswith("CRITICAL")]
    assert "'bad\\nCRITICAL forged.csv'" in caplog.text
    assert error_text(rejected).splitlines()[0].startswith("'bad\\nCRITICAL forged.csv' was")


def test_watch_prints_a_file_name_quoted_not_as_markup_or_two_lines(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    app = typer.Typer()
    train_commands.register(app)
    drop([row(value="-1")], name="bad\n[bold]forged.csv")

    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["watch", "--once"])

    assert result.exit_code == 0, result.output
    assert "rejected 'bad\\n[bold]forged.csv' → " in result.stdout


def test_watch_says_when_it_created_the_folder_it_watches(
    seeded_store: FigureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped FRAUDCAST_INCOMING_DIR was created and watched without a word, so files
    dropped in the real folder were never seen."""
    mistyped = tmp_path / "incomming"
    monkeypatch.setenv("FRAUDCAST_INCOMING_DIR", str(mistyped))
    app = typer.Typer()
    train_commands.register(app)

    first = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["watch", "--once"])
    assert first.exit_code == 0, first.output
    assert f"{mistyped} did not exist: created it (FRAUDCAST_INCOMING_DIR)" in first.stdout
    again = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["watch", "--once"])
    assert "did not exist" not in again.stdout


def test_a_rejected_file_another_watcher_took_first_leaves_no_report_behind(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two services sharing a drop folder: when the other moved a bad file first, this one
    had written its rejected/…csv.error.txt anyway, beside no file."""
    dropped = drop([row(value="not a number")])
    elsewhere = incoming.parent / "taken-by-the-other-service.csv"

    def read_while_the_other_takes_it(*args: object, **kwargs: object) -> object:
        dropped.replace(elsewhere)  # the other service moves it to its rejected/ meanwhile
        return read_figures_csv(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(data.incoming, "read_figures_csv", read_while_the_other_takes_it)
    assert process(seeded_store, incoming) == []

    assert list((incoming / "rejected").iterdir()) == []
    assert elsewhere.exists()


@pytest.mark.skipif(data.in_use.fcntl is None, reason="no flock on this system")
def test_a_file_another_watcher_is_adding_is_left_to_it_and_kept_once(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    """Two services sharing a drop folder both added a good file and each kept a copy of it
    in processed/."""
    import fcntl

    dropped = drop([row(year="2024", value="4369")])
    with dropped.open("rb") as other:  # the other service holds it while adding it
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        assert process(seeded_store, incoming) == []
        assert dropped.exists() and list((incoming / "processed").iterdir()) == []
    [outcome] = process(seeded_store, incoming)  # left to this one once the other let go
    assert outcome.accepted
    assert [path.name for path in (incoming / "processed").iterdir()] == [outcome.moved_to.name]
