"""The populations table's ratio intervals: which differences a set can tell from noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
