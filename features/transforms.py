"""Variance-stabilising transforms of a yearly series, each with an exact inverse."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


def is_strictly_positive(values: ArrayLike) -> bool:
    """Whether every value is finite and above zero (so a log or Box-Cox scale applies)."""
    array = np.asarray(values, dtype=float)
    return bool(array.size > 0 and np.all(np.isfinite(array)) and np.all(array > 0))


def log_transform(values: ArrayLike) -> np.ndarray:
    """Natural log of a strictly positive series; raises ValueError otherwise."""
    array = np.asarray(values, dtype=float)
    if not is_strictly_positive(array):
        raise ValueError("the log scale needs strictly positive values")
    return np.log(array)


def inverse_log(values: ArrayLike) -> np.ndarray:
    """Back from the log scale."""
    return np.exp(np.asarray(values, dtype=float))


@dataclass(frozen=True)
class BoxCox:
    """Box-Cox transform with parameter ``lam`` (``lam == 0`` is the log)."""

    lam: float

    def transform(self, values: ArrayLike) -> np.ndarray:
        """Forward transform of strictly positive values."""
        array = np.asarray(values, dtype=float)
        if not is_strictly_positive(array):
            raise ValueError("the Box-Cox transform needs strictly positive values")
        if abs(self.lam) < 1e-12:
            return np.log(array)
        # expm1/log1p keep precision when lam is close to 0 (the transform nears the log)
        return np.expm1(self.lam * np.log(array)) / self.lam

    def inverse(self, values: ArrayLike) -> np.ndarray:
        """Inverse transform; values outside the transform's range map to 0."""
        array = np.asarray(values, dtype=float)
        if abs(self.lam) < 1e-12:
            return np.exp(array)
        base = np.maximum(self.lam * array, -1.0)
        with np.errstate(divide="ignore"):
            return np.exp(np.log1p(base) / self.lam)

    @classmethod
    def fitted(cls, values: ArrayLike, bounds: tuple[float, float] = (-1.0, 2.0)) -> BoxCox:
        """Box-Cox with the maximum-likelihood ``lam`` for the values, clipped to ``bounds``."""
        from scipy.stats import boxcox_normmax

        array = np.asarray(values, dtype=float)
        if not is_strictly_positive(array):
            raise ValueError("the Box-Cox transform needs strictly positive values")
        if len(array) < 3 or np.ptp(array) == 0:
            return cls(0.0)
        lam = float(boxcox_normmax(array, method="mle"))
        return cls(float(np.clip(lam, *bounds)))
