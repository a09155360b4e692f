"""The populations tables: the ratio intervals (which differences a set can tell from noise),
and the mixed population, each part scored alone and within the mix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import populations
from benchmarks.m3 import MethodResult
from benchmarks.populations import ratio_interval


def _method(name: str, mase: np.ndarray) -> MethodResult:
    per_series = pd.DataFrame(
        {"mase": mase, "msis": 10 * mase}, index=[f"s{index}" for index in range(mase.size)]
    )
    return MethodResult(
        name, float(mase.mean()), 0.0, 10 * float(mase.mean()), 0.8, 0.95, 0.0, per_series
    )


def test_a_method_worse_on_every_series_is_told_apart() -> None:
    errors = np.random.default_rng(0).lognormal(0.0, 1.0, 200)
    low, high = ratio_interval(_method("ours", 1.1 * errors), _method("theirs", errors), "mase")
    assert low > 1.0 and abs(low - 1.1) < 1e-9 and abs(high - 1.1) < 1e-9


def test_a_difference_within_the_series_noise_holds_one() -> None:
    rng = np.random.default_rng(1)
    theirs = rng.lognormal(0.0, 1.0, 180)
    ours = theirs * rng.lognormal(0.0, 0.3, 180)  # 2% worse on average, scattered per series
    low, high = ratio_interval(_method("ours", ours), _method("theirs", theirs), "msis")
    assert low < 1.0 < high
    assert low < ours.mean() / theirs.mean() < high


def test_series_without_the_measure_are_left_out_of_both() -> None:
    errors = np.array([1.0, 2.0, np.nan, 4.0])
    low, high = ratio_interval(_method("ours", 2 * errors), _method("theirs", errors), "mase")
    assert (low, high) == (2.0, 2.0)


def _constant_part(name: str, level: float, series: int) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """A part whose series wobble about ``level`` for 3 years, then stay at it for 5."""
    train = pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{index}" for index in range(series)], 3),
            "ds": np.tile([1, 2, 3], series),
            "y": np.tile([0.9 * level, 1.1 * level, level], series),
        }
    )
    test = pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{index}" for index in range(series)], 5),
            "ds": np.tile(np.arange(4, 9), series),
            "y": np.full(5 * series, level),
        }
    )
    return name, populations.tagged(name, train), populations.tagged(name, test)


def _forecast_the_input_mean(
    train: pd.DataFrame, jobs: int, horizon: int, env: dict[str, str] | None = None
) -> tuple[pd.DataFrame, float]:
    """A stand-in for forecast-file whose forecast depends on the company a series keeps:
    every series is forecast 1.5 above the mean of all figures in the input."""
    level = float(train["y"].mean()) + 1.5
    rows = [
        {"unique_id": key, "ds": 3 + step, "mean": level, "lo-80": level - 1.0,
         "hi-80": level + 1.0, "lo-95": level - 2.0, "hi-95": level + 2.0}
        for key in train["unique_id"].unique()
        for step in range(1, horizon + 1)
    ]  # fmt: skip
    return pd.DataFrame(rows), 1.0


def _naive_three_above(
    train: pd.DataFrame, jobs: int, with_arima: bool, horizon: int, cross_validate: bool
) -> tuple[dict[str, pd.DataFrame], float]:
    """A stand-in for the statsforecast methods: each series 3 above its own last figure."""
    last = train.groupby("unique_id")["y"].last() + 3.0
    rows = [
        {"unique_id": key, "ds": 3 + step, "mean": value, "lo-80": value - 1.0,
         "hi-80": value + 1.0, "lo-95": value - 2.0, "hi-95": value + 2.0}
        for key, value in last.items()
        for step in range(1, horizon + 1)
    ]  # fmt: skip
    return {"Naive": pd.DataFrame(rows)}, 1.0


def test_each_part_of_the_mixed_population_is_scored_on_its_own_series_alone_and_mixed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts = [_constant_part("low", 10.0, 2), _constant_part("high", 100.0, 3)]
    monkeypatch.setattr(populations, "_mixed_parts", lambda length: parts)
    monkeypatch.setattr(populations, "run_fraudcast", _forecast_the_input_mean)
    monkeypatch.setattr(populations, "run_statsforecast", _naive_three_above)
    monkeypatch.setattr(populations, "exclude_from_reference", lambda dataset: {})
    low, high, whole = populations.evaluate_mixed(jobs=1)
    # alone, each part is forecast 1.5 off its own level: MASE 1.5 / 1.5 for the low part
    # (its scale, the mean yearly change of 9, 11, 10, is 1.5) and 1.5 / 15 for the high one
    assert (low.name, low.series, low.alone.mase) == ("low", 2, pytest.approx(1.0))
    assert (high.name, high.series, high.alone.mase) == ("high", 3, pytest.approx(0.1))
    # together, 1.5 above the mix's mean of 64: 55.5 off for the low part, 34.5 for the high
    assert low.mixed.mase == pytest.approx(55.5 / 1.5)
    assert high.mixed.mase == pytest.approx(34.5 / 15.0)
    assert whole.series == 5
    assert whole.alone.mase == pytest.approx((2 * 1.0 + 3 * 0.1) / 5)
    assert whole.mixed.mase == pytest.approx((2 * 37.0 + 3 * 2.3) / 5)
    # the best statsforecast method, 3 off each part's level: 3 / 1.5 and 3 / 15
    assert (low.best.name, low.best.mase) == ("Naive", pytest.approx(2.0))
    assert high.best.mase == pytest.approx(0.2)
    row = "| low | 2 | 1.000 | 37.000 | 37.000 (37.00–37.00) | 0.500 / 18.500 (Naive) |"
    assert row in populations.render_mixed([low])
