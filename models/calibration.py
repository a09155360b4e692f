"""Calibrated champions: a point path plus interval widths learned from backtest errors.

A ``CalibratedForecast`` holds only numpy arrays and plain values, so it pickles small and
predicts with a few array operations (it is served at thousands of requests per second).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from models.base import (
    MAX_HORIZON,
    bound_columns,
    interval_columns,
    validate_horizon,
    validate_levels,
)
from models.global_ar import PooledWindows

#: Probabilities at which the error quantile function is stored (dense in the tails): the
#: standard normal's at -5..5, so that the widest level served, 99.9999%
#: (``serving.schemas.LEVEL_MAX``), is read at its own probability, 5e-7, not the grid's end.
_GRID_Z = np.linspace(-5.0, 5.0, 401)
#: A blended forecast's quantiles (``vincentized``) are kept at every this-many-th grid
#: probability (z steps of 0.1, both ends kept).
BLEND_STRIDE = 4
#: Pseudo-observations of the wide prior error scale mixed into every calibration.
PRIOR_WEIGHT = 1.0
#: Prior one-step error scale: 20% on the log scale (or of the level, for additive errors).
PRIOR_SCALE = 0.20
#: Independent backtest errors beyond a quantile that make the empirical quantile count as
#: much as the t-shaped fallback there: the empirical quantile at probability p rests on the
#: errors beyond it, a share min(p, 1 - p) of them, so one series' dozen years of errors can
#: shape its 80% interval (a tenth of them beyond each bound) but hardly its 99% one. 2.5 gives
#: a 95% bound (2.5% beyond) of 100 errors equal weights, as a constant weight had.
EMPIRICAL_HALF_TAIL = 2.5
#: Prior for the exponent of error growth with the horizon: 1, linear, as when the error in
#: an estimated trend dominates (a pure random walk would give 0.5).
PRIOR_GROWTH = 1.0
#: The slowest error growth served: a random walk's (spread ~ step**0.5). A series' backtest
#: says little about its far steps (only its oldest origins reach them), and held-out years
#: show the error growing faster than backtests suggest: on M3, M1 and the crime-like dev set
#: coverage fell with the step. Slower growth would claim the series returns to a fixed level.
MIN_GROWTH = 0.5
#: The fastest: beyond a trend's error (spread ~ step) plus its own uncertainty.
MAX_GROWTH = 1.5
#: Intervals on the log scale never reach beyond what real yearly series moved: at each step
#: k they are capped at the ENVELOPE_TAIL and 1 - ENVELOPE_TAIL quantiles of the k-year log
#: changes of the reference corpus (data/reference; 0.1%: one stretch in a thousand moved
#: further, e.g. x0.11 to x111 over ten years), counted from the last figure, or at the
#: series' own largest k-year changes where it moved further itself.
ENVELOPE_TAIL = 0.001
#: Counts whose recent level is below this are calibrated on the square-root scale: a Poisson
#: count's noise is sqrt(level), 10% or more of the level below 100 and so larger than the
#: typical year-on-year change of the reference corpus (median 7.6%); the square root makes
#: such noise constant (Anscombe 1948) where the log scale would exaggerate it at small counts.
COUNT_LEVEL = 100.0
#: Recent years whose mean sets the level a count series is judged by.
COUNT_RECENT = 3
#: A Poisson count's noise on the square-root scale: its standard deviation, about 1/2 at a
#: level of ten or more (Anscombe 1948); ``poisson_root_variance`` gives it at any level.
POISSON_ROOT_SD = 0.5
#: Probability integral transforms a step ahead needs for a recalibration of its own
#: (``recalibration_from``): the 2.5% quantile of 200 rests on five of them.
MIN_PITS = 200


def is_small_count(values: np.ndarray) -> bool:
    """Whole numbers (zeros allowed) at a recent level below ``COUNT_LEVEL``: a count whose
    Poisson noise is a large share of it, the same at every level on the square-root scale."""
    counts = values.size and np.all(values >= 0) and np.all(values == np.round(values))
    return bool(counts and float(np.mean(values[-COUNT_RECENT:])) < COUNT_LEVEL)


def error_scale_of(values: np.ndarray, path: np.ndarray) -> str:
    """The scale a series' forecast errors are measured on: "sqrt" for small counts (whole
    numbers at a recent level below ``COUNT_LEVEL``, zeros allowed), "log" for positive
    series with a positive path, else "additive"."""
    if is_small_count(values):
        return "sqrt"
    if np.all(values > 0) and np.all(path > 0):
        return "log"
    return "additive"


@functools.lru_cache(maxsize=1)
def reference_envelope() -> np.ndarray:
    """The lowest and highest plausible log change over 1..MAX_HORIZON years (rows), as
    ``ENVELOPE_TAIL`` quantiles of the reference corpus' k-year changes (read-only)."""
    from data.reference import reference_series

    corpus = [np.log(values) for values in reference_series() if np.all(values > 0)]
    bounds = np.empty((MAX_HORIZON, 2))
    for step in range(1, MAX_HORIZON + 1):
        changes = np.concatenate([v[step:] - v[:-step] for v in corpus if len(v) > step])
        bounds[step - 1] = np.quantile(changes, [ENVELOPE_TAIL, 1.0 - ENVELOPE_TAIL])
    # wider with the step: a longer stretch can always move at least as far as a shorter one
    bounds[:, 0] = np.minimum.accumulate(bounds[:, 0])
    bounds[:, 1] = np.maximum.accumulate(bounds[:, 1])
    bounds.setflags(write=False)
    return bounds


def within_reference(path: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``path`` (steps 1.. after ``values``) with its change from the last figure held within
    ``reference_envelope`` where the series is on the log scale (``error_scale_of``): a
    projection moves no further than all but one in a thousand stretches of real yearly
    series moved over as many years (x5.0 in one year, x111 in ten). Drift on the log scale
    had projected a 5-year series of new fraud cases growing x7.5 a year (5 … 15,000) at
    7.4e12 ten years on. Small counts, for which such jumps are noise (2 to 12), and series
    with a 0 are left as they are; so is a path within the envelope, to the last digit."""
    path = np.asarray(path, dtype=float)
    if path.size == 0 or values.size == 0 or error_scale_of(values, path) != "log":
        return path
    bounds = reference_envelope()
    rows = np.minimum(np.arange(path.size), len(bounds) - 1)
    change = np.log(path / values[-1])
    outside = (change < bounds[rows, 0]) | (change > bounds[rows, 1])
    if not outside.any():
        return path
    held = values[-1] * np.exp(np.clip(change, bounds[rows, 0], bounds[rows, 1]))
    return np.where(outside, held, path)


#: Up to this mean ``poisson_root_variance`` sums the probabilities; beyond, it expands.
EXACT_ROOT_VARIANCE = 50.0
#: Jeffreys' prior for a Poisson rate, a gamma of this shape and no rate: what a small
#: count's history alone says its next year can bring is a negative binomial of shape
#: total + 1/2 (``_Origin.history_rate``, ``history_reach``).
JEFFREYS_SHAPE = 0.5
#: The most whole numbers a count's distribution is summed over (``_count_quantiles``);
#: beyond, a gamma of the same mean and variance stands in, a count there being as good as
#: continuous.
COUNT_ENUMERATED = 10_000
#: The standard normal's 97.5% quantile: where a 95% interval's upper bound is read.
Z_975 = 1.959964


def count_median(rate: np.ndarray) -> np.ndarray:
    """The median of a Poisson count at each yearly ``rate``: the point a count is served at
    (``CalibratedForecast.count_point``). A point forecast judged by its absolute error is
    best at the median of the predictive distribution (Gneiting 2011, "Making and evaluating
    point forecasts"), and a count's is a whole number: a county with 0.3 murders a year has
    none in three years of four, and a path of 0.3 is nearer no year's figure than 0 is."""
    from scipy.stats import poisson

    return np.asarray(poisson.ppf(0.5, np.maximum(np.asarray(rate, dtype=float), 0.0)))


def _count_spread(rate: np.ndarray, root_variance: np.ndarray) -> np.ndarray:
    """The squared coefficient of variation of a gamma distributed rate around ``rate`` at
    which a Poisson count at that rate has ``root_variance`` on the square-root scale (0 where
    its Poisson noise alone has as much). The count's variance is taken in proportion to its
    root's, as a Poisson count's is (``poisson_root_variance``: a rate of 1 has variance 1 and
    0.40 on the square-root scale)."""
    rate = np.maximum(np.asarray(rate, dtype=float), 1e-9)
    noise = np.maximum(poisson_root_variance(rate), 1e-12)
    variance = rate * np.asarray(root_variance, dtype=float) / noise
    return np.asarray(np.maximum(variance - rate, 0.0) / rate**2)


def _count_quantiles(rate: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Per step (rows), the quantiles at the grid probabilities of a Poisson count whose rate
    is gamma distributed around ``rate`` with squared coefficient of variation ``spread`` (a
    negative binomial; a Poisson count at 0). The count is read with a continuity correction
    (plus a uniform -1/2 to 1/2), so that the quantiles are continuous and a bound at
    probability p holds a whole number whose cumulative probability reaches p about as often
    as not. Where its distribution would run past ``COUNT_ENUMERATED`` whole numbers, a gamma
    of the same mean and variance stands in: a small count whose path doubles every year
    reaches billions in 30 years, and summing every count up to there had run out of memory."""
    from scipy.special import gammaln
    from scipy.stats import gamma

    rate = np.maximum(np.asarray(rate, dtype=float), 1e-9)
    spread = np.broadcast_to(np.asarray(spread, dtype=float), rate.shape)
    variance = rate + spread * rate**2
    reach = rate + 12.0 * np.sqrt(variance) + 20.0
    probabilities = grid_probabilities()
    quantiles = np.empty((rate.size, probabilities.size))
    large = ~(reach <= COUNT_ENUMERATED)
    if large.any():
        shape, scale = rate[large] ** 2 / variance[large], variance[large] / rate[large]
        quantiles[large] = gamma.ppf(probabilities[None, :], shape[:, None], scale=scale[:, None])
    if large.all():
        return quantiles
    small = ~large
    top = int(np.ceil(np.max(reach[small])))
    counts = np.arange(top + 1, dtype=float)[None, :]
    at, extra = rate[small][:, None], spread[small][:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        size = np.where(extra > 1e-9, 1.0 / np.maximum(extra, 1e-300), np.inf)
        chance = size / (size + at)
        negative_binomial = (
            gammaln(counts + size)
            - gammaln(size)
            - gammaln(counts + 1.0)
            + size * np.log(chance)
            + counts * np.log1p(-chance)
        )
        poisson = counts * np.log(at) - at - gammaln(counts + 1.0)
        log_pmf = np.where(np.isfinite(size), negative_binomial, poisson)
    cdf = np.concatenate([np.zeros((len(at), 1)), np.cumsum(np.exp(log_pmf), axis=1)], axis=1)
    # strictly rising (interpolation needs it where a probability is nil or the sum is 1)
    cdf = np.maximum.accumulate(np.minimum(cdf, 1.0) + np.arange(top + 2) * 1e-15, axis=1)
    edges = np.arange(top + 2, dtype=float) - 0.5
    quantiles[small] = np.array([np.interp(probabilities, row, edges) for row in cdf])
    return quantiles


def poisson_root_variance(mean: float | np.ndarray) -> np.ndarray:
    """The variance of the square root of a Poisson count of ``mean`` (element-wise), summed
    over its probabilities up to a mean of ``EXACT_ROOT_VARIANCE`` and Anscombe's expansion
    beyond. It is 1/4 only for large means (Anscombe 1948, whose
    variance-stabilising transform this is): 0.40 at 1 to 2 a year, 0.29 at 5, 0.31 at 0.5,
    and 0 at 0. Taken as 1/4 at every level, a county's 1, 3, 2, 3, 2, 2, 1, 3, 0, 3, 2
    showed more year-to-year change than its noise allowed, read as a moving level: its 95%
    interval grew from 0-7.7 a year ahead to 0-14.8 six years ahead."""
    means = np.maximum(np.asarray(mean, dtype=float), 0.0)
    summed = np.minimum(means, EXACT_ROOT_VARIANCE)
    # every count with a probability above about 1e-30
    top = EXACT_ROOT_VARIANCE + 12.0 * np.sqrt(EXACT_ROOT_VARIANCE)
    counts = np.arange(int(np.ceil(top)) + 21, dtype=float)
    log_factorials = np.concatenate([[0.0], np.cumsum(np.log(counts[1:]))])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_means = np.where(summed > 0, np.log(summed), -np.inf)[..., None]
        weights = np.exp(counts * log_means - summed[..., None] - log_factorials)
    weights = np.where(counts == 0, np.exp(-summed)[..., None], weights)
    root_mean = weights @ np.sqrt(counts)
    exact = np.maximum(summed - root_mean**2, 0.0)
    # beyond, the expansion (within 1e-4 of the sum there): summed, a large mean's variance
    # is lost to rounding (a mean of a million came out as 0) and takes a count per unit
    expanded = 0.25 + 3.0 / (32.0 * np.maximum(means, 1.0))
    return np.asarray(np.where(means > EXACT_ROOT_VARIANCE, expanded, exact))


@functools.lru_cache(maxsize=1)
def grid_probabilities() -> np.ndarray:
    """The probabilities at which a champion stores its error quantiles (dense in the tails):
    the standard normal's at ``_GRID_Z`` (as scipy's ``norm.cdf``, without importing
    scipy.stats, a second of start-up, into a process that only pools evidence or serves)."""
    return np.array([0.5 * math.erfc(-z / math.sqrt(2.0)) for z in _GRID_Z])


@functools.lru_cache(maxsize=512)
def _t_on_grid(dof: int) -> np.ndarray:
    """Student-t quantiles at the grid probabilities (read-only): the same few degrees of
    freedom recur across series and backtest origins, and scipy's t quantiles are slow."""
    from scipy.stats import t as student_t

    quantiles = np.asarray(student_t.ppf(grid_probabilities(), dof))
    quantiles.setflags(write=False)
    return quantiles


@dataclass
class CalibratedForecast:
    """The fitted, calibrated forecast of one series: mean path and error quantiles per step."""

    model_name: str
    last_year: int
    point_path: np.ndarray
    #: "log": errors are log(actual / mean); "sqrt": sqrt(actual) - sqrt(mean) (small counts);
    #: "additive": actual - mean
    error_scale: str
    probabilities: np.ndarray
    #: quantiles of errors normalised to one step ahead (one row for all steps, scaled by
    #: ``step_scale``), or a row per step 1..max_horizon (borrowed, ``from_quantile_paths``)
    error_quantiles: np.ndarray
    step_scale: np.ndarray  # error multiplier per step 1..max_horizon
    nonnegative: bool = True
    notes: list[str] = field(default_factory=list)
    max_horizon: int = MAX_HORIZON
    #: per step, the lowest and highest log change from ``last_value`` served
    #: (``reference_envelope``); None: no cap
    envelope: np.ndarray | None = None
    #: the last figure: the envelope counts its changes from it, and a share's room below its
    #: ceiling is measured from it; None (champions calibrated before it was kept, what-ifs):
    #: the envelope is counted from the point path, and a share is cut at its ceiling
    last_value: float | None = None
    #: per step ahead from 1 (rows; the last row serves every later step), the probability
    #: looked up for each grid probability (columns), from how such intervals fared in the
    #: population's backtests (``recalibration_from``); None: the calibration as it is
    recalibration: np.ndarray | None = None
    #: the most the series can be (100 for a share in percent): the projection and every bound
    #: stop there; None: no ceiling
    upper_limit: float | None = None
    #: the fastest the projection's room below ``upper_limit`` shrinks, as a log change a year:
    #: the series' own average (``under_ceiling``); None: as fast as the path rises
    ceiling_pace: float | None = None
    #: whether the series has stood at ``upper_limit`` (a clearance rate of 100 percent): its
    #: bounds then reach the ceiling itself where the model's pass it (``under_ceiling``)
    ceiling_reached: bool = False
    #: whether the served point is the median of a Poisson count at the path, not the path
    #: itself (a small count's, ``models.analogs.is_poisson_count``; ``count_median``); the
    #: intervals stay as calibrated around the path
    count_point: bool = False
    #: the population's windows its global autoregression learned from, which a what-if refit
    #: learns from too (``models.global_ar.learning_from``); None: the reference corpus', or
    #: a model that is no global autoregression
    learned_from: PooledWindows | None = None
    #: whether the quantiles were borrowed (``from_quantile_paths``) rather than calibrated
    #: from the series' own backtest errors; None: a champion kept before this was, whose
    #: rows per step were then borrowed ones
    borrowed_quantiles: bool | None = None
    #: another forecast's error quantiles on this one's scale around this one's path, a row per
    #: step 1..max_horizon at every ``BLEND_STRIDE``-th grid probability, averaged with this
    #: one's at ``1 - own_weight`` before any recalibration (``vincentized``); None: none
    blended_errors: np.ndarray | None = None
    #: the weight of this forecast's own error quantiles beside ``blended_errors``
    own_weight: float = 1.0

    @property
    def borrowed(self) -> bool:
        """Whether the quantiles were borrowed per step (``from_quantile_paths``), not
        calibrated from the series' own backtest errors. Not read off their shape: a small
        count's own quantiles have a row per step too (its noise floor), and an 11-year
        county's card had said its intervals were borrowed from comparable series."""
        if self.borrowed_quantiles is not None:
            return self.borrowed_quantiles
        return bool(self.error_quantiles.ndim == 2)

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
        # the lower side is measured from the projection as served: under a share's ceiling
        # the path eased below 100 stays put while the model's path climbs past it, and lower
        # bounds set from the climbing path rose towards it (99% 65.7 then 65.7, 62.6 then 63.2)
        served = self._below_ceiling(mean, paced=True)
        columns = {
            "year": np.arange(self.last_year + 1, self.last_year + 1 + horizon),
            "mean": count_median(served) if self.count_point else served,
        }
        scale = self.step_scale[:horizon]
        inside = self._inside_envelope(horizon)
        # narrowest first, each interval made to hold the narrower ones: a bound a rounding
        # error inside the next (a sqrt-scale bound of 4e-9 beside 0) must not cross it
        inner_lo, inner_hi = columns["mean"], columns["mean"]
        for level in sorted(set(checked)):
            p_lo: float | np.ndarray = 0.5 - level / 200.0
            p_hi: float | np.ndarray = 1.0 - p_lo
            if inside is not None:  # each side's quantiles with its tail beyond cut off
                low, high, _ = inside
                p_lo = low + (p_lo / 0.5) * (0.5 - low)
                p_hi = 0.5 + ((p_hi - 0.5) / 0.5) * (high - 0.5)
            # never narrower further out: a bound is kept at least as far from the path as it
            # was a year nearer (fewer reference series reach the far years of a borrowed
            # forecast, and a flat 50, 50, 50 had its 95% interval narrow from 2026 to 2027)
            # (a row per step: ``scale`` has one, so the product does too)
            error_lo = np.minimum.accumulate(self._quantiles(p_lo, horizon) * scale)
            error_hi = np.maximum.accumulate(self._quantiles(p_hi, horizon) * scale)
            if inside is not None:  # exact at the bounds, whatever the interpolation
                bounds = inside[2]
                error_lo, error_hi = (
                    np.maximum(error_lo, bounds[:, 0]),
                    np.minimum(error_hi, bounds[:, 1]),
                )
            lo, hi = self._apply(served, error_lo), self._apply(mean, error_hi)
            lo, hi = np.minimum(lo, served), np.maximum(hi, mean)
            if self.nonnegative:  # and a rounding error off 0 is 0 (not a bound of ¥3.7e-09)
                lo = np.where(lo < 1e-9 * np.maximum(np.abs(mean), 1.0), 0.0, lo)
            lo, hi = self._below_ceiling(lo), self._below_ceiling(hi)
            lo, hi = np.minimum(lo, inner_lo), np.maximum(hi, inner_hi)
            inner_lo, inner_hi = lo, hi
            lo_name, hi_name = bound_columns(level)
            columns[lo_name], columns[hi_name] = lo, hi
        return {name: columns[name] for name in ["year", "mean", *interval_columns(checked)]}

    def under_ceiling(self, limit: float | None, history: pd.Series) -> None:
        """Serve this forecast below ``limit`` (a share's 100; None: no ceiling), its
        projection's room below it shrinking no faster than the series' own did on average
        from its first figure to its last (a random walk with drift on the log of the room):
        a rate of 99.6 rising a point a year had been projected at 99.99 a year on."""
        self.upper_limit, self.ceiling_pace = limit, None
        self.ceiling_reached = limit is not None and bool(np.any(np.asarray(history) >= limit))
        if limit is None or len(history) < 2:
            return
        rooms = limit - np.asarray(history, dtype=float)
        years = float(history.index[-1] - history.index[0])
        if years > 0 and np.all(rooms > 0):
            self.ceiling_pace = max(float(np.log(rooms[0] / rooms[-1])) / years, 0.0)

    def _below_ceiling(self, values: np.ndarray, paced: bool = False) -> np.ndarray:
        """Figures of the path or its bounds as served under ``upper_limit`` (a share in
        percent): above the last figure, the room left below the ceiling shrinks in
        proportion to the way up, never to nothing (though to less than a float's precision, read
        as 100, for a bound far up the way), as a series modelled on the log of that
        room (or its logit, near the ceiling; Hyndman & Athanasopoulos, "Forecasting:
        principles and practice", 3rd ed., 13.3) is; a rise of d from a last figure with room
        r left keeps r exp(-d / r) of it. A clearance rate of 99.6 rising had been projected
        at exactly 100 for every year. The projection (``paced``) shrinks it no faster than
        ``ceiling_pace`` a year. Below the last figure, as given. Without a last figure to count
        from (a what-if), cut at the ceiling."""
        if self.upper_limit is None:
            return values
        limit, anchor = self.upper_limit, self.last_value
        if anchor is None or not anchor < limit:
            return np.minimum(values, limit)
        room = limit - anchor
        shrink = np.maximum(values - anchor, 0.0) / room
        if paced and self.ceiling_pace is not None:
            shrink = np.minimum(shrink, self.ceiling_pace * np.arange(1, len(values) + 1))
        eased = limit - room * np.exp(-shrink)
        if not paced and self.ceiling_reached:
            # a series that has stood at the ceiling may stand there again: a bound the model
            # puts past it is the ceiling itself, not just short of it (an agency at 100% every
            # other year fell outside 95% intervals ending at 99.98)
            eased = np.where(values >= limit, limit, eased)
        return np.where(values > anchor, eased, np.minimum(values, limit))

    def recentred(
        self, last_year: int, point_path: np.ndarray, last_value: float | None = None
    ) -> CalibratedForecast:
        """The same calibration (error quantiles, their growth, envelope) around another point
        path from ``last_year``: the model refitted on other figures, e.g. a what-if whose last
        figure is ``last_value``. Its intervals stand in the same proportion to the path as the
        champion's own: the envelope goes along as it stood around the champion's path (a
        hypothetical last figure is not a published one to count changes from); a share's
        room below its ceiling is measured from ``last_value`` (without it, a what-if of 97
        percent had been cut at exactly 100 two years on)."""
        path = np.asarray(point_path, dtype=float)[: self.max_horizon]
        if len(path) < self.max_horizon:
            raise ValueError(f"point_path needs {self.max_horizon} steps, got {len(path)}")
        if self.nonnegative:
            path = np.maximum(path, 0.0)
        envelope = self._envelope_around_path(self.max_horizon)
        if envelope is not None:
            if last_value is not None and last_value > 0:
                # stored as changes from ``last_value``: served around the path as it stood
                envelope = envelope + np.log(np.maximum(path, 1e-300) / last_value)[:, None]
            else:
                last_value = None
        return replace(
            self,
            last_year=int(last_year),
            point_path=path,
            notes=list(self.notes),
            envelope=envelope,
            last_value=last_value,
        )

    def _envelope_around_path(self, horizon: int, served: bool = False) -> np.ndarray | None:
        """The envelope's bounds for steps 1..horizon as log errors around the point path: its
        changes from ``last_value`` less the path's own, or as stored without one; the lower
        bound around the projection as served (``served``: below a share's ceiling)."""
        if self.envelope is None:
            return None
        bounds = self.envelope[:horizon]
        if self.last_value is None or self.last_value <= 0 or self.error_scale != "log":
            return bounds
        # changes from the last figure, as errors around the path: a projected trend does not
        # carry the envelope with it (a x185 99.9% bound, beyond the x111 cap)
        path = np.maximum(self.point_path[:horizon], 1e-300)
        if not served or self.upper_limit is None:  # without a ceiling, served as it stands
            return bounds - np.log(path / self.last_value)[:, None]
        # the lower side around the projection as served (below a share's ceiling), as
        # ``predict_arrays`` sets it
        centres = np.column_stack([np.maximum(self._below_ceiling(path, paced=True), 1e-300), path])
        return bounds - np.log(centres / self.last_value)

    def cdf(self, actual: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """The probability this calibration (before any recalibration) gives to a figure at
        most ``actual`` at each of ``steps`` (1-based): its probability integral transform."""
        actual, steps = np.asarray(actual, dtype=float), np.asarray(steps, dtype=np.int64)
        error = _error(self.error_scale, actual, self.point_path[steps - 1])
        error = error / self.step_scale[steps - 1]
        stored = self._stored(int(np.max(steps, initial=1)))
        if stored.ndim == 1:
            return np.interp(error, stored, self.probabilities)
        return np.array(
            [
                np.interp(value, stored[step - 1], self.probabilities)
                for value, step in zip(error, steps, strict=True)
            ]
        )

    def _stored(self, horizon: int) -> np.ndarray:
        """The error quantiles before any recalibration at the grid probabilities: one row for
        all steps, or a row per step 1..horizon, a blended forecast's averaged in
        (``vincentized``)."""
        if self.blended_errors is None:
            if self.error_quantiles.ndim == 1:
                return self.error_quantiles
            return np.asarray(self.error_quantiles[:horizon])
        own = np.broadcast_to(self.error_quantiles, (self.max_horizon, len(self.probabilities)))
        below, share = _blend_interpolation()
        rows = self.blended_errors[:horizon]
        theirs = rows[:, below] * (1.0 - share) + rows[:, below + 1] * share
        weight = self.own_weight
        return weight * own[:horizon] + (1.0 - weight) * theirs / self.step_scale[:horizon, None]

    def _quantiles(self, probability: float | np.ndarray, horizon: int) -> np.ndarray | float:
        """The error quantile at ``probability`` (a number, or one per step) for every step,
        or one for all steps where a single row is stored without a recalibration; at the
        probability the recalibration maps it to, step by step, when there is one."""
        stored = self._stored(horizon)
        if self.recalibration is not None:
            rows = np.minimum(np.arange(horizon), len(self.recalibration) - 1)
            probability = _rows_at(self.recalibration[rows], self.probabilities, probability)
        if stored.ndim == 1:
            return np.interp(probability, self.probabilities, stored)
        return _rows_at(stored, self.probabilities, probability)

    def _inside_envelope(self, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Per step, the probabilities the served error distribution gives to errors below
        the envelope's lower and upper bound (0 and 1 where a bound lies beyond the stored
        quantiles, and never past the median), and the bounds (a row per step); None without
        an envelope or where neither bound cuts the distribution.

        Each side of the distribution is then truncated at its bound: a lower bound at level
        L is read at a probability between the lower one and 0.5 in proportion, an upper bound
        between 0.5 and the upper one. Every bound stays within what the reference series ever
        did, the median stays where it was, and the intervals stay nested. Clipping each bound
        instead gave the 80%, 95% and wider intervals one and the same bound wherever all of
        them reached it."""
        if self.envelope is None or self.error_scale != "log":
            return None
        scale = self.step_scale[:horizon]
        bounds = self._envelope_around_path(horizon, served=True)
        assert bounds is not None
        first, last = self.probabilities[0], self.probabilities[-1]
        cut_low = bounds[:, 0] > self._quantiles(first, horizon) * scale
        cut_high = bounds[:, 1] < self._quantiles(last, horizon) * scale
        if not (cut_low.any() or cut_high.any()):
            return None
        below = np.array(
            [
                np.interp(bounds[step], row * scale[step], self.probabilities)
                for step, row in enumerate(self._served_rows(horizon))
            ]
        )
        low = np.where(cut_low, np.minimum(below[:, 0], 0.5), 0.0)
        return low, np.where(cut_high, np.maximum(below[:, 1], 0.5), 1.0), bounds

    def _served_rows(self, horizon: int) -> np.ndarray:
        """The served error quantiles (before the step scale) at every grid probability, a
        row per step 1..horizon: the stored ones, through the recalibration if any."""
        stored = np.broadcast_to(self._stored(horizon), (horizon, len(self.probabilities)))
        if self.recalibration is None:
            return np.asarray(stored[:horizon])
        rows = np.minimum(np.arange(horizon), len(self.recalibration) - 1)
        return np.array(
            [
                np.interp(self.recalibration[row], self.probabilities, stored[step])
                for step, row in enumerate(rows)
            ]
        )

    def _apply(self, mean: np.ndarray, error: np.ndarray) -> np.ndarray:
        """The figure ``error`` away from ``mean`` on this forecast's scale (``_error``'s
        inverse)."""
        if self.error_scale == "log":
            return mean * np.exp(np.minimum(error, 700.0))
        if self.error_scale == "sqrt":
            root = np.sqrt(np.maximum(mean, 0.0)) + error
            return np.where(root > 0.0, root, 0.0) ** 2
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
        actual, predicted, steps = (
            backtest[column].to_numpy(dtype=float) if column in backtest else np.empty(0)
            for column in ("actual", "mean", "step")
        )
        return cls.from_errors(
            model_name,
            np.asarray(history, dtype=float),
            int(history.index[-1]),
            point_path,
            (actual, predicted, steps),
            notes=notes,
            max_horizon=max_horizon,
        )

    @classmethod
    def from_errors(
        cls,
        model_name: str,
        values: np.ndarray,
        last_year: int,
        point_path: np.ndarray,
        backtest: tuple[np.ndarray, np.ndarray, np.ndarray],
        notes: Sequence[str] = (),
        max_horizon: int = MAX_HORIZON,
    ) -> CalibratedForecast:
        """``from_backtest`` on plain arrays: the history's ``values`` and the backtest's
        ``(actual, mean, step)`` columns."""
        path = np.asarray(point_path, dtype=float)[:max_horizon]
        if len(path) < max_horizon:
            raise ValueError(f"point_path needs {max_horizon} steps, got {len(path)}")
        return _Origin.of(values, last_year, path).calibrated(model_name, backtest, notes)


@dataclass(frozen=True)
class _Origin:
    """What a calibration takes from the history and the point path alone, not from the
    errors: worked out once where many calibrations share them (``_held_out``: one per
    backtest figure of an origin)."""

    values: np.ndarray
    last_year: int
    path: np.ndarray  # kept off negatives where the history never went below 0
    nonnegative: bool
    scale: str  # the history's error scale (``_calibrate`` may fall back to additive)
    envelope: np.ndarray | None  # for the log scale only
    #: a year's Poisson noise on the square-root scale at the count's mean (a small count's
    #: only, else 0): ``_steady_share``
    count_noise: float
    #: what a small count's history alone says of its rate (else 0): the mean of its rate
    #: under Jeffreys' prior, (total + 1/2) / years
    history_rate: float
    #: how far above its median the count's next year may reach by its history alone, at
    #: the grid probabilities (empty unless a small count): the history's own predictive, a
    #: negative binomial at ``history_rate`` of shape total + 1/2. Its upper bounds reach at
    #: least as far above the path (``_calibrate``)
    history_reach: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, last_year: int, path: np.ndarray) -> _Origin:
        nonnegative = bool(np.all(values >= 0))
        if nonnegative:
            path = np.maximum(path, 0.0)
        scale = error_scale_of(values, path)
        envelope = _envelope(len(path), values) if scale == "log" else None
        noise = rate = 0.0
        reach = np.empty(0)
        if scale == "sqrt":
            counts = np.maximum(values[np.isfinite(values)], 0.0)
            noise = float(poisson_root_variance(float(np.mean(counts)) if counts.size else 0.0))
            if counts.size:
                total = float(np.sum(counts)) + JEFFREYS_SHAPE
                rate = total / counts.size
                own = _count_quantiles(np.array([rate]), np.array([1.0 / total]))[0]
                reach = np.maximum(own - np.interp(0.5, grid_probabilities(), own), 0.0)
        return cls(values, last_year, path, nonnegative, scale, envelope, noise, rate, reach)

    def calibrated(
        self,
        model_name: str,
        backtest: tuple[np.ndarray, np.ndarray, np.ndarray],
        notes: Sequence[str] = (),
    ) -> CalibratedForecast:
        """Intervals around ``path`` calibrated from the backtest's ``(actual, mean, step)``."""
        every = np.ones((1, len(backtest[0])), dtype=bool)
        return _calibrated_each([self], model_name, backtest, every, notes)[0]


def _calibrated_each(
    origins: Sequence[_Origin],
    model_name: str,
    backtest: tuple[np.ndarray, np.ndarray, np.ndarray],
    chosen: np.ndarray,
    notes: Sequence[str] = (),
) -> list[CalibratedForecast]:
    """``_Origin.calibrated`` for each row of ``chosen`` (a mask over the backtest's errors)
    around its origin's path (``origins``, one per row), from the errors the row marks: the
    held-out check calibrates once per backtest figure (``_held_out``), every figure of a
    backtest at once."""
    found = []
    results = _calibrate(origins, backtest, chosen)
    for origin, (scale, quantiles, step_scale, floored) in zip(origins, results, strict=True):
        row_notes = list(notes)
        if floored:
            row_notes.append(
                "upper bounds kept at least as far above the projection as a Poisson count's "
                f"noise in a year reaches, at the rate its {int(np.isfinite(origin.values).sum())}"
                f" years give ({origin.history_rate:.2g} a year, as uncertain as they leave it): "
                "its backtest errors alone gave a lower 95% bound"
            )
        found.append(
            CalibratedForecast(
                model_name=model_name,
                last_year=origin.last_year,
                point_path=origin.path,
                error_scale=scale,
                probabilities=grid_probabilities(),
                error_quantiles=quantiles,
                step_scale=step_scale,
                nonnegative=origin.nonnegative,
                notes=row_notes,
                max_horizon=len(origin.path),
                envelope=origin.envelope if scale == "log" else None,
                last_value=float(origin.values[-1]) if origin.values.size else None,
                borrowed_quantiles=False,
            )
        )
    return found


def _calibrate(
    origins: Sequence[_Origin],
    backtest: tuple[np.ndarray, np.ndarray, np.ndarray],
    chosen: np.ndarray,
) -> list[tuple[str, np.ndarray, np.ndarray, bool]]:
    """The error-dependent part of ``CalibratedForecast.from_errors``, for each row of
    ``chosen`` (a mask over the backtest's errors) around its origin's path, from the errors
    it marks: the scale the errors are measured on (the history's, unless a figure is not
    positive), the error quantiles normalised to one step ahead (a row per step for a small
    count), the multiplier per step up to the path's length, and whether a small count's
    noise floor widened its 95% interval one year ahead."""
    actual, predicted, _ = backtest
    scales = np.array([origin.scale for origin in origins], dtype=object)
    positive = (predicted > 0) & (actual > 0)
    scales[(scales == "log") & np.any(chosen & ~positive, axis=1)] = "additive"
    found: dict[int, tuple[str, np.ndarray, np.ndarray, bool]] = {}
    for scale in dict.fromkeys(scales):
        rows = np.flatnonzero(scales == scale)
        on = [origins[int(row)] for row in rows]
        results = _calibrate_on(on, str(scale), backtest, chosen[rows])
        for row, (quantiles, step_scale, floored) in zip(rows, results, strict=True):
            found[int(row)] = (str(scale), quantiles, step_scale, floored)
    return [found[row] for row in range(len(chosen))]


def _prior_scale(scale: str, values: np.ndarray) -> float:
    """The one-step error scale a calibration's t pools the errors with (``PRIOR_WEIGHT``
    pseudo-errors of it): 20% on the log scale or of the level."""
    if scale == "log":
        return PRIOR_SCALE
    if scale == "sqrt":
        # 20% of the level (0.1 sqrt(level) on this scale), or a large Poisson count's noise
        # (0.5 on this scale) if larger: wide, as a prior is, where the noise at the count's
        # own level would be nil for a count that has stood at 0
        level = float(np.mean(values[-COUNT_RECENT:]))
        return float(max(0.5 * PRIOR_SCALE * np.sqrt(level), POISSON_ROOT_SD))
    return PRIOR_SCALE * (float(np.mean(np.abs(values))) or 1.0)


def _calibrate_on(
    origins: Sequence[_Origin],
    scale: str,
    backtest: tuple[np.ndarray, np.ndarray, np.ndarray],
    chosen: np.ndarray,
) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """``_calibrate`` for the rows of ``chosen`` whose errors are measured on ``scale``, every
    row at once but for a small count's own distribution."""
    actual, predicted, steps = backtest
    errors = _error(scale, actual, predicted)
    priors = {id(origin): _prior_scale(scale, origin.values) for origin in origins}
    prior_scales = np.array([priors[id(origin)] for origin in origins])
    # the errors are brought to step 1 with the growth they show; the served growth is
    # floored at a random walk's, which widens the far steps and never narrows step 1.
    # Part of a small count's error stays the same at every step (``_steady_share``):
    # only the rest is floored at a random walk's growth, and the growth the errors show
    # is shrunk towards that of the local level model rather than a trend's.
    counts, squares = _step_sums(errors, steps, chosen)
    shown = _growth_exponents(counts, squares, np.full(len(chosen), PRIOR_GROWTH))
    normalised = _normalised(errors, steps, chosen, shown)
    variances = _pooled_variances(normalised, chosen, prior_scales)
    steady = np.zeros(len(chosen))
    if scale == "sqrt":
        steady = np.array(
            [
                _steady_share(origin.values, variance, origin.count_noise)
                for origin, variance in zip(origins, variances, strict=True)
            ]
        )
        again = (steady > 0.0) & chosen.any(axis=1)
        if again.any():
            far = np.maximum(np.max(np.where(chosen, steps, 0.0), axis=1), 2.0)
            level_growth = _step_growth(far, MIN_GROWTH, steady)
            prior = np.where(again, np.log(level_growth) / np.log(far), PRIOR_GROWTH)
            shown = np.where(again, _growth_exponents(counts, squares, prior), shown)
            normalised = _normalised(errors, steps, chosen, shown)
            variances = _pooled_variances(normalised, chosen, prior_scales)
    served = np.arange(1, max(len(origin.path) for origin in origins) + 1, dtype=float)
    step_scales = np.maximum(
        served[None, :] ** shown[:, None], _step_growth(served, MIN_GROWTH, steady[:, None])
    )
    empirical, weight = _empirical_quantiles(normalised, chosen, _independent_errors(counts))
    if scale != "sqrt":
        sizes = np.sum(chosen, axis=1)  # errors per row: the t's degrees of freedom
        t_rows = np.array([_t_on_grid(max(size - 1, 2)) for size in sizes])
        quantiles = weight * empirical + (1.0 - weight) * np.sqrt(variances)[:, None] * t_rows
        for row, origin in enumerate(origins):
            yield quantiles[row], step_scales[row, : len(origin.path)], False
        return
    for row, origin in enumerate(origins):
        step_scale = step_scales[row, : len(origin.path)]
        yield _count_quantile_rows(origin, variances[row], step_scale, empirical[row], weight[row])


def _count_quantile_rows(
    origin: _Origin,
    variance: float,
    step_scale: np.ndarray,
    empirical: np.ndarray,
    weight: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """A small count's error quantiles, a row per step (``_calibrate``): its ``empirical``
    quantiles at ``weight`` beside a count's own distribution around the path, and whether
    its history's noise floor widened its 95% interval one year ahead."""
    # a small count's errors are skewed on the square-root scale wherever it is small (a
    # count of 0.8 a year is 0 in 45% of years, 3 or more in 5%): the parametric part of
    # its calibration is a count's, a negative binomial around the path with the spread of
    # the errors (pooled with the prior, grown with the step), not a symmetric t. The t
    # had a county at 0.8 a year up to 6.3 at 95% (3.8 now), a Poisson count there reaching 3
    counted = _count_quantiles(origin.path, _count_spread(origin.path, variance * step_scale**2))
    roots = np.sqrt(np.maximum(counted, 0.0)) - np.sqrt(origin.path)[:, None]
    parametric = roots / step_scale[:, None]
    quantiles = weight * empirical + (1.0 - weight) * parametric
    # where the count's own distribution puts a lower bound at 0, it stays there: the
    # backtest errors, from paths at other levels, do not lift it off 0 (a bound of 0.01
    # beside a path of 1 had left out a year at 0)
    quantiles = np.where((counted <= 0.0) & (_GRID_Z < 0), parametric, quantiles)
    floored = False
    if origin.history_rate > 0.0:
        # a small count's backtest errors can all be 0 where it stood at 0, and a rate of 0
        # has no noise: at every step its upper bounds stand at least as far above the path
        # as what its history alone says a year can bring (a Poisson count at its rate
        # under Jeffreys' prior, as uncertain as its years leave it) reaches above its
        # median (``_Origin.history_reach``). Not from the rate itself: a declining count's
        # path below its history's rate would have its bounds all set by the rate it left.
        # A row per step: the noise does not grow with the step
        path = origin.path[:, None]
        least = (np.sqrt(path + origin.history_reach) - np.sqrt(path)) / step_scale[:, None]
        floored = bool(
            np.interp(Z_975, _GRID_Z, quantiles[0]) < np.interp(Z_975, _GRID_Z, least[0]) - 1e-12
        )
        quantiles = np.where(_GRID_Z > 0, np.maximum(quantiles, least), quantiles)
    return quantiles, step_scale, floored


def _error(scale: str, actual: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """How far ``actual`` lies from ``mean`` on an error scale: "log" (log of their ratio;
    -inf at 0), "sqrt" (difference of square roots) or "additive"."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if scale == "log":
            return np.asarray(np.log(np.maximum(actual, 0.0)) - np.log(mean))
        if scale == "sqrt":
            return np.asarray(np.sqrt(np.maximum(actual, 0.0)) - np.sqrt(np.maximum(mean, 0.0)))
        return np.asarray(actual - mean)


def _rows_at(rows: np.ndarray, grid: np.ndarray, probabilities: float | np.ndarray) -> np.ndarray:
    """Each row of values at the ``grid`` probabilities, read at its own probability (one for
    all rows, or one per row) by linear interpolation."""
    wanted = np.broadcast_to(np.asarray(probabilities, dtype=float), (len(rows),))
    upper = np.clip(np.searchsorted(grid, wanted), 1, len(grid) - 1)
    low, high = grid[upper - 1], grid[upper]
    share = np.clip((wanted - low) / (high - low), 0.0, 1.0)
    index = np.arange(len(rows))
    return np.asarray((1.0 - share) * rows[index, upper - 1] + share * rows[index, upper])


def _envelope(max_horizon: int, values: np.ndarray) -> np.ndarray:
    """``reference_envelope`` for steps 1..max_horizon (the last row repeated beyond), wide
    enough to hold every k-year change the series itself made: what a series has done it may
    do again. A count of about 100 that burst to 2,000 and 3,500 had its projection of 588
    beyond the envelope's one-year x5.9, and every upper bound pinned to that projection."""
    bounds = reference_envelope()
    rows = np.minimum(np.arange(max_horizon), len(bounds) - 1)
    envelope = np.array(bounds[rows])
    logs = np.log(values[np.isfinite(values) & (values > 0)])
    if logs.size == values.size:  # a series with a 0 or less has no log changes to count
        for step in range(1, min(logs.size, max_horizon + 1)):
            changes = logs[step:] - logs[:-step]
            envelope[step - 1, 0] = min(envelope[step - 1, 0], float(changes.min()))
            envelope[step - 1, 1] = max(envelope[step - 1, 1], float(changes.max()))
        envelope[:, 0] = np.minimum.accumulate(envelope[:, 0])
        envelope[:, 1] = np.maximum.accumulate(envelope[:, 1])
    return envelope


def from_quantile_paths(
    model_name: str,
    history: pd.Series,
    quantile_paths: np.ndarray,
    notes: Sequence[str] = (),
    max_horizon: int = MAX_HORIZON,
    point_path: np.ndarray | None = None,
) -> CalibratedForecast:
    """A champion whose intervals are given as forecast quantiles at the grid probabilities,
    one row per step 1..max_horizon (a borrowed forecast, ``models.analogs``), and whose point
    path is ``point_path`` (their median without it)."""
    values = np.asarray(history, dtype=float)
    probabilities = grid_probabilities()
    paths = np.asarray(quantile_paths, dtype=float)
    if paths.shape != (max_horizon, len(probabilities)):
        raise ValueError(f"quantile_paths must be {max_horizon} x {len(probabilities)}")
    if point_path is None:
        path = _at_probability(paths, 0.5)
    else:
        path = np.asarray(point_path, dtype=float)[:max_horizon]
    nonnegative = bool(np.all(values >= 0))
    if nonnegative:
        paths, path = np.maximum(paths, 0.0), np.maximum(path, 0.0)
    use_log = bool(np.all(paths > 0) and np.all(path > 0))
    errors = np.log(paths / path[:, None]) if use_log else paths - path[:, None]
    return CalibratedForecast(
        model_name=model_name,
        last_year=int(history.index[-1]),
        point_path=path,
        error_scale="log" if use_log else "additive",
        probabilities=probabilities,
        error_quantiles=errors,
        step_scale=np.ones(max_horizon),
        nonnegative=nonnegative,
        notes=list(notes),
        max_horizon=max_horizon,
        last_value=float(values[-1]) if values.size else None,
        borrowed_quantiles=True,
    )


def vincentized(own: CalibratedForecast, other: np.ndarray, weight: float) -> CalibratedForecast:
    """``own`` with its forecast quantiles averaged with ``other``'s (forecast quantiles, a row
    per step 1..max_horizon at every ``BLEND_STRIDE``-th grid probability), probability by
    probability and step by step, ``own``'s at ``weight``: Vincentization (Ratcliff 1979).
    Averaging two forecasts' quantiles rather than their probabilities keeps the combination
    as sharp as its members, and it scores better where they are centred alike (Lichtendahl,
    Grushka-Cockayne & Winkler 2013). The average is taken on ``own``'s error scale around
    its path (of the logs, a geometric mean, for a positive series).

    ``other`` is kept on a quarter of the grid: a champion stays a few tens of kilobytes,
    where a row per step at every grid probability took a hundred, for each of the 10,000
    series a server may hold. ``own``'s recalibration, if any, applies to the average."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must lie in [0, 1], got {weight}")
    horizon = own.max_horizon
    expected = (horizon, len(own.probabilities[::BLEND_STRIDE]))
    theirs = np.asarray(other, dtype=float)
    if theirs.shape != expected:
        raise ValueError(f"other must be {expected[0]} x {expected[1]}, got {theirs.shape}")
    if own.nonnegative:
        theirs = np.maximum(theirs, 0.0)
    if own.error_scale == "log":  # a bound of 0 is as far below as the scale reaches
        theirs = np.maximum(theirs, np.finfo(float).tiny)
    path = own.point_path[:horizon, None]
    errors = np.maximum.accumulate(_error(own.error_scale, theirs, path), axis=1)
    return replace(own, notes=list(own.notes), blended_errors=errors, own_weight=float(weight))


@functools.cache
def _blend_interpolation() -> tuple[np.ndarray, np.ndarray]:
    """Where each grid probability lies among ``blend_probabilities``: the index of the one
    below it (never the last) and its share of the way to the next, for linear interpolation
    of a blended forecast's rows onto the grid (``CalibratedForecast._stored``)."""
    grid, coarse = grid_probabilities(), blend_probabilities()
    below = np.clip(np.searchsorted(coarse, grid, side="right") - 1, 0, len(coarse) - 2)
    share = np.clip((grid - coarse[below]) / (coarse[below + 1] - coarse[below]), 0.0, 1.0)
    return below, share


def blend_probabilities() -> np.ndarray:
    """The grid probabilities a blended forecast's quantiles are given at (``vincentized``)."""
    return grid_probabilities()[::BLEND_STRIDE]


def _at_probability(rows: np.ndarray, probability: float) -> np.ndarray:
    """Each row's value at ``probability``, rows holding quantiles at the grid probabilities."""
    probabilities = grid_probabilities()
    return np.array([np.interp(probability, probabilities, row) for row in rows])


def held_out_coverage(
    history: pd.Series, backtest: pd.DataFrame, levels: Sequence[float]
) -> dict[float, float]:
    """How often intervals calibrated the way a champion's are contained the figure in the
    backtest: each figure is checked against the intervals served from its origin's path,
    calibrated from the other origins' errors on other years, never from its own
    (``_held_out``). Empty without a backtest.

    The coverage of a model's own intervals in the backtest says little about the served ones,
    which are recalibrated from the backtest errors; this is the coverage of the served kind,
    bounds and all: the reference envelope cuts them as it cuts a champion's, and a series
    never below 0 has none below 0 (read off the probability integral transforms alone, which
    neither cuts, M3's champions had claimed 85.8% inside 80% intervals for the bounds' 85.7%,
    and errors of a factor of 3 either way 88% for 77%)."""
    checked = validate_levels(levels)
    if backtest.empty:
        return {}
    inside: dict[float, list[bool]] = {level: [] for level in checked}
    for forecast, step, truth in _held_out(history, backtest):
        bounds = forecast.predict_arrays(step, checked)
        for level in checked:
            lo_name, hi_name = bound_columns(level)
            inside[level].append(bool(bounds[lo_name][-1] <= truth <= bounds[hi_name][-1]))
    return {level: float(np.mean(hits)) for level, hits in inside.items()}


def held_out_pits(history: pd.Series, backtest: pd.DataFrame) -> np.ndarray:
    """The probability integral transforms of the backtest's figures under their calibration
    as ``held_out_coverage`` checks it (``_held_out``): the steps ahead (first row) and the
    PITs (second), for ``recalibration_from`` to pool over a population. Empty (two rows, no
    columns) without a backtest."""
    if backtest.empty:
        return np.empty((2, 0))
    found = [
        (float(step), float(forecast.cdf(np.array([truth]), np.array([step]))[0]))
        for forecast, step, truth in _held_out(history, backtest)
    ]
    return np.array(found, dtype=float).T.reshape(2, -1)


def _held_out(
    history: pd.Series, backtest: pd.DataFrame
) -> Iterator[tuple[CalibratedForecast, int, float]]:
    """Per backtest figure: its origin's forecast path calibrated as a champion is from all
    the errors (``from_errors``), but from the other origins' errors on other years only
    (cross-conformal with the figure's year left out); the step ahead and the figure.

    A served forecast's calibration never holds the year it forecasts, so neither may the
    check's: another origin's error on the same year shares that year's noise, and had told
    the check in advance how far the year would fall. On 200 counts around slowly moving
    rates, forecast by smoothing, checks calibrated with those errors held 81% of figures
    inside 80% intervals while the next six years held 76%; with the year left out, 77%."""
    values = np.asarray(history, dtype=float)
    years = np.asarray(history.index, dtype=np.int64)
    origin, step, actual, mean = (
        backtest[column].to_numpy(dtype=float) for column in ("origin", "step", "actual", "mean")
    )
    target = origin + step
    origins: list[_Origin] = []
    rows, steps_ahead, truths = [], [], []
    for held_origin in np.unique(origin):
        held = origin == held_origin
        order = np.argsort(step[held])
        ahead = step[held][order]
        # the path at every step up to the last (a year missing from the history leaves a
        # step out: its place is filled in, never read)
        path = np.interp(np.arange(1, ahead[-1] + 1), ahead, mean[held][order])
        # calibrated per figure as ``from_errors`` calibrates a champion, what does not
        # depend on the errors worked out once per origin
        at_origin = _Origin.of(values[years <= held_origin], int(held_origin), path)
        # each figure's calibration from the errors of other origins on other years
        others = origin != held_origin
        rows += [others & (target != year) for year in target[held][order]]
        origins += [at_origin] * len(ahead)
        steps_ahead += [int(figure_step) for figure_step in ahead]
        truths += [float(truth) for truth in actual[held][order]]
    calibrated = _calibrated_each(origins, "held out", (actual, mean, step), np.array(rows))
    yield from zip(calibrated, steps_ahead, truths, strict=True)


def recalibration_from(steps: np.ndarray, pits: np.ndarray) -> np.ndarray | None:
    """The recalibration a population's probability integral transforms (PITs, pooled over
    its series' backtests) call for: per step ahead, the probability to look up for each grid
    probability, the empirical quantile of that step's PITs (Gneiting, Balabdaoui & Raftery
    2007: intervals cover as claimed when the PITs are uniform; Kuleshov, Fenner & Ermon 2018
    recalibrate through them). A row per step with at least ``MIN_PITS``, up to the first step
    with fewer; later steps reuse the last row. None when step 1 has too few or nothing moves.

    Bounds only move outward: figures falling outside the intervals more often than claimed
    show a population that moves more than the intervals allow, which holds whatever history
    the intervals came from; figures falling inside more often, in backtests from shorter
    histories than the served forecast has, say more about those histories (M3's 3-year cuts:
    narrowing on that evidence took the served 80% intervals from 82% coverage to 73%)."""
    probabilities = grid_probabilities()
    rows = []
    for step in range(1, MAX_HORIZON + 1):
        at_step = np.sort(pits[steps == step])
        if at_step.size < MIN_PITS:
            break
        positions = np.arange(1, at_step.size + 1) / (at_step.size + 1.0)
        mapped = np.interp(probabilities, positions, at_step)
        lower = probabilities < 0.5
        rows.append(
            np.where(lower, np.minimum(mapped, probabilities), np.maximum(mapped, probabilities))
        )
    if not rows or np.allclose(rows, probabilities[None, :], rtol=0.0, atol=1e-9):
        return None
    table = np.array(rows)
    table.setflags(write=False)
    return table


def _step_sums(
    errors: np.ndarray, steps: np.ndarray, chosen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``chosen`` (a mask over the errors), how many of its errors fall on
    each step (columns from step 0) and the sum of their squares, summed in the errors'
    order as one row's own ``np.bincount`` would."""
    width = int(np.max(steps, initial=0)) + 1
    cells = (np.arange(len(chosen))[:, None] * width + steps.astype(np.int64)[None, :])[chosen]
    squares = np.broadcast_to(errors**2, chosen.shape)[chosen]
    size = len(chosen) * width
    return (
        np.bincount(cells, minlength=size).reshape(len(chosen), width),
        np.bincount(cells, weights=squares, minlength=size).reshape(len(chosen), width),
    )


def _growth_exponents(counts: np.ndarray, squares: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """How error spread grows with the step, for each row of errors' ``counts`` and sums of
    squares per step (``_step_sums``): RMS ~ step**b, fitted across steps with enough errors
    and shrunk towards the row's ``prior`` when few steps inform it; kept within
    [0, ``MAX_GROWTH``] (``MIN_GROWTH`` applies to the served growth, not to this fit)."""
    informed = (counts >= 2) & (squares > 0)
    # weighted least squares of log RMS on log step, each step weighted by its error count,
    # every row at once (steps a row leaves out weigh 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(informed, counts, 0).astype(float)
        log_steps = np.where(informed, np.log(np.arange(counts.shape[1], dtype=float)), 0.0)
        log_rms = np.where(informed, 0.5 * np.log(squares / counts), 0.0)
        mean_log_step = np.sum(weights * log_steps, axis=1) / np.sum(weights, axis=1)
    centred = np.where(informed, log_steps - mean_log_step[:, None], 0.0)
    weighted = weights * centred
    how_many = np.sum(informed, axis=1)
    fitted = how_many >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.sum(weighted * log_rms, axis=1) / np.sum(weighted * centred, axis=1)
    shrunk = (how_many * slope + 2.0 * prior) / (how_many + 2.0)
    return np.where(fitted, np.clip(shrunk, 0.0, MAX_GROWTH), prior)


def _step_growth(steps: np.ndarray, exponent: float, steady: float | np.ndarray) -> np.ndarray:
    """Error spread at each step relative to step 1: the share ``steady`` of the step-1
    variance is the same at every step (a count's noise and all but its level's movement,
    ``_steady_share``), and the rest grows as ``step**exponent`` (the local level model's
    ``var_h = noise + level_h``; Harvey 1989). A county's murders (about 30 a year, Poisson
    around a slowly moving rate) had its step-6 interval sqrt(6) times its step-1 one and
    covered 97% of held-out years at 80%."""
    steps = np.asarray(steps, dtype=float)
    return np.asarray(np.sqrt(steady + (1.0 - steady) * steps ** (2.0 * exponent)))


def _steady_share(values: np.ndarray, variance: float, year_noise: float) -> float:
    """The share of a count's one-step error ``variance`` (on the square-root scale) that
    does not grow with the step: all but its level's yearly movement. A count's yearly
    changes there are its level's change plus two years' Poisson noise (each of
    ``year_noise``, ``poisson_root_variance`` at the count's mean; the local level model,
    Harvey 1989), so the level moves by their mean square less twice the noise's variance;
    the Poisson noise itself always stays. A county's count forecast by its last figure has
    two years' noise in every error and a level that hardly moves: treating all but one
    year's noise as a moving level had widened its sixth year's interval 1.8 times its
    first's, and 90% of such counts fell inside its 80% intervals."""
    noise = min(year_noise / variance, 1.0)
    roots = np.sqrt(np.maximum(values[np.isfinite(values)], 0.0))
    if roots.size < 2:
        return noise
    moving = max(float(np.mean(np.diff(roots) ** 2)) - 2.0 * year_noise, 0.0)
    return 1.0 - min(moving / variance, 1.0 - noise)


def _normalised(
    errors: np.ndarray, steps: np.ndarray, chosen: np.ndarray, exponents: np.ndarray
) -> np.ndarray:
    """Each row's errors brought to one step ahead with its growth exponent (0 where the row
    leaves an error out)."""
    with np.errstate(invalid="ignore"):
        return np.where(chosen, errors[None, :] / steps[None, :] ** exponents[:, None], 0.0)


def _pooled_variances(
    normalised: np.ndarray, chosen: np.ndarray, prior_scales: np.ndarray
) -> np.ndarray:
    """Per row, the mean square of its one-step errors pooled with ``PRIOR_WEIGHT``
    pseudo-errors of its prior scale: the scale of a calibration's t (``_calibrate``)."""
    total = np.sum(normalised**2, axis=1) + PRIOR_WEIGHT * prior_scales**2
    return np.asarray(total / (np.sum(chosen, axis=1) + PRIOR_WEIGHT))


def _independent_errors(counts: np.ndarray) -> np.ndarray:
    """How many independent errors each row of errors' ``counts`` per step (``_step_sums``)
    holds: the years they fall on, the origins plus the steps beyond the first. An origin's
    errors 1..h steps ahead share the shocks of the years between (an h-step error is a
    moving average of order h - 1; Harvey, Leybourne & Newbold 1997), so 10 origins checked
    6 years ahead give 60 errors but 15 years' shocks."""
    furthest = counts.shape[1] - 1 - np.argmax(counts[:, ::-1] > 0, axis=1)
    independent = np.minimum(counts.sum(axis=1), counts.max(axis=1) + furthest - 1)
    return np.where(counts.sum(axis=1) > 0, independent, 0)


def _empirical_quantiles(
    normalised: np.ndarray, chosen: np.ndarray, independent: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``normalised`` (the errors ``chosen`` marks), the empirical quantile
    function of one-step errors at the grid probabilities (conformal plotting positions
    k / (n + 1)), and the weight it gets beside a parametric one (a t, or a small count's
    distribution): at each probability it weighs by the ``independent`` errors beyond it
    (``EMPIRICAL_HALF_TAIL``), so few errors, and every far tail, lean on the parametric one.
    A constant weight had read a 99% bound off the two largest errors, clamped there: 96-97%
    of held-out years inside 99% intervals on M3, M1 and Tourism. A row without errors has
    weight 0."""
    counts = np.sum(chosen, axis=1)
    probabilities = grid_probabilities()
    if not counts.any():
        nothing = np.zeros((len(chosen), len(probabilities)))
        return nothing, nothing
    # between the errors at the plotting positions on either side of each probability, or
    # the nearest one beyond them all
    ordered = np.sort(np.where(chosen, normalised, np.inf), axis=1)
    last = np.maximum(counts - 1, 0)[:, None]
    at = probabilities[None, :] * (counts[:, None] + 1.0) - 1.0
    below = np.clip(np.floor(at), 0, last).astype(np.int64)
    share = np.clip(at - below, 0.0, 1.0)
    low = np.take_along_axis(ordered, below, axis=1)
    high = np.take_along_axis(ordered, np.minimum(below + 1, last), axis=1)
    some = counts[:, None] > 0
    with np.errstate(invalid="ignore"):
        empirical = np.where(some, np.where(share > 0.0, low + share * (high - low), low), 0.0)
    beyond = independent[:, None] * np.minimum(probabilities, 1.0 - probabilities)[None, :]
    return empirical, np.where(some, beyond / (beyond + EMPIRICAL_HALF_TAIL), 0.0)
