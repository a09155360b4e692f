"""Development sets beside the yardsticks: short-history cuts and synthetic crime-like series.

fraudcast is judged on yearly series it never saw: crime counts and rates, incident counts,
economic series, and series only a few years old. The yardsticks (M3, M1, Tourism) are long,
trending business series, so two kinds of set are built here to see the other cases:

* **Short-history cuts** of a yardstick: every series long enough is cut to its years
  ``start .. start + length - 1``, with ``start`` drawn at random (seeded), and forecast
  ``horizon`` years ahead against the years that followed — a newly compiled series.
* **Synthetic small counts** (``small_counts``): the same process at levels of 1 to 200 a
  year, every series a Poisson count (murders in a county, incidents in a small country).
* **Synthetic stable counts** (``stable_counts``): Poisson counts of 0.5 to 60 a year around
  a rate that moves slowly (murders by county, 11 years of history): count noise, not trend.
* **Synthetic sparse counts** (``sparse_counts``): the same process at rates of 0.05 to 1 a
  year (murders in a small county): most years are 0.
* **Synthetic crime-like series** (``synthetic_crime``): levels that wander with growth rates
  that reverse, mean reversion, short bursts that fade, and count noise at small levels —
  the shapes of crime waves and fraud bursts. Generated from a documented process with a seed,
  not tuned to any real set; the withheld real-world sets stay withheld.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: Years ahead the short cuts are forecast (issue #16: 5 ahead against the years that followed).
SHORT_HORIZON = 5
#: Years ahead the synthetic crime-like series are forecast.
CRIME_HORIZON = 6
#: A generated count's truth: each year's mean and the negative-binomial size it was drawn
#: with (infinite: Poisson).
Truth = tuple[np.ndarray, float]
#: The columns a generated count's truth rides in, beside ``unique_id``, ``ds`` and ``y``.
TRUTH_COLUMNS = ("true_mean", "true_dispersion")


def _split(
    series_id: str, values: np.ndarray, horizon: int, truth: Truth | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A generated series (years numbered from 1) as its history and its last ``horizon``
    years, the test; a count's ``truth`` (each year's mean and the dispersion it was drawn
    with) rides along in the ``TRUTH_COLUMNS``, for ``true_coverage``."""
    years = np.arange(1, len(values) + 1)
    frame = pd.DataFrame({"unique_id": series_id, "ds": years, "y": values})
    if truth is not None:
        mean, dispersion = truth
        frame = frame.assign(true_mean=mean, true_dispersion=dispersion)
    cut = len(values) - horizon
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def _counts(
    n_series: int, horizon: int, prefix: str, draw: Callable[[], tuple[np.ndarray, Truth]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n_series`` count series from ``draw`` (history and test years together, and the
    truth they were drawn from), each split by ``_split``; a history without one change has no
    error scale and is drawn again."""
    trains: list[pd.DataFrame] = []
    tests: list[pd.DataFrame] = []
    while len(trains) < n_series:
        values, truth = draw()
        if np.ptp(values[:-horizon]) == 0:
            continue
        train, test = _split(f"{prefix}{len(trains):04d}", values, horizon, truth)
        trains.append(train)
        tests.append(test)
    return pd.concat(trains, ignore_index=True), pd.concat(tests, ignore_index=True)


def short_cuts(
    train: pd.DataFrame,
    test: pd.DataFrame,
    length: int,
    horizon: int = SHORT_HORIZON,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every series of a yardstick (train and test years together) cut to ``length`` years
    ending at a random point, and the ``horizon`` years after them as its test (a generated
    count's truth, ``TRUTH_COLUMNS``, cut with it)."""
    rng = np.random.default_rng(seed)
    whole = pd.concat([train, test]).sort_values(["unique_id", "ds"])
    cut_train, cut_test = [], []
    for _, group in whole.groupby("unique_id", sort=True):
        room = len(group) - length - horizon
        if room < 0:
            continue
        start = int(rng.integers(0, room + 1))
        window = group.iloc[start : start + length + horizon].assign(
            ds=np.arange(1, length + horizon + 1)
        )
        cut_train.append(window.iloc[:length])
        cut_test.append(window.iloc[length:])
    return (
        pd.concat(cut_train, ignore_index=True),
        pd.concat(cut_test, ignore_index=True),
    )


def true_coverage(test: pd.DataFrame, levels: Sequence[float]) -> dict[float, float] | None:
    """Per level (in percent), the share of a generated count set's test figures inside the central
    intervals of the very distribution each was drawn from (its year's mean, and its
    dispersion): the coverage a forecaster that knew every year's rate would reach. None
    unless every test figure is a count with its truth (``TRUTH_COLUMNS``).

    A count is read as fraudcast reads one (``models.analogs``: whole numbers jittered, as
    Machado & Santos Silva 2005 do), so a figure lies inside a central interval when its
    distribution's share below it, half its own chance counted, does. Between whole numbers
    there is nothing to cut: at 0.3 a year a count is 0 three years in four and 1 or less 96
    years in 100, and the 80% interval of 0 alone would hold 74%; the one of 0 and 1, 96%."""
    if not set(TRUTH_COLUMNS) <= set(test.columns):
        return None
    mean, size = (test[column].to_numpy(dtype=float) for column in TRUTH_COLUMNS)
    if not np.all(np.isfinite(mean)):
        return None
    figures = test["y"].to_numpy(dtype=float)
    poisson = np.isinf(size)
    below, at = np.empty_like(figures), np.empty_like(figures)
    below[poisson] = stats.poisson.cdf(figures[poisson] - 1, mean[poisson])
    at[poisson] = stats.poisson.pmf(figures[poisson], mean[poisson])
    nb = ~poisson
    chance = size[nb] / (size[nb] + mean[nb])
    below[nb] = stats.nbinom.cdf(figures[nb] - 1, size[nb], chance)
    at[nb] = stats.nbinom.pmf(figures[nb], size[nb], chance)
    share = below + at / 2.0
    return {level: float(np.mean(np.abs(share - 0.5) <= level / 200.0)) for level in levels}


def synthetic_crime(
    n_series: int = 300,
    horizon: int = CRIME_HORIZON,
    seed: int = 2026,
    levels: tuple[float, float] = (5.0, 20000.0),
    count_share: float = 0.6,
    prefix: str = "crime",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Crime-like yearly series (history of 8–22 years plus ``horizon`` test years).

    Each latent log level starts log-uniform within ``levels``, follows a growth rate that
    reverses at random years (crime waves), is pulled back towards its long-run level (mean
    reversion), and gets occasional bursts that fade by half a year; ``count_share`` of the
    series are counts (Poisson around the level, many of them tens a year), the rest rates
    with 5% multiplicative noise."""
    rng = np.random.default_rng(seed)
    trains, tests = [], []
    for index in range(n_series):
        length = int(rng.integers(8, 23)) + horizon
        level = rng.uniform(np.log(levels[0]), np.log(levels[1]))
        anchor, growth = level, rng.normal(0.0, 0.08)
        pull = rng.uniform(0.0, 0.3)
        burst, path = 0.0, []
        for _ in range(length):
            if rng.random() < 0.12:  # the trend reverses
                growth = -growth * rng.uniform(0.5, 1.5) + rng.normal(0.0, 0.03)
            if rng.random() < 0.05:  # a burst that fades
                burst += rng.uniform(0.3, 1.0)
            level += growth - pull * (level - anchor) + rng.normal(0.0, 0.04)
            anchor += growth * 0.5
            burst *= 0.5
            path.append(level + burst)
        latent = np.exp(np.array(path))
        truth: Truth | None = None
        if rng.random() < count_share:
            values = rng.poisson(latent).astype(float)
            truth = (latent, np.inf)
        else:
            values = np.round(latent * np.exp(rng.normal(0.0, 0.05, size=length)), 2)
        train, test = _split(f"{prefix}{index:04d}", values, horizon, truth)
        trains.append(train)
        tests.append(test)
    return pd.concat(trains, ignore_index=True), pd.concat(tests, ignore_index=True)


def small_counts(
    n_series: int = 300, horizon: int = CRIME_HORIZON, seed: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``synthetic_crime``'s process at levels of 1 to 200 a year, every series a Poisson
    count: the small counts (tens a year, some touching zero) where count noise dominates."""
    return synthetic_crime(
        n_series, horizon, seed, levels=(1.0, 200.0), count_share=1.0, prefix="count"
    )


def _slow_rate_counts(
    n_series: int, horizon: int, seed: int, rates: tuple[float, float], prefix: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Poisson counts (11 years of history plus ``horizon`` test years) around a rate drawn
    log-uniformly within ``rates`` whose log then moves as a slow random walk (6% a year)."""
    rng = np.random.default_rng(seed)
    length = 11 + horizon
    low, high = np.log(rates[0]), np.log(rates[1])

    def draw() -> tuple[np.ndarray, Truth]:
        rate = np.exp(rng.uniform(low, high) + np.cumsum(rng.normal(0, 0.06, length)))
        return rng.poisson(rate).astype(float), (rate, np.inf)

    return _counts(n_series, horizon, prefix, draw)


def stable_counts(
    n_series: int = 200, horizon: int = CRIME_HORIZON, seed: int = 9
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts of the kind murders by county give (11 years of history plus ``horizon`` test
    years): a rate of 0.5 to 60 a year whose log moves as a slow random walk (6% a year) and
    a Poisson count around it. Year-to-year changes are almost all count noise, which does not
    grow with the horizon as a moving level's error does."""
    return _slow_rate_counts(n_series, horizon, seed, (0.5, 60.0), "county")


def sparse_counts(
    n_series: int = 200, horizon: int = CRIME_HORIZON, seed: int = 21
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts of the kind murders in a small county give (11 years of history plus
    ``horizon`` test years): ``stable_counts``' process at a rate of 0.05 to 1 a year, so
    most years are 0 and a year's figure is 0, 1 or now and then 2 or 3."""
    return _slow_rate_counts(n_series, horizon, seed, (0.05, 1.0), "sparse")


def bursty_incidents(
    n_series: int = 200, horizon: int = CRIME_HORIZON, seed: int = 11
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Incident counts of the kind conflict and terrorism give by country and year (history of
    12–22 years plus ``horizon`` test years): a quiet baseline of 0.5 to 30 a year that drifts
    as a random walk, escalations (8% of years) that multiply the rate by e to e³ at once and
    fade with a persistence of 0.5 to 0.9 a year, and negative-binomial counts around the rate
    (variance ``mu + mu²/r``, ``r`` of 2 to 10: more spread than Poisson). Many years are zero
    or near it, and a few hold most of a series' incidents."""
    rng = np.random.default_rng(seed)

    def draw() -> tuple[np.ndarray, Truth]:
        length = int(rng.integers(12, 23)) + horizon
        baseline = rng.uniform(np.log(0.5), np.log(30.0))
        persistence = rng.uniform(0.5, 0.9)
        dispersion = rng.uniform(2.0, 10.0)
        escalation, log_rate = 0.0, []
        for _ in range(length):
            baseline += rng.normal(0.0, 0.15)
            escalation *= persistence
            if rng.random() < 0.08:
                escalation += rng.uniform(1.0, 3.0)
            log_rate.append(baseline + escalation)
        rate = np.exp(np.array(log_rate))
        values = rng.negative_binomial(dispersion, dispersion / (dispersion + rate))
        return values.astype(float), (rate, dispersion)

    return _counts(n_series, horizon, "incidents", draw)
