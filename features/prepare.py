"""From raw figures to a model-ready series: gaps made explicit, breaks adjusted, all noted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.breaks import adjust_level_shifts, undeclared_shift
from features.gaps import fill_gaps


@dataclass
class PreparedSeries:
    """A contiguous float series indexed by int year, and notes on what was done to get it."""

    series: pd.Series
    filled_years: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def prepare_series(
    y: pd.Series,
    breaks: Sequence[int] = (),
    series_id: str = "<series>",
    *,
    look_for_shifts: bool = True,
) -> PreparedSeries:
    """Sort by year, check values, fill or trim gaps, then adjust level shifts at ``breaks``
    (a shift nobody declared is noted, with the command that would declare it for
    ``series_id``; ``look_for_shifts=False`` skips that search, most of the time a series
    takes, where only the values are read: they are the same)."""
    if len(y) == 0:
        raise ValueError("the series is empty")
    index = pd.Index(y.index)
    if index.has_duplicates:
        duplicated = sorted({int(year) for year in index[index.duplicated()]})
        raise ValueError(f"duplicate years: {duplicated}")
    values = pd.to_numeric(pd.Series(np.asarray(y), index=index), errors="coerce").astype(float)
    if not np.all(np.isfinite(values.to_numpy())):
        bad = [int(year) for year in values.index[~np.isfinite(values.to_numpy())]]
        raise ValueError(f"missing or non-numeric values in years {bad}")
    years = np.asarray(index, dtype=float)
    if not np.all(years == np.round(years)):
        raise ValueError("years must be integers")
    values.index = pd.Index(years.astype(np.int64), name="year")
    gaps = fill_gaps(values.sort_index())
    notes = list(gaps.notes)
    adjusted = adjust_level_shifts(gaps.series, breaks, gaps.filled_years)
    notes += adjusted.notes
    shift = undeclared_shift(gaps.series, breaks, gaps.filled_years) if look_for_shifts else None
    if shift is not None:
        year, before, after = shift
        # `series breaks` replaces a series' breaks: the command keeps those declared
        declare = ",".join(str(y) for y in sorted({*(int(b) for b in breaks), year}))
        notes.append(
            f"the figures shifted in {year}, from {before:,.15g} to {after:,.15g}, and stayed, "
            "far beyond the series' other year-to-year changes: if its definition changed that "
            f"year, declare the break (`fraudcast series breaks {series_id} {declare}`) so the "
            "years before are put on the new basis"
        )
    series = adjusted.series.astype(float)
    series.index.name = "year"
    return PreparedSeries(series, gaps.filled_years, notes)
