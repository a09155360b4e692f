"""The forecaster contract: every model fits a yearly series and predicts mean and intervals."""

from __future__ import annotations

import copy
import functools
import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import Any, Protocol, Self

import numpy as np
import pandas as pd

#: The furthest a served forecast reaches: years after the last figure (API, CLI, champions).
MAX_HORIZON = 30


class NotFittedError(RuntimeError):
    """Raised when ``predict`` is called on a forecaster that has not been fitted."""


class SeriesTooShort(ValueError):
    """Raised when a series has fewer points than a model needs."""


class UnsuitableSeries(ValueError):
    """Raised when a model cannot use a series (e.g. a log model on a series with zeros)."""


@functools.lru_cache(maxsize=256)
def level_label(level: float) -> str:
    """Label of an interval level as used in column names: 80.0 -> '80', 97.5 -> '97.5'
    (cached: a training run labels the same few levels for every backtest figure)."""
    value = float(level)
    if not 0.0 < value < 100.0 or not math.isfinite(value):
        raise ValueError(f"interval level must lie strictly between 0 and 100, got {level!r}")
    return str(int(value)) if value.is_integer() else f"{value:g}"


def bound_columns(level: float | str) -> tuple[str, str]:
    """The lower and upper bound columns of an interval level (or its label): 80 -> lo-80,
    hi-80. Every forecast frame, backtest and API answer names its bounds this way."""
    label = level if isinstance(level, str) else level_label(level)
    return f"lo-{label}", f"hi-{label}"


def interval_columns(levels: Sequence[float]) -> list[str]:
    """Interval column names for the levels, in output order: lo-80, hi-80, lo-95, hi-95, ..."""
    return [name for level in levels for name in bound_columns(level)]


def interval_labels(columns: Iterable[str]) -> list[str]:
    """The level labels of the intervals among ``columns`` (lo-80, hi-80, ... -> 80, ...)."""
    return [column[3:] for column in columns if column.startswith("lo-")]


def validate_levels(levels: Sequence[float]) -> list[float]:
    """Check every level lies in (0, 100) and return them as floats (order kept)."""
    checked = [float(level) for level in levels]
    for level in checked:
        level_label(level)
    return checked


def validate_horizon(horizon: int, max_horizon: int | None = None) -> int:
    """Check the horizon is a positive integer (no more than ``max_horizon`` when given)."""
    if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    if max_horizon is not None and horizon > max_horizon:
        raise ValueError(f"horizon must be between 1 and {max_horizon}, got {horizon}")
    return int(horizon)


def validate_series(y: pd.Series, min_length: int, model: str) -> pd.Series:
    """Check a yearly series: integer contiguous years, finite values, long enough for the model."""
    if not isinstance(y, pd.Series):
        raise TypeError(
            f"{model}: y must be a pandas Series indexed by year, got {type(y).__name__}"
        )
    if len(y) == 0:
        raise SeriesTooShort(f"{model}: the series is empty")
    try:
        years = np.asarray(y.index, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{model}: the index must hold integer years") from exc
    if not np.array_equal(years, np.asarray(y.index, dtype=float)):
        raise ValueError(f"{model}: the index must hold integer years")
    if len(years) > 1 and not np.all(np.diff(years) == 1):
        raise ValueError(
            f"{model}: years must be contiguous and increasing; fill or drop gaps first "
            "(features.gaps.fill_gaps)"
        )
    values = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{model}: the series holds missing or infinite values")
    if len(values) < min_length:
        raise SeriesTooShort(
            f"{model} needs at least {min_length} years of data, the series has {len(values)}"
        )
    return pd.Series(values, index=pd.Index(years, name="year"), name=y.name)


class Predictor(Protocol):
    """What is served and what the contract suite checks: a fitted forecast of one series that
    predicts the years after its last one. Catalog models (``Forecaster``) and the calibrated
    champion (``models.calibration.CalibratedForecast``) are both predictors."""

    def predict(self, horizon: int, levels: Sequence[float] = ...) -> pd.DataFrame:
        """Years ``last + 1 .. last + horizon``: year, mean, and lo-/hi- per level."""
        ...


class Forecaster(ABC):
    """A model of one yearly series: ``fit(y)`` then ``predict(horizon, levels)``.

    Subclasses implement ``_fit(values)`` and ``_forecast(horizon)`` returning the point path and
    the standard deviation of the forecast error per step; the base class validates input, builds
    the output frame and keeps bounds at or above zero for series that never go below zero.
    """

    name: str = "forecaster"
    min_length: int = 1

    y_: pd.Series
    nonnegative_: bool

    def fit(self, y: pd.Series) -> Self:
        """Fit the model to a contiguous yearly series; returns self."""
        series = validate_series(y, self.min_length, self.name)
        self._fit(series.to_numpy())
        self.y_ = series
        self.nonnegative_ = bool((series >= 0).all())
        return self

    def predict(self, horizon: int, levels: Sequence[float] = ()) -> pd.DataFrame:
        """Forecast ``horizon`` years after the last fitted year with intervals at ``levels``."""
        self._check_fitted()
        horizon = validate_horizon(horizon)
        checked_levels = validate_levels(levels)
        mean, quantiles = self._predict_quantiles(horizon, checked_levels)
        return self._frame(horizon, mean, quantiles, checked_levels)

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments of the model, as given (nested models by name and params);
        like scikit-learn's, each argument is kept under its own name."""
        params: dict[str, Any] = {}
        for key in constructor_arguments(type(self)):
            value = getattr(self, key)
            if isinstance(value, Forecaster):
                params[key] = value.name
                params.update({f"{key}__{k}": v for k, v in value.get_params().items()})
            elif isinstance(value, list | tuple) and value and isinstance(value[0], Forecaster):
                params[key] = [member.name for member in value]
            else:
                params[key] = value
        return params

    def unsuitable(self, values: np.ndarray) -> str | None:
        """Why this model cannot forecast from ``values`` as they now stand (None: it can),
        found without fitting: a series whose backtests ran may still end where the model
        cannot start (a count that fell to 0 under a model on the log scale)."""
        return None

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` has run."""
        return hasattr(self, "y_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{self.name} is not fitted yet: call fit(y) before predict()")

    def rolling_forecasts(
        self, y: pd.Series, ends: Sequence[int], horizon: int, levels: Sequence[float] = ()
    ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
        """Forecasts from several training prefixes of ``y`` (the first ``end`` values for each
        end), exactly as if a fresh copy were fitted to each: mean and (lo, hi) per level, each
        of shape (len(ends), horizon). Models that can do all prefixes in one pass do so."""
        series = validate_series(y, self.min_length, self.name)
        values = series.to_numpy()
        checked_levels = validate_levels(levels)
        ends = [int(end) for end in ends]
        if any(end < self.min_length or end > len(values) for end in ends):
            raise SeriesTooShort(f"{self.name} needs at least {self.min_length} years per prefix")
        fast = self._rolling_quantiles(values, ends, horizon, checked_levels)
        if fast is None:
            return self._refit_each(series, ends, horizon, checked_levels)
        mean, quantiles = fast
        return _bounded(mean, quantiles, checked_levels, [values[:end] for end in ends])

    def _refit_each(
        self, series: pd.Series, ends: list[int], horizon: int, levels: list[float]
    ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
        """Fit a fresh copy to each prefix: what ``fit`` then ``predict`` do, minus the frames."""
        values = series.to_numpy()
        means, bounds = [], []
        for end in ends:
            clone = copy.deepcopy(self)
            clone.fit(series.iloc[:end])
            mean, quantiles = clone._predict_quantiles(horizon, levels)
            mean, bounded = _bounded(mean, quantiles, levels, [values[:end]])
            means.append(mean)
            bounds.append(bounded)
        quantile_arrays = {
            level: (
                np.array([b[level][0] for b in bounds]),
                np.array([b[level][1] for b in bounds]),
            )
            for level in levels
        }
        return np.array(means), quantile_arrays

    def prefix_quantiles(
        self, values: np.ndarray, ends: list[int], horizon: int, levels: list[float]
    ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]] | None:
        """Mean and unbounded (lo, hi) per level from every prefix ``values[:end]`` in one
        pass, for models that wrap this one (``rolling_forecasts`` is the checked entry); None
        when the model can only refit at each prefix."""
        return self._rolling_quantiles(values, ends, horizon, levels)

    def _rolling_quantiles(
        self, values: np.ndarray, ends: list[int], horizon: int, levels: list[float]
    ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]] | None:
        """One-pass forecasts from every prefix, or None to refit at each (the default)."""
        rolled = self._rolling(values, ends, horizon)
        return None if rolled is None else _normal_quantiles(*rolled, levels)

    def _rolling(
        self, values: np.ndarray, ends: list[int], horizon: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Mean and error sd from each prefix in one pass; None when the model cannot."""
        return None

    def _predict_quantiles(
        self, horizon: int, levels: list[float]
    ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
        """Point path and (lo, hi) per level; the default is a normal interval around the mean."""
        return _normal_quantiles(*self._forecast(horizon), levels)

    def _frame(
        self,
        horizon: int,
        mean: np.ndarray,
        quantiles: dict[float, tuple[np.ndarray, np.ndarray]],
        levels: list[float],
    ) -> pd.DataFrame:
        last_year = int(self.y_.index[-1])
        mean, bounds = _bounded(mean, quantiles, levels, [self.y_.to_numpy()])
        frame = pd.DataFrame({"year": np.arange(last_year + 1, last_year + 1 + horizon)})
        frame["mean"] = mean
        for level in levels:
            lo, hi = bound_columns(level)
            frame[lo], frame[hi] = bounds[level]
        return frame[["year", "mean", *interval_columns(levels)]]

    @abstractmethod
    def _fit(self, values: np.ndarray) -> None:
        """Learn the model's state from the series values (oldest first)."""

    @abstractmethod
    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Point forecasts and forecast-error standard deviations for steps 1..horizon."""


@functools.cache
def constructor_arguments(cls: type) -> tuple[str, ...]:
    """The named arguments of ``cls.__init__`` (none for a model without one)."""
    # the nearest class in the hierarchy that defines one (object's takes no arguments)
    init = next(vars(base)["__init__"] for base in cls.__mro__ if "__init__" in vars(base))
    if init is object.__init__:
        return ()
    return tuple(
        name
        for name, parameter in inspect.signature(init).parameters.items()
        if name != "self"
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    )


def _normal_quantiles(
    mean: np.ndarray, sd: np.ndarray, levels: list[float]
) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
    """Normal intervals mean +- z sd at each level."""
    mean = np.asarray(mean, dtype=float)
    sd = np.nan_to_num(np.abs(np.asarray(sd, dtype=float)), nan=0.0)
    quantiles = {}
    for level in levels:
        z = _normal_quantile(level)
        quantiles[level] = (mean - z * sd, mean + z * sd)
    return mean, quantiles


@functools.lru_cache(maxsize=256)
def _normal_quantile(level: float) -> float:
    """Standard normal quantile bounding the central ``level`` percent."""
    return NormalDist().inv_cdf(0.5 + level / 200.0)


def _bounded(
    mean: np.ndarray,
    quantiles: dict[float, tuple[np.ndarray, np.ndarray]],
    levels: list[float],
    prefixes: Sequence[np.ndarray],
) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
    """Enforce lo <= mean <= hi, nesting across levels, no value below zero for a prefix that
    never went below zero, and a point path within what real yearly series did
    (``models.calibration.within_reference``). ``mean`` and the bounds hold one row per
    prefix (or are a single path for a single prefix)."""
    from models.calibration import within_reference

    single = np.ndim(mean) == 1
    rows = np.atleast_2d(np.asarray(mean, dtype=float))
    nonnegative = np.array([[bool(np.all(values >= 0))] for values in prefixes])
    rows = np.where(nonnegative, np.maximum(rows, 0.0), rows)
    rows = np.array(
        [within_reference(row, values) for row, values in zip(rows, prefixes, strict=True)]
    )
    mean = rows[0] if single else rows
    if single:
        nonnegative = nonnegative[0]
    bounds = {}
    previous_lo, previous_hi = mean, mean
    for level in sorted(levels):  # each wider level contains the narrower one
        lo, hi = quantiles[level]
        lo = np.minimum(np.minimum(lo, previous_lo), mean)
        hi = np.maximum(np.maximum(hi, previous_hi), mean)
        lo = np.where(nonnegative, np.maximum(lo, 0.0), lo)
        bounds[level] = (lo, hi)
        previous_lo, previous_hi = lo, hi
    return mean, bounds
