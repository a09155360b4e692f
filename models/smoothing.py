"""Exponential smoothing (simple, additive trend, damped trend) and the Theta method.

Two engines fit the same models: ``grid`` (``models.ets_engine``: least squares over a grid of
smoothing parameters, all backtest origins in one pass) and ``statsmodels``. The benchmark
(``benchmarks/RESULTS.md``) shows why ``grid`` is the default.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from models.base import Forecaster
from models.ets_engine import PrefixFit, fit_prefixes, ols_slopes

ENGINES = ("grid", "statsmodels")


def _quiet_fit(model: Any) -> Any:
    """Fit a statsmodels model without its convergence chatter (short series trip it often)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return model.fit()


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")


class ExponentialSmoothing(Forecaster):
    """ETS with additive errors: no trend (SES), additive trend (Holt), or damped trend."""

    name = "ets"
    min_length = 3

    def __init__(self, trend: bool = False, damped: bool = False, engine: str = "grid") -> None:
        self.trend = trend
        self.damped = damped
        self.engine = engine

    def _fit(self, values: np.ndarray) -> None:
        _check_engine(self.engine)
        if self.engine == "grid":
            self.fit_ = fit_prefixes(values, [len(values)], self.trend, self.damped)[0]
            return
        self.fit_ = self._statsmodels_fit(values)

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        return self.fit_.forecast(horizon)

    def _rolling(
        self, values: np.ndarray, ends: list[int], horizon: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        _check_engine(self.engine)
        if self.engine != "grid":
            return None
        fits = fit_prefixes(values, ends, self.trend, self.damped)
        paths = [fit.forecast(horizon) for fit in fits]
        return np.array([p[0] for p in paths]), np.array([p[1] for p in paths])

    def _statsmodels_fit(self, values: np.ndarray) -> PrefixFit:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing as StatsmodelsETS

        if np.ptp(values) == 0:  # a flat line: nothing to estimate
            return PrefixFit(1.0, 0.0, 1.0, float(values[-1]), 0.0, 0.0)
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
        dof = max(len(values) - (2 + 2 * self.trend + self.damped), 1)
        level = float(result.level[-1])
        trend = float(result.trend[-1]) if self.trend else 0.0
        sigma = float(np.sqrt(np.sum(residuals**2) / dof))
        return PrefixFit(alpha, alpha * beta_star, phi, level, trend, sigma)


class Theta(Forecaster):
    """The Theta method of the M3 competition: SES plus half the slope of a linear trend."""

    name = "theta"
    min_length = 4

    def __init__(self, engine: str = "grid") -> None:
        self.engine = engine

    def _fit(self, values: np.ndarray) -> None:
        _check_engine(self.engine)
        self.last_ = float(values[-1])
        if self.engine == "grid":
            self.ses_ = fit_prefixes(values, [len(values)], trend=False, damped=False)[0]
            self.slope_ = float(ols_slopes(values, [len(values)])[0])
            self.n_ = len(values)
            return
        from statsmodels.tsa.forecasting.theta import ThetaModel

        self.flat_ = bool(np.ptp(values) == 0)
        if not self.flat_:
            self.result_ = _quiet_fit(ThetaModel(values, period=1, deseasonalize=False))

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        if self.engine == "grid":
            return _theta_path(self.ses_, self.slope_, self.n_, horizon)
        if self.flat_:
            return np.full(horizon, self.last_), np.zeros(horizon)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean = np.asarray(self.result_.forecast(horizon), dtype=float)
            one_sd = self.result_.prediction_intervals(horizon, alpha=0.31731050786291415)
        sd = (np.asarray(one_sd["upper"], dtype=float) - np.asarray(one_sd["lower"])) / 2.0
        return mean, sd

    def _rolling(
        self, values: np.ndarray, ends: list[int], horizon: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        _check_engine(self.engine)
        if self.engine != "grid":
            return None
        fits = fit_prefixes(values, ends, trend=False, damped=False)
        slopes = ols_slopes(values, ends)
        paths = [
            _theta_path(fit, slope, end, horizon)
            for fit, slope, end in zip(fits, slopes, ends, strict=True)
        ]
        return np.array([p[0] for p in paths]), np.array([p[1] for p in paths])


def _theta_path(
    ses: PrefixFit, slope: float, n: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Theta forecast (Hyndman & Billah 2003): SES level plus half the trend slope, adjusted
    for the SES lag: l_n + b/2 (h - 1 + 1/alpha - (1 - alpha)^n / alpha)."""
    steps = np.arange(1, horizon + 1)
    alpha = ses.alpha
    drift = 0.5 * slope * (steps - 1 + 1 / alpha - (1 - alpha) ** n / alpha)
    _, sd = ses.forecast(horizon)
    return ses.level + drift, sd
