"""Properties of transforms, gaps, breaks and lags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.breaks import adjust_level_shifts, undeclared_shift
from features.gaps import fill_gaps, missing_years
from features.lags import lag_matrix
from features.prepare import prepare_series


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=3, max_size=30))
def test_lag_matrix_rows_hold_previous_values(values: list[float]) -> None:
    design, target = lag_matrix(values, 2)
    assert design.shape == (len(values) - 2, 2)
    np.testing.assert_array_equal(design[:, 0], values[1:-1])  # lag 1
    np.testing.assert_array_equal(design[:, 1], values[:-2])  # lag 2
    np.testing.assert_array_equal(target, values[2:])


def test_short_gaps_interpolate_on_the_log_scale() -> None:
    y = pd.Series([100.0, 400.0, 800.0], index=[2000, 2002, 2003])
    filled = fill_gaps(y)
    assert missing_years(y) == [2001]
    assert filled.filled_years == [2001]
    assert filled.series[2001] == pytest.approx(200.0)  # geometric midpoint, not 250
    assert "2001" in filled.notes[0] and "log-linear" in filled.notes[0]


def test_filling_keeps_observed_values_exact() -> None:
    y = pd.Series([258000.0, 300000.0, 464000.0], index=[2020, 2022, 2023])
    filled = fill_gaps(y).series
    assert filled[2020] == 258000.0 and filled[2023] == 464000.0


def test_a_break_on_a_filled_year_is_not_measured() -> None:
    y = pd.Series([1.0, 2.0, 4.0, 8.0, 16.0], index=range(2000, 2005))
    adjusted = adjust_level_shifts(y * 3, [2002], filled_years=[2002])
    assert adjusted.shifts == {} and "not adjusted" in adjusted.notes[0]
    pd.testing.assert_series_equal(adjusted.series, y * 3)


def test_series_with_zeros_interpolate_linearly() -> None:
    filled = fill_gaps(pd.Series([0.0, 4.0], index=[2000, 2002]))
    assert filled.series[2001] == 2.0 and "linear" in filled.notes[0]


def test_long_contiguous_tail_is_used_alone() -> None:
    years = [1990, 1991, *range(1995, 2010)]
    y = pd.Series(np.arange(1.0, len(years) + 1), index=years)
    filled = fill_gaps(y, min_tail=12)
    assert list(filled.series.index) == list(range(1995, 2010))
    assert filled.dropped_years == [1990, 1991] and filled.filled_years == []
    assert "1992-1994" in filled.notes[0]


def test_level_shift_puts_history_on_the_new_basis() -> None:
    y = pd.Series(100 * 1.1 ** np.arange(10), index=range(2000, 2010))
    y.loc[2005:] *= 2.0
    adjusted = adjust_level_shifts(y, [2005])
    np.testing.assert_allclose(adjusted.series, 200 * 1.1 ** np.arange(10))
    assert adjusted.shifts[2005] == pytest.approx(np.log(2.0))
    assert "2005" in adjusted.notes[0]


def test_a_jump_within_the_usual_swings_is_not_adjusted() -> None:
    """The Unauthorized Access cases: a x2.2 rise at the 2012 break, among changes of x0.16 to
    x1.8, once multiplied every year before 2012 by 4.52 (2,534 became about 11,450)."""
    years = range(2004, 2023)
    values = [142, 277, 703, 1442, 1740, 2534, 1601, 248, 543, 980, 364, 373, 502, 648, 564]
    y = pd.Series([*values, 816, 609, 429, 522], index=years, dtype=float)
    adjusted = adjust_level_shifts(y, [2012])
    assert adjusted.shifts == {}
    assert adjusted.notes == [
        "definition change at 2012 not adjusted: its jump is within the series' usual "
        "year-to-year swings around it"
    ]
    pd.testing.assert_series_equal(adjusted.series, y)


def _years(values: list[float], start: int) -> pd.Series:
    return pd.Series(values, index=pd.Index(range(start, start + len(values)), name="year"))


def test_a_shift_nobody_declared_is_named_and_a_spike_or_a_trend_is_not() -> None:
    """A series that halved in 2015 and stayed was projected to fall to a seventh of its level
    (its trend through the shift); nothing suggested declaring the break that holds it flat."""
    halved = _years([12000, 12000, 12050, 11950, 12100, 6000, 5950, 6100, 6020], start=2010)
    prepared = prepare_series(halved, series_id="uk_vehicle_theft")
    assert undeclared_shift(halved) == (2015, 12100.0, 6000.0)
    assert any(
        note.startswith("the figures shifted in 2015, from 12,100 to 6,000, and stayed")
        and "`fraudcast series breaks uk_vehicle_theft 2015`" in note
        for note in prepared.notes
    ), prepared.notes
    # where only the values are read (the global model's windows), the search is skipped
    quiet = prepare_series(halved, look_for_shifts=False)
    assert quiet.series.equals(prepared.series) and not quiet.notes
    assert undeclared_shift(halved, breaks=[2015]) is None  # declared: adjusted instead
    assert not [n for n in prepare_series(halved, [2015]).notes if "shifted" in n]
    spike = _years([2400, 2500, 2310, 2790, 2600, 9850, 2500, 2450, 2700, 2600], start=2010)
    assert undeclared_shift(spike) is None
    decline = _years(list(8420 * 0.935 ** np.arange(15)), start=2010)
    assert undeclared_shift(decline) is None
    # a year reported as 0 that the next figure leaves again is not a new level
    gap = _years([3e8, 4e8, 5.2e8, 6.1e8, 7e8, 0, 4.8e8, 5e8], start=2015)
    assert undeclared_shift(gap) is None


def test_the_shift_note_keeps_the_breaks_already_declared() -> None:
    """``series breaks`` replaces a series' breaks: a command naming only the new year, copied
    from the card, would have dropped the 2011 break already declared."""
    years = [9e8, 9.1e8, 9.3e8, 9.2e8, 9.4e8, 9.3e8, 9.5e8, 4.6e8, 4.7e8, 4.65e8, 4.8e8]
    halved = _years(years, start=2009)
    [note] = [n for n in prepare_series(halved, [2011], series_id="x").notes if "shifted" in n]
    assert "from 950,000,000 to 460,000,000" in note  # written out, not 9.5e+08
    assert "`fraudcast series breaks x 2011,2016`" in note


def test_breaks_outside_the_series_change_nothing() -> None:
    y = pd.Series([1.0, 2.0, 3.0], index=[2000, 2001, 2002])
    adjusted = adjust_level_shifts(y, [1990, 2000, 2030])
    pd.testing.assert_series_equal(adjusted.series, y)
