"""The dynamic optimised Theta engine: least squares it claims, the recursion it documents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.dynamic_theta import ALPHAS, BURN_IN, DynamicTheta, fit_dynamic_theta


def _recursion(
    values: np.ndarray, alpha: float, weight: float, horizon: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The DOTM recursion written out plainly (level starting at the first value): one-step
    errors in sample, then ``horizon`` forecasts, each fed back as if observed."""
    level = values[0]
    mean, intercept, slope = values[0], values[0], 0.0
    errors, path = [], []
    for i in range(1, len(values) + horizon):
        mu = level + weight * (
            intercept * (1 - alpha) ** i + slope * (1 - (1 - alpha) ** (i + 1)) / alpha
        )
        if i < len(values):
            errors.append(values[i] - mu)
            y = values[i]
        else:
            path.append(mu)
            y = mu
        level = alpha * y + (1 - alpha) * level
        previous = mean
        mean = (i * mean + y) / (i + 1)
        slope = ((i - 1) * slope + 6 * (y - previous) / (i + 1)) / (i + 2)
        intercept = mean - slope * (i + 2) / 2
    return np.array(errors), np.array(path)


def _one_step_errors(values: np.ndarray, alpha: float, weight: float) -> np.ndarray:
    return _recursion(values, alpha, weight)[0]


def _sse(values: np.ndarray, alpha: float, weight: float) -> float:
    return float(np.sum(_one_step_errors(values, alpha, weight)[BURN_IN - 1 :] ** 2))


@pytest.fixture
def noisy_trend() -> np.ndarray:
    rng = np.random.default_rng(7)
    return 200 + 12 * np.arange(18) + rng.normal(0, 15, 18)


def test_fit_is_the_least_squares_one_over_the_grid(noisy_trend) -> None:
    fit = fit_dynamic_theta(noisy_trend, [len(noisy_trend)])[0]
    best = _sse(noisy_trend, fit.alpha, fit.weight)
    for alpha in ALPHAS[::5]:
        for weight in np.linspace(0.0, 1.0, 21):
            assert best <= _sse(noisy_trend, alpha, weight) + 1e-6


def test_forecast_follows_the_recursion(noisy_trend) -> None:
    fit = fit_dynamic_theta(noisy_trend, [len(noisy_trend)])[0]
    _, expected = _recursion(noisy_trend, fit.alpha, fit.weight, horizon=8)
    np.testing.assert_allclose(fit.forecast(8)[0], expected, rtol=1e-9)


def test_each_prefix_is_fitted_as_if_alone(noisy_trend) -> None:
    together = fit_dynamic_theta(noisy_trend, [8, 12, 18])
    for fit, end in zip(together, [8, 12, 18], strict=True):
        alone = fit_dynamic_theta(noisy_trend[:end], [end])[0]
        assert fit == alone


def test_a_straight_line_is_continued() -> None:
    line = pd.Series(100.0 + 5.0 * np.arange(15), index=range(2005, 2020))
    forecast = DynamicTheta().fit(line).predict(5)
    expected = 100.0 + 5.0 * np.arange(15, 20)
    np.testing.assert_allclose(forecast["mean"], expected, rtol=0.01)


def test_a_trendless_series_gets_no_trend() -> None:
    rng = np.random.default_rng(3)
    flat = pd.Series(500 + rng.normal(0, 20, 16), index=range(2004, 2020))
    forecast = DynamicTheta().fit(flat).predict(6)["mean"]
    assert forecast.max() - forecast.min() < 40  # no slope worth the name over six years


def test_forecasts_agree_with_statsforecast_on_a_trending_series(noisy_trend) -> None:
    statsforecast = pytest.importorskip("statsforecast.models")
    ours = DynamicTheta().fit(pd.Series(noisy_trend)).predict(6)["mean"].to_numpy()
    reference = statsforecast.DynamicOptimizedTheta(season_length=1).forecast(y=noisy_trend, h=6)
    np.testing.assert_allclose(ours, reference["mean"], rtol=0.03)
