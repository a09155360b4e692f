"""A write that gives up waiting for another writer is ``StoreBusy``, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from data.errors import StoreBusy
from data.schema import POSTGRES_WRITE_LOCK_KEY, is_busy
from data.store import FigureStore
from tests.data import test_postgres
from tests.data.conftest import row

# The throwaway PostgreSQL store of the PostgreSQL tests, for the lock-timeout test below.
postgres_url = test_postgres.postgres_url
postgres_store = test_postgres.postgres_store


class _PostgresError(Exception):
    """What psycopg raises, as far as the check looks: the SQLSTATE."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def test_a_sqlite_write_behind_another_writer_is_store_busy(seeded_store: FigureStore) -> None:
    store = FigureStore(f"{seeded_store.url}?timeout=0.2")
    before = store.figures()
    holder = sqlite3.connect(make_url(store.url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy) as caught:
            store.add_figures(pd.DataFrame([row()]), source="test.csv", message="")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert caught.value.retry_after >= 1
    assert store.figures().equals(before)
    store.close()


@pytest.mark.parametrize("sqlstate", ["55P03", "40001", "40P01"])
def test_a_postgres_lock_timeout_or_serialization_failure_is_store_busy(sqlstate: str) -> None:
    orig = _PostgresError("canceling statement due to lock timeout", sqlstate)
    assert is_busy(OperationalError("SELECT pg_advisory_xact_lock(1)", {}, orig))


def test_other_database_errors_are_not_busy() -> None:
    failure = _PostgresError("could not extend file: No space left on device", "53100")
    assert not is_busy(OperationalError("INSERT", {}, failure))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_postgres_write_past_its_lock_timeout_is_store_busy(postgres_store: FigureStore) -> None:
    postgres_store.ensure_seeded()
    before = postgres_store.figures()
    # The store's own wait, set as PostgreSQL's lock_timeout through the URL's options.
    waiting = FigureStore(f"{postgres_store.url}%20-clock_timeout%3D300")
    holder = create_engine(postgres_store.url)
    with holder.connect() as other, other.begin():
        other.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_WRITE_LOCK_KEY})")
        with pytest.raises(StoreBusy):
            waiting.add_figures(pd.DataFrame([row()]), source="test.csv")
    holder.dispose()
    waiting.close()
    pd.testing.assert_frame_equal(postgres_store.figures(), before)
