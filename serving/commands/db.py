"""`fraudcast db ...`: the figure store's schema, upgraded to this release's or shown."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy.engine import URL, make_url

from data.migrations import NEWER_RELEASE
from data.records import SchemaState
from data.settings import without_password
from data.store import FigureStore
from serving.commands.figures import friendly_errors, stderr, stdout
from training.settings import TrainingSettings

db_app = typer.Typer(
    help="The stores: upgrade the figure store's schema, show where it stands, back up the "
    "figures, models and token."
)


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
    message = before.upgrade_said(store.where)
    stdout.print(message, highlight=False, markup=False, soft_wrap=True)


@db_app.command("current")
def current() -> None:
    """Show the figure store's schema revision and this release's, without changing anything
    (exit 1 when a newer release upgraded the store past what this one knows)."""
    with friendly_errors():
        store = FigureStore.from_settings()
        state = store.schema_state()
        store.close()
    stdout.print(_status(state, store.where), highlight=False, markup=False, soft_wrap=True)
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


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (``sqlite:///path``); None for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database, its write-ahead log included (SQLite's
    online backup): a plain file copy misses what is still in the ``-wal`` file."""
    live, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        live.backup(copy)
    finally:
        copy.close()
        live.close()


@db_app.command("backup")
def backup(
    folder: Path = typer.Argument(..., help="A new or empty folder to write the backup into."),
) -> None:
    """Back up what fraudcast holds: the figure store (every figure, its history, the track
    record), MLflow's runs and registry, the models' artifacts and the API token file.

    SQLite databases are copied consistently while the service runs; the retrain lock is held
    meanwhile, so no retrain writes half of a model into it. RESTORE.txt in the folder says how
    to put it back. A store on PostgreSQL or a tracking server is named, not copied: back those
    up with their own tools (pg_dump).
    """
    from serving.settings import ServiceSettings
    from training.locking import retrain_lock

    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "a folder with files in it" if folder.is_dir() else "a file"
        stderr.print(f"[red]Error:[/red] {folder} is {what}; nothing written (give a new or "
                     "empty folder)", highlight=False)  # fmt: skip
        raise typer.Exit(code=2)
    training, service = TrainingSettings(), ServiceSettings()
    with friendly_errors():
        store = FigureStore.from_settings()
        store_url = store.url
        store.close()
        folder.mkdir(parents=True, exist_ok=True)
        done: list[str] = []
        elsewhere: list[str] = []
        restore: list[str] = []  # the commands that put each part back
        with retrain_lock(store_url, training):
            figures = sqlite_path(store_url)
            if figures is not None:
                _copy_sqlite(figures, folder / "fraudcast.db")
                done.append(f"fraudcast.db   <- {figures}")
                restore.append(_put_back("fraudcast.db", figures))
            else:
                elsewhere.append(
                    f"the figure store at {store.where}: back it up with pg_dump, e.g. "
                    f"pg_dump --format=custom --file=fraudcast.dump '{_libpq_url(store_url)}'"
                )
            tracking = sqlite_path(training.mlflow_tracking_uri)
            if tracking is not None and not tracking.is_file():
                elsewhere.append(f"MLflow at {tracking}: nothing trained yet")
            elif tracking is not None:
                _copy_sqlite(tracking, folder / "mlflow.db")
                done.append(f"mlflow.db      <- {tracking}")
                restore.append(_put_back("mlflow.db", tracking))
            else:
                elsewhere.append(
                    f"MLflow at {without_password(training.mlflow_tracking_uri)}: back up its "
                    "database and artifact store with their own tools"
                )
            if tracking is not None and tracking.is_file():
                for parent in _copy_artifacts(training, folder / "artifacts"):
                    done.append(f"artifacts/     <- the series' folders under {parent}")
                    restore.append(f"mkdir -p '{parent}' && cp -a artifacts/. '{parent}/'")
        if service.token_file.is_file():
            shutil.copy2(service.token_file, folder / "api-token")
            (folder / "api-token").chmod(0o600)
            done.append(f"api-token      <- {service.token_file}")
            restore.append(f"cp -p api-token '{service.token_file}'")
        text = _restore_text(done, elsewhere, restore)
        (folder / "RESTORE.txt").write_text(text, encoding="utf-8")
    for line in [*done, *(f"not copied: {text}" for text in elsewhere)]:
        stdout.print(line, highlight=False, markup=False, soft_wrap=True)
    if figures is None:  # it had said "Backup written" with only the token copied
        stderr.print(
            f"[red]Backup incomplete:[/red] {folder} holds {_listed(done)}, but not the figure "
            "store (every figure, its history, the track record): back it up with pg_dump as "
            "said above. RESTORE.txt says how to restore what was copied.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=1)
    stdout.print(f"Backup written to {folder} (RESTORE.txt says how to restore it).",
                 highlight=False, markup=False, soft_wrap=True)  # fmt: skip


def _listed(done: list[str]) -> str:
    """The parts copied, by name: "api-token" or "nothing"."""
    names = [line.split()[0] for line in done]
    return ", ".join(names) if names else "nothing"


def _libpq_url(url: str) -> str:
    """A SQLAlchemy database URL as pg_dump takes it, without its password (``~/.pgpass`` or
    ``PGPASSWORD`` gives it): ``postgresql+psycopg://u:pw@h/db`` is ``postgresql://u@h/db``."""
    parsed = make_url(url)
    bare = URL.create("postgresql", parsed.username, None, parsed.host, parsed.port)
    return bare.set(database=parsed.database, query=parsed.query).render_as_string()


def _put_back(name: str, path: Path) -> str:
    """The command restoring one database: the copy over it, its stale WAL files removed."""
    return f"cp {name} '{path}' && rm -f '{path}-wal' '{path}-shm'"


def _copy_artifacts(training: TrainingSettings, target: Path) -> list[Path]:
    """Copy the artifact folder of every fraudcast experiment, wherever MLflow recorded it
    (``FRAUDCAST_MLFLOW_ARTIFACTS`` names only where new ones go), into ``target``; the
    folders they came from."""
    from mlflow.utils.file_utils import local_file_uri_to_path

    from training import tracking

    found: dict[Path, Path] = {}
    for experiment in tracking.fraudcast_experiments(tracking.connect(training)):
        location = experiment.artifact_location
        if location.startswith("file:"):
            path = Path(local_file_uri_to_path(location))
            found[path] = target / path.name
    copied = [(source, copy) for source, copy in sorted(found.items()) if source.is_dir()]
    for source, copy in copied:
        shutil.copytree(source, copy)
    return sorted({source.parent for source, _ in copied})


def _restore_text(done: list[str], elsewhere: list[str], restore: list[str]) -> str:
    """RESTORE.txt: what is in the backup and how to put it back, speaking only of what was
    copied (a backup of the token alone had spoken of databases and their -wal files)."""
    made = datetime.now(UTC).isoformat(timespec="seconds")
    names = {line.split()[0] for line in done}
    databases = names & {"fraudcast.db", "mlflow.db"}
    putting_back = "put each part back where it came from"
    if databases:
        putting_back += " (the databases replace what is there, their stale -wal and -shm files"
        putting_back += " removed)"
    lines = [
        f"fraudcast backup made {made}. Each part, and where it was copied from:",
        "",
        *(f"  {line}" for line in done),
        *(f"  not copied: {text}" for text in elsewhere),
        "",
        "To restore: stop the service (and any `fraudcast train` or `watch`), then, in this",
        f"folder, {putting_back}:",
        "",
        *(f"  {command}" for command in restore),
        "",
    ]
    if "artifacts/" in names:
        lines += [
            "Restore into the same paths: MLflow records where each model's artifacts lie as an",
            "absolute path, so a copy served from another folder finds no champion.",
        ]
    if databases == {"fraudcast.db", "mlflow.db"}:
        lines.append(
            "Then start the service: it serves the restored champions and figures as they were "
            "at the backup."
        )
    elif elsewhere:
        lines.append("Restore what was not copied from its own backup before starting the service.")
    lines.append("")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group to the main app."""
    app.add_typer(db_app, name="db")
