"""`fraudcast runs ...`: MLflow's retrain runs, pruned when old so the tracking store stops
growing with every retrain."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from data.settings import StoreSettings, without_password
from serving.commands.db import sqlite_path
from serving.commands.figures import friendly_errors
from serving.commands.train import EXIT_BUSY, OutputConsole
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from training.pruning import PrunePlan

console = OutputConsole()
errors = OutputConsole(stderr=True)
#: From this many runs and models to delete, a progress bar shows (a run takes ~10 ms).
PROGRESS_FROM = 100
_AGE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}

runs_app = typer.Typer(
    help="MLflow's retrain runs: prune old ones (their artifacts too), keeping every run a "
    "champion, a rollback or the next retrain needs."
)


def _age(given: str) -> timedelta:
    """``--older-than``: a whole number of hours, days or weeks (``12h``, ``180d``, ``26w``)."""
    found = _AGE.match(given)
    if found is None:
        raise typer.BadParameter(f"{given!r}: give hours, days or weeks, e.g. 180d, 26w or 12h")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@runs_app.command("prune")
def prune(
    older_than: str = typer.Option(
        "180d",
        "--older-than",
        metavar="AGE",
        help="Delete retrains started longer ago than this: hours, days or weeks (12h, 180d, 26w).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List what would be deleted, per series, and delete nothing."
    ),
) -> None:
    """Delete retrain runs older than --older-than, their candidates' runs and artifacts with
    them, so MLflow's store stops growing with every retrain.

    Kept whatever their age: the newest retrain of each series (and its newest finished one,
    which tells the next retrain whether the figures changed), the champion's retrain with its
    candidates, and the retrain run of every registered model version with its selected
    candidate, so the champion and every version a rollback can go to keep their run and
    model. Deleted runs are removed for good (as `mlflow gc` does) on a database store;
    through a tracking server they are only marked deleted. The figure store is not touched.
    Refused while a retrain runs.
    """
    from training.locking import RetrainBusy, retrain_lock

    age = _age(older_than)
    settings = TrainingSettings()
    tracking = sqlite_path(settings.mlflow_tracking_uri)
    if tracking is not None and not tracking.is_file():
        console.print(f"Nothing to prune: {escape(str(tracking))} does not exist (nothing trained "
                      "yet).", highlight=False, soft_wrap=True)  # fmt: skip
        return
    with friendly_errors():
        try:
            with retrain_lock(StoreSettings().database_url, settings, wait=False):
                _prune(settings, age, dry_run=dry_run)
        except RetrainBusy as error:
            errors.print(f"[red]Error:[/red] {escape(str(error))}; nothing was pruned: run it "
                         "again once the retrain has finished", highlight=False)  # fmt: skip
            raise typer.Exit(code=EXIT_BUSY) from None


def _prune(settings: TrainingSettings, age: timedelta, *, dry_run: bool) -> None:
    from mlflow.exceptions import MlflowException

    from training import pruning
    from training.tracking import connect

    uri = settings.mlflow_tracking_uri
    try:
        client = connect(settings)
        plan = pruning.plan_prune(client, settings, age, datetime.now(UTC))
        if not plan.runs and not plan.models:
            console.print(f"Nothing to prune. {_kept(plan)}", highlight=False, soft_wrap=True)
            return
        console.print(_plan_table(plan, uri))
        if dry_run:
            console.print(f"Dry run: nothing deleted. {_would(plan, settings)} {_kept(plan)}",
                          highlight=False, soft_wrap=True)  # fmt: skip
            return
        total = len(plan.runs) + len(plan.models)
        with Progress(
            TextColumn("[bold]pruning"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=total < PROGRESS_FROM,
        ) as progress:
            task = progress.add_task("", total=total)
            pruning.prune(client, settings, plan, lambda: progress.advance(task))
    except MlflowException as error:
        errors.print(f"[red]MLflow error:[/red] {escape(error.message)}", highlight=False)
        raise typer.Exit(code=1) from None
    console.print(f"{_done(plan, settings)} {_kept(plan)}", highlight=False, soft_wrap=True)


def _plan_table(plan: PrunePlan, uri: str) -> Table:
    """Per series: retrains, candidate runs and unused models that go, and their bytes."""
    since = f"{plan.cutoff:%-d %b %Y, %H:%M} UTC"
    table = Table(title=f"Retrain runs started before {since} in {without_password(uri)}")
    table.add_column("series", no_wrap=True)
    for column in ("retrains", "candidate runs", "unused models", "artifacts"):
        table.add_column(column, justify="right")
    for series in sorted(plan.by_series.values(), key=lambda s: s.series_id):
        counts = (series.retrains, series.candidates, series.models)
        table.add_row(escape(series.series_id), *(f"{n:,}" for n in counts), _bytes(series.size))
    return table


def _counted(plan: PrunePlan) -> str:
    retrains = sum(s.retrains for s in plan.by_series.values())
    candidates = sum(s.candidates for s in plan.by_series.values())
    said = f"{retrains:,} {_plural(retrains, 'retrain')} and {candidates:,} candidate "
    said += f"{_plural(candidates, 'run')}"
    if plan.models:
        said += f" and {len(plan.models):,} unused {_plural(len(plan.models), 'model')}"
    return f"{said} of {len(plan.by_series):,} series"


def _would(plan: PrunePlan, settings: TrainingSettings) -> str:
    if settings.on_tracking_server:
        return (
            f"Would mark {_counted(plan)} deleted on the tracking server ({_server_gc(settings)})."
        )
    return f"Would delete {_counted(plan)}, freeing {_bytes(plan.size)} of artifacts."


def _done(plan: PrunePlan, settings: TrainingSettings) -> str:
    if settings.on_tracking_server:
        return f"Marked {_counted(plan)} deleted on the tracking server: {_server_gc(settings)}."
    return f"Deleted {_counted(plan)}, freeing {_bytes(plan.size)} of artifacts."


def _server_gc(settings: TrainingSettings) -> str:
    """What a tracking server leaves to its operator: fraudcast cannot reach its database."""
    server = without_password(settings.mlflow_tracking_uri)
    return (
        "the server keeps their rows and artifacts until its operator runs "
        f"`MLFLOW_TRACKING_URI={server} mlflow gc --backend-store-uri <the server's database>` "
        "where that database is reachable; this command cannot remove them through the server"
    )


def _kept(plan: PrunePlan) -> str:
    """The old retrains that stay, and why."""
    since = f"{plan.cutoff:%-d %b %Y, %H:%M} UTC"
    kept = plan.kept_retrains
    if not kept:
        other = " other" if plan.runs else ""
        return f"No{other} retrain started before {since}."
    return (
        f"Kept {kept:,} {_plural(kept, 'retrain')} started before {since}: the newest of a "
        "series, the champion's, or one that registered a model version (a rollback can go to "
        "it)."
    )


def _bytes(size: int | None) -> str:
    if size is None:
        return "not measured"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:,} bytes"


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


def register(app: typer.Typer) -> None:
    """Add the ``runs`` command group to the main app."""
    app.add_typer(runs_app, name="runs")
