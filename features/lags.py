"""Lags and growth rates of a yearly series, for regression models."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def growth_rates(values: ArrayLike, log: bool = True) -> np.ndarray:
    """Year-on-year changes: log ratios when ``log`` (values must be positive), else differences."""
    array = np.asarray(values, dtype=float)
    return np.diff(np.log(array)) if log else np.diff(array)


def lag_matrix(values: ArrayLike, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix of ``lags`` previous values per row, and the target value of each row."""
    array = np.asarray(values, dtype=float)
    if lags < 1:
        raise ValueError("lags must be at least 1")
    rows = len(array) - lags
    if rows <= 0:
        return np.empty((0, lags)), np.empty(0)
    design = np.column_stack([array[lags - k - 1 : lags - k - 1 + rows] for k in range(lags)])
    return design, array[lags:]
