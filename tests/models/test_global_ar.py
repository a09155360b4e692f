"""The global autoregression: one model across many series' windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.global_ar import GlobalAR


def test_the_global_autoregression_carries_a_steady_trend_on() -> None:
    """One model learned across the reference corpus' windows, scaled per series."""
    rising = pd.Series(100.0 + 10.0 * np.arange(12), index=range(2010, 2022))
    forecast = GlobalAR().fit(rising).predict(5, [80, 95])
    assert (np.diff(forecast["mean"]) > 0).all() and forecast["mean"].iloc[0] > 210.0
    # the same shape at a thousand times the scale gives a thousand times the forecast
    scaled = GlobalAR().fit(rising * 1000.0).predict(5, [80, 95])
    np.testing.assert_allclose(scaled["mean"], forecast["mean"] * 1000.0, rtol=1e-9)


def test_a_count_series_that_starts_at_zero_is_not_taken_for_a_constant_one() -> None:
    counts = pd.Series([0.0, 4.0, 9.0, 15.0, 22.0, 30.0], index=range(2020, 2026))
    forecast = GlobalAR().fit(counts).predict(3, [80])
    assert forecast["mean"].iloc[-1] > 30.0
    assert (forecast["hi-80"] > forecast["lo-80"]).all()
