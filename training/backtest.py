"""Rolling-origin backtests: refit at each origin, forecast ahead, keep the error per step."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from models.base import Forecaster, interval_columns, level_label, validate_levels
from models.catalog import make_forecaster

#: Columns of every backtest frame, before the interval columns.
BACKTEST_COLUMNS = ["origin", "year", "step", "actual", "mean"]


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
        lo, hi = quantiles[level]
        data[f"lo-{level_label(level)}"] = lo.ravel()[keep]
        data[f"hi-{level_label(level)}"] = hi.ravel()[keep]
    return pd.DataFrame(data, columns=columns)
