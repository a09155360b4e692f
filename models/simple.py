"""Benchmarks every other model must beat: the naive forecast and the random walk with drift."""

from __future__ import annotations

import numpy as np

from models.base import Forecaster


class Naive(Forecaster):
    """Last value carried forward; errors grow like a random walk."""

    name = "naive"
    min_length = 1

    def _fit(self, values: np.ndarray) -> None:
        self.last_, self.sigma_ = self._state(values)

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        steps = np.arange(1, horizon + 1)
        return np.full(horizon, self.last_), self.sigma_ * np.sqrt(steps)

    def _rolling(
        self, values: np.ndarray, ends: list[int], horizon: int
    ) -> tuple[np.ndarray, np.ndarray]:
        fits = [self._state(values[:end]) for end in ends]
        steps = np.sqrt(np.arange(1, horizon + 1))
        return (
            np.array([np.full(horizon, last) for last, _ in fits]),
            np.array([sigma * steps for _, sigma in fits]),
        )

    @staticmethod
    def _state(values: np.ndarray) -> tuple[float, float]:
        steps = np.diff(values)
        return float(values[-1]), float(np.sqrt(np.mean(steps**2))) if steps.size else 0.0


class RandomWalkDrift(Forecaster):
    """Random walk with drift: the line from the first to the last value, extended."""

    name = "drift"
    min_length = 2

    def _fit(self, values: np.ndarray) -> None:
        self.last_, self.drift_, self.n_steps_, self.sigma_ = self._state(values)

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        return self._path((self.last_, self.drift_, self.n_steps_, self.sigma_), horizon)

    def _rolling(
        self, values: np.ndarray, ends: list[int], horizon: int
    ) -> tuple[np.ndarray, np.ndarray]:
        paths = [self._path(self._state(values[:end]), horizon) for end in ends]
        return np.array([p[0] for p in paths]), np.array([p[1] for p in paths])

    @staticmethod
    def _state(values: np.ndarray) -> tuple[float, float, int, float]:
        steps = np.diff(values)
        drift = float(steps.mean())
        dof = max(len(steps) - 1, 1)
        sigma = float(np.sqrt(np.sum((steps - drift) ** 2) / dof))
        return float(values[-1]), drift, len(steps), sigma

    @staticmethod
    def _path(
        state: tuple[float, float, int, float], horizon: int
    ) -> tuple[np.ndarray, np.ndarray]:
        last, drift, n_steps, sigma = state
        steps = np.arange(1, horizon + 1)
        # the drift is estimated from n_steps changes, adding its own uncertainty
        sd = sigma * np.sqrt(steps * (1.0 + steps / n_steps))
        return last + drift * steps, sd
