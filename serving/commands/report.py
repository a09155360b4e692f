"""`fraudcast report`: the outlook brief as a PDF file, as `GET /v1/report.pdf` serves it."""

from __future__ import annotations

from pathlib import Path

import typer

from serving.commands.figures import EXIT_INVALID, EXIT_UNKNOWN


def report(
    output: Path = typer.Option(..., "--output", dir_okay=False, help="where to write the PDF"),
    series: list[str] | None = typer.Option(
        None, "--series", help="a series to include (repeat, or separate by commas); default all"
    ),
    horizon: int = typer.Option(5, "--horizon", help="years ahead (1-30)"),
    levels: str = typer.Option("80,95", "--levels", help="interval levels, e.g. 80,95"),
) -> None:
    """Write the outlook brief: a cover, then a page per series with its fan chart, the outlook
    in words, the latest figures with their sources, the model and its track record."""
    from data.errors import UnknownSeries  # keeps start-up light
    from data.store import FigureStore
    from serving.champions import ChampionBoard, NoChampion
    from serving.commands.forecast import levels_option
    from serving.report import outlook_pdf
    from serving.requests import InvalidRequest, check_horizon
    from serving.settings import ServiceSettings
    from training.settings import TrainingSettings

    try:
        steps = check_horizon(horizon, ServiceSettings().max_horizon)
        wanted = levels_option(levels)
    except InvalidRequest as error:
        raise typer.BadParameter(str(error)) from None
    store = FigureStore.from_settings()
    board = ChampionBoard(TrainingSettings())
    board.refresh()
    if board.last_error:
        typer.echo(f"error: cannot read the champions from MLflow: {board.last_error}", err=True)
        raise typer.Exit(EXIT_INVALID)
    ids = [part.strip() for item in series or () for part in item.split(",") if part.strip()]
    try:
        body = outlook_pdf(store, board, ids, steps, wanted)
    except UnknownSeries as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_UNKNOWN) from None
    except NoChampion as error:
        typer.echo(f"error: {error}: train it first (`fraudcast train`)", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    try:
        output.write_bytes(body)
    except OSError as error:
        typer.echo(f"error: cannot write {output}: {error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(f"wrote {output} ({len(body):,} bytes)")


def register(app: typer.Typer) -> None:
    """Add `report` to the main app."""
    app.command("report")(report)
