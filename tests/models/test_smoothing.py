"""Exponential smoothing as fraudcast fits it (``models.smoothing``, ``models.ets_engine``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.smoothing import ExponentialSmoothing


def test_a_small_counts_last_year_burst_is_not_carried_forward_as_its_level() -> None:
    """A county's 1, 1, 2, 1, 0, 0, 0, 1, 0, 2, 4 incidents: least squares on the counts
    had picked alpha 0.99 and projected 4.0 a year, the last year's burst carried forward;
    on their square roots, where Poisson noise weighs alike at every level, it smooths."""
    counts = pd.Series([1.0, 1, 2, 1, 0, 0, 0, 1, 0, 2, 4], index=range(2015, 2026))
    projected = ExponentialSmoothing().fit(counts).predict(3)["mean"].to_numpy()
    assert np.all((projected > 0.8) & (projected < 2.0)), projected


def test_backtests_smooth_a_count_as_its_served_fit_does() -> None:
    """Every backtest origin's simple smoothing of a count is the fit that origin's history
    alone would get, so backtests judge the model that is served: whether the history is a
    small count is judged on the years before the origin, not on a later jump to hundreds."""
    counts = np.array([1.0, 1, 2, 1, 0, 0, 0, 1, 0, 2, 4, 150, 160, 170])
    rolled = ExponentialSmoothing()._rolling(counts, [6, 9, 11], 2)
    assert rolled is not None
    for row, end in enumerate([6, 9, 11]):
        history = pd.Series(counts[:end], index=range(2000, 2000 + end))
        alone = ExponentialSmoothing().fit(history).predict(2)["mean"].to_numpy()
        np.testing.assert_allclose(rolled[0][row], alone)
