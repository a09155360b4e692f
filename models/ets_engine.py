"""A numpy engine for linear exponential smoothing that fits every training prefix in one pass.

ETS with additive errors is linear in its initial states, so for each smoothing-parameter
combination on a grid one filtering pass gives, for every prefix of the series, the squared
errors as a quadratic in the initial level and trend. The least-squares initial states, the
best parameters and the final states of each prefix follow in closed form. Fitting a prefix
this way is exactly fitting that prefix alone (no later value enters), so a rolling-origin
backtest costs one pass instead of one fit per origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.calibration import is_small_count

#: Smoothing-parameter grids: level (alpha), trend as a share of alpha (beta*), damping (phi).
ALPHAS = np.array([0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99])
SES_ALPHAS = np.linspace(0.02, 0.99, 40)
BETA_SHARES = np.array([0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0])
PHIS = np.array([0.8, 0.85, 0.9, 0.94, 0.98])


@dataclass(frozen=True)
class PrefixFit:
    """The least-squares ETS fit of one prefix: parameters, final states and error sd."""

    alpha: float
    beta: float  # error-correction form: beta = alpha * beta*
    phi: float
    level: float
    trend: float
    sigma: float

    def forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Point path and error sd for steps 1..horizon."""
        damping = np.cumsum(self.phi ** np.arange(1, horizon + 1))
        mean = self.level + damping * self.trend
        c = self.alpha + self.beta * damping[:-1]  # weights of past errors on step h
        variance = 1.0 + np.r_[0.0, np.cumsum(c**2)]
        return mean, self.sigma * np.sqrt(variance)


def parameter_grid(trend: bool, damped: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha, beta, phi) for every combination tried."""
    if not trend:
        return SES_ALPHAS, np.zeros_like(SES_ALPHAS), np.ones_like(SES_ALPHAS)
    phis = PHIS if damped else np.array([1.0])
    alpha, share, phi = (grid.ravel() for grid in np.meshgrid(ALPHAS, BETA_SHARES, phis))
    return alpha, alpha * share, phi


def fit_prefixes(
    values: np.ndarray, ends: Sequence[int], trend: bool, damped: bool
) -> list[PrefixFit]:
    """Least-squares fits of ETS(A,N,N), (A,A,N) or (A,Ad,N) to ``values[:end]`` for each end.

    Simple smoothing of a small count takes its smoothing parameter from the fit to the
    count's square roots, where its Poisson noise has one variance at every level (Anscombe
    1948) and least squares weighs every year alike; it then smooths the counts themselves
    with it. On the counts, a county's 1 1 2 1 0 0 0 1 0 2 4 had been fitted with alpha 0.99
    and projected at 4.0 a year, the last year's burst carried forward."""
    values = np.asarray(values, dtype=float)
    fits = _least_squares(values, ends, trend, damped)
    if trend:
        return fits
    counted = [i for i, end in enumerate(ends) if is_small_count(values[:end])]
    if counted:
        on_roots = _least_squares(np.sqrt(values), [ends[i] for i in counted], False, False)
        for i, root_fit in zip(counted, on_roots, strict=True):
            alpha = np.array([root_fit.alpha])
            fits[i] = _least_squares(values, [ends[i]], False, False, alpha)[0]
    return fits


def _least_squares(
    values: np.ndarray,
    ends: Sequence[int],
    trend: bool,
    damped: bool,
    alphas: np.ndarray | None = None,
) -> list[PrefixFit]:
    """``fit_prefixes`` by least squares over the whole parameter grid, or over ``alphas``
    alone (simple smoothing) when given."""
    scale = float(np.mean(np.abs(values))) or 1.0
    y = np.asarray(values, dtype=float) / scale
    alpha, beta, phi = parameter_grid(trend, damped)
    if alphas is not None:
        alpha, beta, phi = alphas, np.zeros_like(alphas), np.ones_like(alphas)
    horizon_len = max(ends)
    # three linear systems per combination: the data with zero initial states, and the
    # responses to a unit initial level and a unit initial trend with zero data
    level = np.zeros((3, alpha.size))
    slope = np.zeros((3, alpha.size))
    level[1] = 1.0
    slope[2] = 1.0 if trend else 0.0
    errors = np.empty((horizon_len, 3, alpha.size))
    levels = np.empty_like(errors)
    slopes = np.empty_like(errors)
    for t in range(horizon_len):
        predicted = level + phi * slope
        error = -predicted
        error[0] += y[t]
        level = predicted + alpha * error
        slope = phi * slope + beta * error
        errors[t], levels[t], slopes[t] = error, level, slope
    d, p, q = errors[:, 0], errors[:, 1], errors[:, 2]
    sums = {
        name: np.cumsum(a * b, axis=0)
        for name, (a, b) in {
            "dd": (d, d),
            "dp": (d, p),
            "dq": (d, q),
            "pp": (p, p),
            "pq": (p, q),
            "qq": (q, q),
        }.items()
    }
    n_params = 1 + (3 + damped if trend else 1)
    return [
        _best_prefix(end, sums, levels, slopes, alpha, beta, phi, trend, n_params, scale)
        for end in ends
    ]


def _best_prefix(
    end: int,
    sums: dict[str, np.ndarray],
    levels: np.ndarray,
    slopes: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    phi: np.ndarray,
    trend: bool,
    n_params: int,
    scale: float,
) -> PrefixFit:
    s = {name: value[end - 1] for name, value in sums.items()}
    ridge = 1e-9  # keeps the 2x2 solve defined when a prefix cannot tell level from trend
    if trend:
        a11, a12, a22 = s["pp"] + ridge, s["pq"], s["qq"] + ridge
        det = a11 * a22 - a12**2
        l0 = (-s["dp"] * a22 + s["dq"] * a12) / det
        b0 = (-s["dq"] * a11 + s["dp"] * a12) / det
    else:
        l0 = -s["dp"] / (s["pp"] + ridge)
        b0 = np.zeros_like(l0)
    sse = (
        s["dd"]
        + 2 * l0 * s["dp"]
        + 2 * b0 * s["dq"]
        + l0**2 * s["pp"]
        + 2 * l0 * b0 * s["pq"]
        + b0**2 * s["qq"]
    )
    sse = np.where(np.isfinite(sse), np.maximum(sse, 0.0), np.inf)
    best = int(np.argmin(sse))
    state_level = (
        levels[end - 1, 0, best]
        + l0[best] * levels[end - 1, 1, best]
        + b0[best] * levels[end - 1, 2, best]
    )
    state_trend = (
        slopes[end - 1, 0, best]
        + l0[best] * slopes[end - 1, 1, best]
        + b0[best] * slopes[end - 1, 2, best]
    )
    sigma = float(np.sqrt(sse[best] / max(end - n_params, 1))) * scale
    return PrefixFit(
        float(alpha[best]),
        float(beta[best]),
        float(phi[best]),
        float(state_level) * scale,
        float(state_trend) * scale,
        sigma,
    )


def ols_slopes(values: np.ndarray, ends: Sequence[int]) -> np.ndarray:
    """Least-squares slope of a straight line through ``values[:end]`` for each end."""
    t = np.arange(len(values), dtype=float)
    y = np.asarray(values, dtype=float)
    slopes = []
    for end in ends:
        if end < 2:
            slopes.append(0.0)
            continue
        tc = t[:end] - t[:end].mean()
        slopes.append(float(tc @ (y[:end] - y[:end].mean()) / (tc @ tc)))
    return np.asarray(slopes)
