"""`fraudcast train`: backtest every candidate, track it in MLflow, promote champions."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer
from rich.console import Console, ConsoleDimensions, ConsoleOptions, Group
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from data.incoming import process_incoming
from data.settings import StoreSettings, without_password
from data.store import FigureStore
from serving.commands.backend import BACKEND_OPTION, SCHEDULER_OPTION, cli_backend
from serving.commands.figures import friendly_errors, open_store
from serving.settings import ServiceSettings
from training.locking import RetrainBusy
from training.outcome import Outcome
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from training.pipeline import SeriesOutcome

#: Columns of output that is not a terminal (make run's, journald's, cron's): no line is
#: broken to fit, where rich's 80 columns had broken reasons mid-phrase.
UNWRAPPED_WIDTH = 10_000


class OutputConsole(Console):
    """Rich's console, as wide as the terminal when writing to one and as wide as each line
    needs when not (``COLUMNS`` still says the width when set)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if self.is_terminal or self._width is not None or "COLUMNS" in self._environ:
            return size
        return ConsoleDimensions(UNWRAPPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = OutputConsole()
errors = OutputConsole(stderr=True)
#: Exit code when another retrain held the lock too long (sysexits' EX_TEMPFAIL: try again).
EXIT_BUSY = 75
#: Exit code after Ctrl-C, as a shell reports a process stopped by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130
#: Up to this many series the summary has a row per series; beyond, one row per outcome.
FULL_TABLE_MAX = 30
#: Failures listed by name under a compact summary; the rest are counted.
FAILURES_SHOWN = 20
_STATUS_STYLE = {
    Outcome.PROMOTED: "green",
    Outcome.REFRESHED: "cyan",
    Outcome.KEPT: "yellow",
    Outcome.UNCHANGED: "dim",
    Outcome.FAILED: "bold red",
}


def train(
    series: list[str] | None = typer.Option(
        None, "--series", "-s", help="Series id to train (repeatable); all series by default."
    ),
    force: bool = typer.Option(
        False, "--force", help="Retrain even if data and code are unchanged."
    ),
    jobs: int = typer.Option(
        1, "--jobs", "-j", min=1, help="Series trained at once, each in a worker process."
    ),
    if_no_champions: bool = typer.Option(
        False, "--if-no-champions", help="Do nothing when champions are already registered."
    ),
    backend: str | None = BACKEND_OPTION,
    scheduler: str | None = SCHEDULER_OPTION,
) -> None:
    """Retrain series: every candidate is backtested and logged to MLflow; the selected model
    replaces the champion only if it passes the promotion gates."""
    from training.pipeline import has_champions  # MLflow loads only for commands that need it

    logging.basicConfig(level=logging.WARNING)
    settings = TrainingSettings()
    if series:  # a typo is named in one line, as by every command, not as a failed retrain
        with friendly_errors():
            store = open_store()
            for series_id in series:
                store.get_series(series_id)
    if if_no_champions and has_champions(settings):
        console.print("Champions already registered; skipping training (run `fraudcast train`).")
        return
    try:
        with cli_backend(backend, scheduler, settings):
            outcomes = run_with_progress(series, force=force, jobs=jobs, settings=settings)
    except RetrainBusy as error:
        errors.print(f"[red]Error:[/red] {escape(str(error))}; nothing was trained, try later")
        raise typer.Exit(code=EXIT_BUSY) from None
    console.print(summary(outcomes))
    console.print(
        escape(where_to_compare(settings.mlflow_tracking_uri, ServiceSettings().mlflow_ui_url))
    )
    if any(o.failed for o in outcomes):
        raise typer.Exit(code=1)


def where_to_compare(tracking_uri: str, ui_url: str = "") -> str:
    """Where the runs went and where a modeller compares them: ``FRAUDCAST_MLFLOW_UI_URL``
    when set, else a tracking server's own UI, else the UI started on the local store."""
    shown = without_password(tracking_uri)
    if ui_url:
        where = f"compare runs at {ui_url}"
    elif tracking_uri.startswith(("http://", "https://")):
        where = "open that address in a browser to compare runs: the server's own UI"
    elif tracking_uri == TrainingSettings.model_fields["mlflow_tracking_uri"].default:
        where = "`make mlflow-ui` to compare runs"
    else:
        where = f"`.venv/bin/mlflow ui --backend-store-uri {shown}` to compare runs"
    return f"MLflow: {shown}  ({where})"


def run_with_progress(
    series: list[str] | None, *, force: bool, jobs: int, settings: TrainingSettings
) -> list[SeriesOutcome]:
    """Run the pipeline with a progress bar per finished series."""
    from training.pipeline import retrain

    store = FigureStore.from_settings()
    store.ensure_seeded()
    total = len(series) if series else len(store.list_series())
    with Progress(
        TextColumn("[bold]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=total)

        def advance(outcome: SeriesOutcome) -> None:
            progress.update(task, advance=1, description=f"{outcome.series_id}: {outcome.status}")

        try:
            outcomes = retrain(
                series,
                force=force,
                store=store,
                settings=settings,
                jobs=jobs,
                on_outcome=advance,
                trigger="fraudcast train",
            )
        except KeyboardInterrupt:
            progress.stop()
            finished = int(progress.tasks[0].completed)  # the bar's one task counts them
            errors.print(
                f"[yellow]Interrupted:[/yellow] {finished:,} of {total:,} series finished "
                "and are in MLflow. Run `fraudcast train` again (without --force) to train the "
                "rest: finished series are skipped as unchanged."
            )
            raise typer.Exit(code=EXIT_INTERRUPTED) from None
    return outcomes


def summary(outcomes: list[SeriesOutcome]) -> Group:
    """What a retrain did: a row per series when few, else a row per outcome and the failures."""
    if len(outcomes) <= FULL_TABLE_MAX:
        return Group(_SeriesRows(outcomes), *_failure_lines(outcomes))
    return Group(outcome_table(outcomes), *_failure_lines(outcomes, limit=FAILURES_SHOWN))


#: Below this many columns the per-series table leaves out its reasons, which follow it as
#: lines: at 80 columns `make run`'s summary had split every id ("jp_sns_in / vestment_").
WIDE_SUMMARY = 140


class _SeriesRows:
    """The per-series summary as wide as the console allows: ``summary_table`` with each
    reason in its row on a wide console, else the table without them and the reasons below."""

    def __init__(self, outcomes: list[SeriesOutcome]) -> None:
        self.outcomes = outcomes

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Table | str]:
        if options.max_width >= WIDE_SUMMARY:
            yield summary_table(self.outcomes)
            return
        yield summary_table(self.outcomes, narrow=True)
        levels = " and ".join(f"{label}%" for label in _coverage_labels(self.outcomes))
        yield f"coverage: share of backtest figures inside the calibrated {levels} intervals"
        for outcome in self.outcomes:
            if not outcome.failed:  # a failure's reason is in the lines after the summary
                yield f"[bold]{escape(outcome.series_id)}[/]: {escape(outcome.reason)}"


def outcome_table(outcomes: list[SeriesOutcome]) -> Table:
    """One row per outcome: how many series, and the median backtest MASE of what serves."""
    table = Table(title=f"fraudcast training summary: {len(outcomes):,} series")
    table.add_column("outcome")
    for column in ("series", "share", "median MASE"):
        table.add_column(column, justify="right")
    table.add_column("for example", overflow="fold")
    by_status: dict[Outcome, list[SeriesOutcome]] = {}
    for outcome in outcomes:
        by_status.setdefault(outcome.status, []).append(outcome)
    for status in (s for s in Outcome if s in by_status):
        group = by_status[status]
        scores = sorted(o.mase for o in group if o.mase is not None)
        median = f"{scores[len(scores) // 2]:.3f}" if scores else ""
        table.add_row(
            f"[{_STATUS_STYLE[status]}]{status}[/]",
            f"{len(group):,}",
            f"{len(group) / len(outcomes):.1%}",
            median,
            ", ".join(o.series_id for o in group[:3]) + (", …" if len(group) > 3 else ""),
        )
    return table


def _failure_lines(outcomes: list[SeriesOutcome], limit: int | None = None) -> list[str]:
    failed = [o for o in outcomes if o.failed]
    shown = failed if limit is None else failed[:limit]
    lines = [f"[bold red]failed[/] {o.series_id}: {o.reason}" for o in shown]
    if len(failed) > len(shown):
        lines.append(
            f"… and {len(failed) - len(shown):,} more failed series "
            "(each has a FAILED retrain run in MLflow saying why)"
        )
    return lines


def summary_table(outcomes: list[SeriesOutcome], *, narrow: bool = False) -> Table:
    """One row per series: champion, backtest MASE, coverage, what happened and why; ids are
    never split. ``narrow`` leaves out the model and the reason (``_SeriesRows`` writes them
    below) and heads the coverage columns "80%" and "95%"."""
    borrowed = any(o.intervals_borrowed and o.backtest_forecasts for o in outcomes)
    table = Table(
        title="fraudcast training summary",
        caption=BORROWED_CAPTION if borrowed else None,
        caption_justify="left",
    )
    table.add_column("series", no_wrap=True)
    if not narrow:
        table.add_column("model", overflow="fold")
    table.add_column("MASE", justify="right")
    labels = _coverage_labels(outcomes)
    for label in labels:
        table.add_column(f"{label}%" if narrow else f"coverage {label}%", justify="right")
    table.add_column("outcome", no_wrap=True)
    if not narrow:
        table.add_column("why", overflow="fold")
    for outcome in outcomes:
        style = _STATUS_STYLE[outcome.status]
        scores = [
            f"{outcome.mase:.3f}" if outcome.mase is not None else "",
            *(_coverage_cell(outcome, label) for label in labels),
            f"[{style}]{outcome.status}[/]",
        ]
        if narrow:
            table.add_row(outcome.series_id, *scores)
        else:
            table.add_row(outcome.series_id, outcome.model or "", *scores, outcome.reason)
    return table


def _coverage_labels(outcomes: list[SeriesOutcome]) -> list[str]:
    """The interval levels the outcomes' coverage was measured at ("80", "95" unless
    ``FRAUDCAST_LEVELS`` says otherwise: columns headed 80% and 95% had stood empty)."""
    labels = {label for outcome in outcomes for label in outcome.coverage}
    return sorted(labels, key=float) if labels else ["80", "95"]


#: Under a summary where a short series' coverage is counted ("1 of 3", ``_coverage_cell``).
BORROWED_CAPTION = (
    '"k of n": a series too short to test its intervals on its own figures borrows them from '
    "comparable series; k of the n backtest forecasts its years allow held the figure, too few "
    "to judge the intervals by"
)


def _coverage_cell(outcome: SeriesOutcome, label: str) -> str:
    """A series' backtest coverage at one level: a share, or for intervals borrowed from
    comparable series (a short series') the figures held out of the forecasts its few years
    allow, "1 of 3", as the page's card counts them: 0% of 3 had read as a verdict."""
    share = outcome.coverage.get(label)
    if share is None:
        return ""
    checked = outcome.backtest_forecasts
    if outcome.intervals_borrowed and checked:
        return f"{round(share * checked)} of {checked}"
    return f"{share:.0%}"


def watch(
    once: bool = typer.Option(False, "--once", help="Process the folder once and exit."),
    interval: float = typer.Option(None, help="Seconds between looks (default from settings)."),
) -> None:
    """Watch the incoming folder: add each settled CSV whole (or reject it with reasons) and
    retrain the series it changed, without the API."""
    from training.pipeline import retrain

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # each file's line is printed below; the drop folder's log adds only warnings and reasons
    logging.getLogger("data.incoming").setLevel(logging.WARNING)
    store_settings = StoreSettings()
    service_settings = ServiceSettings()
    settings = TrainingSettings()
    store = FigureStore(store_settings.database_url)
    store.ensure_seeded()
    folder = store_settings.incoming_dir
    pause = interval or service_settings.watch_interval
    if not folder.is_dir():  # a mistyped FRAUDCAST_INCOMING_DIR is a new, empty folder
        console.print(f"{escape(str(folder))} did not exist: created it (FRAUDCAST_INCOMING_DIR)")
    console.print(f"watching {folder} (Ctrl-C to stop)" if not once else f"processing {folder}")
    changed: set[str] = set()  # series whose figures changed and still need a retrain
    try:
        while True:
            for outcome in process_incoming(
                store, folder, settle_seconds=service_settings.settle_seconds
            ):
                state = "[green]added[/]" if outcome.accepted else "[bold red]rejected[/]"
                # repr, as a file name may hold a newline; escape, as it may hold rich markup.
                shown = escape(f"{outcome.name!r} → {str(outcome.moved_to)!r}")
                console.print(f"{state} {shown}")
                if outcome.result is not None:
                    changed.update(outcome.result.changed_series)
            if changed:
                try:
                    outcomes = retrain(
                        sorted(changed),
                        store=store,
                        settings=settings,
                        trigger="figures from the drop folder (fraudcast watch)",
                    )
                except RetrainBusy as error:  # the figures are in; retrain on the next look
                    errors.print(f"[yellow]Retrain postponed:[/yellow] {escape(str(error))}")
                else:
                    changed.clear()
                    if outcomes:
                        console.print(summary(outcomes))
            if once:
                return
            time.sleep(pause)
    except KeyboardInterrupt:
        console.print("stopped watching")


def register(app: typer.Typer) -> None:
    """Add `train`, its alias `retrain` (for system cron) and `watch` to the main app."""
    app.command("train")(train)
    app.command("retrain", help="Same as `train`: for system cron and scripts.")(train)
    app.command("watch")(watch)
