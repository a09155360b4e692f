"""`fraudcast forecast-file`: the forecasting engine on anyone's long-format CSV."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import typer

from models.base import MAX_HORIZON
from serving.commands.backend import BACKEND_OPTION, SCHEDULER_OPTION, cli_backend


def levels_option(text: str) -> list[float]:
    """The levels as the API takes them (``serving.requests.parse_levels``): the same range,
    precision and count, sorted, each once."""
    from serving.requests import InvalidRequest, fraction_note, parse_levels

    try:
        levels = list(parse_levels(text))
    except InvalidRequest as exc:
        raise typer.BadParameter(str(exc), param_hint="'--levels'") from None
    note = fraction_note(levels)
    if note:
        typer.echo(note, err=True)
    return levels


def _check_jobs(jobs: int) -> int:
    """``--jobs``: a number of workers, or -1 for every core (0 means nothing)."""
    if jobs == 0:
        raise typer.BadParameter(
            "0 workers cannot run anything: give 1 or more, or -1 for all cores"
        )
    return jobs


def forecast_file(
    input_csv: Path = typer.Argument(..., exists=True, dir_okay=False, help="unique_id,ds,y CSV"),
    horizon: int = typer.Option(
        ..., "--horizon", min=1, max=MAX_HORIZON, help=f"years ahead (1-{MAX_HORIZON})"
    ),
    levels: str = typer.Option("80,95", "--levels", help="interval levels, e.g. 80,95"),
    output: Path = typer.Option(
        ..., "--output", dir_okay=False, help="where to write the forecasts CSV"
    ),
    jobs: int = typer.Option(
        1, "--jobs", min=-1, callback=_check_jobs, help="parallel workers (-1: all cores)"
    ),
    backend: str | None = BACKEND_OPTION,
    scheduler: str | None = SCHEDULER_OPTION,
    reasons: Path | None = typer.Option(
        None,
        "--reasons",
        dir_okay=False,
        help="also write each series' model and why it was chosen (unique_id, model, reason)",
    ),
) -> None:
    """Forecast every series of a long CSV (unique_id, ds year, y) with calibrated intervals."""
    # imported here: keeps start-up light
    from data.errors import InvalidFigures
    from data.validation import decoded
    from training.parallel import (
        InvalidInput,
        unbounded_percents,
        write_forecasts,
    )

    interval_levels = levels_option(levels)
    if reasons is not None and not reasons.parent.is_dir():  # found before hours of work
        typer.echo(
            f"error: cannot write {reasons}: its folder {reasons.parent} does not exist; "
            "nothing written",
            err=True,
        )
        raise typer.Exit(code=2)
    try:
        # decoded as a figures file is: a workbook, UTF-16 or Shift_JIS is named as such
        text = decoded(input_csv.read_bytes())
        frame = pd.read_csv(io.StringIO(text), dtype={"unique_id": "string"})
    except InvalidFigures as exc:
        said = "; ".join(problem.reason for problem in exc.problems)
        typer.echo(f"error: cannot read {input_csv}: {said}; nothing written", err=True)
        raise typer.Exit(code=2) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        typer.echo(f"error: cannot read {input_csv}: {exc}", err=True)
        raise typer.Exit(code=2) from None
    # a spreadsheet's trailing empty rows (",,,") are no series: three problems each had been
    # reported for them, and nothing written
    frame = frame.dropna(how="all")
    try:
        with cli_backend(backend, scheduler):
            written = write_forecasts(
                frame,
                output,
                horizon=horizon,
                levels=interval_levels,
                jobs=jobs,
                progress=sys.stderr.isatty(),
                reasons=reasons,
            )
    except InvalidInput as exc:
        typer.echo(f"error: {input_csv}: {exc}; nothing written", err=True)
        raise typer.Exit(code=2) from None
    except OSError as exc:
        # the reason alone: the error names the hidden part file written beside the output
        reason = exc.strerror or str(exc)
        if not output.parent.is_dir():
            reason = f"its folder {output.parent} does not exist"
        typer.echo(f"error: cannot write {output}: {reason}; nothing written", err=True)
        raise typer.Exit(code=2) from None
    for failure in written.failures:
        typer.echo(f"warning: {failure.series_id} not forecast: {failure.error}", err=True)
    read = written.read
    for warning in [*thin_evidence(read), *unbounded_percents(frame, dict(read))]:
        typer.echo(f"warning: {warning}", err=True)
    if sys.stderr.isatty():
        typer.echo(f"wrote {written.rows} rows, {written.series} series: {output}", err=True)


def thin_evidence(series: Sequence[tuple[str, pd.Series]]) -> list[str]:
    """Series of a forecast-file input (``parse_long_frame``) whose forecast rests on less than
    its years suggest: a single figure, or years mostly filled by interpolation between a few
    figures (three figures over 40 years had been forecast as if all 41 were published)."""
    found = []
    for series_id, values in sorted(series, key=lambda item: item[0]):
        count, span = len(values), int(values.index.max() - values.index.min()) + 1
        if count == 1:
            found.append(
                f"{series_id}: one figure only, nothing of its own to learn from; its "
                "intervals are borrowed from what reference series did next"
            )
        elif span - count > count:
            found.append(
                f"{series_id}: {count} figures over {span} years; the {span - count} years "
                "between them are filled by interpolation and fitted as if published"
            )
    return found


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.command("forecast-file")(forecast_file)
