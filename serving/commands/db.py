"""`fraudcast db ...`: the figure store's schema, upgraded to this release's or shown."""

from __future__ import annotations

import typer
from sqlalchemy.engine import make_url

from data.migrations import NEWER_RELEASE
from data.records import SchemaState
from data.store import FigureStore
from serving.commands.figures import friendly_errors, stdout

db_app = typer.Typer(
    help="The figure store's schema: upgrade it to this release's, or show where it stands."
)


def _where(store: FigureStore) -> str:
    return make_url(store.url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def upgrade() -> None:
    """Upgrade the figure store's tables to this release's schema (first use does it too).

    A store made before migrations existed keeps every figure: it is stamped with the schema
    its tables match, then upgraded. A failed upgrade is rolled back and says why.
    """
    with friendly_errors():
        store = FigureStore.from_settings()
        before = store.upgrade_schema()
        store.close()
    where = _where(store)
    if before.is_current:
        message = f"The figure store at {where} is at revision {before.head}; nothing to do."
    elif before.revision is None and not before.predates_migrations:
        message = f"Created the figure store's tables at {where} (revision {before.head})."
    else:
        message = (
            f"Upgraded the figure store at {where} from {before.describe()} "
            f"to revision {before.head}."
        )
    stdout.print(message, highlight=False, markup=False, soft_wrap=True)


@db_app.command("current")
def current() -> None:
    """Show the figure store's schema revision and this release's, without changing anything
    (exit 1 when a newer release upgraded the store past what this one knows)."""
    with friendly_errors():
        store = FigureStore.from_settings()
        state = store.schema_state()
        store.close()
    stdout.print(_status(state, _where(store)), highlight=False, markup=False, soft_wrap=True)
    if not state.known:  # this release cannot use the store: a script checking it should stop
        raise typer.Exit(code=1)


def _status(state: SchemaState, where: str) -> str:
    if state.is_current:
        return f"{where}: revision {state.head} (this release's); up to date."
    if not state.known:
        return (
            f"{where}: revision {state.revision}, which this release (at revision {state.head}) "
            f"does not know: {NEWER_RELEASE}."
        )
    return (
        f"{where}: {state.describe()}; this release's is revision {state.head}. "
        "`fraudcast db upgrade` (or any first use) upgrades it."
    )


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group to the main app."""
    app.add_typer(db_app, name="db")
