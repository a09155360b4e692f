"""Calibrated champions: intervals from backtest errors, pure-numpy prediction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.calibration import CalibratedForecast


def _backtest(errors_by_step: dict[int, list[float]], level: float = 100.0) -> pd.DataFrame:
    rows = []
    for step, errors in errors_by_step.items():
        for i, error in enumerate(errors):
            rows.append(
                {
                    "origin": 2000 + i,
                    "year": 2000 + i + step,
                    "step": step,
                    "actual": level * np.exp(error),
                    "mean": level,
                }
            )
    return pd.DataFrame(rows)


def _history(n: int = 20) -> pd.Series:
    return pd.Series(np.full(n, 100.0), index=range(2000, 2000 + n))


def test_many_errors_give_empirical_coverage() -> None:
    rng = np.random.default_rng(0)
    errors = {1: list(rng.normal(0, 0.1, 400))}
    forecast = CalibratedForecast.from_backtest(
        "m", _history(), np.full(30, 100.0), _backtest(errors)
    )
    frame = forecast.predict(1, [80])
    # 80% of N(0, 0.1) lies within +-0.128 on the log scale
    assert frame["hi-80"][0] == pytest.approx(100 * np.exp(0.128), rel=0.05)
    assert frame["lo-80"][0] == pytest.approx(100 * np.exp(-0.128), rel=0.05)


def test_intervals_widen_with_the_step_and_nest_across_levels() -> None:
    errors = {1: [0.05, -0.05, 0.1, -0.1], 2: [0.1, -0.1, 0.2], 3: [0.2, -0.25]}
    forecast = CalibratedForecast.from_backtest(
        "m", _history(), np.full(30, 100.0), _backtest(errors)
    )
    frame = forecast.predict(30, [50, 80, 95, 99.5])
    width = frame["hi-80"] - frame["lo-80"]
    assert (np.diff(width) > 0).all()
    ordered = frame[
        ["lo-99.5", "lo-95", "lo-80", "lo-50", "mean", "hi-50", "hi-80", "hi-95", "hi-99.5"]
    ]
    assert (np.diff(ordered.to_numpy(), axis=1) >= 0).all()


def test_no_backtest_gives_a_wide_prior_and_never_below_zero() -> None:
    history = pd.Series([5.0], index=[2020])
    forecast = CalibratedForecast.from_backtest("naive", history, np.full(30, 5.0), _backtest({}))
    frame = forecast.predict(3, [95])
    assert (frame["lo-95"] >= 0).all() and (frame["hi-95"] > 7.5).all()


def test_additive_errors_for_series_with_zeros_clip_at_zero() -> None:
    history = pd.Series([0.0, 1.0, 0.0, 2.0], index=range(2000, 2004))
    backtest = pd.DataFrame({"step": [1, 1, 1], "actual": [1.0, 0.0, 2.0], "mean": [0.0, 1.0, 0.0]})
    forecast = CalibratedForecast.from_backtest("naive", history, np.full(30, 2.0), backtest)
    assert forecast.error_scale == "additive"
    assert (forecast.predict(5, [95])["lo-95"] >= 0).all()


def test_predict_arrays_match_the_frame() -> None:
    forecast = CalibratedForecast.from_backtest("m", _history(), np.full(30, 100.0), _backtest({}))
    arrays = forecast.predict_arrays(4, [80, 95])
    frame = forecast.predict(4, [80, 95])
    assert list(arrays) == list(frame.columns)
    for name, values in arrays.items():
        np.testing.assert_array_equal(values, frame[name].to_numpy())


def test_horizon_and_level_outside_range_are_clear_errors() -> None:
    forecast = CalibratedForecast.from_backtest("m", _history(), np.full(30, 100.0), _backtest({}))
    with pytest.raises(ValueError, match="between 1 and 30"):
        forecast.predict(31)
    with pytest.raises(ValueError, match="between 0 and 100"):
        forecast.predict(3, [0])
    assert forecast.predict(2, [97.5]).columns.tolist() == ["year", "mean", "lo-97.5", "hi-97.5"]
