"""The global autoregression: one model across many series' windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.global_ar import (
    SPREAD_STEPS,
    GlobalAR,
    PooledWindows,
    _global_fit,
    learning_from,
    pooled_fit,
    recursive_forecast,
)


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


def _falling_back(count: int, first: int, last: int, seed: int = 0) -> list[pd.Series]:
    """``count`` series of years ``first..last`` that fall back halfway to 0 a year."""
    rng = np.random.default_rng(seed)
    population = []
    for level in rng.uniform(1.0, 1000.0, size=count):
        values = [level * rng.normal()]
        for _ in range(last - first):
            values.append(0.5 * values[-1] + level * rng.normal())
        population.append(pd.Series(values, index=range(first, last + 1)))
    return population


def test_a_series_learns_only_from_the_populations_years_up_to_its_last() -> None:
    """A population whose series fell back halfway a year until 2009, then began to trend:
    a series whose figures end in 2009, fitted within it (a backtest from 2009), learns from
    the windows of the years up to 2009 alone, each series scaled by its years up to then, as
    if the later years had never been published; one that ends in 2019 learns from all."""
    population = []
    for series in _falling_back(60, 1990, 2009):
        later = series.iloc[-1] + np.cumsum(np.abs(series).mean() * np.ones(10))
        population.append(pd.concat([series, pd.Series(later, index=range(2010, 2020))]))
    windows = PooledWindows(population)
    until_2009 = pooled_fit([series.loc[:2009].to_numpy() for series in population], 1)
    np.testing.assert_allclose(windows.fit(1, 2009)[0], until_2009[0], rtol=1e-9)
    np.testing.assert_allclose(windows.fit(1, 2009)[1], until_2009[1], rtol=1e-9)
    assert abs(until_2009[0][0] - 0.5) < 0.1 and windows.fit(1)[0][0] > 0.8

    backtested = population[0].loc[2004:2009]  # order 5: the windows of 6 years up to 2009
    with learning_from(windows):
        model = GlobalAR().fit(backtested)
    np.testing.assert_allclose(model.fit_[0], windows.fit(5, 2009)[0])
    assert not np.allclose(model.fit_[0], windows.fit(5)[0])


def test_a_population_with_too_few_windows_leaves_the_model_to_the_corpus() -> None:
    """Three series of 9 years have 9 windows of 7 years, fewer than WINDOWS_PER_COEFFICIENT
    for each of order 6's coefficients: a series of 9 years fitted within them learns from
    the reference corpus, as if no population were there."""
    population = _falling_back(3, 2015, 2023)
    windows = PooledWindows(population)
    assert windows.fit(6) is None and windows.fit(1) is not None
    with learning_from(windows):
        model = GlobalAR().fit(population[0])
    np.testing.assert_allclose(model.fit_[0], _global_fit(6)[0])


def test_the_error_spread_compounds_through_the_recursion() -> None:
    """An autoregression of 0.5 with one-step error sigma misses h steps ahead by
    sigma * sqrt(1 + 0.25 + ... + 0.25 ** (h - 1)): its shocks fade as its forecasts do."""
    coefficients, spread = pooled_fit(
        [series.to_numpy() for series in _falling_back(200, 0, 15)], 1
    )
    phi = coefficients[0]
    expected = spread[0] * np.sqrt(np.cumsum(phi ** (2 * np.arange(SPREAD_STEPS))))
    np.testing.assert_allclose(spread, expected, rtol=1e-12)
