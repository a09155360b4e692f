"""Which engine fits the smoothing models: fraudcast's grid engine, statsmodels or statsforecast.

The same rolling-origin backtest (up to 10 origins, 6 years ahead) of simple exponential
smoothing, damped trend, Theta and dynamic optimised Theta runs through each engine on a sample
of M3 yearly series, one process, side by side. The table gives the cost per series and the
backtest MASE, to show the engines fit the same models equally well and what each costs.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training.backtest import backtest_origins

#: Backtest depth and reach as in model selection; 10 years at least (statsforecast's damped
#: ETS refuses fewer).
ORIGINS, STEPS, MIN_TRAIN = 10, 6, 10

#: Forecasts ``STEPS`` ahead from each prefix ``values[:end]``, one row per end.
PathFn = Callable[[np.ndarray, list[int]], np.ndarray]


@dataclass
class EngineResult:
    """Cost and backtest accuracy of one model on one engine."""

    model: str
    engine: str
    ms_per_series: float
    mase: float


def _ours(name: str, engine: str) -> PathFn:
    from models.smoothing import ExponentialSmoothing, Theta

    def build() -> Any:
        if name == "dotm":
            from models.dynamic_theta import DynamicTheta

            return DynamicTheta()
        if name == "theta":
            return Theta(engine=engine)
        return ExponentialSmoothing(trend=name == "damped", damped=name == "damped", engine=engine)

    def paths(values: np.ndarray, ends: list[int]) -> np.ndarray:
        mean, _ = build().rolling_forecasts(pd.Series(values), ends, STEPS)
        return np.asarray(mean, dtype=float)

    return paths


def _statsforecast(name: str) -> PathFn:
    from statsforecast import models

    factories: dict[str, Callable[[], Any]] = {
        "ses": lambda: models.SimpleExponentialSmoothingOptimized(),
        "damped": lambda: models.AutoETS(season_length=1, model="AAN", damped=True),
        "theta": lambda: models.Theta(season_length=1),
        "dotm": lambda: models.DynamicOptimizedTheta(season_length=1),
    }

    def paths(values: np.ndarray, ends: list[int]) -> np.ndarray:
        model = factories[name]
        return np.array([model().forecast(y=values[:end], h=STEPS)["mean"] for end in ends])

    return paths


def _engines(name: str) -> list[tuple[str, PathFn]]:
    engines = [("fraudcast grid", _ours(name, "grid"))]
    if name != "dotm":  # statsmodels has no dynamic optimised Theta
        engines.append(("statsmodels", _ours(name, "statsmodels")))
    engines.append(("statsforecast", _statsforecast(name)))
    return engines


def _backtest_mase(paths: PathFn, series: Sequence[np.ndarray]) -> tuple[float, float]:
    """Seconds spent and mean scaled error of rolling-origin backtests over ``series``."""
    errors, seconds = [], 0.0
    for values in series:
        ends = [o + 1 for o in backtest_origins(pd.Series(values), MIN_TRAIN, ORIGINS)]
        start = time.perf_counter()
        forecasts = paths(values, ends)
        seconds += time.perf_counter() - start
        for end, forecast in zip(ends, forecasts, strict=True):
            actual = values[end : end + STEPS]
            scale = np.mean(np.abs(np.diff(values[:end])))
            if scale > 0:
                errors.append(np.mean(np.abs(actual - forecast[: len(actual)])) / scale)
    return seconds, float(np.mean(errors))


def compare(series: Sequence[np.ndarray]) -> list[EngineResult]:
    """Every model on every engine over the same series and origins."""
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("ses", "damped", "theta", "dotm"):
            for engine, path in _engines(name):
                path(series[0], [len(series[0])])  # first-call costs (imports) not timed
                seconds, mase = _backtest_mase(path, series)
                results.append(EngineResult(name, engine, 1000 * seconds / len(series), mase))
    return results


def render(results: Sequence[EngineResult], n_series: int) -> str:
    """Markdown section: per model and engine, cost per series and backtest MASE."""
    lines = [
        "## Engines for the smoothing models",
        "",
        f"The same rolling-origin backtests (up to {ORIGINS} origins, {STEPS} years ahead) on "
        f"{n_series} M3 yearly series in one process, side by side. fraudcast's grid engine "
        "fits every origin of a series in one pass (dynamic Theta too); the others refit at "
        "each origin.",
        "",
        "| model | engine | ms per series | backtest MASE | cost vs grid |",
        "|---|---|---:|---:|---:|",
    ]
    grid = {r.model: r.ms_per_series for r in results if r.engine == "fraudcast grid"}
    for r in results:
        lines.append(
            f"| {r.model} | {r.engine} | {r.ms_per_series:.1f} | {r.mase:.3f} | "
            f"{r.ms_per_series / grid[r.model]:.1f}x |"
        )
    return "\n".join(lines) + "\n"
