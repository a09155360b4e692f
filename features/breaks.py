"""Definition breaks: estimate the level shift at each break and put history on today's basis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.transforms import is_strictly_positive


@dataclass
class LevelShiftAdjustment:
    """The series with pre-break history shifted to the latest definition, and what was done."""

    series: pd.Series
    shifts: dict[int, float] = field(default_factory=dict)
    multiplicative: bool = True
    notes: list[str] = field(default_factory=list)


#: A break's jump is removed only when it stands out from the series' usual changes around it
#: by more than this many robust standard deviations (1.4826 x their median absolute deviation):
#: about 95% of ordinary changes fall within two. As in the homogenisation of climate records
#: (Alexandersson 1986), a declared break is adjusted only where the data show a shift; a jump
#: inside the usual swings is as likely noise, and removing it adds error (Unauthorized Access
#: cases: years before 2012 were multiplied by 4.52 for a jump that was within the swings).
BREAK_Z = 2.0
#: Changes around a break needed to measure the series' usual swings; with fewer, the declared
#: break is taken at its word and its jump removed.
MIN_NEIGHBOURS = 3


def adjust_level_shifts(
    y: pd.Series, breaks: Sequence[int], filled_years: Sequence[int] = ()
) -> LevelShiftAdjustment:
    """Estimate the jump at each break beyond the series' usual year-on-year change and remove it
    from the years before the break (ratios on the log scale for positive series). A break on
    or just after a filled year cannot be measured, and a jump within the usual swings around
    it (``BREAK_Z``) cannot be told from noise: both are left alone, with a note."""
    series = y.astype(float).copy()
    multiplicative = is_strictly_positive(series.to_numpy())
    result = LevelShiftAdjustment(series, multiplicative=multiplicative)
    years = list(series.index)
    for year in sorted(int(b) for b in breaks):
        if year not in years or years.index(year) == 0:
            continue
        if year in filled_years or year - 1 in filled_years:
            result.notes.append(
                f"definition change at {year} not adjusted: the year or the one before is filled"
            )
            continue
        scaled = np.log(series.to_numpy()) if multiplicative else series.to_numpy()
        changes = np.diff(scaled)
        position = years.index(year) - 1  # change from year-1 to year
        neighbours = np.r_[
            changes[max(0, position - 2) : position], changes[position + 1 : position + 3]
        ]
        usual = float(np.median(neighbours)) if neighbours.size else 0.0
        jump = float(changes[position] - usual)
        swing = 1.4826 * float(np.median(np.abs(neighbours - usual))) if neighbours.size else 0.0
        if neighbours.size >= MIN_NEIGHBOURS and abs(jump) <= BREAK_Z * swing:
            result.notes.append(
                f"definition change at {year} not adjusted: its jump is within the series' "
                "usual year-to-year swings around it"
            )
            continue
        before = series.index < year
        if multiplicative:
            series.loc[before] = series.loc[before] * np.exp(jump)
            text = f"level shift at {year}: years before scaled by {np.exp(jump):.3g}"
        else:
            series.loc[before] = series.loc[before] + jump
            text = f"level shift at {year}: {jump:+.4g} added to years before"
        result.shifts[year] = jump
        result.notes.append(text + " (definition change)")
    result.series = series
    return result


#: A year-on-year change is taken for an undeclared level shift only beyond this many robust
#: standard deviations of the series' other changes: every year is looked at, and yearly
#: changes have heavy tails, so the bar is far higher than for a declared break (``BREAK_Z``).
#: At 8, 3.6% of the reference corpus' series show one (4.1% before a shift had to stay), and
#: a series halving between two flat stretches is seen 81% of the time with 5% noise a year,
#: 18% with 10%: a hint, not a test.
SHIFT_Z = 8.0


def undeclared_shift(
    y: pd.Series, breaks: Sequence[int] = (), filled_years: Sequence[int] = ()
) -> tuple[int, float, float] | None:
    """The year of the largest jump that looks like a definition change nobody declared, with
    the figures before and at it: far beyond the series' other year-on-year changes
    (``SHIFT_Z``), with two changes before it to measure them by and at least one after, none
    of which takes it back by half, nor it one before it (a one-off spike is not a shift).
    None when there is none,
    or the series has a break declared at it or figures filled around it."""
    values = y.astype(float).to_numpy()
    if values.size < 5:
        return None
    multiplicative = is_strictly_positive(values)
    changes = np.diff(np.log(values) if multiplicative else values)
    usual = float(np.median(changes))
    found: tuple[int, float, float] | None = None
    largest = 0.0
    years = [int(year) for year in y.index]
    for position in range(2, changes.size - 1):
        year = years[position + 1]
        if year in breaks or {year, year - 1} & set(filled_years):
            continue
        others = np.delete(changes, position)
        swing = 1.4826 * float(np.median(np.abs(others - np.median(others))))
        jump = float(changes[position] - usual)
        if swing <= 0.0 or abs(jump) <= SHIFT_Z * swing:
            continue
        # a spike is two jumps, one taking the other back: neither is a new level
        after = np.cumsum(changes[position + 1 : position + 3] - usual)
        before = np.cumsum(changes[position - 2 : position][::-1] - usual)
        around = np.r_[after, before]
        if np.any((np.sign(around) == -np.sign(jump)) & (np.abs(around) >= abs(jump) / 2)):
            continue
        # and it stayed: each figure after lies nearer the new level than the old one (a
        # count of 7e8 that read 0 one year and 4.8e8 the next did not stay at 0)
        scale = np.log(values) if multiplicative else values
        old, new = scale[position], scale[position + 1]
        later = scale[position + 2 : position + 4]
        if np.any(np.abs(later - new) >= np.abs(later - old)):
            continue
        if abs(jump) > largest:
            largest, found = abs(jump), (year, float(values[position]), float(values[position + 1]))
    return found
