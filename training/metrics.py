"""Forecast accuracy and interval metrics: MASE, sMAPE, MSIS, coverage and pinball loss."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _arrays(*values: ArrayLike) -> list[np.ndarray]:
    arrays = [np.asarray(value, dtype=float) for value in values]
    if len({array.shape for array in arrays}) > 1:
        raise ValueError("actual and forecast arrays must have the same shape")
    return arrays


def mase_scale(insample: ArrayLike) -> float:
    """In-sample mean absolute first difference (the naive forecast's one-step error)."""
    history = np.asarray(insample, dtype=float)
    if history.size < 2:
        return float("nan")
    return float(np.mean(np.abs(np.diff(history))))


def mase(actual: ArrayLike, forecast: ArrayLike, insample: ArrayLike) -> float:
    """Mean absolute scaled error: mean |actual - forecast| over the in-sample naive MAE."""
    y, f = _arrays(actual, forecast)
    scale = mase_scale(insample)
    if not np.isfinite(scale) or scale == 0:
        return float("nan")
    return float(np.mean(np.abs(y - f)) / scale)


def smape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Symmetric MAPE in percent (M3/M4 definition: 200 |y - f| / (|y| + |f|)); 0/0 counts 0."""
    y, f = _arrays(actual, forecast)
    denominator = np.abs(y) + np.abs(f)
    ratio = np.divide(2.0 * np.abs(y - f), denominator, out=np.zeros_like(y), where=denominator > 0)
    return float(100.0 * np.mean(ratio))


def interval_score(
    actual: ArrayLike, lo: ArrayLike, hi: ArrayLike, level: float = 95.0
) -> np.ndarray:
    """Interval score per point: width plus 2/alpha times the distance by which actual misses."""
    y, lower, upper = _arrays(actual, lo, hi)
    alpha = 1.0 - level / 100.0
    return np.asarray(
        (upper - lower)
        + (2.0 / alpha) * np.maximum(lower - y, 0.0)
        + (2.0 / alpha) * np.maximum(y - upper, 0.0)
    )


def msis(
    actual: ArrayLike, lo: ArrayLike, hi: ArrayLike, insample: ArrayLike, level: float = 95.0
) -> float:
    """Mean scaled interval score (M4): the mean interval score over the MASE scale."""
    scale = mase_scale(insample)
    if not np.isfinite(scale) or scale == 0:
        return float("nan")
    return float(np.mean(interval_score(actual, lo, hi, level)) / scale)


def coverage(actual: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> float:
    """Share (0..1) of actual values inside [lo, hi]."""
    y, lower, upper = _arrays(actual, lo, hi)
    return float(np.mean((y >= lower) & (y <= upper)))


def pinball(actual: ArrayLike, quantile_forecast: ArrayLike, quantile: float) -> float:
    """Pinball (quantile) loss of a forecast of the ``quantile`` (0..1) quantile."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    y, q = _arrays(actual, quantile_forecast)
    diff = y - q
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1.0) * diff)))
