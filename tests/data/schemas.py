"""Stores as fraudcast 0.1.0 made them, before migrations, and what a store's schema holds.

0.1.0's tables come from ``fixtures/store-0.1.0.<dialect>.sql`` (never from Alembic or today's
``metadata``); the figures are written with the store's own batch code, so they look exactly as
0.1.0 wrote them: the bundled seed, a restated figure with a new source and note, a provenance
correction, and two scored forecasts.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect
from sqlalchemy.engine import Connection

from data.batches import plan_batch, write_batch
from data.bundled import BUNDLED_FIGURES, SEED_SOURCE, read_series_csv
from data.migrations import VERSION_TABLE
from data.records import format_breaks
from data.schema import WRITE_OPTION, lock_for_write, make_engine, metadata, series_table
from data.scores import insert_new_scores, score_rows
from data.validation import read_figures_csv, validate_figures

FIXTURES = Path(__file__).parent / "fixtures"
#: The tables fraudcast 0.1.0 made; no version table among them.
TABLES_0_1_0 = ("series", "revisions", "figures", "track_record")
#: The figure the 0.1.0 store restates, and its values oldest first.
RESTATED = ("jp_cybercrime_cleared", 2018)
RESTATED_VALUES = [9040.0, 9041.0]


def make_store_0_1_0(url: str, *, track_record: bool = True) -> None:
    """Create 0.1.0's tables at ``url`` from its DDL and fill them; ``track_record=False`` makes
    a store of 0.1.0 from before its track record (commit cc292d5), not opened since."""
    engine = make_engine(url)
    try:
        with _writing(engine) as connection:
            ddl = (FIXTURES / f"store-0.1.0.{connection.dialect.name}.sql").read_text()
            for statement in ddl.split(";"):
                if statement.strip(" \n-"):
                    connection.exec_driver_sql(statement)
            if not track_record:
                connection.exec_driver_sql("DROP TABLE track_record")
        with _writing(engine) as connection:
            _fill(connection, track_record=track_record)
    finally:
        engine.dispose()


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    """A transaction holding the store's write lock, as 0.1.0's writes took it."""
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            lock_for_write(connection)
            yield connection


def _fill(connection: Connection, *, track_record: bool) -> None:
    bundled = read_series_csv()
    for info in bundled:
        connection.execute(
            insert(series_table).values(
                id=info.id,
                title=info.title,
                unit=info.unit,
                country=info.country,
                publisher=info.publisher,
                definition=info.definition,
                breaks=format_breaks(info.breaks),
            )
        )
    known = {info.id: info for info in bundled}
    seed = read_figures_csv(BUNDLED_FIGURES)
    _add(connection, known, seed, SEED_SOURCE, "seed: figures bundled with fraudcast")

    series_id, year = RESTATED
    restated = seed[(seed["series_id"] == series_id) & (seed["year"].astype(int) == year)].copy()
    restated = restated.assign(
        value=str(int(RESTATED_VALUES[1])),
        source_title="令和元年におけるサイバー空間をめぐる脅威の情勢等について (restated)",
        source_url="https://www.npa.go.jp/publications/statistics/cybersecurity/",
        note="restated in the 2019 report; 'final' = 確定値",
    )
    _add(connection, known, restated, "npa-restated.csv", "NPA restated 2018")

    corrected = seed[seed["series_id"] == "cn_telecom_fraud_cases_solved"].head(2).copy()
    corrected = corrected.assign(note="=1+1 looks like a formula; it is a note")
    _add(connection, known, corrected, "provenance.csv", "notes corrected")

    if track_record:
        scores = pd.DataFrame(
            {
                "series_id": [series_id, "jp_ib_transfer_cases"],
                "year": [2019, 2023],
                "actual": [11_000.0, 5_578.0],
                "mean": [10_500.5, 5_000.0],
                "lo-80": [9_800.0, 4_100.0],
                "hi-80": [11_200.0, 5_900.0],
                "lo-95": [9_400.0, 3_700.0],
                "hi-95": [11_700.0, 6_400.0],
                "inside_80": [True, True],
                "inside_95": [True, True],
                "model_name": ["theta", "comb"],
                "model_version": ["1", "7"],
                "data_revision": ["a" * 64, "b" * 64],
            }
        )
        insert_new_scores(connection, score_rows(scores))


def _add(
    connection: Connection, known: dict[str, Any], frame: pd.DataFrame, source: str, message: str
) -> None:
    plan = plan_batch(connection, validate_figures(frame, known))
    result = write_batch(connection, plan, source=source, message=message)
    assert result.revision is not None, f"{source} changed nothing"


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of 0.1.0 the store at ``url`` holds, in key order."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
            return {
                name: [tuple(row) for row in connection.exec_driver_sql(_ordered(name)).all()]
                for name in TABLES_0_1_0
                if name in present
            }
    finally:
        engine.dispose()


def _ordered(table: str) -> str:
    return f"SELECT * FROM {table} ORDER BY 1"


def schema_differences(url: str) -> list[object]:
    """What Alembic's autogenerate finds between the store's tables and ``data.schema``."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def stored_revision(url: str) -> str | None:
    """The revision in the store's version table (None without one)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            query = f"SELECT version_num FROM {VERSION_TABLE}"
            return connection.exec_driver_sql(query).scalar_one()
    finally:
        engine.dispose()


def column_names(url: str, table: str) -> list[str]:
    """The columns of one of the store's tables."""
    engine = make_engine(url)
    try:
        return [column["name"] for column in inspect(engine).get_columns(table)]
    finally:
        engine.dispose()


def first_use(url: str, start: Any, said: Any) -> None:
    """One process's first use of the store at ``url``, all at once after ``start`` (a barrier);
    puts where the store stood before into ``said``."""
    from data.store import FigureStore

    store = FigureStore(url)
    start.wait()
    try:
        said.put(store.upgrade_schema().describe())
    except Exception as error:
        said.put(f"failed: {error!r}")
    store.close()


def first_use_at_once(url: str, processes: int = 4) -> list[str]:
    """Open the new store at ``url`` from several processes at once; where each found it."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes)
    said = context.Queue()
    started = [context.Process(target=first_use, args=(url, start, said)) for _ in range(processes)]
    for process in started:
        process.start()
    found = sorted(said.get(timeout=60) for _ in started)
    for process in started:
        process.join(timeout=60)
    return found


#: A revision after this release's head; ``upgrade`` is the body of its ``upgrade()``.
NEXT_REVISION = '''"""The next release's revision (a test's)."""
import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = {head!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    pass
'''
#: An upgrade that adds a column to ``figures``.
ADD_COLUMN = 'op.add_column("figures", sa.Column("checked_by", sa.Text(), nullable=True))'
#: An upgrade that adds the column, then fails.
BROKEN_UPGRADE = ADD_COLUMN + '\n    op.execute("UPDATE no_such_table SET x = 1")'
