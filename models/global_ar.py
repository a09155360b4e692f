"""A global linear autoregression: one set of coefficients learned across many series.

Montero-Manso & Hyndman (2021), "Principles and algorithms for forecasting groups of time
series: locality and globality": every series is divided by its MASE scale (mean absolute
first difference, no centring), every window of ``order + 1`` consecutive values of every
series is stacked into one training set, and a single linear autoregression without intercept
is fitted to all of them by least squares; forecasts are made recursively. A global model
borrows the shape of yearly dynamics from thousands of windows, where a local model of a short
series sees a dozen.

Here the windows are those of the bundled reference corpus (``data/reference``), one fit per
order, made on first use and cached; a series of ``n`` years uses order ``min(n - 1,
MAX_ORDER)``. The error spread per step comes from the pooled fit's own recursive residuals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from data.reference import reference_series
from models.base import Forecaster

#: Most lags a series is described by (the order of the global model).
MAX_ORDER = 6
#: Steps ahead the pooled recursive error spread is measured for; beyond, it grows like a
#: random walk's.
SPREAD_STEPS = 10
#: Pooled fits by (order, corpus identity).
_FITS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _scale(values: np.ndarray) -> float:
    """The series' MASE scale: its mean absolute yearly change (0 for a constant series)."""
    return float(np.mean(np.abs(np.diff(values)))) if len(values) > 1 else 0.0


def _scaled(values: np.ndarray) -> np.ndarray | None:
    scale = _scale(values)
    return values / scale if scale > 0 else None


def _global_fit(order: int) -> tuple[np.ndarray, np.ndarray]:
    """``pooled_fit`` of ``order`` across the reference corpus, cached."""
    corpus = reference_series()
    key = (order, id(corpus))
    if key not in _FITS:
        _FITS[key] = pooled_fit(corpus, order)
    return _FITS[key]


def pooled_fit(series: Sequence[np.ndarray], order: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (oldest lag first) of one autoregression of ``order`` without intercept
    fitted by least squares across every window of ``order + 1`` years of every one of
    ``series``, each divided by its MASE scale, and the root mean squared scaled error of its
    recursive forecasts 1..SPREAD_STEPS ahead. ValueError where no series has a window."""
    windows = []
    for values in series:
        scaled = _scaled(np.asarray(values, dtype=float))
        if scaled is None or len(scaled) <= order:
            continue
        windows.append(np.lib.stride_tricks.sliding_window_view(scaled, order + 1))
    if not windows:
        raise ValueError(f"no series has a window of {order + 1} years to fit")
    stacked = np.vstack(windows)
    coefficients, *_ = np.linalg.lstsq(stacked[:, :order], stacked[:, order], rcond=None)
    return coefficients, _recursive_spread(stacked, coefficients, order)


def _recursive_spread(stacked: np.ndarray, coefficients: np.ndarray, order: int) -> np.ndarray:
    """Spread (scaled) of recursive forecasts 1..SPREAD_STEPS ahead: the pooled one-step
    residual spread compounded through the recursion, simulated from a sample of windows."""
    residuals = stacked[:, order] - stacked[:, :order] @ coefficients
    sigma = float(np.sqrt(np.mean(residuals**2)))
    start = stacked[:: max(len(stacked) // 5000, 1), :order]
    noisy, clean = start.copy(), start.copy()
    rng = np.random.default_rng(0)
    spread = np.zeros(SPREAD_STEPS)
    for step in range(SPREAD_STEPS):
        next_noisy = noisy @ coefficients + rng.normal(0.0, sigma, len(noisy))
        next_clean = clean @ coefficients
        spread[step] = float(np.sqrt(np.mean((next_noisy - next_clean) ** 2)))
        noisy = np.column_stack([noisy[:, 1:], next_noisy])
        clean = np.column_stack([clean[:, 1:], next_clean])
    return spread


class GlobalAR(Forecaster):
    """A linear autoregression fitted once across every window of the reference corpus, each
    series scaled by its mean absolute yearly change (Montero-Manso & Hyndman 2021)."""

    name = "global_ar"
    min_length = 3

    def __init__(self, max_order: int = MAX_ORDER):
        self.max_order = max_order

    def _fit(self, values: np.ndarray) -> None:
        self.scale_ = _scale(values)
        self.order_ = int(min(len(values) - 1, self.max_order))
        self.last_ = np.asarray(values[-self.order_ :], dtype=float)

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        return recursive_forecast(self.last_, self.scale_, _global_fit(self.order_), horizon)


def recursive_forecast(
    latest: np.ndarray, scale: float, fit: tuple[np.ndarray, np.ndarray], horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """A series' forecast ``horizon`` years ahead from a pooled fit (``pooled_fit``): each
    year from the ``latest`` ones before it (as many as the fit's order), in the series' MASE
    ``scale``, and the spread of such forecasts per step. A constant series (a scale of 0)
    stays where it is: nothing moves it."""
    if scale == 0:
        return np.full(horizon, float(latest[-1])), np.zeros(horizon)
    coefficients, spread = fit
    order = len(coefficients)
    window = list(np.asarray(latest[-order:], dtype=float) / scale)
    path = []
    for _ in range(horizon):
        following = float(np.dot(coefficients, window[-order:]))
        path.append(following)
        window.append(following)
    steps = np.arange(1, horizon + 1)
    sd = np.where(
        steps <= SPREAD_STEPS,
        spread[np.minimum(steps, SPREAD_STEPS) - 1],
        spread[-1] * np.sqrt(steps / SPREAD_STEPS),
    )
    return np.array(path) * scale, sd * scale
