"""The drop folder: settled files are added whole and moved; bad ones are rejected with reasons."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.exc import OperationalError

from data.incoming import ready_files
from data.settings import StoreSettings
from data.store import FigureStore
from tests.data.conftest import SETTLE, WriteFigures, age, process, row


def test_incoming_dir_comes_from_the_environment(tmp_path: Path) -> None:
    assert StoreSettings().incoming_dir == tmp_path / "incoming"


def test_a_valid_file_is_added_and_moved_to_processed(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    drop([row(), row(series_id="jp_cybercrime_cleared", year="2018", value="9041")])

    [outcome] = process(seeded_store, incoming)

    assert outcome.accepted and outcome.error is None
    assert outcome.result is not None and not outcome.result.no_op
    assert outcome.result.changed_series == ["jp_cybercrime_cleared", "jp_ib_transfer_cases"]
    assert seeded_store.values("jp_ib_transfer_cases").loc[2024] == 4369
    assert seeded_store.revisions()[-1].source == "incoming/npa-2024.csv"
    # the message goes out in forwarded briefs: the file's name, not the server's path to it
    assert seeded_store.revisions()[-1].message == "npa-2024.csv, dropped into the drop folder"
    assert outcome.name == "npa-2024.csv"
    assert outcome.moved_to.parent == incoming / "processed"
    assert outcome.moved_to.name.endswith("-npa-2024.csv")
    assert outcome.moved_to.exists()
    assert not (incoming / "npa-2024.csv").exists()
    assert list((incoming / "rejected").iterdir()) == []
    # nothing to check: no warnings file beside it
    assert [path.name for path in (incoming / "processed").iterdir()] == [outcome.moved_to.name]


def test_figures_added_with_warnings_say_so_beside_the_processed_copy(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    """The warnings had gone to the service's log only, which whoever dropped the file rarely
    reads."""
    drop([row(value="50000")])

    [outcome] = process(seeded_store, incoming)

    assert outcome.accepted and outcome.result is not None
    beside = outcome.moved_to.with_name(outcome.moved_to.name + ".warnings.txt")
    text = beside.read_text()
    assert text.startswith("'npa-2024.csv' was added at ")
    assert "2024 = 50,000 is 9.0× up on the 2023 value 5,578" in text
    assert "2025 = 4,747 is 10.5× down on the 2024 value 50,000" in text


def test_a_file_with_one_bad_row_last_is_rejected_whole_with_reasons(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    before = seeded_store.figures()
    good = [row(year=str(year), value="100") for year in range(2000, 2010)]
    drop([*good, row(year="2024", value="4,369")], name="bad.csv")

    [outcome] = process(seeded_store, incoming)

    pd.testing.assert_frame_equal(seeded_store.figures(), before)
    assert len(seeded_store.revisions()) == 1
    assert not outcome.accepted and outcome.result is None
    assert outcome.moved_to.parent == incoming / "rejected"
    assert outcome.moved_to.read_text(encoding="utf-8").count("\n") == 12  # kept as dropped
    assert not (incoming / "bad.csv").exists()
    reasons = outcome.moved_to.with_name(outcome.moved_to.name + ".error.txt").read_text("utf-8")
    assert "line 12, column value" in reasons
    assert "'4,369'" in reasons
    assert outcome.error is not None and "line 12, column value" in outcome.error


def test_every_bad_row_is_listed_and_unknown_series_are_rejected(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    drop([row(series_id="jp_nonexistent"), row(year="2023", accessed_via="guess")])

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    assert "line 2, column series_id" in outcome.error
    assert "line 3, column accessed_via" in outcome.error
    assert len(seeded_store.revisions()) == 1


def test_a_file_that_is_not_utf8_text_is_rejected(
    seeded_store: FigureStore, incoming: Path
) -> None:
    scan = incoming / "scan.csv"
    scan.write_bytes("series_id,year\n警察,2024\n".encode("shift_jis"))
    age(scan)

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None and "UTF-8" in outcome.error
    assert outcome.moved_to.parent == incoming / "rejected"


def test_partial_hidden_and_fresh_files_are_not_picked_up(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    for name in ("npa.csv.part", ".hidden.csv", "npa.tmp", "notes.txt"):
        drop([row()], name=name)
    (incoming / "folder.csv").mkdir()
    fresh = drop([row()], name="fresh.csv")
    age(fresh, seconds=SETTLE / 2)

    assert ready_files(incoming, settle_seconds=SETTLE) == []
    assert process(seeded_store, incoming) == []
    assert len(seeded_store.revisions()) == 1
    assert fresh.exists() and (incoming / "npa.csv.part").exists()

    (incoming / "npa.csv.part").rename(incoming / "npa.csv")
    age(fresh, seconds=SETTLE * 2)
    assert [path.name for path in ready_files(incoming, settle_seconds=SETTLE)] == [
        "npa.csv",
        "fresh.csv",
    ]


def test_a_workbook_dropped_instead_of_a_csv_is_refused_saying_what_to_do(
    seeded_store: FigureStore, incoming: Path
) -> None:
    """An .xlsx in the folder had been left there for ever without a word."""
    workbook = age_file(incoming / "figures-2026.xlsx", b"PK\x03\x04 a workbook")

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and not workbook.exists()
    assert "'figures-2026.xlsx' is not a .csv file" in (outcome.error or "")
    assert "save it from the spreadsheet as 'CSV UTF-8 (comma delimited)'" in (outcome.error or "")
    assert outcome.moved_to.parent == incoming / "rejected"
    assert len(seeded_store.revisions()) == 1


def age_file(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return age(path)


def test_ready_files_are_oldest_first_and_folders_are_created(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "incoming"
    assert ready_files(folder, settle_seconds=SETTLE) == []
    assert (folder / "processed").is_dir() and (folder / "rejected").is_dir()
    for name, seconds in (("a.csv", 10), ("b.csv", 30), ("c.csv", 20)):
        (folder / name).touch()
        age(folder / name, seconds=seconds)

    assert [p.name for p in ready_files(folder, settle_seconds=SETTLE)] == [
        "b.csv",
        "c.csv",
        "a.csv",
    ]


def test_the_same_file_dropped_again_is_an_accepted_no_op(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    drop([row()])
    [first] = process(seeded_store, incoming)
    drop([row()])

    [again] = process(seeded_store, incoming)

    assert again.accepted and again.result is not None and again.result.no_op
    assert again.moved_to != first.moved_to
    assert first.moved_to.exists() and again.moved_to.exists()
    assert len(seeded_store.revisions()) == 2


def test_a_store_failure_leaves_the_file_in_place_and_tries_it_again_less_often(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store outage leaves the file where it is, tried again after 2 s, then 4, 8 ... up to
    5 minutes, with one line a try: a full disk had logged a warning every 2 s per file."""
    from data import incoming as incoming_module

    clock = [1000.0]
    monkeypatch.setattr(incoming_module.time, "monotonic", lambda: clock[0])
    dropped = drop([row()])
    tries = []

    def store_down(*args: object, **kwargs: object) -> None:
        tries.append(clock[0])
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))

    with monkeypatch.context() as patch:
        patch.setattr(seeded_store, "add_figures", store_down)
        for _ in range(300):  # a look every 2 s for 10 minutes
            assert process(seeded_store, incoming) == []
            clock[0] += 2.0
    assert [round(at - tries[0]) for at in tries[:6]] == [0, 2, 6, 14, 30, 62]
    assert len(tries) <= 10 and max(b - a for a, b in itertools.pairwise(tries)) <= 302

    assert dropped.exists()
    assert list((incoming / "rejected").iterdir()) == []
    assert list((incoming / "processed").iterdir()) == []
    assert "disk I/O error" in caplog.text and "npa-2024.csv" in caplog.text
    assert "trying it again in 2 s" in caplog.text
    assert caplog.text.count("could not process") == len(tries)  # one line a try
    assert "Traceback" not in caplog.text  # a store outage is one line a try, not a traceback

    clock[0] += 300.0
    [outcome] = process(seeded_store, incoming)
    assert outcome.accepted and not dropped.exists()
    assert seeded_store.values("jp_ib_transfer_cases").loc[2024] == 4369


def test_one_bad_file_does_not_stop_the_others(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    age(drop([row(value="-1")], name="bad.csv"), seconds=120)
    age(drop([row()], name="good.csv"), seconds=60)

    outcomes = process(seeded_store, incoming)

    assert [(o.name, o.accepted) for o in outcomes] == [("bad.csv", False), ("good.csv", True)]
    assert seeded_store.values("jp_ib_transfer_cases").loc[2024] == 4369


def test_a_year_in_full_width_digits_is_rejected_once_with_the_row_named(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures, caplog: pytest.LogCaptureFixture
) -> None:
    drop([row(year="2026"), row(year="２０２６")])

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    assert "line 3, column year: year must be a whole number" in outcome.error
    assert process(seeded_store, incoming) == []
    assert "Traceback" not in caplog.text
    assert len(seeded_store.revisions()) == 1


def test_a_file_that_cannot_be_processed_is_rejected_with_its_reason_not_retried_forever(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    drop([row()])

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug, not the store being down")

    monkeypatch.setattr(seeded_store, "add_figures", broken)
    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    assert "could not be processed" in outcome.error and "KeyError" in outcome.error
    assert outcome.moved_to.parent == incoming / "rejected"
    assert process(seeded_store, incoming) == []
    assert caplog.text.count("Traceback") == 1  # logged once, for whoever fixes the bug
