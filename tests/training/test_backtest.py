"""Rolling-origin backtests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.backtest import backtest, backtest_origins


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
