"""Benchmarks every other model must beat: the naive forecast and the random walk with drift."""

from __future__ import annotations

import numpy as np

from models.base import Forecaster


class Naive(Forecaster):
    """Last value carried forward; errors grow like a random walk."""

    name = "naive"
    min_length = 1

    def _fit(self, values: np.ndarray) -> None:
        self.last_ = float(values[-1])
        steps = np.diff(values)
        self.sigma_ = float(np.sqrt(np.mean(steps**2))) if steps.size else 0.0

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        steps = np.arange(1, horizon + 1)
        return np.full(horizon, self.last_), self.sigma_ * np.sqrt(steps)


class RandomWalkDrift(Forecaster):
    """Random walk with drift: the line from the first to the last value, extended."""

    name = "drift"
    min_length = 2

    def _fit(self, values: np.ndarray) -> None:
        steps = np.diff(values)
        self.last_ = float(values[-1])
        self.drift_ = float(steps.mean())
        self.n_steps_ = len(steps)
        residuals = steps - self.drift_
        dof = max(len(steps) - 1, 1)
        self.sigma_ = float(np.sqrt(np.sum(residuals**2) / dof))

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        steps = np.arange(1, horizon + 1)
        sd = self.sigma_ * np.sqrt(steps * (1.0 + steps / self.n_steps_))
        return self.last_ + self.drift_ * steps, sd
