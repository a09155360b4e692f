"""`fraudcast changes SERIES`: how a series' projection moved at each retrain that changed it."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from data.errors import UnknownSeries
from data.store import FigureStore
from serving import schemas
from serving.commands.figures import EXIT_UNKNOWN
from training.settings import TrainingSettings

stdout = Console(soft_wrap=False)
stderr = Console(stderr=True)


def changes(
    series: str = typer.Argument(..., help="Series id."),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON answer instead."),
) -> None:
    """Show what changed since the last projection: per retrain that moved it, newest first,
    the figures that arrived or were revised and the old and new projection."""
    from serving.changes import series_changes  # MLflow loads only for commands that need it

    store = FigureStore.from_settings()
    try:
        answer = series_changes(store, TrainingSettings(), series)
    except UnknownSeries as error:
        stderr.print(f"[red]Error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(EXIT_UNKNOWN) from None
    if as_json:
        typer.echo(answer.model_dump_json(indent=2))
        return
    if answer.message:
        stdout.print(answer.message, highlight=False, markup=False, soft_wrap=True)
    for change in answer.changes:
        _print_change(change, answer.unit)


def _print_change(change: schemas.ProjectionChange, unit: str) -> None:
    model = (
        f"{change.previous_model} → {change.model}"
        if change.model_changed
        else f"{change.model}, refitted"
    )
    stdout.print(
        f"\n[bold]{escape(change.trained_at)}[/bold]  version {change.previous_version} → "
        f"{change.version}  ({escape(model)})",
        highlight=False,
    )
    stdout.print(change.summary, highlight=False, markup=False, soft_wrap=True)
    if change.figures:
        figures = Table("year", "figure", "was", "source", "on", title="Figures")
        for figure in change.figures:
            source = f"{figure.source.publisher}: {figure.source.title}"
            figures.add_row(
                str(figure.year),
                "withdrawn" if figure.value is None else _value(figure.value, unit),
                "new" if figure.previous_value is None else _value(figure.previous_value, unit),
                escape(source),
                f"{figure.added_at:%Y-%m-%d} (revision {figure.revision_id})",
            )
        stdout.print(figures)
    table = Table("year", "before", "after", "change", title="Projection (mean)")
    for year in change.projection:
        moved = "—" if year.change is None else f"{year.change:+.1%}"
        table.add_row(
            str(year.year), _value(year.before.mean, unit), _value(year.after.mean, unit), moved
        )
    stdout.print(table)


def _value(value: float, unit: str) -> str:
    return f"{value:,.0f}" + (" yen" if unit == "JPY" else "")


def register(app: typer.Typer) -> None:
    """Add this command to the main app."""
    app.command("changes")(changes)
