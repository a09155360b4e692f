"""A scikit-learn ridge regression of the yearly change on engineered features."""

from __future__ import annotations

import numpy as np

from features.lags import lag_matrix
from models.base import Forecaster


class RidgeGrowth(Forecaster):
    """Ridge regression of this year's change on the last ``lags`` changes, applied recursively.

    Changes are standardised by their spread, so one penalty suits every series: it shrinks
    the lag weights towards zero, so noisy series fall back to the average change (drift) and
    persistent ones follow their momentum, a data-driven damping of the trend. On the log scale
    (``log_ridge``) the changes are growth rates.
    """

    name = "ridge"
    min_length = 6

    def __init__(self, lags: int = 2, alpha: float = 3.0) -> None:
        self.lags = lags
        self.alpha = alpha

    def _fit(self, values: np.ndarray) -> None:
        from sklearn.linear_model import Ridge

        design, target, scale = self._design(values)
        model = Ridge(alpha=self.alpha, solver="cholesky").fit(design, target)
        self.coef_ = np.asarray(model.coef_, dtype=float)
        self.intercept_ = float(model.intercept_)
        self.scale_ = scale
        self.sigma_ = self._sigma(design, target)
        self.recent_changes_ = np.diff(values)[-self.lags :][::-1] / scale  # most recent first
        self.last_ = float(values[-1])

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        return self._path(
            self.last_,
            self.recent_changes_,
            self.coef_,
            self.intercept_,
            self.scale_,
            self.sigma_,
            horizon,
        )

    def _rolling(
        self, values: np.ndarray, ends: list[int], horizon: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The same ridge fits in closed form (centred least squares plus the penalty), which
        is what scikit-learn's cholesky solver computes, without its per-call overhead."""
        paths = []
        for end in ends:
            design, target, scale = self._design(values[:end])
            x_mean, y_mean = design.mean(axis=0), target.mean()
            centred = design - x_mean
            gram = centred.T @ centred + self.alpha * np.eye(self.lags)
            coef = np.linalg.solve(gram, centred.T @ (target - y_mean))
            intercept = float(y_mean - x_mean @ coef)
            sigma = _residual_sd(design @ coef + intercept, target, self.lags) * scale
            recent = np.diff(values[:end])[-self.lags :][::-1] / scale
            paths.append(
                self._path(float(values[end - 1]), recent, coef, intercept, scale, sigma, horizon)
            )
        return np.array([p[0] for p in paths]), np.array([p[1] for p in paths])

    def _design(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        changes = np.diff(values)
        scale = float(np.std(changes)) or 1.0
        design, target = lag_matrix(changes / scale, self.lags)
        return design, target, scale

    def _sigma(self, design: np.ndarray, target: np.ndarray) -> float:
        fitted = design @ self.coef_ + self.intercept_
        return _residual_sd(fitted, target, self.lags) * self.scale_

    @staticmethod
    def _path(
        last: float,
        recent: np.ndarray,
        coef: np.ndarray,
        intercept: float,
        scale: float,
        sigma: float,
        horizon: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        lags = list(recent)
        level, path = last, []
        for _ in range(horizon):
            change = intercept + float(coef @ np.asarray(lags))
            level += change * scale
            path.append(level)
            lags = [change, *lags[:-1]]
        steps = np.arange(1, horizon + 1)
        # a random walk's spread plus a share for the estimated drift and lag weights
        return np.asarray(path), sigma * np.sqrt(steps * (1.0 + steps / 10.0))


def _residual_sd(fitted: np.ndarray, target: np.ndarray, lags: int) -> float:
    dof = max(len(target) - lags - 1, 1)
    return float(np.sqrt(np.sum((target - fitted) ** 2) / dof))
