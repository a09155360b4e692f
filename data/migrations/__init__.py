"""Schema migrations of the figure store (Alembic): bring any store to this release's tables.

Revisions live in ``versions/`` and ``env.py`` runs them; ``FigureStore`` calls
``upgrade_schema`` when it opens a store, under its write lock. A store made before migrations
existed (fraudcast 0.1.0's tables and no version table) is first stamped with the revision its
tables match, then upgraded like any other.

After changing ``data/schema.py``, write the revision that brings stores along:
``.venv/bin/alembic revision --autogenerate -m "what changed"`` (configured in
``pyproject.toml``; it compares ``FRAUDCAST_DATABASE_URL`` at head with the tables), then read
and correct what it wrote. ``tests/data/test_migrations.py`` fails until the two agree.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from data.errors import SchemaUpgradeFailed, driver_words
from data.records import SchemaState
from data.schema import is_busy

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

#: Alembic's script location: ``env.py``, ``script.py.mako`` and ``versions/``.
SCRIPT_LOCATION = Path(__file__).resolve().parent
#: Where a store keeps its revision: not Alembic's default ``alembic_version``, which MLflow's
#: tracking store keeps its own revision in, should both share a database.
VERSION_TABLE = "fraudcast_schema_version"
#: The tables fraudcast 0.1.0 made before migrations existed, by the revision that creates the
#: same tables. 0.1.0 created missing tables on every start, so a store it opened
#: has them all; one made before its track record and not opened since lacks ``track_record``.
UNVERSIONED_SCHEMAS: dict[str, frozenset[str]] = {
    "0002": frozenset({"series", "revisions", "figures", "track_record"}),
    "0001": frozenset({"series", "revisions", "figures"}),
}
#: Every table fraudcast made before migrations existed.
UNVERSIONED_TABLES = frozenset().union(*UNVERSIONED_SCHEMAS.values())


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built here rather than read from an ini file; ``env.py`` runs
    the migrations on ``connection`` when one is given."""
    from alembic.config import Config  # alembic is imported when a store is opened, not before

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    """The revisions in ``versions/``, read once per process."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this release's tables are at (the newest in ``versions/``)."""
    head = _scripts().get_current_head()  # raises if two revisions claim to be the newest
    if head is None:  # a packaging error, not a state a store can be in
        raise RuntimeError(f"no revisions under {SCRIPT_LOCATION / 'versions'}")
    return head


def schema_state(connection: Connection) -> SchemaState:
    """Where the store's tables stand against this release's revisions; changes nothing."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    revision = context.get_current_revision()
    tables = frozenset(inspect(connection).get_table_names())
    return SchemaState(
        revision=revision,
        head=head_revision(),
        unversioned_tables=tables & UNVERSIONED_TABLES,
        known=revision is None or _is_known(revision),
    )


def _is_known(revision: str) -> bool:
    """Whether ``revision`` is one of this release's (a newer release's is not)."""
    return any(script.revision == revision for script in _scripts().walk_revisions())


def upgrade_schema(connection: Connection) -> SchemaState:
    """Bring the store on ``connection`` to the head revision; returns where it stood before.

    Runs inside the caller's transaction, which holds the store's write lock: concurrent callers
    wait, then find the work done. On any error the caller rolls back and nothing is kept
    (PostgreSQL and SQLite both roll DDL back): ``SchemaUpgradeFailed`` says why, or a lock
    timeout passes through for the caller to report the store busy.
    """
    from alembic import command

    before = schema_state(connection)
    if before.is_current:
        return before
    stamp = _starting_revision(before)
    config = alembic_config(connection)
    try:
        if stamp is not None:
            command.stamp(config, stamp)
        command.upgrade(config, "head")
    except OperationalError as error:
        if is_busy(error):  # a lock timeout is no failure of the upgrade: the store says busy
            raise
        raise _failed(before, error) from error
    except Exception as error:
        raise _failed(before, error) from error
    return before


def _failed(before: SchemaState, error: Exception) -> SchemaUpgradeFailed:
    said = driver_words(error).rstrip(".")
    return SchemaUpgradeFailed(
        f"upgrading from {before.describe()} to {before.head} failed: {said}"
    )


#: What to do with a store a newer release has upgraded.
NEWER_RELEASE = "a newer fraudcast upgraded it; run that release (or restore a backup)"


def _starting_revision(state: SchemaState) -> str | None:
    """The revision to stamp a store made before migrations with (None for any other store);
    refuses, before anything is touched, a store this release cannot bring to head."""
    if not state.known:
        raise SchemaUpgradeFailed(
            f"it is at revision {state.revision!r}, which this release does not know: "
            f"{NEWER_RELEASE}",
            attempted=False,
        )
    if not state.predates_migrations:
        return None
    for revision, tables in UNVERSIONED_SCHEMAS.items():
        if state.unversioned_tables == tables:
            return revision
    raise SchemaUpgradeFailed(
        f"it has tables {', '.join(sorted(state.unversioned_tables))} and no revision, which "
        "matches no schema fraudcast 0.1.0 made",
        attempted=False,
    )
