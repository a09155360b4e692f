"""Diagnostics of a yearly series: length, trend strength, zeros, positivity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.gaps import missing_years
from features.transforms import is_strictly_positive


@dataclass(frozen=True)
class SeriesDiagnostics:
    """Summary facts a modeller checks before trusting a forecast."""

    length: int
    missing_years: int
    zeros: int
    strictly_positive: bool
    trend_strength: float

    def as_dict(self) -> dict[str, float]:
        """Plain mapping, for logging."""
        return {key: float(value) for key, value in vars(self).items()}


def trend_strength(values: np.ndarray) -> float:
    """Share of variance explained by a linear trend (0 = none, 1 = a straight line)."""
    if len(values) < 3 or np.ptp(values) == 0:
        return 0.0
    time = np.arange(len(values), dtype=float)
    slope, intercept = np.polyfit(time, values, 1)
    residual = values - (slope * time + intercept)
    return float(max(0.0, 1.0 - residual.var() / values.var()))


def diagnose(y: pd.Series) -> SeriesDiagnostics:
    """Diagnostics of ``y`` (gaps counted from its index)."""
    values = np.asarray(y, dtype=float)
    positive = is_strictly_positive(values)
    scaled = np.log(values) if positive else values
    return SeriesDiagnostics(
        length=len(values),
        missing_years=len(missing_years(y)),
        zeros=int(np.sum(values == 0)),
        strictly_positive=positive,
        trend_strength=trend_strength(scaled),
    )
