"""The global autoregression: one model across many series' windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.global_ar import GlobalAR, _global_fit, pooled_fit, recursive_forecast


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


def test_a_pooled_fit_learns_the_dynamics_of_the_series_it_is_given() -> None:
    """Fitted across a population of series that each fall back halfway to 0 a year (an
    autoregression of 0.5, scaled per series), the pooled model finds 0.5, and forecasts a
    series of that population falling back as they do, where the reference corpus' trending
    series carry it on."""
    rng = np.random.default_rng(0)
    population = []
    for level in rng.uniform(1.0, 1000.0, size=200):
        values = [level * rng.normal()]
        for _ in range(15):
            values.append(0.5 * values[-1] + level * rng.normal())
        population.append(np.array(values))
    coefficients, spread = pooled_fit(population, 1)
    assert abs(coefficients[0] - 0.5) < 0.05 and spread[0] < spread[-1]
    latest = np.array([800.0])
    path, _ = recursive_forecast(latest, 100.0, (coefficients, spread), 3)
    np.testing.assert_allclose(path, 800.0 * coefficients[0] ** np.arange(1, 4))
    served, _ = recursive_forecast(latest, 100.0, _global_fit(1), 3)
    assert served[-1] > 2 * path[-1]
