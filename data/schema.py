"""Tables of the figure store and the engine that reaches them (SQLite or PostgreSQL)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import OperationalError

#: Execution option that makes a transaction take the write lock when it begins.
WRITE_OPTION = "fraudcast_write"
#: How long a SQLite write waits for another writer; a ``timeout`` (seconds) in the URL overrides.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Seconds a writer refused for a busy store is told to wait before trying again.
BUSY_RETRY_AFTER_S = 5
#: PostgreSQL's "try again" states: lock_not_available, serialization_failure, deadlock_detected.
_POSTGRES_BUSY_STATES = frozenset({"55P03", "40001", "40P01"})
#: Advisory-lock key that PostgreSQL writers of the figure store queue on ("fcst" in ASCII).
POSTGRES_WRITE_LOCK_KEY = 0x66637374
#: Advisory-lock key that retrains hold on the figure store's PostgreSQL ("fcrt" in ASCII).
POSTGRES_RETRAIN_LOCK_KEY = 0x66637274

metadata = MetaData()

series_table = Table(
    "series",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("title", Text, nullable=False),
    Column("unit", String(50), nullable=False),
    Column("country", String(50), nullable=False, default=""),
    Column("publisher", Text, nullable=False, default=""),
    Column("definition", Text, nullable=False, default=""),
    Column("breaks", String(200), nullable=False, default=""),
)

revisions_table = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content_hash", String(64), nullable=False, index=True),
    # Stored as naive UTC: SQLite keeps no offset, so every reader attaches UTC.
    Column("created_at", DateTime(timezone=False), nullable=False),
    Column("source", Text, nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("added", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
)

# Append-only: a new value for an existing (series, year) is a new row in a later revision; a
# row without a value withdraws the figure (``FigureStore.withdraw_figures``).
figures_table = Table(
    "figures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series_id", String(100), ForeignKey("series.id"), nullable=False),
    Column("year", Integer, nullable=False),
    Column("value", Float(precision=53), nullable=True),
    Column("source_publisher", Text, nullable=False),
    Column("source_title", Text, nullable=False),
    Column("source_url", Text, nullable=True),
    Column("accessed_via", String(20), nullable=False),
    Column("note", Text, nullable=True),
    Column("revision_id", Integer, ForeignKey("revisions.id"), nullable=False),
    UniqueConstraint("series_id", "year", "revision_id", name="uq_figure_per_revision"),
)


# One row per (series, year, champion version): how that champion's forecast fared against the
# figure that arrived later. Created like every table, so existing stores gain it on first use.
track_record_table = Table(
    "track_record",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series_id", String(100), ForeignKey("series.id"), nullable=False),
    Column("year", Integer, nullable=False),
    Column("actual", Float(precision=53), nullable=False),
    Column("mean", Float(precision=53), nullable=False),
    Column("lo_80", Float(precision=53), nullable=False),
    Column("hi_80", Float(precision=53), nullable=False),
    Column("lo_95", Float(precision=53), nullable=False),
    Column("hi_95", Float(precision=53), nullable=False),
    Column("inside_80", Boolean, nullable=False),
    Column("inside_95", Boolean, nullable=False),
    Column("model_name", Text, nullable=False),
    Column("model_version", String(100), nullable=False),
    # The data revision hash the scored champion was trained on.
    Column("data_revision", Text, nullable=False),
    # Naive UTC, like revisions.created_at.
    Column("scored_at", DateTime(timezone=False), nullable=False),
    UniqueConstraint("series_id", "year", "model_version", name="uq_score_per_version"),
)


def _write_ahead_log(cursor: Any) -> None:
    """Switch the file to WAL (the file keeps it; later switches are no-ops).

    The first switch needs the file to itself, and SQLite reports "database is locked" at once
    instead of waiting out the busy timeout when another connection is writing, as when two
    processes open a new store together: retry until that writer is done.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _configure_sqlite(engine: Engine) -> None:
    """WAL so readers never block on (or see half of) a write; explicit BEGIN for atomic writes."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below own transactions instead of pysqlite's guesses.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _write_ahead_log(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so two writers never act on a stale read.
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def database_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a figure store's (None when it can): a SQLAlchemy URL of a dialect
    SQLAlchemy has, and for SQLite a ``timeout`` that is a number of seconds."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except NoSuchModuleError:  # an ArgumentError too: first
        hint = (
            " (SQLAlchemy names PostgreSQL postgresql+psycopg://)"
            if parsed.drivername.startswith("postgres")
            else ""
        )
        return f"SQLAlchemy has no database {parsed.drivername!r}{hint}"
    except ArgumentError:
        return "not a SQLAlchemy URL, e.g. sqlite:///data/fraudcast.db or postgresql+psycopg://..."
    try:
        dialect.import_dbapi()
    except ImportError as error:  # mysql:// without MySQLdb had crashed the service's start
        return (
            f"the Python driver for {parsed.drivername!r} is not installed ({error}); "
            "fraudcast installs SQLite's and PostgreSQL's (postgresql+psycopg://)"
        )
    if parsed.get_backend_name() == "sqlite":
        try:
            seconds = _sqlite_timeout(parsed)
        except ValueError:
            seconds = float("nan")
        if not seconds >= 0:  # not a number, negative or nan
            return f"timeout={parsed.query.get('timeout')} is not a number of seconds"
    return None


def _sqlite_timeout(parsed: URL) -> float:
    """Seconds a SQLite write waits for another writer: the URL's ``timeout`` (ValueError when
    it is not a number), else the default."""
    given = parsed.query.get("timeout")
    return float(given) if isinstance(given, str) else SQLITE_BUSY_TIMEOUT_MS / 1000


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and WAL switched on."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": _sqlite_timeout(parsed)})
    _configure_sqlite(engine)
    return engine


def lock_for_write(connection: Connection) -> None:
    """Serialise writers on servers where BEGIN IMMEDIATE does not exist (PostgreSQL).

    A transaction-scoped advisory lock: held until commit or rollback, blocks no reader, and
    works before the tables exist (so it also guards their creation).
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_WRITE_LOCK_KEY})")


def is_busy(error: OperationalError) -> bool:
    """True when the database refused because another writer holds it, not because it failed."""
    cause = error.orig
    if isinstance(cause, sqlite3.OperationalError):
        said = str(cause).lower()
        return "locked" in said or "busy" in said
    return getattr(cause, "sqlstate", None) in _POSTGRES_BUSY_STATES
