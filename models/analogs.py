"""Reference-class forecasts: a short series borrows its path and intervals from what comparable
real series did next (the "outside view" of reference class forecasting, Kahneman & Tversky
1979, Flyvbjerg 2006).

A series of 3 years cannot be backtested, and a model fitted to it alone extrapolates noise:
a Student-t with two degrees of freedom compounded over five years gave intervals reaching
¥500,000 trillion. Here every window of the same length in a reference population of yearly
series (the bundled corpus, ``data/reference``, plus any longer series the caller adds) is a
precedent: its recent growth and volatility are set against the series', and the changes the
nearest precedents went through over the next 1..10 years are the forecast distribution,
applied to the series' last value. The point path is their median, the intervals their
quantiles, so no interval reaches beyond what some real yearly series once did.

Positive series use log changes; a series with zeros uses changes relative to its mean level.
A small count that scatters as a Poisson count at a slowly moving rate does
(``is_steady_count``) is one, at a yearly rate that moves like its precedents' levels: its
forecast is that count's distribution (``_count_quantiles``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from data.reference import reference_series
from models.base import Forecaster
from models.calibration import is_small_count

#: Years ahead the precedents are followed; beyond, the spread grows like a random walk's.
PRECEDENT_HORIZON = 10
#: Precedents a forecast rests on: enough for stable 95% quantiles at every step.
NEIGHBOURS = 1000
#: At most this many of a series' latest years describe it (its length, if shorter): the
#: years its precedents are followed, and those a longer series' own backtest origins span
#: (``training.selection.MAX_ORIGINS``), whose calibrated intervals are averaged with the
#: borrowed ones. A volatility read off nine yearly changes has under half the sampling
#: variance of one read off four (a standard deviation of m values has a relative variance of
#: about 1 / (2 (m - 1)): 1/16 against 1/6), so the precedents are matched on the series'
#: spread rather than on its last few years' noise. Matched on five years, M3's longer series
#: had borrowed wider intervals (averaged with their own, 80% intervals held 87.3% of the
#: held-out years; with ten, 84.9%).
MATCHED_YEARS = 10
#: A small count's rate, and whether it scatters as a Poisson count, are read off at most its
#: latest this many years (its own precedents matched on the same years, their changes
#: counted from those years' mean as its rate is): over a few years of a slowly moving rate
#: the years weigh alike (``rate_median``).
COUNT_YEARS = 5
#: Jeffreys' prior for a Poisson rate, a gamma of this shape and no rate: a count's yearly
#: rate after n years totalling s is a gamma of shape s + 1/2 and rate n, so a count that
#: stood at 0, 0, 0 still has room for a 1 (a chance of about one in seven next year).
JEFFREYS_SHAPE = 0.5
#: Quantiles of the precedents' level changes a count's distribution is mixed over per step.
LEVEL_QUANTILES = 64
#: A whole-number series scattered less about its line than all but this share of Poisson
#: counts would be is not read as one (``is_poisson_count``).
UNDERDISPERSED = 0.01
#: A small count whose straight line through its latest years stands further out of the
#: scatter a Poisson count at one rate would give than all but this share of such counts is
#: read as moving, not as a count at a slowly moving rate (``is_steady_count``).
TRENDING = 0.01
#: Below this mean the index of dispersion is not read against its chi-squared (Cochran 1954
#: asks for expected counts of about 5): 1, 1, 1 is a Poisson count at 1 a year one time in 20.
DISPERSION_MEAN = 5.0
#: Draws a small count's forecast quantiles are read off: the 2.5% and 97.5% quantiles to
#: within about 0.2% of probability (a standard error of 0.17%). Reading them took half of a
#: short count's fit at 20,000 draws.
COUNT_DRAWS = 8_000


#: Windows of the bundled corpus by (length, log scale, corpus identity), built on first use.
_CACHE: dict[tuple[int, bool, int], tuple[np.ndarray, ...]] = {}


def _reference_windows(
    length: int, log_scale: bool, extra: Sequence[np.ndarray]
) -> tuple[np.ndarray, ...]:
    """``_windows`` of the bundled corpus (cached) and of ``extra`` series, stacked, and the
    spread of their features (``_spread``)."""
    corpus = reference_series()
    key = (length, log_scale, id(corpus))
    if key not in _CACHE:
        found = _windows(length, log_scale, corpus)
        _CACHE[key] = (*found, _spread(found[0]))
    if not extra:
        return _CACHE[key]
    more = _windows(length, log_scale, extra)
    found = _CACHE[key][: len(more)]
    stacked = [np.concatenate([mine, theirs]) for mine, theirs in zip(found, more, strict=True)]
    return (*stacked, _spread(stacked[0]))


def _spread(features: np.ndarray) -> np.ndarray:
    """How far windows' features lie from their median, feature by feature (the median absolute
    deviation, at least 1e-9): the unit distances to a series are measured in."""
    if len(features) == 0:
        return np.ones(features.shape[1])
    return np.maximum(np.median(np.abs(features - np.median(features, axis=0)), axis=0), 1e-9)


def _column_quantiles(values: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Quantiles (probabilities x columns) of each column of ``values`` without its NaNs, as
    ``np.nanquantile``'s default (linear) method gives them, from one sort of the columns:
    ``np.nanquantile`` partitions a column once per probability, half of a borrowed forecast's
    time at the 401 grid probabilities. NaN where a column has none."""
    ordered = np.sort(values, axis=0)  # NaNs last
    counts = np.sum(~np.isnan(values), axis=0)
    position = np.asarray(probabilities, dtype=float)[:, None] * np.maximum(counts - 1, 0)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, np.maximum(counts - 1, 0))
    share = position - below
    columns = np.arange(values.shape[1])
    low, high = ordered[below, columns], ordered[above, columns]
    found = low + (high - low) * share
    return np.where(counts > 0, found, np.nan)


def _windows(length: int, log_scale: bool, corpus: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Features (growth, volatility), values (n x ``length``), following values (n x
    PRECEDENT_HORIZON, NaN past a series' end) and scale (n) of every window of ``length``
    years in ``corpus`` with a year after it, on the log scale (scale 1) or not (its mean
    level). A precedent's changes are its following values less its level, over its scale
    (``ReferenceClass._fit``)."""
    features, starts, follows, scales = (
        [np.empty((0, 2))],
        [np.empty((0, length))],
        [np.empty((0, PRECEDENT_HORIZON))],
        [np.empty(0)],
    )
    for values in corpus:
        if len(values) < length + 1 or (log_scale and np.any(values <= 0)):
            continue
        base = np.log(values) if log_scale else np.asarray(values, dtype=float)
        count = len(base) - length
        windows = np.lib.stride_tricks.sliding_window_view(base, length)[:count]
        level = np.ones(count) if log_scale else np.mean(np.abs(windows), axis=1)
        level = np.where(level == 0, 1.0, level)[:, None]
        padded = np.concatenate([base, np.full(PRECEDENT_HORIZON, np.nan)])
        following = np.lib.stride_tricks.sliding_window_view(padded[length:], PRECEDENT_HORIZON)
        starts.append(windows)
        follows.append(following[:count])
        scales.append(level[:, 0])
        features.append(_features(windows / level))
    return tuple(np.concatenate(part) for part in (features, starts, follows, scales))


def _features(windows: np.ndarray) -> np.ndarray:
    """Mean yearly change and the spread of the yearly changes of each window (a row each, on
    its own scale)."""
    steps = np.diff(windows, axis=-1)
    if steps.shape[-1] == 0:
        return np.zeros((*windows.shape[:-1], 2))
    return np.stack([steps.mean(axis=-1), steps.std(axis=-1)], axis=-1)


def _widening(changes: np.ndarray, median: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Quantiles of the precedents' changes (steps x probabilities) whose distance from each
    step's median never shrinks with the step: a longer stretch can move at least as far as a
    shorter one (as ``models.calibration.reference_envelope`` holds its bounds). Fewer
    precedents reach the far steps (a reference series ends), so a far step's tail quantile,
    read from a smaller and different set, can fall inside a nearer one's: the 95% interval
    of a 3-year series that halved twice reached 3.0x its last value five years out and 2.6x
    six years out."""
    distance = changes - median[:, None]
    below = probabilities < 0.5
    distance[:, below] = np.minimum.accumulate(distance[:, below], axis=0)
    distance[:, ~below] = np.maximum.accumulate(distance[:, ~below], axis=0)
    return median[:, None] + distance


def is_poisson_count(values: np.ndarray) -> bool:
    """Whether a series is read as a Poisson count: a small count
    (``models.calibration.is_small_count``) whose latest ``COUNT_YEARS`` years scatter about
    their straight line no less than a Poisson count's could (Fisher's index of dispersion, the
    residual sum of squares over the mean, against a chi-squared with n - 2 degrees of freedom:
    at least ``UNDERDISPERSED`` of such counts scatter less). An index or a rounded rate kept in
    whole numbers is far smoother: read as a Poisson count, M1's 62, 65, 68, 72, 76 had its
    growth taken for noise and a median of 71.6 the next year (the figure was 77)."""
    if not is_small_count(values):
        return False
    tested = _tested_window(values)
    return tested is None or _scatters_as_poisson(*tested)


def _scatters_as_poisson(window: np.ndarray, mean: float, line: np.ndarray) -> bool:
    """``is_poisson_count``'s test of a tested window (``_tested_window``): Fisher's index
    about the line against its chi-squared."""
    from scipy.special import gammainc

    index = float(np.sum((window - line) ** 2)) / mean
    return bool(gammainc((window.size - 2) / 2, index / 2) >= UNDERDISPERSED)


def is_steady_count(values: np.ndarray) -> bool:
    """Whether a series is forecast as a Poisson count at a slowly moving rate, read off the
    mean of its latest ``COUNT_YEARS`` years (``count_rate``, ``rate_median``): a Poisson count
    (``is_poisson_count``) whose straight line through those years stands out of a Poisson
    count's scatter at one rate no further than such counts' lines could (the line's sum of
    squares about the mean, over the mean, against a chi-squared with 1 degree of freedom: at
    least ``TRENDING`` of such counts have a steeper line). Read off its mean, 1,000, 100, 10, 1
    had been forecast at 278 a year (80% interval 140-370 next year) and 0, 5, 12 at 6. A line
    is read as the count moving only where no year turns back against it: a burst that rose and
    fell (5, 6, 40, 90, 60) stands out of one rate's scatter as far as a steep line does, but is
    a count whose rate jumped and fell back, and read as moving its intervals had fitted the
    bursty incidents cut to 7 years worse (MSIS ratio 0.959 -> 1.015). Below a mean of
    ``DISPERSION_MEAN`` the line is not read (every such count is steady)."""
    from scipy.special import gammaincc

    if not is_small_count(values):
        return False
    tested = _tested_window(values)
    if tested is None:
        return True
    window, mean, line = tested
    if not _scatters_as_poisson(window, mean, line):  # not a Poisson count (is_poisson_count)
        return False
    trend = float(np.sum((line - mean) ** 2)) / mean
    changes = np.diff(window)
    turns = bool(np.any(changes > 0) and np.any(changes < 0))
    return turns or bool(gammaincc(0.5, trend / 2) >= TRENDING)


def _tested_window(values: np.ndarray) -> tuple[np.ndarray, float, np.ndarray] | None:
    """A count's latest ``COUNT_YEARS`` years, their mean and their least-squares straight
    line, for ``is_poisson_count`` and ``is_steady_count`` to read against a chi-squared; None
    where neither reads them (fewer than 3 years, or a mean below ``DISPERSION_MEAN``)."""
    window = np.asarray(values[-COUNT_YEARS:], dtype=float)
    mean = float(np.mean(window))
    if window.size < 3 or mean < DISPERSION_MEAN:
        return None
    years = np.arange(window.size)
    return window, mean, np.asarray(np.polyval(np.polyfit(years, window, 1), years))


def count_rate(values: np.ndarray) -> tuple[float, float]:
    """A count's yearly rate after its latest ``COUNT_YEARS`` years: a gamma from Jeffreys'
    prior, its shape (their total plus ``JEFFREYS_SHAPE``) and rate (their number)."""
    window = np.asarray(values[-COUNT_YEARS:], dtype=float)
    return float(np.sum(window)) + JEFFREYS_SHAPE, float(window.size)


def rate_median(values: np.ndarray) -> float:
    """A small count's figure next year and every year on if its rate stays where its years
    put it: the median of a Poisson count at that rate, the gamma ``count_rate`` (a negative
    binomial). No change, for a count: its last figure is a year's Poisson noise about the
    rate as much as the rate itself. The gamma-Poisson local level model (Harvey & Fernandes
    1989) forecasts a count so, flat at a weighted mean of its years; over a few years of a
    slowly moving rate the weights are alike. The median, not the mean: a point forecast
    judged by its absolute error is best at the median (Gneiting 2011), so 0, 0, 1 (a rate of
    a half) is forecast at 0."""
    from scipy.stats import nbinom

    shape, years = count_rate(values)
    return float(nbinom.ppf(0.5, shape, years / (years + 1.0)))


def _count_noise(counts: np.ndarray) -> float:
    """The variance a year's Poisson noise gives the log of a count around ``mu`` a year (a
    half added, so that 0 has one): ``mu / (mu + 1/2)**2`` by the delta method, about ``1 / mu``
    from a few a year up."""
    mean = max(float(np.mean(counts)), 0.0)
    return mean / (mean + 0.5) ** 2


def _signal_features(features: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A small count's growth and volatility (``_features`` of its logs) without what its own
    Poisson noise explains, which the reference corpus' large aggregates do not have.

    Its yearly changes carry a noise variance of twice ``_count_noise``: matched on the whole
    swing, a county's 12, 20, 15, 18, 11 murders had borrowed from the corpus' most volatile
    stretches and then had their count noise added a second time (counts cut to 5 years held
    out: 96.6% inside their 95% intervals). Its mean yearly change over n years carries that
    variance over (n - 1)**2, and is kept only as far as it stands out of it (a positive-part
    James-Stein shrinkage): 0, 0, 1 is no sign of a count growing by 55% a year."""
    noise = 2.0 * _count_noise(counts)
    growth, volatility = features
    steps = max(len(counts) - 1, 1)
    kept = max(0.0, 1.0 - noise / steps**2 / growth**2) if growth else 0.0
    return np.array([growth * kept, np.sqrt(max(volatility**2 - noise, 0.0))])


def _count_quantiles(
    rate: tuple[float, float], levels: np.ndarray, probabilities: np.ndarray
) -> np.ndarray:
    """Quantiles (steps x probabilities) of a count whose yearly rate is a gamma (shape and
    rate: ``rate``) times a level change drawn evenly from ``levels`` (steps x quantiles of the
    change): a Poisson count at that rate, read off ``COUNT_DRAWS`` seeded draws (the same
    draws at every step, so that the quantiles move smoothly with the step).

    The count's whole numbers are jittered, as Machado & Santos Silva (2005) do for count
    quantiles: a count y is read as anywhere in y - 1/2 .. y + 1/2, so that an interval holds
    a whole number where the share of the distribution below it (half its own chance counted)
    lies inside the interval's probabilities."""
    rng = np.random.default_rng(0)
    shape, years = rate
    base = rng.gamma(shape, 1.0 / years, size=COUNT_DRAWS)
    moves = levels[:, rng.integers(levels.shape[1], size=COUNT_DRAWS)]
    counts = rng.poisson(base[None, :] * moves) + rng.random(COUNT_DRAWS)[None, :] - 0.5
    counts.sort(axis=1)
    position = np.asarray(probabilities) * (COUNT_DRAWS - 1)  # numpy's "linear" quantiles
    below = np.minimum(np.floor(position).astype(np.int64), COUNT_DRAWS - 2)
    share = position - below
    quantiles = counts[:, below] * (1.0 - share) + counts[:, below + 1] * share
    return np.asarray(np.maximum(quantiles, 0.0))


class ReferenceClass(Forecaster):
    """The median and quantiles of what the nearest precedents in a reference population did
    next, applied to the series' last value."""

    name = "analogs"
    min_length = 1

    def __init__(self, extra_reference: Sequence[np.ndarray] = (), neighbours: int = NEIGHBOURS):
        self.extra_reference = tuple(np.asarray(values, dtype=float) for values in extra_reference)
        self.neighbours = neighbours

    def _fit(self, values: np.ndarray) -> None:
        self.counts_ = is_steady_count(values)
        self.log_scale_ = self.counts_ or bool(np.all(values > 0))
        length = min(len(values), COUNT_YEARS if self.counts_ else MATCHED_YEARS)
        window = values[-length:]
        self.level_ = 1.0
        if self.counts_:  # its rate after ``length`` years: a gamma (Jeffreys' prior)
            self.rate_ = count_rate(values)
            window = np.log(window + 0.5)
        elif self.log_scale_:
            window = np.log(window)
        else:
            self.level_ = float(np.mean(np.abs(window))) or 1.0
            window = window / self.level_
        features, starts, follows, scales, spread = _reference_windows(
            max(length, 2), self.log_scale_, self.extra_reference
        )
        if len(features) == 0:
            raise ValueError(f"{self.name}: the reference population has no window to compare")
        if length >= 2:
            target = _features(window)
            if self.counts_:
                target = _signal_features(target, values[-length:])
            used = 1 if length == 2 else 2  # two years show no volatility
            distance = np.sqrt(np.sum(((features - target) / spread)[:, :used] ** 2, axis=1))
            count = min(self.neighbours, len(distance))
            nearest = np.argpartition(distance, count - 1)[:count]
        else:
            nearest = np.arange(len(features))
        # changes from the precedent's level: its last value, or a count's the mean of its
        # years, as the count's rate is
        level = starts[nearest].mean(axis=1) if self.counts_ else starts[nearest][:, -1]
        self.precedents_ = (follows[nearest] - level[:, None]) / scales[nearest][:, None]
        self.last_ = float(values[-1])
        self.reference_size_ = len(reference_series()) + len(self.extra_reference)

    def quantile_paths(self, horizon: int, probabilities: np.ndarray) -> np.ndarray:
        """Forecast quantiles (steps x probabilities) ``horizon`` years ahead: the precedents'
        changes applied to the last value, or, for a small count, the count at its rate moved
        by them (``_count_quantiles``)."""
        self._check_fitted()
        if self.counts_:
            spread = (np.arange(LEVEL_QUANTILES) + 0.5) / LEVEL_QUANTILES
            return _count_quantiles(
                self.rate_, np.exp(self._changes(horizon, spread)), probabilities
            )
        changes = self._changes(horizon, probabilities)
        if self.log_scale_:
            return self.last_ * np.exp(changes)
        return self.last_ + changes * self.level_

    def _changes(self, horizon: int, probabilities: np.ndarray) -> np.ndarray:
        """Quantiles (steps x probabilities) of the precedents' changes ``horizon`` years on."""
        steps = min(horizon, PRECEDENT_HORIZON)
        found = _column_quantiles(self.precedents_[:, :steps], np.r_[0.5, probabilities])
        changes = _widening(found[1:].T, found[0], probabilities)
        if horizon > steps:  # beyond the precedents: median trend on, spread like a random walk
            median = found[0, -1]
            extra = np.arange(steps + 1, horizon + 1)
            centre = median * extra / steps
            spread = (changes[-1] - median)[None, :] * np.sqrt(extra / steps)[:, None]
            changes = np.vstack([changes, centre[:, None] + spread])
        return np.asarray(changes)

    def _predict_quantiles(
        self, horizon: int, levels: list[float]
    ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
        tails = [0.5 - level / 200.0 for level in levels]
        probabilities = np.array([0.5, *tails, *[1.0 - tail for tail in tails]])
        paths = self.quantile_paths(horizon, probabilities)
        count = len(levels)
        quantiles = {
            level: (paths[:, 1 + index], paths[:, 1 + count + index])
            for index, level in enumerate(levels)
        }
        return paths[:, 0], quantiles

    def _forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError  # _predict_quantiles is overridden
