"""The same store on PostgreSQL: on the server FRAUDCAST_TEST_POSTGRES_URL names, else on a
throwaway cluster of Debian's postgresql (`make test` installs it; the test skips without it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
from sqlalchemy import create_engine

from data.errors import InvalidFigures, SchemaUpgradeFailed, StoreBusy
from data.migrations import head_revision
from data.store import FigureStore
from tests.data.schemas import (
    ADD_COLUMN,
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
from tests.integration.servers import postgres_cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """The test server's URL, or that of a throwaway cluster's ``figures`` database."""
    given = os.environ.get("FRAUDCAST_TEST_POSTGRES_URL", "")
    if given:
        yield given
        return
    with postgres_cluster(("figures",)) as base:
        yield f"{base}/figures"


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[FigureStore]:
    """A store in a fresh schema of the test server, dropped afterwards."""
    schema = f"fraudcast_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in postgres_url else "?"
    store = FigureStore(f"{postgres_url}{separator}options=-csearch_path%3D{schema}")
    yield store
    store.close()
    with admin.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def test_seed_revise_and_refuse_on_postgres(postgres_store: FigureStore) -> None:
    assert postgres_store.ensure_seeded() is not None
    assert postgres_store.ensure_seeded() is None
    assert len(postgres_store.figures()) == 116

    cybercrime = postgres_store.figures("jp_cybercrime_cleared").drop(columns="revision_id")
    cybercrime.loc[cybercrime["year"] == 2018, "value"] = 9041
    revised = postgres_store.add_figures(cybercrime, source="restated.csv")
    again = postgres_store.add_figures(cybercrime, source="restated.csv")

    assert revised.changed == [("jp_cybercrime_cleared", 2018)] and again.no_op
    assert postgres_store.history("jp_cybercrime_cleared", 2018)["value"].tolist() == [9040, 9041]

    before = postgres_store.figures()
    bad_last = pd.concat(
        [cybercrime.astype(str), cybercrime.head(1).astype(str).assign(year="1800")],
        ignore_index=True,
    )
    with pytest.raises(InvalidFigures):
        postgres_store.add_figures(bad_last, source="bad.csv")
    pd.testing.assert_frame_equal(postgres_store.figures(), before)
    assert len(postgres_store.revisions()) == 2


def test_a_new_store_on_postgres_has_exactly_the_tables_of_data_schema(
    postgres_store: FigureStore,
) -> None:
    postgres_store.list_series()  # first use

    assert stored_revision(postgres_store.url) == head_revision()
    assert schema_differences(postgres_store.url) == []


def test_a_postgres_store_made_before_migrations_keeps_every_figure_and_reaches_head(
    postgres_store: FigureStore,
) -> None:
    make_store_0_1_0(postgres_store.url)
    before = table_rows(postgres_store.url)

    assert postgres_store.ensure_seeded() is None  # first use: upgraded, and not seeded again

    assert stored_revision(postgres_store.url) == head_revision()
    assert schema_differences(postgres_store.url) == []
    assert table_rows(postgres_store.url) == before
    assert postgres_store.history(*RESTATED)["value"].tolist() == RESTATED_VALUES
    assert len(postgres_store.track_record()) == 2
    cybercrime = postgres_store.figures("jp_cybercrime_cleared").drop(columns="revision_id")
    revised = postgres_store.add_figures(cybercrime.assign(note="checked"), source="notes.csv")
    assert revised.revision is not None and revised.revision.id == len(before["revisions"]) + 1


def test_processes_opening_a_new_postgres_store_at_once_create_its_tables_once(
    postgres_store: FigureStore,
) -> None:
    found = first_use_at_once(postgres_store.url)

    # One process created the tables; the others waited on the write lock and found them done.
    assert found == ["no tables", *[f"revision {head_revision()}"] * 3]


def test_a_failed_upgrade_on_postgres_leaves_the_store_as_it_was(
    postgres_store: FigureStore, next_release: Callable[[str], str]
) -> None:
    make_store_0_1_0(postgres_store.url)
    before = table_rows(postgres_store.url)
    next_release(BROKEN_UPGRADE)

    with pytest.raises(SchemaUpgradeFailed, match='relation "no_such_table" does not exist'):
        postgres_store.figures()

    assert stored_revision(postgres_store.url) is None
    assert "checked_by" not in column_names(postgres_store.url, "figures")
    assert table_rows(postgres_store.url) == before


def test_an_upgrade_that_waits_for_a_reader_past_the_lock_timeout_is_busy_and_changes_nothing(
    postgres_store: FigureStore, next_release: Callable[[str], str]
) -> None:
    postgres_store.ensure_seeded()
    postgres_store.close()
    released = head_revision()
    reader = create_engine(postgres_store.url)
    reading = reader.connect()
    reading.exec_driver_sql("SELECT count(*) FROM figures")  # its transaction stays open
    upgraded = next_release(ADD_COLUMN)  # ALTER TABLE figures must wait for that reader
    impatient = FigureStore(f"{postgres_store.url}%20-clock_timeout%3D300")  # milliseconds
    try:
        with pytest.raises(StoreBusy):
            impatient.figures()
        assert stored_revision(postgres_store.url) == released
        reading.rollback()  # the reader is done: the next use upgrades

        assert len(impatient.figures()) == 116
        assert stored_revision(postgres_store.url) == upgraded
        assert "checked_by" in column_names(postgres_store.url, "figures")
    finally:
        reading.close()
        reader.dispose()
        impatient.close()
