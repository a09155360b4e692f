"""`fraudcast forecast`: a stored series' projection; `fraudcast scenario`: what the champion
would project had hypothetical figures come in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serving import schemas
from serving.settings import ServiceSettings

if TYPE_CHECKING:
    from data.store import FigureStore
    from serving.champions import ChampionBoard

EXIT_INVALID = 1
EXIT_UNKNOWN = 2

# Wide enough that a figure never wraps mid-number, even under a test runner.
stdout = Console(soft_wrap=False)
stderr = Console(stderr=True)


def parse_assumption(text: str) -> schemas.HypotheticalFigure:
    """``2026=20000`` as a hypothetical figure (the service checks what the values may be)."""
    year, equals, value = text.partition("=")
    try:
        if not equals:
            raise ValueError
        return schemas.HypotheticalFigure(year=int(year.strip()), value=float(value.strip()))
    except ValueError:
        raise typer.BadParameter(
            f"write YEAR=VALUE with plain numbers, e.g. 2026=20000; got {text!r}",
            param_hint="--set",
        ) from None


@contextmanager
def _champion_of(series_id: str) -> Iterator[tuple[FigureStore, ChampionBoard]]:
    """The figure store and a champion board for a command about ``series_id``; an unknown
    series or one without a champion exits 2, a refused request 1, each saying why."""
    from data.errors import UnknownSeries  # the store and MLflow load only when run
    from data.store import FigureStore
    from serving.champions import NO_FIGURES_HINT, ChampionBoard, NoChampion
    from serving.requests import InvalidRequest
    from training.settings import TrainingSettings

    store = FigureStore.from_settings()
    store.ensure_seeded()
    try:
        store.get_series(series_id)
        yield store, ChampionBoard(TrainingSettings())
    except (UnknownSeries, NoChampion) as error:
        hint = ""
        if isinstance(error, NoChampion):
            hint = (
                f"; {NO_FIGURES_HINT}"
                if error.without_figures
                else "; train it first: `fraudcast train`"
            )
        stderr.print(f"[red]Error:[/red] {escape(str(error))}{hint}", highlight=False)
        raise typer.Exit(EXIT_UNKNOWN) from None
    except InvalidRequest as error:
        stderr.print(f"[red]Refused:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INVALID) from None


def scenario(
    series_id: str = typer.Argument(..., metavar="SERIES", help="Series id."),
    assumptions: list[str] = typer.Option(
        ...,
        "--set",
        metavar="YEAR=VALUE",
        help="A hypothetical figure, e.g. 2026=20000; repeat for consecutive years after the "
        "last published figure (up to 10).",
    ),
    horizon: int = typer.Option(
        5, "--horizon", help="Years ahead of the last published figure (1-30)."
    ),
    levels: str = typer.Option("80,95", "--levels", help="Interval levels, e.g. 80,95."),
) -> None:
    """What if: the champion's model refitted in memory on the published figures plus
    hypothetical ones (its calibration kept), beside its own projection. Nothing is stored."""
    from serving.commands.forecast import levels_option
    from serving.scenarios import scenario_response

    figures = [parse_assumption(text) for text in assumptions]
    with _champion_of(series_id) as (store, board):
        wanted = levels_option(levels)
        champion = board.load(series_id)
        request = schemas.ScenarioRequest(figures=figures, horizon=horizon, levels=wanted)
        answer = scenario_response(store, board, series_id, request, ServiceSettings().max_horizon)
    served = champion.forecast(horizon, answer.levels)
    stdout.print(scenario_table(answer, dict(zip(served["year"], served["mean"], strict=True))))
    stdout.print(escape(answer.comparison))
    stdout.print(escape(answer.basis[0].upper() + answer.basis[1:]) + ".", style="dim")


def scenario_table(answer: schemas.ScenarioResponse, served: dict[int, float]) -> Table:
    """Year by year: the champion's projection, the scenario's and its intervals."""
    from serving.scenarios import in_unit

    taken = {figure.year: "assumed" for figure in answer.assumptions}
    taken.update({figure.year: "filled" for figure in answer.filled})
    labels = list(answer.forecast[0].lower)
    table = Table(
        title=escape(f"What if: {answer.series_id} ({answer.unit}), hypothetical"),
        caption="the champion's projection, and what it becomes with the assumed figures "
        "(years between them and the last figure filled by interpolation)",
    )
    table.add_column("year")
    table.add_column("projection", justify="right")
    table.add_column("what if", justify="right")
    for label in labels:
        table.add_column(f"what if {label}%", justify="right")
    unit = answer.unit
    for point in answer.forecast:
        own = served.get(point.year)
        cells = [_value(own, unit) if own is not None else "—"]
        if point.year in taken:
            given = in_unit(f"{point.mean:,.15g}", unit) if taken[point.year] == "assumed" else None
            shown = given or _value(point.mean, unit)
            cells += [f"{shown} ({taken[point.year]})", *(["—"] * len(labels))]
        else:
            cells += [_value(point.mean, unit)]
            cells += [
                f"{_value(point.lower[label], unit)} – {_value(point.upper[label], unit)}"
                for label in labels
            ]
        table.add_row(str(point.year), *cells)
    return table


def forecast(
    series_id: str = typer.Argument(..., metavar="SERIES", help="Series id."),
    horizon: int = typer.Option(5, "--horizon", help="Years ahead of the last figure (1-30)."),
    levels: str = typer.Option("80,95", "--levels", help="Interval levels, e.g. 80,95."),
    csv: bool = typer.Option(
        False, "--csv", help="Print the CSV GET /v1/series/{id}/forecast.csv gives instead."
    ),
) -> None:
    """A series' projection and intervals, as the API serves them (no server needed)."""
    from serving import services
    from serving.commands.forecast import levels_option
    from serving.requests import check_horizon

    with _champion_of(series_id) as (store, board):
        wanted = levels_option(levels)
        check_horizon(horizon, ServiceSettings().max_horizon)
        board.load(series_id)
    if csv:
        typer.echo(services.forecast_csv(store, board, series_id, horizon, wanted), nl=False)
        return
    answer = services.forecast_response(store, board, series_id, horizon, wanted)
    stdout.print(forecast_table(answer))
    model = answer.model
    stdout.print(
        escape(f"{model.name} (version {model.version}), trained {model.trained_at[:10]}"),
        style="dim",
    )
    latest = int(store.values(series_id).index.max())
    if latest > answer.last_figure_year:  # figures added since: `fraudcast train` takes them in
        words = services.stale_words(answer.last_figure_year, latest)
        stdout.print(f"[yellow]Note:[/yellow] {escape(words[0].upper() + words[1:])}.")


def forecast_table(answer: schemas.ForecastResponse) -> Table:
    """Year by year: the projection and its intervals, as the page's table shows them."""
    labels = list(answer.forecast[0].lower) if answer.forecast else []
    table = Table(title=escape(f"{answer.series_id} ({answer.unit})"))
    table.add_column("year")
    table.add_column("projection", justify="right")
    for label in labels:
        table.add_column(f"{label}% interval", justify="right")
    for point in answer.forecast:
        bounds = [
            f"{_value(point.lower[label], answer.unit)} – {_value(point.upper[label], answer.unit)}"
            for label in labels
        ]
        table.add_row(str(point.year), _value(point.mean, answer.unit), *bounds)
    return table


def _value(value: float, unit: str) -> str:
    """A count in full, as the page shows it; money and others to 3 significant figures. A
    unit other than yen is in the table's title, not in every cell ("95.9 percent – 104
    percent" wrapped the table)."""
    from serving.scenarios import rounded, rounded_number

    if unit == "count":
        return f"{value:,.0f}"
    return rounded(value, unit) if unit == "JPY" else rounded_number(value)


def register(app: typer.Typer) -> None:
    """Add `forecast` and `scenario` to the main app."""
    app.command("forecast")(forecast)
    app.command("scenario")(scenario)
