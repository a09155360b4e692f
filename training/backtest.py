"""Rolling-origin backtests: refit at each origin, forecast ahead, keep the error per step."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from models.base import Forecaster, interval_columns, validate_levels
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
    """Refit ``model`` on the years up to each origin and forecast up to ``horizon`` years ahead
    (fewer near the end of the series); one row per origin and step, with the actual value."""
    checked_levels = validate_levels(levels)
    factory = (lambda: make_forecaster(model)) if isinstance(model, str) else model
    if origins is None:
        origins = backtest_origins(y, factory().min_length, max_origins)
    last_year = int(y.index[-1])
    frames = []
    for origin in origins:
        steps = min(horizon, last_year - origin)
        if steps < 1:
            continue
        forecast = factory().fit(y.loc[:origin]).predict(steps, checked_levels)
        forecast.insert(0, "origin", origin)
        forecast.insert(2, "step", np.arange(1, steps + 1))
        forecast.insert(3, "actual", y.loc[origin + 1 : origin + steps].to_numpy())
        frames.append(forecast)
    columns = [*BACKTEST_COLUMNS, *interval_columns(checked_levels)]
    if not frames:
        return pd.DataFrame(columns=columns).astype(float)
    return pd.concat(frames, ignore_index=True)[columns]
