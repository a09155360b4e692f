"""A scikit-learn ridge regression of the yearly change on engineered features."""

from __future__ import annotations

import numpy as np

from features.lags import lag_matrix
from models.base import Forecaster


class RidgeGrowth(Forecaster):
    """Ridge regression of this year's change on the last ``lags`` changes, applied recursively.

    The penalty, chosen by leave-one-out cross-validation, shrinks the lag weights towards zero,
    so on noisy series it falls back to the average change (drift) and on persistent ones it
    follows momentum: a data-driven damping of the trend.
    """

    name = "ridge"
    min_length = 6

    def __init__(self, lags: int = 2, alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)) -> None:
        self.lags = lags
        self.alphas = alphas

    def _fit(self, values: np.ndarray) -> None:
        from sklearn.linear_model import RidgeCV

        changes = np.diff(values)
        design, target = lag_matrix(changes, self.lags)
        self.scale_ = float(np.std(changes)) or 1.0
        self.model_ = RidgeCV(alphas=self.alphas).fit(design / self.scale_, target / self.scale_)
        fitted = self.model_.predict(design / self.scale_) * self.scale_
        dof = max(len(target) - self.lags - 1, 1)
        self.sigma_ = float(np.sqrt(np.sum((target - fitted) ** 2) / dof))
        self.recent_changes_ = changes[-self.lags :][::-1].copy()  # most recent first
        self.last_ = float(values[-1])

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        recent = list(self.recent_changes_)
        level, path = self.last_, []
        coef = np.asarray(self.model_.coef_, dtype=float)
        intercept = float(self.model_.intercept_) * self.scale_
        for _ in range(horizon):
            change = intercept + float(coef @ np.asarray(recent[: self.lags]))
            level += change
            path.append(level)
            recent = [change, *recent[:-1]]
        steps = np.arange(1, horizon + 1)
        return np.asarray(path), self.sigma_ * np.sqrt(steps * (1.0 + steps / 10.0))
