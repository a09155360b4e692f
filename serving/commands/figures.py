"""`fraudcast figures ...` and `fraudcast series ...`: read, add, export and trace the figures."""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table
from sqlalchemy.exc import SQLAlchemyError

from data.canonical import FIGURE_COLUMNS, format_value, frame_records, guard_formula
from data.errors import (
    FraudcastDataError,
    InvalidFigures,
    InvalidSeries,
    StoreBusy,
    UnknownSeries,
    closest_series,
    driver_words,
)
from data.records import SeriesInfo, format_breaks, parse_breaks, parse_years
from data.store import FigureStore
from data.validation import read_figures_csv

EXIT_INVALID = 1
EXIT_UNKNOWN = 2
#: EX_TEMPFAIL, as `fraudcast train` when the retrain lock is taken: try again later.
EXIT_BUSY = 75

figures_app = typer.Typer(
    help="Yearly figures with their sources: seed, list, add, withdraw, export, history."
)
series_app = typer.Typer(
    help="The series the store knows: list them, add a new one, declare definition breaks, "
    "remove one registered by mistake."
)

# Wide enough that a figure never wraps mid-number, even under a test runner.
stdout = Console(soft_wrap=False)
stderr = Console(stderr=True)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn domain and database errors into a clear message and exit code, never a traceback."""
    try:
        yield
    except UnknownSeries as error:
        stderr.print(f"[red]Error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(EXIT_UNKNOWN) from None
    except InvalidFigures as error:
        _print_problems(error)
        raise typer.Exit(EXIT_INVALID) from None
    except StoreBusy as error:
        stderr.print(
            f"[yellow]Busy:[/yellow] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(EXIT_BUSY) from None
    except (FraudcastDataError, OSError) as error:
        stderr.print(f"[red]Error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    except SQLAlchemyError as error:
        said = driver_words(error)
        stderr.print(f"[red]Figure store error:[/red] {escape(said)}", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None


def _add_row(table: Table, *cells: str) -> None:
    """Add a row of data text, shown literally (a ``[`` in a note is not rich markup)."""
    table.add_row(*(escape(cell) for cell in cells))


def _print_problems(error: InvalidFigures) -> None:
    count = error.total
    stderr.print(
        f"[red]Rejected:[/red] {count:,} problem{'s' if count != 1 else ''}; nothing was written.",
        highlight=False,
    )
    # one plain line per problem, whole: they survive copy-paste and grep, and a table of the
    # same problems above them had said each twice and cut the "did you mean" id short
    for line in [*map(str, error.problems), *error.omitted_lines()]:
        stderr.print(line, highlight=False, markup=False, soft_wrap=True)


def _retrain_hint(series_ids: list[str]) -> str:
    """What retrains series whose figures or breaks a command changed."""
    named = " ".join(f"-s {series_id}" for series_id in series_ids)
    return f"within seconds; without one, run `fraudcast train {named}`."


def open_store() -> FigureStore:
    """The configured store, seeded from the bundled figures on first use."""
    store = FigureStore.from_settings()
    store.ensure_seeded()
    return store


@figures_app.command("seed")
def seed() -> None:
    """Load the bundled figures into the store (once; later runs do nothing)."""
    with friendly_errors():
        store = FigureStore.from_settings()
        revision = store.ensure_seeded()
        if revision is None:
            stdout.print("Already seeded; nothing to do.", highlight=False)
            return
        count = len(store.list_series())
        stdout.print(
            f"Seeded {count} series and {revision.added} figures (revision {revision.id}).",
            highlight=False,
        )


@figures_app.command("add")
def add(
    file: Path = typer.Argument(..., help="CSV file in the export format."),
    message: str = typer.Option("", "--message", "-m", help="Why these figures are added."),
) -> None:
    """Add figures from a CSV file: all rows or none; the same file twice is a no-op."""
    with friendly_errors():
        store = open_store()
        frame = read_figures_csv(file)
        result = store.add_figures(frame, source=file.name, message=message)
        stdout.print(result.summary(), highlight=False, markup=False)
        for warning in result.warnings:
            stderr.print(f"[yellow]Warning:[/yellow] {escape(warning)}", highlight=False)
        if result.changed_series:
            hint = _retrain_hint(result.changed_series)
            stdout.print(
                f"A running service retrains the changed series {hint}",
                highlight=False,
                markup=False,
            )


@figures_app.command("withdraw")
def withdraw(
    series: str = typer.Argument(..., help="Series id."),
    years: str = typer.Argument(..., help="The years whose figures go, e.g. 2019 or 2019,2020."),
    message: str = typer.Option(
        ..., "--message", "-m", help="Why they go (kept in their history)."
    ),
) -> None:
    """Withdraw figures that should never have been stored (a wrong year, the wrong series).

    The series reads as if they had never been given; `figures history` keeps every value they
    had, and adding them again brings them back. To correct a value, add the right one instead:
    that keeps the old one as an earlier revision."""
    with friendly_errors():
        store = open_store()
        wanted = parse_years(years, what="the years to withdraw")
        result = store.withdraw_figures(
            series.strip(), wanted, source="fraudcast figures withdraw", message=message
        )
        stdout.print(result.summary(), highlight=False, markup=False)
        if result.no_op:  # withdrawn already: nothing to retrain
            return
        stdout.print(
            "A running service retrains it " + _retrain_hint(result.changed_series),
            highlight=False,
            markup=False,
        )


@figures_app.command("list")
def list_figures(
    series: str | None = typer.Argument(None, help="Series id; all series when left out."),
) -> None:
    """Show the current figures with their sources."""
    with friendly_errors():
        store = open_store()
        current = store.figures(series)
        title = None
        if series is not None:
            info = store.get_series(series)
            title = escape(f"{info.id}: {info.title} [{info.unit}]")
        table = Table(title=title)
        if series is None:
            table.add_column("series")
        for name in ("year", "value", "source", "accessed_via", "note"):
            table.add_column(name, no_wrap=name in ("year", "value"), overflow="fold")
        for row in frame_records(current):
            cells = [
                str(row["year"]),
                format_value(row["value"]),
                f"{row['source_publisher']}: {row['source_title']}",
                str(row["accessed_via"]),
                str(row["note"]),
            ]
            _add_row(table, *([str(row["series_id"])] if series is None else []), *cells)
        stdout.print(table)


@figures_app.command("history")
def history(
    series: str = typer.Argument(..., help="Series id."),
    year: int = typer.Argument(..., help="Year of the figure."),
) -> None:
    """Show every value one figure has had, oldest revision first."""
    with friendly_errors():
        store = open_store()
        revisions = store.history(series, year)
        if revisions.empty:
            stdout.print(f"No figure for {series} {year} in any revision.", highlight=False)
            return
        table = Table(title=escape(f"{series} {year}"))
        columns = ("revision", "created (UTC)", "from", "message", "value", "note")
        for name in (*columns, "accessed_via", "source"):
            # the value whole; the note (preliminary or final) folded, never cut
            table.add_column(name, no_wrap=name in ("revision", "value"), overflow="fold")
        for row in frame_records(revisions):
            _add_row(
                table,
                str(row["revision_id"]),
                row["created_at"].strftime("%Y-%m-%d %H:%M"),
                str(row["revision_source"]),
                str(row["revision_message"]),
                "withdrawn" if math.isnan(row["value"]) else format_value(row["value"]),
                str(row["note"] or ""),
                str(row["accessed_via"]),
                f"{row['source_publisher']}: {row['source_title']}",
            )
        stdout.print(table)


def _export_cell(column: str, cell: Any, *, raw: bool) -> str:
    """One cell as ``export`` writes it: numbers as numbers, text guarded unless ``raw``."""
    if column == "value":
        return format_value(float(cell))
    if column == "year" or raw:
        return str(cell)
    return guard_formula(str(cell))


@figures_app.command("export")
def export(
    series: str | None = typer.Argument(None, help="Series id; all series when left out."),
    raw: bool = typer.Option(
        False,
        "--raw",
        help="Write text cells exactly as stored, without the ' that keeps a spreadsheet from "
        "running a cell starting with = + - @ as a formula.",
    ),
) -> None:
    """Write the current figures as CSV on stdout, in the format `figures add` reads.

    Text cells a spreadsheet would run as a formula get a leading ' (OWASP's advice), which
    `figures add` drops again, so an export added back changes nothing.
    """
    with friendly_errors():
        current = open_store().figures(series)
    # The csv module's default CRLF line ends, as in RFC 4180 and the bundled file.
    writer = csv.writer(sys.stdout)
    try:
        writer.writerow(FIGURE_COLUMNS)
        for record in frame_records(current):
            writer.writerow(_export_cell(name, record[name], raw=raw) for name in FIGURE_COLUMNS)
    except BrokenPipeError:
        # Piped into `head` or similar: stopping early is what the reader asked for.
        sys.stderr.close()


@series_app.command("list")
def list_series() -> None:
    """Show every series with its unit, breaks and the years it covers."""
    with friendly_errors():
        store = open_store()
        current = store.figures()
        rows = []
        for info in store.list_series():
            years = current.loc[current["series_id"] == info.id, "year"]
            span = f"{years.min()}–{years.max()}" if len(years) else "-"
            rows.append((info, str(len(years)), span))
        if stdout.width < WIDE_LIST:
            # narrow, a table of seven columns had left each title one word a line ("Te…"):
            # a line of what a user types next and a line of what it is, per series
            for info, count, span in rows:
                breaks = f"  breaks {', '.join(map(str, info.breaks))}" if info.breaks else ""
                country = f"  {info.country}" if info.country else ""
                stdout.print(
                    f"[bold]{escape(info.id)}[/]  {escape(info.unit)}  {count} figures  {span}"
                    f"{escape(country)}{escape(breaks)}",
                    highlight=False,
                )
                stdout.print(f"  {escape(info.title)}", highlight=False, soft_wrap=True)
            return
        # the id whole on a narrow terminal too: it is what a user types next
        table = Table(Column("id", no_wrap=True), "title", "unit", "country", "breaks")
        table.add_column("figures")
        table.add_column("years", no_wrap=True)
        for info, count, span in rows:
            _add_row(
                table,
                info.id,
                info.title,
                info.unit,
                info.country,
                format_breaks(info.breaks),
                count,
                span,
            )
        stdout.print(table)


#: Below this many columns `series list` lists each series on two lines instead of a table.
WIDE_LIST = 120


@series_app.command("add")
def add_series(
    series_id: str = typer.Option(..., "--id", help="Lower-case id, e.g. jp_phishing_reports."),
    title: str = typer.Option(..., "--title", help="What the series counts."),
    unit: str = typer.Option(
        ...,
        "--unit",
        help="Unit of every figure: count (cases, 件) or JPY (yen, 円), or another unit as typed.",
    ),
    country: str = typer.Option("", "--country", help="ISO country code, e.g. JP."),
    publisher: str = typer.Option("", "--publisher", help="Who publishes the statistic."),
    definition: str = typer.Option("", "--definition", help="What exactly is counted."),
    breaks: str = typer.Option("", "--breaks", help="Definition-break years, e.g. 2010,2018."),
) -> None:
    """Register a new series so figures for it can be added."""
    with friendly_errors():
        store = open_store()
        info = SeriesInfo(
            id=series_id.strip(),
            title=title.strip(),
            unit=unit.strip(),
            country=country.strip(),
            publisher=publisher.strip(),
            definition=definition.strip(),
            breaks=parse_breaks(breaks),
        )
        if store.add_series(info):
            stdout.print(escape(f"Added series {info.id} [{info.unit}]."), highlight=False)
            others = [known.id for known in store.list_series() if known.id != info.id]
            close = closest_series(info.id, others)
            if close:
                stderr.print(
                    f"[yellow]Note:[/yellow] {escape(info.id)} is close to the existing "
                    f"{escape(close)}; if you meant that one, `fraudcast series remove "
                    f"{escape(info.id)}` undoes this while it has no figures.",
                    highlight=False,
                )
        else:
            stdout.print(f"Series {info.id} already exists with this metadata.", highlight=False)


@series_app.command("remove")
def remove_series(series_id: str = typer.Argument(..., help="Series id.")) -> None:
    """Remove a series registered by mistake, before any figure was given for it (a series
    that has had figures keeps its history: withdraw wrong figures instead)."""
    with friendly_errors():
        info = open_store().remove_series(series_id.strip())
        stdout.print(escape(f"Removed series {info.id} ({info.title})."), highlight=False)


@series_app.command("breaks")
def set_breaks(
    series_id: str = typer.Argument(..., help="Series id."),
    years: str = typer.Argument(
        ...,
        help="Every definition-break year of the series, e.g. 2010,2021 (replacing those it "
        "had); none to declare no break.",
    ),
) -> None:
    """Declare the years a series' definition changed (a new counting rule, a wider scope):
    levels before a break are scaled to the definition after it when the series is trained."""
    with friendly_errors():
        store = open_store()
        none = years.strip().lower() == "none"
        wanted = () if none else parse_breaks(years)
        if not none and not wanted:  # "", "," or "$A,$B" with both empty: a slip, not "none"
            raise InvalidSeries("give the break years, e.g. 2010,2021, or none to declare none")
        before, after = store.set_breaks(series_id.strip(), wanted)
        shown = ", ".join(map(str, after.breaks)) or "none"
        if before == after:
            stdout.print(f"{after.id} has breaks: {shown}; nothing changed.", highlight=False)
            return
        was = ", ".join(map(str, before.breaks)) or "none"
        stdout.print(
            f"{after.id} now has breaks: {shown} (was: {was}). A running service retrains it "
            + _retrain_hint([after.id]),
            highlight=False,
            markup=False,
        )
        years_held = sorted(int(year) for year in store.values(after.id).index)
        for note in _break_notes(after.breaks, years_held):
            stderr.print(f"[yellow]Note:[/yellow] {escape(note)}", highlight=False)


def _break_notes(breaks: tuple[int, ...], years: list[int]) -> list[str]:
    """What a user should know of break years that the figures cannot use (yet)."""
    if not years:
        return []
    first, last = years[0], years[-1]
    notes = []
    for year in breaks:
        if year <= first:
            notes.append(
                f"break {year} is at or before the first figure ({first}): there is nothing "
                "before it to scale, so it changes nothing"
            )
        elif year > last:
            notes.append(
                f"break {year} is after the last figure ({last}): it changes nothing until "
                f"figures from {year} on arrive"
            )
        elif sum(held >= year for held in years) == 1:
            notes.append(
                f"break {year}: only one figure ({last}) stands after it, so the level shift "
                "rests on that one year"
            )
    return notes


def register(app: typer.Typer) -> None:
    """Add the ``figures`` and ``series`` command groups to the main app."""
    app.add_typer(figures_app, name="figures")
    app.add_typer(series_app, name="series")
