"""A global linear autoregression: one set of coefficients learned across many series.

Montero-Manso & Hyndman (2021), "Principles and algorithms for forecasting groups of time
series: locality and globality": every series is divided by its MASE scale (mean absolute
first difference, no centring), every window of ``order + 1`` consecutive values of every
series is stacked into one training set, and a single linear autoregression without intercept
is fitted to all of them by least squares; forecasts are made recursively. A global model
borrows the shape of yearly dynamics from thousands of windows, where a local model of a short
series sees a dozen.

The paper fits it on the group being forecast, and so does fraudcast where the group is large
enough: a population of series trained together (``training.population``: at least
``SMALL_POPULATION`` series) teaches it its own dynamics (``learning_from``), counts that fall
back towards their level rather than M-competition trends that carry on. Each series is fitted
on the population's windows of the years up to its last one, so no backtest learns from a
later year of any series; an order with fewer than ``WINDOWS_PER_COEFFICIENT`` windows a
coefficient there, and any smaller population, learn from the bundled reference corpus
(``data/reference``) instead. A series of ``n`` years uses order ``min(n - 1, MAX_ORDER)``;
the error spread per step is that of the pooled fit's residuals carried through the
recursion.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Self

import numpy as np
import pandas as pd

from data.reference import reference_series
from models.base import Forecaster

#: Most lags a series is described by (the order of the global model).
MAX_ORDER = 6
#: Steps ahead the pooled recursive error spread is given for; beyond, it grows like a random
#: walk's.
SPREAD_STEPS = 10
#: Fewest windows a coefficient that a population's own fit rests on: with fewer (3 series of
#: 9 years at order 6), the reference corpus' fit serves.
WINDOWS_PER_COEFFICIENT = 10

#: A pooled fit: coefficients (oldest lag first) and the scaled error spread 1..SPREAD_STEPS
#: steps ahead.
Fit = tuple[np.ndarray, np.ndarray]


class PooledWindows:
    """Every window of ``order + 1`` years (orders 1..``MAX_ORDER``) of many series, each
    series divided by its MASE scale, kept as running sums by year: ``fit(order, cutoff)``
    fits on the windows of every series cut at ``cutoff`` (its scale too is that of its years
    up to then) in one small solve, whatever the cutoff. Series are values by integer year
    (contiguous), or arrays (years 0, 1, ...)."""

    def __init__(self, series: Iterable[pd.Series | np.ndarray], max_order: int = MAX_ORDER):
        histories = [
            (np.arange(len(values)), np.asarray(values, dtype=float))
            if not isinstance(values, pd.Series)
            else (np.asarray(values.index, dtype=np.int64), values.to_numpy(dtype=float))
            for values in series
        ]
        every_year = [years for years, _ in histories]
        self.years_ = np.unique(np.concatenate(every_year)) if every_year else np.zeros(0, int)
        #: how many series the windows are of
        self.series_ = len(histories)
        self._sums = {o: np.zeros((len(self.years_), o + 1, o + 1)) for o in _orders(max_order)}
        self._counts = {o: np.zeros(len(self.years_)) for o in _orders(max_order)}
        # series of the same years are added together: the corpus' 1,344 in a few dozen steps
        alike: dict[tuple[int, int], list[np.ndarray]] = {}
        for years, values in histories:
            if len(years):
                alike.setdefault((int(years[0]), len(years)), []).append(values)
        for (first, length), group in alike.items():
            at = np.searchsorted(self.years_, first + np.arange(length))
            self._add(at, np.vstack(group))
        for order in self._sums:
            self._sums[order] = np.cumsum(self._sums[order], axis=0)
            self._counts[order] = np.cumsum(self._counts[order])
        #: fits made so far by (order, index of the cutoff year): a population's series are
        #: fitted thousands of times at a few dozen cutoffs
        self._fits: dict[tuple[int, int], Fit | None] = {}

    def _add(self, at: np.ndarray, values: np.ndarray) -> None:
        """Add the windows of series of the same years ``at`` (rows of ``values``): at each of
        those years, the change in each series' contribution (its windows so far over its
        scale so far, squared) from the year before."""
        length = values.shape[1]
        moved = np.cumsum(np.abs(np.diff(values, axis=1, prepend=values[:, :1])), axis=1)
        scale = moved / np.maximum(np.arange(length), 1)  # scale of the years up to each
        for order in self._sums:
            if length <= order:
                continue
            windows = np.lib.stride_tricks.sliding_window_view(values, order + 1, axis=1)
            ends = scale[:, order:]
            usable = ends > 0  # a series constant so far has no scale: it adds nothing yet
            weight = usable / np.where(usable, ends, 1.0) ** 2
            gram = np.cumsum(windows[..., :, None] * windows[..., None, :], axis=1)
            gram *= weight[..., None, None]
            count = np.where(usable, np.arange(1, windows.shape[1] + 1), 0).astype(float)
            # the years are distinct, so each increment lands on its own year
            self._sums[order][at[order:]] += np.diff(gram, axis=1, prepend=0.0).sum(axis=0)
            self._counts[order][at[order:]] += np.diff(count, axis=1, prepend=0.0).sum(axis=0)

    def fit(self, order: int, cutoff: int | None = None) -> Fit | None:
        """The autoregression of ``order`` fitted on the windows of the years up to ``cutoff``
        (all when None), and its recursive error spread; None where fewer than
        ``WINDOWS_PER_COEFFICIENT`` windows a coefficient are there."""
        last = len(self.years_) - 1
        at = last if cutoff is None else int(np.searchsorted(self.years_, cutoff, "right")) - 1
        if (order, at) not in self._fits:
            self._fits[order, at] = self._fit_at(order, at)
        return self._fits[order, at]

    def _fit_at(self, order: int, at: int) -> Fit | None:
        if order not in self._sums or at < 0:
            return None
        count = float(self._counts[order][at])
        if count < WINDOWS_PER_COEFFICIENT * order:
            return None
        gram = self._sums[order][at]
        crossed, target = gram[:order, :order], gram[:order, order]
        coefficients = np.linalg.lstsq(crossed, target, rcond=None)[0]
        # the residual sum of squares of a least-squares fit: y'y - b'X'y
        sigma = float(np.sqrt(max(gram[order, order] - coefficients @ target, 0.0) / count))
        return coefficients, sigma * _spread_per_step(coefficients)


def _orders(max_order: int) -> range:
    return range(1, max_order + 1)


def _spread_per_step(coefficients: np.ndarray) -> np.ndarray:
    """The error spread 1..SPREAD_STEPS steps ahead of a recursive forecast of the
    autoregression per unit of one-step error: the root of the cumulated squared impulse
    responses (psi weights) of the recursion, a shock ``j`` steps back weighing ``psi_j``."""
    lags = coefficients[::-1]  # lag 1 first
    psi = [1.0]
    for step in range(1, SPREAD_STEPS):
        psi.append(sum(lags[k] * psi[step - 1 - k] for k in range(min(step, len(lags)))))
    return np.sqrt(np.cumsum(np.square(psi)))


#: The population the global model learns from where a series is fitted (``learning_from``).
_POPULATION: ContextVar[PooledWindows | None] = ContextVar("global_ar_population", default=None)
#: The reference corpus' windows by corpus identity (it changes with the sources left out).
_CORPUS: dict[int, PooledWindows] = {}


@contextmanager
def learning_from(population: PooledWindows | None) -> Iterator[None]:
    """Within the block, ``global_ar`` fits series on ``population``'s windows (None: the
    reference corpus')."""
    token = _POPULATION.set(population)
    try:
        yield
    finally:
        _POPULATION.reset(token)


def population_learned_from() -> PooledWindows | None:
    """The windows ``global_ar`` learns from here (``learning_from``; None: the corpus')"""
    return _POPULATION.get()


def _global_fit(order: int) -> Fit:
    """The fit of ``order`` across the reference corpus, its windows made on first use."""
    corpus = reference_series()
    key = id(corpus)
    if key not in _CORPUS:
        _CORPUS[key] = PooledWindows(corpus)
    found = _CORPUS[key].fit(order)
    if found is None:
        raise ValueError(f"the reference corpus has too few windows of {order + 1} years")
    return found


def pooled_fit(series: Iterable[np.ndarray], order: int) -> Fit:
    """Coefficients (oldest lag first) of one autoregression of ``order`` without intercept
    fitted by least squares across every window of ``order + 1`` years of every one of
    ``series``, each divided by its MASE scale, and the scaled error spread of its recursive
    forecasts 1..SPREAD_STEPS ahead. ValueError where they have fewer than
    ``WINDOWS_PER_COEFFICIENT`` windows a coefficient."""
    found = PooledWindows(series, max_order=order).fit(order)
    if found is None:
        raise ValueError(f"too few windows of {order + 1} years to fit")
    return found


def _scale(values: np.ndarray) -> float:
    """The series' MASE scale: its mean absolute yearly change (0 for a constant series)."""
    return float(np.mean(np.abs(np.diff(values)))) if len(values) > 1 else 0.0


class GlobalAR(Forecaster):
    """A linear autoregression fitted across every window of many series, each scaled by its
    mean absolute yearly change (Montero-Manso & Hyndman 2021): those of the population it is
    trained with (``learning_from``), else of the reference corpus."""

    name = "global_ar"
    min_length = 3

    def __init__(self, max_order: int = MAX_ORDER):
        self.max_order = max_order

    def fit(self, y: pd.Series) -> Self:
        """Fit ``y``, learning from the windows of the population's years up to its last."""
        super().fit(y)
        population = _POPULATION.get()
        own = None if population is None else population.fit(self.order_, int(self.y_.index[-1]))
        #: kept with the model: a pickled champion forecasts as it was fitted
        self.fit_ = own if own is not None else _global_fit(self.order_)
        return self

    def _fit(self, values: np.ndarray) -> None:
        self.scale_ = _scale(values)
        self.order_ = int(min(len(values) - 1, self.max_order))
        self.last_ = np.asarray(values[-self.order_ :], dtype=float)

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        return recursive_forecast(self.last_, self.scale_, self.fit_, horizon)


def recursive_forecast(
    latest: np.ndarray, scale: float, fit: tuple[np.ndarray, np.ndarray], horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """A series' forecast ``horizon`` years ahead from a pooled fit (``pooled_fit``): each
    year from the ``latest`` ones before it (as many as the fit's order), in the series' MASE
    ``scale``, and the spread of such forecasts per step. A constant series (a scale of 0)
    stays where it is: nothing moves it."""
    if scale == 0:
        return np.full(horizon, float(latest[-1])), np.zeros(horizon)
    coefficients, spread = fit
    order = len(coefficients)
    window = list(np.asarray(latest[-order:], dtype=float) / scale)
    path = []
    for _ in range(horizon):
        following = float(np.dot(coefficients, window[-order:]))
        path.append(following)
        window.append(following)
    steps = np.arange(1, horizon + 1)
    sd = np.where(
        steps <= SPREAD_STEPS,
        spread[np.minimum(steps, SPREAD_STEPS) - 1],
        spread[-1] * np.sqrt(steps / SPREAD_STEPS),
    )
    return np.array(path) * scale, sd * scale
