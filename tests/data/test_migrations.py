"""Schema migrations: every store reaches this release's tables on first use, and keeps its figures.

The same checks run on PostgreSQL in ``test_postgres.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

import data.migrations
import data.schema
from data.errors import SchemaUpgradeFailed, StoreBusy
from data.store import FigureStore
from tests.data.schemas import (
    BROKEN_UPGRADE,
    RESTATED,
    RESTATED_VALUES,
    column_names,
    first_use_at_once,
    make_store_0_1_0,
    schema_differences,
    stored_revision,
    table_rows,
)
from tests.data.test_track_record import score, scores

HEAD = data.migrations.head_revision()


def test_a_new_store_has_exactly_the_tables_of_data_schema(figure_store: FigureStore) -> None:
    figure_store.list_series()  # first use

    assert stored_revision(figure_store.url) == HEAD
    # A column added to data/schema.py without a revision fails here.
    assert schema_differences(figure_store.url) == []


@pytest.mark.parametrize("track_record", [True, False], ids=["0.1.0", "0.1.0-before-scores"])
def test_a_store_made_before_migrations_keeps_every_figure_and_reaches_head(
    figure_store: FigureStore, track_record: bool
) -> None:
    make_store_0_1_0(figure_store.url, track_record=track_record)
    before = table_rows(figure_store.url)
    figures_before = len(before["figures"])

    assert figure_store.ensure_seeded() is None  # first use: upgraded, and not seeded again

    assert stored_revision(figure_store.url) == HEAD
    assert schema_differences(figure_store.url) == []
    after = table_rows(figure_store.url)
    assert {name: after[name] for name in before} == before  # every row as it was
    assert len(figure_store.figures()) == 116 and figures_before == 119
    assert figure_store.history(*RESTATED)["value"].tolist() == RESTATED_VALUES
    assert [revision.source for revision in figure_store.revisions()][1:] == [
        "npa-restated.csv",
        "provenance.csv",
    ]
    assert len(figure_store.track_record()) == (2 if track_record else 0)
    assert figure_store.record_scores(scores(score(model_version="8"))) == 1


def test_a_store_sharing_its_database_with_mlflow_leaves_mlflows_revision_alone(
    figure_store: FigureStore,
) -> None:
    with sqlite3.connect(figure_store.url.removeprefix("sqlite:///")) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('1b5f0d9ad7c1')")  # MLflow's

    assert figure_store.ensure_seeded() is not None

    assert stored_revision(figure_store.url) == HEAD
    with sqlite3.connect(figure_store.url.removeprefix("sqlite:///")) as connection:
        assert connection.execute("SELECT * FROM alembic_version").fetchall() == [("1b5f0d9ad7c1",)]


def test_a_store_at_head_opens_while_another_process_writes(
    seeded_store: FigureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data.schema, "SQLITE_BUSY_TIMEOUT_MS", 300)
    holder = sqlite3.connect(seeded_store.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # e.g. a long figures file being added
    reader = FigureStore(seeded_store.url)
    try:
        assert len(reader.figures()) == 116  # opening it takes no write lock
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        reader.close()


def test_processes_opening_a_new_store_at_once_create_its_tables_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"

    found = first_use_at_once(url)

    # One process created the tables; the others waited for it and found them at head.
    assert found == ["no tables", *[f"revision {HEAD}"] * 3]
    assert stored_revision(url) == HEAD


@pytest.mark.parametrize("made_by", ["0.1.0", "this release"])
def test_a_failed_upgrade_leaves_the_store_as_it_was_and_says_why(
    figure_store: FigureStore, made_by: str, next_release: Callable[[str], str]
) -> None:
    if made_by == "0.1.0":
        make_store_0_1_0(figure_store.url)
    else:
        figure_store.ensure_seeded()
        figure_store.close()
    revision_before = stored_revision(figure_store.url)
    rows_before = table_rows(figure_store.url)
    next_release(BROKEN_UPGRADE)

    reopened = FigureStore(figure_store.url)
    with pytest.raises(SchemaUpgradeFailed) as caught:
        reopened.figures()

    said = str(caught.value)
    assert "could not upgrade the figure store's tables" in said
    assert "to 9001 failed" in said and "no such table: no_such_table" in said
    assert "rolled back; the store is as it was" in said
    assert "UPDATE" not in said  # the driver's reason, not the statement
    assert stored_revision(figure_store.url) == revision_before
    assert "checked_by" not in column_names(figure_store.url, "figures")
    assert table_rows(figure_store.url) == rows_before


def test_a_store_a_newer_release_upgraded_is_refused_untouched(
    seeded_store: FigureStore,
) -> None:
    seeded_store.close()
    with sqlite3.connect(seeded_store.url.removeprefix("sqlite:///")) as connection:
        connection.execute(f"UPDATE {data.migrations.VERSION_TABLE} SET version_num = '0999'")
    rows_before = table_rows(seeded_store.url)

    with pytest.raises(SchemaUpgradeFailed, match="revision '0999', which this release does not"):
        FigureStore(seeded_store.url).figures()
    assert table_rows(seeded_store.url) == rows_before
    # nothing was tried, so nothing was "rolled back"
    with pytest.raises(SchemaUpgradeFailed, match="Nothing was tried; the store is as it was"):
        FigureStore(seeded_store.url).figures()


def test_an_upgrade_that_cannot_get_the_write_lock_raises_store_busy(
    figure_store: FigureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_store_0_1_0(figure_store.url)
    monkeypatch.setattr(data.schema, "SQLITE_BUSY_TIMEOUT_MS", 300)
    holder = sqlite3.connect(figure_store.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy):
            FigureStore(figure_store.url).figures()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert stored_revision(figure_store.url) is None
    assert len(figure_store.figures()) == 116  # and the next use upgrades it
