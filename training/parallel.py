"""Forecasting a whole long-format table (unique_id, ds, y) of series in parallel."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from data.records import canonical_unit, share_ceiling
from models.base import MAX_HORIZON, interval_columns, validate_horizon, validate_levels
from training.distributed import map_in_chunks
from training.evidence import PopulationEvidence
from training.population import fit_one, population_evidence
from training.selection import SeriesEvaluation, SeriesFailure

LONG_COLUMNS = ("unique_id", "ds", "y")
#: Significant digits of the figures ``forecast-file`` writes: far beyond any forecast's accuracy,
#: short of the floating-point noise in the 16th and 17th.
CSV_DIGITS = 12

#: One series to forecast: its id, its figures by year, and its backtests when the population's
#: evidence already ran them.
Item = tuple[str, pd.Series, SeriesEvaluation | None]


class InvalidInput(ValueError):
    """A long-format table that cannot be forecast; the message names the offending lines."""


def _lines(mask: pd.Series, limit: int = 10) -> str:
    """CSV line numbers (header is line 1) of the rows flagged in ``mask``."""
    lines = [str(int(i) + 2) for i in np.flatnonzero(mask.to_numpy())]
    shown = ", ".join(lines[:limit])
    return shown + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


def parse_long_frame(frame: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """Check a long table and split it into one year-indexed series per ``unique_id``
    (column names are read without surrounding spaces: ``unique_id, ds, y`` is a header)."""
    frame = _stripped_columns(frame)
    missing = [column for column in LONG_COLUMNS if column not in frame.columns]
    if missing:
        found = ", ".join(repr(name) for name in frame.columns)
        raise InvalidInput(
            f"missing columns: {', '.join(missing)} (need {', '.join(LONG_COLUMNS)}; "
            f"found {found}){_separator_hint(frame.columns)}"
        )
    frame = frame.reset_index(drop=True)
    problems = []
    ids = frame["unique_id"].astype("string")
    if ids.isna().any() or (ids.str.strip() == "").any():
        problems.append(
            f"empty unique_id on line(s) {_lines(ids.isna() | (ids.str.strip() == ''))}"
        )
    years = pd.to_numeric(frame["ds"], errors="coerce")
    bad_years = years.isna() | (years != np.round(years))
    if bad_years.any():
        problems.append(f"ds is not an integer year on line(s) {_lines(bad_years)}")
    values = pd.to_numeric(frame["y"], errors="coerce")
    bad_values = values.isna() | ~np.isfinite(values.fillna(0.0))
    if bad_values.any():
        first = frame["y"][bad_values].iloc[0]
        line = int(np.flatnonzero(bad_values.to_numpy())[0]) + 2
        shown = "" if pd.isna(first) else f"; {str(first)[:40]!r} on line {line}"
        # a blank is no way to leave a year missing: said where a cell is blank
        blank = "; to leave a year missing, leave out its row" if frame["y"].isna().any() else ""
        problems.append(
            f"y is missing or not a number on line(s) {_lines(bad_values)} (a plain number: "
            f"no thousands separators or units{shown}{blank})"
        )
    if not problems:
        duplicated = frame.assign(ds=years).duplicated(["unique_id", "ds"], keep=False)
        if duplicated.any():
            problems.append(f"duplicate (unique_id, ds) on line(s) {_lines(duplicated)}")
    if problems:
        raise InvalidInput("; ".join(problems))
    if frame.empty:
        raise InvalidInput("the input has no rows")
    return _split_by_id(ids, years.to_numpy(dtype=np.int64), values.to_numpy(dtype=float))


def _split_by_id(
    ids: pd.Series, years: np.ndarray, values: np.ndarray
) -> list[tuple[str, pd.Series]]:
    """One series per id, in the order the ids first appear, each sorted by year: one sort of
    the whole table, then slices (a groupby building each series took 0.7 ms of it, 7 s for
    10,000 series before any could be sent to a worker)."""
    codes, names = pd.factorize(ids, sort=False)
    order = np.lexsort((years, codes))
    starts = np.flatnonzero(np.diff(codes[order], prepend=-1))
    ends = np.append(starts[1:], len(order))
    return [
        (
            str(names[codes[order[start]]]),
            pd.Series(
                values[order[start:end]],
                index=pd.Index(years[order[start:end]], name="year"),
                name="y",
            ),
        )
        for start, end in zip(starts, ends, strict=True)
    ]


def _stripped_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its column names read without surrounding spaces (``unique_id, ds, y``
    is a header)."""
    return frame.rename(columns=lambda name: name.strip() if isinstance(name, str) else name)


def _separator_hint(columns: pd.Index) -> str:
    """A hint when the one column read holds the expected names joined by another separator."""
    if len(columns) != 1:
        return ""
    for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
        if separator in str(columns[0]):
            return f": the file looks separated by {name}; forecast-file reads commas"
    return ""


def forecast_long(
    frame: pd.DataFrame,
    *,
    horizon: int,
    levels: Sequence[float] = (80, 95),
    jobs: int = 1,
    progress: bool = False,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[SeriesFailure]]:
    """Forecast every series of a long table: rows unique_id, ds, mean, lo-<L>, hi-<L>, and the
    series that could not be fitted. Each worker sends back only its forecast rows."""
    columns, _, outcomes = iter_forecasts(
        frame, horizon=horizon, levels=levels, jobs=jobs, progress=progress, seed=seed
    )
    forecasts, failures = [], []
    for outcome in outcomes:
        if isinstance(outcome, SeriesFailure):
            failures.append(outcome)
        else:
            forecasts.append(outcome)
    result = pd.concat(forecasts, ignore_index=True) if forecasts else pd.DataFrame(columns=columns)
    return result[columns], failures


@dataclass(frozen=True)
class Written:
    """What ``write_forecasts`` wrote: rows and series, and the series it could not forecast."""

    rows: int
    series: int
    failures: list[SeriesFailure]
    #: the input's series as read (``parse_long_frame``), for what is said of them afterwards
    read: list[tuple[str, pd.Series]] = field(default_factory=list)


def write_forecasts(
    frame: pd.DataFrame,
    output: Path,
    *,
    horizon: int,
    levels: Sequence[float] = (80, 95),
    jobs: int = 1,
    progress: bool = False,
    seed: int = 0,
    reasons: Path | None = None,
) -> Written:
    """``forecast_long`` streamed to a CSV: each series' rows are written as they arrive, so
    memory does not grow with the number of series. The file appears whole or not at all: rows
    go to a temporary file beside ``output``, renamed over it only when every series is done.
    With ``reasons``, each series' model and the reason it was chosen go there (unique_id,
    model, reason), written the same way once the forecasts are."""
    columns, read, outcomes = iter_forecasts(
        frame, horizon=horizon, levels=levels, jobs=jobs, progress=progress, seed=seed, as_csv=True
    )
    rows, series, failures, why = 0, 0, [], ["unique_id,model,reason\n"]
    with _whole_file(Path(output)) as handle:
        handle.write(",".join(columns) + "\n")
        for outcome in outcomes:
            if isinstance(outcome, SeriesFailure):
                failures.append(outcome)
                continue
            handle.write(outcome.text)
            why.append(outcome.reason)
            rows, series = rows + outcome.rows, series + 1
    if reasons is not None:
        with _whole_file(Path(reasons)) as handle:
            handle.write("".join(why))
    return Written(rows, series, failures, read)


@contextlib.contextmanager
def _whole_file(path: Path) -> Iterator[IO[str]]:
    """A text file that appears at ``path`` whole or not at all: written to a temporary file
    beside it, renamed over it when the block ends; removed if the block or the rename fails
    (e.g. ``path`` is a folder), so no stray rows are left beside it."""
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False
    ) as handle:
        part = Path(handle.name)
        try:
            yield handle
        except BaseException:
            handle.close()
            part.unlink(missing_ok=True)
            raise
    try:
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def iter_forecasts(
    frame: pd.DataFrame,
    *,
    horizon: int,
    levels: Sequence[float],
    jobs: int,
    progress: bool,
    seed: int,
    as_csv: bool = False,
) -> tuple[list[str], list[tuple[str, pd.Series]], Iterator[Any]]:
    """The output columns, the input's series (``parse_long_frame``) and, per series in input
    order, its forecast rows (a frame, or ``CsvRows`` when ``as_csv``) or its failure. The
    input is checked before anything runs (``InvalidInput``)."""
    horizon = validate_horizon(horizon, MAX_HORIZON)
    checked = validate_levels(levels)
    series = parse_long_frame(frame)
    # the series backtested for the population's evidence are chosen for from those backtests
    evaluations: dict[str, SeriesEvaluation] = {}
    evidence = population_evidence(
        ((sid, y, ()) for sid, y in series),
        jobs=jobs,
        seed=seed,
        levels=checked,
        evaluations=evaluations,
    )
    columns = ["unique_id", "ds", "mean", *interval_columns(checked), "model"]
    forecast: Callable[[Item], Any] = functools.partial(
        _forecast_one,
        horizon=horizon,
        levels=tuple(checked),
        seed=seed,
        evidence=evidence,
        ceilings=share_ceilings(frame, dict(series)),
    )
    if as_csv:
        forecast = functools.partial(_forecast_csv, forecast=forecast, columns=tuple(columns))
    items = [(sid, y, evaluations.pop(sid, None)) for sid, y in series]
    outcomes = map_in_chunks(forecast, items, jobs=jobs)
    return columns, series, _with_progress(outcomes, len(series), progress)


@dataclass(frozen=True)
class CsvRows:
    """One series' forecast rows as CSV lines (no header), formatted where it was forecast:
    a string crosses from a worker in a fraction of the time a frame takes to pickle, and the
    process writing the file has nothing left to format."""

    rows: int
    text: str
    #: the series' id, model and the reason it was chosen, as one CSV line (``--reasons``)
    reason: str = ""


def share_ceilings(frame: pd.DataFrame, series: dict[str, pd.Series]) -> dict[str, float]:
    """The ceiling of each series that the input's optional ``unit`` column gives as a share in
    percent (``percent`` or ``%``, every figure within 0-100: ``data.records.share_ceiling``,
    as for a series of the store): its forecast stays below 100. Without the column, none: a
    rate of 99.6 rising had been forecast at 108, its 95% bound at 144."""
    ceilings = {}
    for series_id, unit in _units(frame).items():
        values = series.get(series_id)
        ceiling = share_ceiling(unit, values) if values is not None else None
        if ceiling is not None:
            ceilings[series_id] = ceiling
    return ceilings


def unbounded_percents(frame: pd.DataFrame, series: dict[str, pd.Series]) -> list[str]:
    """Warnings for series the ``unit`` column gives in percent but with a figure outside
    0-100, which ``share_ceilings`` forecasts as a change in percent, free to pass 100: a
    clearance rate with one 101 among 99s had its 95% bound at 137% without a word."""
    found = []
    ceilings = share_ceilings(frame, series)
    for series_id, unit in sorted(_units(frame).items()):
        values = series.get(series_id)
        if values is None or series_id in ceilings or canonical_unit(unit) != "percent":
            continue
        outside = values[(values < 0) | (values > 100)]
        year, value = int(outside.index[0]), float(outside.iloc[0])
        found.append(
            f"{series_id}: unit {unit}, but {value:g} in {year} is outside 0-100: forecast as a "
            "change in percent that may pass 100, not as a share kept below it"
        )
    return found


def _units(frame: pd.DataFrame) -> dict[str, str]:
    """Each series' unit from the input's optional ``unit`` column (its first given)."""
    frame = _stripped_columns(frame)
    if "unit" not in frame.columns:
        return {}
    units = (
        frame.assign(
            unique_id=frame["unique_id"].astype("string"), unit=frame["unit"].astype("string")
        )
        .dropna(subset=["unit"])
        .groupby("unique_id", sort=False)["unit"]
        .first()
    )
    return {str(series_id): str(unit) for series_id, unit in units.items()}


def _forecast_one(
    item: Item,
    horizon: int,
    levels: tuple[float, ...],
    seed: int,
    evidence: PopulationEvidence,
    ceilings: dict[str, float] | None = None,
) -> pd.DataFrame | SeriesFailure:
    series_id, y, evaluation = item
    outcome = fit_one(series_id, y, (), levels, seed, None, evidence, evaluation)
    if isinstance(outcome, SeriesFailure):
        return outcome
    outcome.champion.under_ceiling((ceilings or {}).get(series_id), y)
    forecast = outcome.champion.predict(horizon, levels).rename(columns={"year": "ds"})
    forecast.insert(0, "unique_id", series_id)
    # which model forecast it, as the store's forecast.csv says: the output had not said
    forecast["model"] = outcome.selected
    # and why, for ``--reasons``: an auditor could not tell why a model was chosen or whether
    # its intervals were widened or borrowed
    forecast.attrs["reason"] = outcome.reason
    return forecast


def _forecast_csv(
    item: Item, forecast: Callable[[Item], pd.DataFrame | SeriesFailure], columns: tuple[str, ...]
) -> CsvRows | SeriesFailure:
    outcome = forecast(item)
    if isinstance(outcome, SeriesFailure):
        return outcome
    text = outcome[list(columns)].to_csv(header=False, index=False, float_format=_shortest)
    first = outcome.iloc[0]
    why = pd.DataFrame([[first["unique_id"], first["model"], outcome.attrs.get("reason", "")]])
    return CsvRows(len(outcome), text, why.to_csv(header=False, index=False))


def _shortest(value: object) -> str:
    """A figure as written: the shortest text for it to ``CSV_DIGITS`` significant digits, so
    arithmetic's last-bit noise (7.000000000000001) is not written."""
    return repr(float(f"{value:.{CSV_DIGITS}g}"))


def _with_progress(outcomes: Iterable[Any], total: int, progress: bool) -> Iterator[Any]:
    if not progress:
        yield from outcomes
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("forecasting series", total=total)
        for outcome in outcomes:
            bar.advance(task)
            yield outcome
