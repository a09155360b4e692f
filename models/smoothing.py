"""Exponential smoothing (simple, additive trend, damped trend) and Theta, fitted by statsmodels."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from models.base import Forecaster


def _quiet_fit(model: Any) -> Any:
    """Fit a statsmodels model without its convergence chatter (short series trip it often)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return model.fit()


class ExponentialSmoothing(Forecaster):
    """ETS with additive errors: no trend (SES), additive trend (Holt), or damped trend."""

    name = "ets"
    min_length = 3

    def __init__(self, trend: bool = False, damped: bool = False) -> None:
        self.trend = trend
        self.damped = damped

    def _fit(self, values: np.ndarray) -> None:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing as StatsmodelsETS

        if np.ptp(values) == 0:  # a flat line: statsmodels cannot estimate anything useful
            self.flat_, self.sigma_, self.last_ = True, 0.0, float(values[-1])
            return
        model = StatsmodelsETS(
            values,
            trend="add" if self.trend else None,
            damped_trend=bool(self.trend and self.damped),
            initialization_method="estimated",
        )
        result = _quiet_fit(model)
        params = result.params
        alpha = float(params["smoothing_level"])
        beta_star = float(params.get("smoothing_trend", 0.0) or 0.0) if self.trend else 0.0
        phi = float(params.get("damping_trend", 1.0) or 1.0) if self.trend and self.damped else 1.0
        residuals = values - np.asarray(result.fittedvalues)
        dof = max(len(values) - (1 + 2 * self.trend + self.damped), 1)
        self.sigma_ = float(np.sqrt(np.sum(residuals**2) / dof))
        self.weights_ = (alpha, beta_star, phi)
        self.result_ = result
        self.flat_ = False

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        if self.flat_:
            return np.full(horizon, self.last_), np.zeros(horizon)
        mean = np.asarray(self.result_.forecast(horizon), dtype=float)
        alpha, beta_star, phi = self.weights_
        # Var(h) = sigma^2 (1 + sum_{j<h} c_j^2), c_j = alpha (1 + beta* (phi + ... + phi^j))
        cumulative_phi = np.cumsum(phi ** np.arange(1, horizon))
        c = (
            alpha * (1.0 + beta_star * cumulative_phi)
            if self.trend
            else np.full(horizon - 1, alpha)
        )
        variance = 1.0 + np.r_[0.0, np.cumsum(c**2)]
        return mean, self.sigma_ * np.sqrt(variance)


class Theta(Forecaster):
    """The Theta method (SES with half the linear-trend slope), as in the M3 competition."""

    name = "theta"
    min_length = 4

    def _fit(self, values: np.ndarray) -> None:
        from statsmodels.tsa.forecasting.theta import ThetaModel

        self.flat_ = bool(np.ptp(values) == 0)
        self.last_ = float(values[-1])
        if self.flat_:
            return
        self.result_ = _quiet_fit(ThetaModel(values, period=1, deseasonalize=False))

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        if self.flat_:
            return np.full(horizon, self.last_), np.zeros(horizon)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean = np.asarray(self.result_.forecast(horizon), dtype=float)
            one_sd = self.result_.prediction_intervals(horizon, alpha=0.31731050786291415)
        sd = (np.asarray(one_sd["upper"], dtype=float) - np.asarray(one_sd["lower"])) / 2.0
        return mean, sd
