"""Rolling-origin backtests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.backtest import backtest, backtest_metrics, backtest_origins


def test_backtest_rows_steps_and_actuals() -> None:
    y = pd.Series(np.arange(10.0, 20.0), index=range(2010, 2020))
    frame = backtest(y, "naive", horizon=3, levels=[80], origins=[2015, 2018])
    assert list(frame.columns) == ["origin", "year", "step", "actual", "mean", "lo-80", "hi-80"]
    # 3 steps from 2015, only 1 from 2018 (the series ends in 2019)
    assert frame["origin"].tolist() == [2015, 2015, 2015, 2018]
    assert frame["year"].tolist() == [2016, 2017, 2018, 2019]
    assert frame["step"].tolist() == [1, 2, 3, 1]
    assert frame["actual"].tolist() == [16.0, 17.0, 18.0, 19.0]
    assert frame["mean"].tolist() == [15.0, 15.0, 15.0, 18.0]  # naive: last training value


def test_backtest_never_sees_the_future() -> None:
    y = pd.Series([1.0, 2.0, 3.0, 100.0, 200.0], index=range(2000, 2005))
    frame = backtest(y, "drift", horizon=2, origins=[2002])
    assert frame["mean"].tolist() == [4.0, 5.0]


def test_default_origins_respect_min_length_and_cap() -> None:
    y = pd.Series(np.arange(12.0), index=range(2000, 2012))
    assert backtest_origins(y, min_train=3) == list(range(2002, 2011))
    assert backtest_origins(y, min_train=3, max_origins=4) == [2007, 2008, 2009, 2010]
    assert backtest(y.iloc[:1], "naive", horizon=2).empty


def test_metrics_count_figures_at_zero_and_the_error_a_year_ahead_in_the_series_units() -> None:
    """The card says a series' typical error in its own units where a backtest figure was 0
    (a percentage error is 200% there whatever the forecast): the metrics carry how many
    were 0 and the mean absolute error a year ahead."""

    history = pd.Series([0, 1, 0, 0, 2, 1, 0, 0, 0, 1, 0.0], index=range(2015, 2026))
    frame = pd.DataFrame(
        {
            "origin": [2020, 2020, 2021, 2021],
            "year": [2021, 2022, 2022, 2023],
            "step": [1, 2, 1, 2],
            "actual": [0.0, 0.0, 0.0, 0.0],
            "mean": [0.5, 0.5, 0.25, 0.25],
            "lo-80": 0.0,
            "hi-80": 2.0,
            "lo-95": 0.0,
            "hi-95": 3.0,
        }
    )
    metrics = backtest_metrics(frame, history, [80, 95])
    assert metrics["zero_figures"] == 4
    assert metrics["mae_h1"] == pytest.approx(0.375)
    assert metrics["smape_h1"] == pytest.approx(200.0)
