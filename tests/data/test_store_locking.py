"""Adding figures holds the store's write lock only for the write, and a busy store says so."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import typer
from sqlalchemy.engine import Connection
from typer.testing import CliRunner

import data.errors
import data.schema
import data.store
from data.records import SeriesInfo
from data.store import FigureStore
from serving.commands import figures as figures_commands
from tests.data.conftest import WriteFigures, process, row

NEW_SERIES = SeriesInfo("jp_test_reports", "Test reports", "count", country="JP")


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores opened from now on give up on a held write lock after 0.3 s instead of 30 s."""
    monkeypatch.setattr(data.schema, "SQLITE_BUSY_TIMEOUT_MS", 300)


def database_file(store: FigureStore) -> Path:
    return Path(store.url.removeprefix("sqlite:///"))


@contextmanager
def write_lock_held(store: FigureStore) -> Iterator[None]:
    """Another process mid-write on ``store`` for as long as the block runs."""
    holder = sqlite3.connect(database_file(store), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_another_write_goes_through_while_a_batch_is_being_validated(
    seeded_store: FigureStore, monkeypatch: pytest.MonkeyPatch, short_busy_timeout: None
) -> None:
    other = FigureStore(seeded_store.url)
    validate = data.store.validate_figures

    def validate_while_another_writes(frame: pd.DataFrame, *known: object) -> pd.DataFrame:
        other.add_series(NEW_SERIES)  # e.g. the API, while the drop folder checks a big file
        return validate(frame, *known)  # type: ignore[arg-type]

    monkeypatch.setattr(data.store, "validate_figures", validate_while_another_writes)
    result = seeded_store.add_figures(pd.DataFrame([row()]), source="big.csv")

    assert result.added == [("jp_ib_transfer_cases", 2024)]
    assert other.get_series(NEW_SERIES.id) == NEW_SERIES
    other.close()


def test_a_batch_that_cannot_get_the_write_lock_raises_store_busy(
    seeded_store: FigureStore, short_busy_timeout: None
) -> None:
    before = seeded_store.figures()
    waiting = FigureStore(seeded_store.url)
    try:
        with write_lock_held(seeded_store), pytest.raises(data.errors.StoreBusy) as caught:
            waiting.add_figures(pd.DataFrame([row()]), source="late.csv")
    finally:
        waiting.close()

    assert isinstance(caught.value, data.errors.FraudcastDataError)
    assert isinstance(caught.value.retry_after, int) and caught.value.retry_after > 0
    assert "busy" in str(caught.value)
    pd.testing.assert_frame_equal(seeded_store.figures(), before)


def test_the_drop_folder_keeps_a_file_for_the_next_tick_while_the_store_is_busy(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    short_busy_timeout: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from data import incoming as incoming_module

    clock = [1000.0]
    monkeypatch.setattr(incoming_module.time, "monotonic", lambda: clock[0])
    dropped = drop([row()])
    waiting = FigureStore(seeded_store.url)
    with write_lock_held(seeded_store):
        assert process(waiting, incoming) == []

    assert dropped.exists()
    assert list((incoming / "rejected").iterdir()) == []
    # its own wait only: "(StoreBusy: ... Try again in 5 s.); trying it again in 2 s" had read
    assert "busy with another write; nothing was written); trying it again in 2 s" in caplog.text
    assert "Try again in" not in caplog.text
    clock[0] += incoming_module.RETRY_FIRST_S  # its next try is due
    [outcome] = process(waiting, incoming)
    assert outcome.accepted and seeded_store.values("jp_ib_transfer_cases").loc[2024] == 4369
    waiting.close()


def test_figures_add_on_a_busy_store_says_so_and_exits_75(
    seeded_store: FigureStore, write_figures: WriteFigures, short_busy_timeout: None
) -> None:
    app = typer.Typer()
    figures_commands.register(app)
    with write_lock_held(seeded_store):
        result = CliRunner().invoke(app, ["figures", "add", str(write_figures([row()]))])

    assert result.exit_code == 75, result.output
    assert "busy with another write; nothing was written. Try again in 5 s" in result.stderr


def test_a_batch_planned_before_another_write_landed_is_planned_again_under_the_lock(
    seeded_store: FigureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = FigureStore(seeded_store.url)
    plan = data.store.plan_batch
    planned_by: list[str] = []

    def plan_while_another_adds_the_same(connection: Connection, clean: pd.DataFrame) -> object:
        planned = plan(connection, clean)
        planned_by.append("drop folder" if len(planned_by) != 1 else "API")
        if len(planned_by) == 1:  # the API adds the same figure between this plan and the write
            other.add_figures(pd.DataFrame([row()]), source="API")
        return planned

    monkeypatch.setattr(data.store, "plan_batch", plan_while_another_adds_the_same)
    result = seeded_store.add_figures(pd.DataFrame([row()]), source="incoming/same.csv")

    assert planned_by == ["drop folder", "API", "drop folder"]
    assert result.no_op and result.unchanged == [("jp_ib_transfer_cases", 2024)]
    assert [revision.source for revision in seeded_store.revisions()][1:] == ["API"]
    other.close()


def test_a_waiting_file_taken_away_during_an_outage_is_forgotten(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    short_busy_timeout: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from data import incoming as incoming_module

    monkeypatch.setattr(incoming_module, "_RETRIES", {})
    dropped = drop([row()])
    waiting = FigureStore(seeded_store.url)
    try:
        with write_lock_held(seeded_store):
            assert process(waiting, incoming) == []
            assert len(incoming_module._RETRIES) == 1  # waiting for its next try
            dropped.unlink()  # the steward took it back
            assert process(waiting, incoming) == []
    finally:
        waiting.close()

    assert incoming_module._RETRIES == {}
