"""Calibrated champions: a point path plus interval widths learned from backtest errors.

A ``CalibratedForecast`` holds only numpy arrays and plain values, so it pickles small and
predicts with a few array operations (it is served at thousands of requests per second).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.base import interval_columns, level_label, validate_horizon, validate_levels

#: Years ahead a champion can forecast.
MAX_HORIZON = 30
#: Probabilities at which the error quantile function is stored (dense in the tails).
_GRID_Z = np.linspace(-4.0, 4.0, 321)
#: Pseudo-observations of the wide prior error scale mixed into every calibration.
PRIOR_WEIGHT = 1.0
#: Prior one-step error scale: 20% on the log scale (or of the level, for additive errors).
PRIOR_SCALE = 0.20
#: Backtest errors that count as much as the t-shaped fallback in the quantile mixture: one
#: short series rarely has enough errors for trustworthy tail quantiles on its own.
EMPIRICAL_HALF_WEIGHT = 100.0
#: Prior for the exponent of error growth with the horizon: 1, linear, as when the error in
#: an estimated trend dominates (a pure random walk would give 0.5).
PRIOR_GROWTH = 1.0


@functools.lru_cache(maxsize=1)
def _grid_probabilities() -> np.ndarray:
    from scipy.stats import norm

    return np.asarray(norm.cdf(_GRID_Z))


@dataclass
class CalibratedForecast:
    """The fitted, calibrated forecast of one series: mean path and error quantiles per step."""

    model_name: str
    last_year: int
    point_path: np.ndarray
    error_scale: str  # "log": errors are log(actual / mean); "additive": actual - mean
    probabilities: np.ndarray
    error_quantiles: np.ndarray  # quantiles of errors normalised to one step ahead
    step_scale: np.ndarray  # error multiplier per step 1..max_horizon
    nonnegative: bool = True
    notes: list[str] = field(default_factory=list)
    max_horizon: int = MAX_HORIZON

    def predict(self, horizon: int, levels: Sequence[float] = (80, 95)) -> pd.DataFrame:
        """Forecast for the next ``horizon`` years (1..max_horizon) at the interval ``levels``."""
        columns = self.predict_arrays(horizon, levels)
        return pd.DataFrame(columns, columns=list(columns))

    def predict_arrays(
        self, horizon: int, levels: Sequence[float] = (80, 95)
    ) -> dict[str, np.ndarray]:
        """``predict`` as plain arrays keyed by column (year, mean, lo-80, hi-80, ...): the
        fast path for serving, no DataFrame built."""
        horizon = validate_horizon(horizon, self.max_horizon)
        checked = validate_levels(levels)
        mean = self.point_path[:horizon]
        columns = {
            "year": np.arange(self.last_year + 1, self.last_year + 1 + horizon),
            "mean": mean,
        }
        scale = self.step_scale[:horizon]
        for level in checked:
            p_lo = 0.5 - level / 200.0
            z_lo, z_hi = np.interp([p_lo, 1.0 - p_lo], self.probabilities, self.error_quantiles)
            lo, hi = self._apply(mean, z_lo * scale), self._apply(mean, z_hi * scale)
            lo, hi = np.minimum(lo, mean), np.maximum(hi, mean)
            if self.nonnegative:
                lo = np.maximum(lo, 0.0)
            columns[f"lo-{level_label(level)}"], columns[f"hi-{level_label(level)}"] = lo, hi
        return {name: columns[name] for name in ["year", "mean", *interval_columns(checked)]}

    def _apply(self, mean: np.ndarray, error: np.ndarray) -> np.ndarray:
        if self.error_scale == "log":
            return mean * np.exp(np.minimum(error, 700.0))
        return mean + error

    @classmethod
    def from_backtest(
        cls,
        model_name: str,
        history: pd.Series,
        point_path: np.ndarray,
        backtest: pd.DataFrame,
        notes: Sequence[str] = (),
        max_horizon: int = MAX_HORIZON,
    ) -> CalibratedForecast:
        """Calibrate intervals around ``point_path`` from the model's backtest errors."""
        values = np.asarray(history, dtype=float)
        nonnegative = bool(np.all(values >= 0))
        path = np.asarray(point_path, dtype=float)[:max_horizon]
        if len(path) < max_horizon:
            raise ValueError(f"point_path needs {max_horizon} steps, got {len(path)}")
        if nonnegative:
            path = np.maximum(path, 0.0)
        actual, predicted, steps = (
            backtest[column].to_numpy(dtype=float) if column in backtest else np.empty(0)
            for column in ("actual", "mean", "step")
        )
        use_log = bool(
            np.all(values > 0) and np.all(path > 0) and np.all(predicted > 0) and np.all(actual > 0)
        )
        if use_log:
            errors = np.log(actual) - np.log(predicted)
            prior_scale = PRIOR_SCALE
        else:
            errors = actual - predicted
            prior_scale = PRIOR_SCALE * (float(np.mean(np.abs(values))) or 1.0)
        growth = _growth_exponent(errors, steps)
        normalised = errors / steps**growth
        quantiles = _error_quantiles(normalised, prior_scale, _grid_probabilities())
        step_scale = np.arange(1, max_horizon + 1, dtype=float) ** growth
        return cls(
            model_name=model_name,
            last_year=int(history.index[-1]),
            point_path=path,
            error_scale="log" if use_log else "additive",
            probabilities=_grid_probabilities(),
            error_quantiles=quantiles,
            step_scale=step_scale,
            nonnegative=nonnegative,
            notes=list(notes),
            max_horizon=max_horizon,
        )


def _growth_exponent(errors: np.ndarray, steps: np.ndarray) -> float:
    """How error spread grows with the step: RMS ~ step**b, fitted across steps with enough
    errors and shrunk towards the prior (0.75) when few steps inform it; kept in [0.25, 1.5]."""
    log_steps, log_rms, weights = [], [], []
    for step in np.unique(steps):
        at_step = errors[steps == step]
        rms = float(np.sqrt(np.mean(at_step**2)))
        if at_step.size >= 2 and rms > 0:
            log_steps.append(np.log(step))
            log_rms.append(np.log(rms))
            weights.append(at_step.size)
    if len(log_steps) < 2:
        return PRIOR_GROWTH
    slope = float(np.polyfit(log_steps, log_rms, 1, w=np.sqrt(weights))[0])
    informed = len(log_steps)
    shrunk = (informed * slope + 2.0 * PRIOR_GROWTH) / (informed + 2.0)
    return float(np.clip(shrunk, 0.25, 1.5))


def _error_quantiles(
    normalised: np.ndarray, prior_scale: float, probabilities: np.ndarray
) -> np.ndarray:
    """Quantile function of one-step errors: empirical (conformal plotting positions) mixed with
    a Student-t whose scale pools the errors with a wide prior; few errors lean on the t."""
    from scipy.stats import t as student_t

    count = normalised.size
    scale = np.sqrt(
        (np.sum(normalised**2) + PRIOR_WEIGHT * prior_scale**2) / (count + PRIOR_WEIGHT)
    )
    dof = max(count - 1.0, 2.0)
    parametric = scale * student_t.ppf(probabilities, dof)
    if count == 0:
        return np.asarray(parametric)
    ordered = np.sort(normalised)
    positions = np.arange(1, count + 1) / (count + 1.0)
    empirical = np.interp(probabilities, positions, ordered)
    weight = count / (count + EMPIRICAL_HALF_WEIGHT)
    return np.asarray(weight * empirical + (1.0 - weight) * parametric)
