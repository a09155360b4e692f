"""Rolling-origin backtests: refit at each origin, forecast ahead, keep the error per step."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from models.base import Forecaster, bound_columns, interval_columns, level_label, validate_levels
from models.calibration import held_out_coverage
from models.catalog import make_forecaster
from training.metrics import coverage, interval_score, pinball, smape

#: Columns of every backtest frame, before the interval columns.
BACKTEST_COLUMNS = ["origin", "year", "step", "actual", "mean"]
#: Metric prefix of the backtest coverage of a model's calibrated intervals, the kind a
#: champion serves (``coverage_<level>`` is that of the model's own intervals).
CALIBRATED_COVERAGE = "calibrated_coverage_"


def backtest_origins(y: pd.Series, min_train: int, max_origins: int | None = None) -> list[int]:
    """Origins (last training year) with at least ``min_train`` years of training and one year
    to check; only the latest ``max_origins`` when given."""
    years = [int(year) for year in y.index]
    origins = years[max(min_train, 1) - 1 : -1]
    if max_origins is not None:
        origins = origins[-max_origins:] if max_origins > 0 else []
    return origins


def backtest(
    y: pd.Series,
    model: str | Callable[[], Forecaster],
    *,
    horizon: int,
    levels: Sequence[float] = (80, 95),
    origins: Sequence[int] | None = None,
    max_origins: int | None = None,
) -> pd.DataFrame:
    """Fit ``model`` on the years up to each origin and forecast up to ``horizon`` years ahead
    (fewer near the end of the series); one row per origin and step, with the actual value."""
    checked_levels = validate_levels(levels)
    forecaster = make_forecaster(model) if isinstance(model, str) else model()
    if origins is None:
        origins = backtest_origins(y, forecaster.min_length, max_origins)
    columns = [*BACKTEST_COLUMNS, *interval_columns(checked_levels)]
    years = np.asarray(y.index, dtype=np.int64)
    first_year, last_year = int(years[0]), int(years[-1])
    origins = [int(origin) for origin in origins if int(origin) < last_year]
    if not origins:
        return pd.DataFrame(columns=columns).astype(float)
    ends = [origin - first_year + 1 for origin in origins]
    mean, quantiles = forecaster.rolling_forecasts(y, ends, horizon, checked_levels)
    origin_grid = np.repeat(origins, horizon)
    step_grid = np.tile(np.arange(1, horizon + 1), len(origins))
    target = origin_grid + step_grid
    keep = target <= last_year  # near the end fewer steps can be checked
    values = np.asarray(y, dtype=float)
    data: dict[str, np.ndarray] = {
        "origin": origin_grid[keep],
        "year": target[keep],
        "step": step_grid[keep],
        "actual": values[target[keep] - first_year],
        "mean": mean.ravel()[keep],
    }
    for level in checked_levels:
        lo_name, hi_name = bound_columns(level)
        data[lo_name], data[hi_name] = (bound.ravel()[keep] for bound in quantiles[level])
    return pd.DataFrame(data, columns=columns)


def backtest_metrics(
    backtest_frame: pd.DataFrame, history: pd.Series, levels: Sequence[float]
) -> dict[str, float]:
    """Metrics of one backtest frame: MASE, sMAPE, MSIS, coverage and pinball loss overall, and
    MASE and sMAPE per step; MASE and MSIS scaled per origin by the training data up to it.
    ``backtest_forecasts`` counts the forecasts checked (origin and step pairs),
    ``zero_figures`` those whose figure was 0, and ``mae_h1`` is the mean absolute error a
    year ahead in the series' own units."""
    if backtest_frame.empty:
        return {}
    scale = _origin_scales(history, backtest_frame["origin"].to_numpy(dtype=np.int64))
    columns = {name: backtest_frame[name].to_numpy(dtype=float) for name in backtest_frame}
    actual, mean = columns["actual"], columns["mean"]
    steps = backtest_frame["step"].to_numpy(dtype=int)
    scaled_error = np.abs(actual - mean) / scale
    metrics: dict[str, float] = {
        "mase": float(np.nanmean(scaled_error)) if np.isfinite(scaled_error).any() else np.nan,
        "smape": smape(actual, mean),
        "backtest_forecasts": float(len(actual)),  # what every other metric here rests on
        # a percentage error is undefined at a figure of 0 and says little near it (Hyndman &
        # Koehler 2006): where a backtest figure was 0, the card says the typical error a year
        # ahead in the series' own units instead
        "zero_figures": float(np.sum(actual == 0)),
        "mae_h1": _nanmean(np.abs(actual - mean)[steps == 1]),
    }
    lo_95, hi_95 = bound_columns(95)
    if lo_95 in columns:
        scores = interval_score(actual, columns[lo_95], columns[hi_95]) / scale
        metrics["msis"] = _nanmean(scores)
    losses = []
    for level in levels:
        label = level_label(level)
        lo, hi = (columns[name] for name in bound_columns(level))
        metrics[f"coverage_{label}"] = coverage(actual, lo, hi)
        tail = 0.5 - float(level) / 200.0
        losses += [pinball(actual, lo, tail), pinball(actual, hi, 1.0 - tail)]
    metrics["pinball"] = float(np.mean(losses))
    for step in np.unique(steps):
        at_step = steps == step
        metrics[f"mase_h{step}"] = _nanmean(scaled_error[at_step])
        metrics[f"smape_h{step}"] = smape(actual[at_step], mean[at_step])
    return metrics


def calibrated_coverage_metrics(
    backtest_frame: pd.DataFrame, history: pd.Series, levels: Sequence[float]
) -> dict[str, float]:
    """``calibrated_coverage_<level>``: how often intervals calibrated from the backtest errors,
    as a champion's are, contained the figure, each figure checked against a calibration from
    the other origins' errors on other years (``models.calibration.held_out_coverage``)."""
    shares = held_out_coverage(history, backtest_frame, levels)
    return {f"{CALIBRATED_COVERAGE}{level_label(level)}": share for level, share in shares.items()}


def calibrated_coverage(metrics: Mapping[str, float]) -> dict[str, float]:
    """The calibrated coverage among ``metrics`` by level label, e.g. ``{"80": 0.81}``."""
    return {
        key.removeprefix(CALIBRATED_COVERAGE): float(value)
        for key, value in metrics.items()
        if key.startswith(CALIBRATED_COVERAGE) and np.isfinite(value)
    }


def _origin_scales(history: pd.Series, origins: np.ndarray) -> np.ndarray:
    """MASE scale (mean absolute first difference) of the training data up to each origin;
    NaN where it is zero or undefined."""
    values = history.to_numpy(dtype=float)
    cumulative = np.r_[0.0, np.cumsum(np.abs(np.diff(values)))]
    n_changes = origins - int(history.index[0])  # changes within the training years
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = cumulative[np.clip(n_changes, 0, len(values) - 1)] / n_changes
    return np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
