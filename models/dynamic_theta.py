"""The dynamic optimised Theta model (DOTM) of Fiorucci et al. (2016), fitted in one numpy pass.

The standard Theta method extrapolates half the slope of a straight line fitted once to the
whole series. DOTM instead re-estimates the line as each year arrives (so an old trend fades
out of it) and lets the data choose how much of the trend to carry, ``1 - 1/theta`` with
``theta >= 1``, instead of fixing it at one half. The one-step prediction from year ``i - 1``
is

    mu_i = l_{i-1} + (1 - 1/theta) * (A_{i-1} (1-alpha)^i + B_{i-1} (1 - (1-alpha)^(i+1)) / alpha)

with ``l`` the simple-exponential-smoothing level and ``A``, ``B`` the intercept and slope of
the least-squares line through the years so far, updated recursively. ``A`` and ``B`` depend
on the data only, and ``mu`` is linear in the initial level and in ``1 - 1/theta``; so for each
``alpha`` on a grid the least-squares initial level and theta follow in closed form, for every
training prefix at once (from cumulative sums). A rolling-origin backtest costs one pass, and
each prefix's fit is exactly the fit of that prefix alone. Parameters minimise the squared
one-step errors after the first three years, as in the paper and in statsforecast's
``DynamicOptimizedTheta``, which the tests check this engine against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.base import Forecaster

#: Grid of the level smoothing parameter (statsforecast bounds it to [0.1, 0.99] too).
ALPHAS = np.linspace(0.1, 0.99, 60)
#: One-step errors of the first years are left out of the fit (their line rests on 1-3 points).
BURN_IN = 3


@dataclass(frozen=True)
class DynamicThetaFit:
    """The fit of one training prefix: parameters and the states after its last year."""

    alpha: float
    weight: float  # 1 - 1/theta, the share of the trend line carried forward
    level: float
    mean: float
    intercept: float
    slope: float
    n: int
    sigma: float

    @property
    def theta(self) -> float:
        """The theta coefficient (infinite when the whole trend is carried)."""
        return float("inf") if self.weight >= 1.0 else 1.0 / (1.0 - self.weight)

    def forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Point path (each forecast fed back into the states, as the model prescribes) and
        the error sd per step (that of simple exponential smoothing with this alpha)."""
        alpha, decay = self.alpha, 1.0 - self.alpha
        level, mean, intercept, slope = self.level, self.mean, self.intercept, self.slope
        path = np.empty(horizon)
        for step in range(horizon):
            i = self.n + step
            mu = level + self.weight * (
                intercept * decay**i + slope * (1.0 - decay ** (i + 1)) / alpha
            )
            path[step] = mu
            level = alpha * mu + decay * level
            previous_mean = mean
            mean = (i * mean + mu) / (i + 1)
            slope = ((i - 1) * slope + 6.0 * (mu - previous_mean) / (i + 1)) / (i + 2)
            intercept = mean - slope * (i + 2) / 2.0
        steps = np.arange(horizon)
        return path, self.sigma * np.sqrt(1.0 + steps * alpha**2)


def _line_states(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Running mean, intercept A and slope B of the recursively updated trend line, per year."""
    n = len(values)
    mean, intercept, slope = np.empty(n), np.empty(n), np.empty(n)
    mean[0], intercept[0], slope[0] = values[0], values[0], 0.0
    for i in range(1, n):
        mean[i] = (i * mean[i - 1] + values[i]) / (i + 1)
        slope[i] = ((i - 1) * slope[i - 1] + 6.0 * (values[i] - mean[i - 1]) / (i + 1)) / (i + 2)
        intercept[i] = mean[i] - slope[i] * (i + 2) / 2.0
    return mean, intercept, slope


def fit_dynamic_theta(values: np.ndarray, ends: list[int]) -> list[DynamicThetaFit]:
    """Least-squares DOTM fits of the prefixes ``values[:end]`` for each end."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean, intercept, slope = _line_states(values)
    alphas = ALPHAS[None, :]
    decay = 1.0 - alphas
    i = np.arange(1, n)[:, None]  # years 1..n-1 are predicted one step ahead
    # SES level from a zero start: l_i = alpha y_i + (1 - alpha) l_{i-1}, l_{-1} = 0
    level0 = np.empty((n, ALPHAS.size))
    level0[0] = ALPHAS * values[0]
    for t in range(1, n):
        level0[t] = ALPHAS * values[t] + decay[0] * level0[t - 1]
    base = level0[:-1]  # part of mu_i that is fixed by the data
    init = decay**i  # coefficient of the initial level in l_{i-1}
    trend = intercept[:-1, None] * decay**i + slope[:-1, None] * (1.0 - decay ** (i + 1)) / alphas
    target = values[1:, None] - base
    used = (i >= BURN_IN).astype(float)

    def running(product: np.ndarray) -> np.ndarray:
        return np.cumsum(product * used, axis=0)

    s_ii, s_it, s_tt = running(init * init), running(init * trend), running(trend * trend)
    s_iy, s_ty, s_yy = running(init * target), running(trend * target), running(target * target)

    fits = []
    for end in ends:
        row = end - 2  # sums over the one-step errors of years 1..end-1
        if row < 0:
            raise ValueError("the dynamic Theta model needs at least two years")
        fits.append(
            _best_on_grid(
                values[:end],
                (s_ii[row], s_it[row], s_tt[row], s_iy[row], s_ty[row], s_yy[row]),
                level0[end - 1],
                init[row] * decay[0],
                (mean[end - 1], intercept[end - 1], slope[end - 1]),
                end,
            )
        )
    return fits


def _best_on_grid(
    values: np.ndarray,
    sums: tuple[np.ndarray, ...],
    level_from_zero: np.ndarray,
    level_decay: np.ndarray,
    line: tuple[float, float, float],
    end: int,
) -> DynamicThetaFit:
    """The alpha with the least squared error, its closed-form initial level and weight."""
    s_ii, s_it, s_tt, s_iy, s_ty, s_yy = sums
    start = np.full_like(s_ii, values[0])  # the level starts at the first value
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(s_tt > 0, (s_ty - start * s_it) / s_tt, 0.0)
    weight = np.clip(np.nan_to_num(weight), 0.0, 1.0)  # theta >= 1
    sse = (
        s_yy + start**2 * s_ii + weight**2 * s_tt
        - 2 * start * s_iy - 2 * weight * s_ty + 2 * start * weight * s_it
    )  # fmt: skip
    best = int(np.nanargmin(np.where(np.isfinite(sse), sse, np.inf)))
    errors = max(end - 1 - (BURN_IN - 1), 1)
    sigma = float(np.sqrt(max(float(sse[best]), 0.0) / max(errors - 2, 1)))
    if not np.isfinite(sigma) or sigma == 0.0:
        sigma = float(np.std(np.diff(values))) if len(values) > 1 else 0.0
    mean, intercept, slope = line
    return DynamicThetaFit(
        alpha=float(ALPHAS[best]),
        weight=float(weight[best]),
        level=float(level_from_zero[best] + level_decay[best] * start[best]),
        mean=float(mean),
        intercept=float(intercept),
        slope=float(slope),
        n=end,
        sigma=sigma,
    )


class DynamicTheta(Forecaster):
    """Dynamic optimised Theta: the Theta method with the trend line re-estimated each year
    and the share of it carried forward chosen by least squares."""

    name = "dotm"
    min_length = 6  # at least three one-step errors after the burn-in for three parameters

    def _fit(self, values: np.ndarray) -> None:
        self.fit_ = fit_dynamic_theta(values, [len(values)])[0]

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        return self.fit_.forecast(horizon)

    def _rolling(
        self, values: np.ndarray, ends: list[int], horizon: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        paths = [fit.forecast(horizon) for fit in fit_dynamic_theta(values, ends)]
        return np.array([p[0] for p in paths]), np.array([p[1] for p in paths])
