"""Lags of a yearly series, for regression models."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


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
