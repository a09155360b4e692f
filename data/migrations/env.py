"""Alembic's environment for the figure store: compares against ``data.schema.metadata``, and runs
the revisions on the connection ``data.migrations.upgrade_schema`` hands it, inside that
connection's write transaction. Run by hand (``alembic revision --autogenerate``), it opens
``FRAUDCAST_DATABASE_URL`` and takes the store's write lock itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from data.migrations import VERSION_TABLE
from data.schema import WRITE_OPTION, lock_for_write, make_engine, metadata
from data.settings import StoreSettings


def run_migrations(connection: Connection) -> None:
    """Run the pending revisions on ``connection``, in its transaction if it has one."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite alters a table by copying it; autogenerate writes such changes as batches.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


given: Connection | None = context.config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    engine = make_engine(StoreSettings().database_url)
    try:
        with engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                lock_for_write(connection)
                run_migrations(connection)
    finally:
        engine.dispose()
