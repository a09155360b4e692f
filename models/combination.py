"""Combinations: the median or mean of several models' forecasts."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.base import Forecaster, SeriesTooShort, UnsuitableSeries, bound_columns


class Combination(Forecaster):
    """Median (or mean) of its members' point forecasts and bounds; members that cannot fit the
    series (too short, unsuitable) are left out, and at least one must fit. Fitting fits
    copies of the members: the members given stay as they were."""

    def __init__(self, members: Sequence[Forecaster], how: str = "median", name: str = "combo"):
        if how not in ("median", "mean"):
            raise ValueError(f"how must be 'median' or 'mean', got {how!r}")
        if not members:
            raise ValueError("a combination needs at least one member")
        self.members = list(members)
        self.how = how
        self.name = name
        self.min_length = min(member.min_length for member in self.members)

    def _fit(self, values: np.ndarray) -> None:
        series = pd.Series(values, index=np.arange(len(values)))
        fitted, skipped = [], []
        for member in self.members:
            try:
                fitted.append(copy.deepcopy(member).fit(series))
            except (SeriesTooShort, UnsuitableSeries) as exc:
                skipped.append(f"{member.name}: {exc}")
        if not fitted:
            raise SeriesTooShort(f"{self.name}: no member could fit the series ({skipped})")
        self.fitted_members_, self.skipped_ = fitted, skipped

    def _predict_quantiles(
        self, horizon: int, levels: list[float]
    ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
        frames = [member.predict(horizon, levels) for member in self.fitted_members_]
        combine = np.median if self.how == "median" else np.mean

        def column(name: str) -> np.ndarray:
            return np.asarray(combine(np.stack([f[name].to_numpy() for f in frames]), axis=0))

        quantiles = {}
        for level in levels:
            lo, hi = bound_columns(level)
            quantiles[level] = (column(lo), column(hi))
        return column("mean"), quantiles

    def _rolling_quantiles(
        self, values: np.ndarray, ends: list[int], horizon: int, levels: list[float]
    ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]] | None:
        if any(member.min_length > min(ends) for member in self.members):
            return None  # some member sits out of some prefixes: refit each to mirror fit()
        series = pd.Series(values, index=np.arange(len(values)))
        try:
            rolled = [
                member.rolling_forecasts(series, ends, horizon, levels) for member in self.members
            ]
        except UnsuitableSeries:
            return None
        combine = np.median if self.how == "median" else np.mean
        mean = np.asarray(combine(np.stack([r[0] for r in rolled]), axis=0))
        quantiles = {
            level: tuple(
                np.asarray(combine(np.stack([r[1][level][side] for r in rolled]), axis=0))
                for side in (0, 1)
            )
            for level in levels
        }
        return mean, quantiles  # type: ignore[return-value]

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError  # _predict_quantiles is overridden
