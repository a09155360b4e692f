"""ARIMA with drift and a small automatic order search by AICc (statsmodels)."""

from __future__ import annotations

import warnings

import numpy as np

from models.base import Forecaster

#: (p, d, q, with drift) tried in order; the lowest AICc wins. d = 1 throughout so AICc compares.
ORDERS: tuple[tuple[int, int, int, bool], ...] = (
    (0, 1, 0, True),
    (1, 1, 0, True),
    (0, 1, 1, True),
    (0, 1, 1, False),
    (1, 1, 1, True),
)


class AutoArima(Forecaster):
    """ARIMA(p,1,q) with optional drift, the order chosen by AICc among a few small ones."""

    name = "arima"
    min_length = 6

    def __init__(self, orders: tuple[tuple[int, int, int, bool], ...] = ORDERS) -> None:
        self.orders = orders

    def _fit(self, values: np.ndarray) -> None:
        from statsmodels.tsa.arima.model import ARIMA

        self.flat_ = bool(np.ptp(values) == 0)
        self.last_ = float(values[-1])
        if self.flat_:
            return
        best = None
        for p, d, q, drift in self.orders:
            if p + q + drift + 2 > len(values) - d:
                continue
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    result = ARIMA(values, order=(p, d, q), trend="t" if drift else "n").fit()
                except (ValueError, np.linalg.LinAlgError):
                    continue
            if np.isfinite(result.aicc) and (best is None or result.aicc < best.aicc):
                best, self.order_ = result, (p, d, q, drift)
        if best is None:
            raise ValueError("arima: no candidate order could be fitted")
        self.result_ = best

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        if self.flat_:
            return np.full(horizon, self.last_), np.zeros(horizon)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forecast = self.result_.get_forecast(horizon)
        return np.asarray(forecast.predicted_mean, dtype=float), np.asarray(forecast.se_mean)
