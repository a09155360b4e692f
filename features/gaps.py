"""Missing years: fill them explicitly, or keep only the contiguous tail, and say which."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.transforms import is_strictly_positive

#: A contiguous tail at least this long is used on its own instead of interpolating older gaps.
MIN_TAIL_LENGTH = 12


@dataclass
class GapFill:
    """A series made contiguous, the years that were filled and a note on how."""

    series: pd.Series
    filled_years: list[int] = field(default_factory=list)
    dropped_years: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def missing_years(y: pd.Series) -> list[int]:
    """Years between the first and last year of ``y`` that are absent from its index."""
    years = np.asarray(y.index, dtype=np.int64)
    if len(years) == 0:
        return []
    full = np.arange(years.min(), years.max() + 1)
    return [int(year) for year in np.setdiff1d(full, years)]


def fill_gaps(y: pd.Series, min_tail: int = MIN_TAIL_LENGTH) -> GapFill:
    """Make ``y`` contiguous: use the latest contiguous run when it has ``min_tail`` points,
    otherwise interpolate the missing years (on the log scale for positive series)."""
    series = pd.Series(np.asarray(y, dtype=float), index=np.asarray(y.index, dtype=np.int64))
    series = series.sort_index()
    series.index.name = "year"
    gaps = missing_years(series)
    if not gaps:
        return GapFill(series)
    tail_start = gaps[-1] + 1
    tail = series.loc[tail_start:]
    if len(tail) >= min_tail:
        dropped = [int(year) for year in series.index if year < tail_start]
        note = (
            f"years {_span(gaps)} missing; fitted on the contiguous {len(tail)} years from "
            f"{tail_start} (dropped {len(dropped)} earlier year{'s' if len(dropped) != 1 else ''})"
        )
        return GapFill(tail, dropped_years=dropped, notes=[note])
    full = series.reindex(np.arange(series.index.min(), series.index.max() + 1))
    full.index.name = "year"
    on_log = is_strictly_positive(series.to_numpy())
    scaled = pd.Series(np.log(full.to_numpy()) if on_log else full.to_numpy(), index=full.index)
    interpolated = scaled.interpolate(method="index").to_numpy()
    estimates = np.exp(interpolated) if on_log else interpolated
    observed = full.notna().to_numpy()
    # observed years keep their exact values; only the missing ones take the estimates
    filled = pd.Series(np.where(observed, full.to_numpy(), estimates), index=full.index)
    scale = "log-linear" if on_log else "linear"
    note = f"years {_span(gaps)} missing; filled by {scale} interpolation between neighbours"
    return GapFill(filled.astype(float), filled_years=gaps, notes=[note])


def _span(years: list[int]) -> str:
    """Compact text for a list of years: 2001-2003, 2007."""
    parts: list[str] = []
    start = previous = years[0]
    for year in [*years[1:], None]:
        if year is not None and year == previous + 1:
            previous = year
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if year is not None:
            start = previous = year
    return ", ".join(parts)
