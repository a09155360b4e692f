"""Any forecaster on the log scale: multiplicative growth and intervals that never go below zero."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.transforms import is_strictly_positive
from models.base import Forecaster, UnsuitableSeries, bound_columns, validate_levels


class LogScale(Forecaster):
    """Fit a copy of ``inner`` to log(y) and map its mean (a median on the original scale) and
    bounds back; ``inner`` itself stays unfitted."""

    inner_: Forecaster

    def __init__(self, inner: Forecaster) -> None:
        self.inner = inner
        self.name = f"log_{inner.name}"
        self.min_length = inner.min_length

    def unsuitable(self, values: np.ndarray) -> str | None:
        if not is_strictly_positive(values):
            return f"{self.name} needs a strictly positive series"
        return None

    def _fit(self, values: np.ndarray) -> None:
        reason = self.unsuitable(values)
        if reason:
            raise UnsuitableSeries(reason)
        self.inner_ = copy.deepcopy(self.inner).fit(
            pd.Series(np.log(values), index=np.arange(len(values)))
        )
        self.inner_.nonnegative_ = False  # log values may be negative; bounds are fine below 0

    def _predict_quantiles(
        self, horizon: int, levels: list[float]
    ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
        frame = self.inner_.predict(horizon, validate_levels(levels))
        quantiles = {}
        for level, (lo, hi) in zip(levels, _pairs(frame, levels), strict=True):
            quantiles[level] = (np.exp(lo), np.exp(hi))
        # exp of huge log forecasts overflows; cap at a finite value so output stays numeric
        mean = np.exp(np.minimum(frame["mean"].to_numpy(), 700.0))
        return mean, quantiles

    def _rolling_quantiles(
        self, values: np.ndarray, ends: list[int], horizon: int, levels: list[float]
    ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]] | None:
        if not is_strictly_positive(values[: max(ends)]):
            raise UnsuitableSeries(f"{self.name} needs a strictly positive series")
        rolled = self.inner.prefix_quantiles(np.log(values), ends, horizon, levels)
        if rolled is None:
            return None
        mean, quantiles = rolled
        return np.exp(np.minimum(mean, 700.0)), {
            level: (np.exp(np.minimum(lo, 700.0)), np.exp(np.minimum(hi, 700.0)))
            for level, (lo, hi) in quantiles.items()
        }

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError  # _predict_quantiles is overridden


def _pairs(frame: pd.DataFrame, levels: Sequence[float]) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for level in levels:
        lo, hi = bound_columns(level)
        pairs.append(
            (np.minimum(frame[lo].to_numpy(), 700.0), np.minimum(frame[hi].to_numpy(), 700.0))
        )
    return pairs
