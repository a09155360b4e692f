"""The populations fraudcast is judged on beyond the yardsticks: short-history cuts of M3, M1
and Tourism (3, 4 and 5 years, forecast 5 ahead), synthetic crime-like series, small counts,
stable counts, sparse counts and bursty incident counts (the counts cut to 3, 5 and 7 years).

Each set is forecast by ``fraudcast forecast-file`` and, in the same run, by statsforecast's
Naive, RandomWalkWithDrift, AutoETS and AutoTheta (a model that cannot fit a series falls back
to naive), and the table gives fraudcast's ratios to the best of them. A cut of a yardstick is
forecast with that yardstick left out of the reference corpus short series borrow from
(``FRAUDCAST_REFERENCE_EXCLUDE``), so no series borrows from its own future.

The mixed population (``evaluate_mixed``) puts M1 and every synthetic set, cut to 3 years, in
one input and scores each part there against the same part forecast alone: the series of one
input are one population, whose pooled backtests choose and check for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmarks import devsets
from benchmarks.m3 import (
    MethodResult,
    exclude_from_reference,
    horizon_of,
    load_yearly,
    run_fraudcast,
    run_statsforecast,
    score,
)

CUT_LENGTHS = (3, 4, 5)
#: The count sets' cuts: 3 and 5 years, and 7, where a count's intervals are still borrowed
#: (up to 8 years) but its point path is its champion's own.
COUNT_CUT_LENGTHS = (3, 5, 7)
#: Resamplings of a population's series for the interval of a ratio (``ratio_interval``).
RESAMPLINGS = 2000
YARDSTICKS = ("m3", "m1", "tourism")
#: The synthetic sets (name, generator, the lengths they are cut to).
SYNTHETIC: tuple[
    tuple[str, Callable[[], tuple[pd.DataFrame, pd.DataFrame]], tuple[int, ...]], ...
] = (
    ("synthetic crime-like", devsets.synthetic_crime, CUT_LENGTHS),
    ("synthetic small counts", devsets.small_counts, COUNT_CUT_LENGTHS),
    ("synthetic stable counts", devsets.stable_counts, COUNT_CUT_LENGTHS),
    ("synthetic sparse counts", devsets.sparse_counts, COUNT_CUT_LENGTHS),
    ("synthetic bursty incidents", devsets.bursty_incidents, COUNT_CUT_LENGTHS),
)
#: The mixed population (``evaluate_mixed``): M1 (the economic series) and every synthetic
#: set, each cut to this many years, forecast in one ``forecast-file`` input, as a newly
#: compiled file holds several kinds of series at once (losses beside case counts beside
#: rates). The yardstick is M1 alone: the reference corpus is M1, M3 and Tourism, and each
#: yardstick in the mix would have to be left out of it.
MIXED_LENGTH = 3
MIXED_YARDSTICK = "m1"
#: Joins a part's name and a series' own id in the mixed input.
PART_SEPARATOR = "|"


@dataclass
class SetResult:
    """fraudcast and the best statsforecast method on one population."""

    name: str
    series: int
    horizon: int
    fraudcast: MethodResult
    best_mase: MethodResult
    best_msis: MethodResult
    #: coverage at 80 and 95 of the intervals of each figure's true distribution, for a
    #: generated count set (``devsets.true_coverage``); None for the others
    true_coverage: dict[float, float] | None = None


def ratio_interval(
    ours: MethodResult, theirs: MethodResult, measure: str, seed: int = 0
) -> tuple[float, float]:
    """The 95% interval of the ratio of two methods' mean ``measure`` (``mase`` or ``msis``)
    over a population, its series resampled with replacement ``RESAMPLINGS`` times, both
    methods on the same draw (a paired bootstrap, Efron & Tibshirani 1993): where it holds 1,
    the population cannot tell them apart. Series without the measure (no MASE scale) are left
    out, as the means leave them out."""
    if ours.per_series is None or theirs.per_series is None:
        raise ValueError("both methods need their per-series scores")
    paired = pd.concat(
        [ours.per_series[measure], theirs.per_series[measure]], axis=1, join="inner"
    ).dropna()
    values = paired.to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(RESAMPLINGS, len(values)))
    sums = values[draws].sum(axis=1)
    low, high = np.quantile(sums[:, 0] / sums[:, 1], [0.025, 0.975])
    return float(low), float(high)


def _populations() -> list[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """(name, reference source to leave out, train, test) of every population."""
    found = []
    for dataset in YARDSTICKS:
        train, test = load_yearly(dataset)
        label = {"m3": "M3", "m1": "M1", "tourism": "Tourism"}[dataset]
        found += _cuts(label, dataset, train, test, CUT_LENGTHS)
    for name, make, lengths in SYNTHETIC:
        train, test = make()
        found.append((name, "", train, test))
        found += _cuts(name, "", train, test, lengths)
    return found


def _cuts(
    name: str, excluded: str, train: pd.DataFrame, test: pd.DataFrame, lengths: tuple[int, ...]
) -> list[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """The set cut to each of ``lengths`` years (seeded by the length), as populations."""
    return [
        (
            f"{name} cut to {length} years",
            excluded,
            *devsets.short_cuts(train, test, length, seed=length),
        )
        for length in lengths
    ]


def evaluate(jobs: int) -> list[SetResult]:
    """Forecast every population with both tools and score them."""
    results = []
    for name, excluded, with_truth, test in _populations():
        train = with_truth[["unique_id", "ds", "y"]]
        horizon = horizon_of(test)
        print(f"{name}: {train['unique_id'].nunique()} series, horizon {horizon}", flush=True)
        forecasts, seconds = run_fraudcast(
            train, jobs, horizon, env=exclude_from_reference(excluded)
        )
        per_model, sf_seconds = run_statsforecast(train, jobs, False, horizon, cross_validate=False)
        others = [
            score(model, frame, train, test, sf_seconds) for model, frame in per_model.items()
        ]
        results.append(
            SetResult(
                name,
                train["unique_id"].nunique(),
                horizon,
                score("fraudcast", forecasts, train, test, seconds),
                min(others, key=lambda r: r.mase),
                min(others, key=lambda r: r.msis),
                devsets.true_coverage(test, (80, 95)),
            )
        )
    return results


def render(results: list[SetResult]) -> str:
    """The markdown section: one row per population."""
    lines = [
        "## Short-history cuts and crime-like series",
        "",
        "Every series of a yardstick cut to 3, 4 or 5 years ending at a random point (seeded) "
        "and forecast 5 years ahead against the years that followed, as for a newly compiled "
        "fraud type; and 300 synthetic crime-like series (`benchmarks/devsets.py`: "
        "growth that reverses, mean reversion, bursts that fade, Poisson counts down to tens a "
        "year), also cut to 3, 4 and 5 years; and 300 synthetic small counts (the same process "
        "at levels of 1 to 200 a year, every series a Poisson count, a fifth of them touching "
        "zero), also cut to 3, 5 and 7 years; and 200 synthetic stable counts (11 years of "
        "Poisson counts of 0.5 to 60 a year around a slowly moving rate: the shape of murders "
        "by county), also cut to 3, 5 and 7 years; and 200 synthetic sparse counts (the same "
        "process at 0.05 to 1 a year: murders in a small county, most years 0), also cut to 3, 5 "
        "and 7 years; and 200 synthetic bursty incident counts (a quiet "
        "baseline of 0.5 to 30 a year, escalations that multiply it by e to e cubed and fade, "
        "negative-binomial counts: the shape of conflict and terrorism incidents), also cut to "
        "3, 5 and 7 years. Ratios are fraudcast over the best statsforecast "
        "method on that measure "
        "(Naive, RWD, AutoETS, AutoTheta; below 1 is better). Series of 8 years or fewer "
        "borrow their intervals (those of 5 years or fewer their point path too) from the "
        "reference corpus with the cut's own yardstick left out (longer series average their "
        "own calibrated intervals with borrowed ones, quantile by quantile, their own at "
        "n / (n + 10) for n backtest origins; small counts and series with a figure or "
        "forecast at or below 0 keep their own), and their "
        "intervals are widened where the population's pooled backtests show figures falling "
        "outside them more often than claimed. For the sets where every series is a generated "
        "count, *true rate 80 / 95* is how often the intervals of the very distribution each "
        "figure was drawn from held it (`devsets.true_coverage`): a small count's figures are "
        "whole numbers, and an interval of them covers more than it claims where nothing lies "
        "between them (at 0.3 a year, the 80% interval of 0 and 1 holds 96%). That, not the "
        "nominal level, is the coverage to read those sets' figures against. In brackets, the "
        "95% interval of a ratio with the population's series resampled "
        f"{RESAMPLINGS:,} times, both methods on the same draws "
        "(`populations.ratio_interval`): where it holds 1, the set cannot tell fraudcast from "
        "the best method on that measure.",
        "",
        "| population | series | h | fraudcast MASE | best (method) | MASE ratio | MSIS ratio "
        "| coverage 80 | coverage 95 | true rate 80 / 95 | fraudcast time (s) |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        f = r.fraudcast
        truth = (
            f"{100 * r.true_coverage[80]:.1f}% / {100 * r.true_coverage[95]:.1f}%"
            if r.true_coverage
            else "—"
        )
        mase_low, mase_high = ratio_interval(f, r.best_mase, "mase")
        msis_low, msis_high = ratio_interval(f, r.best_msis, "msis")
        lines.append(
            f"| {r.name} | {r.series} | {r.horizon} | {f.mase:.3f} | {r.best_mase.mase:.3f} "
            f"({r.best_mase.name}) | {f.mase / r.best_mase.mase:.3f} "
            f"({mase_low:.2f}–{mase_high:.2f}) | {f.msis / r.best_msis.msis:.3f} "
            f"({msis_low:.2f}–{msis_high:.2f}) | {100 * f.coverage_80:.1f}% | "
            f"{100 * f.coverage_95:.1f}% | {truth} | {f.seconds:.1f} |"
        )
    return "\n".join([*lines, ""])


def section(jobs: int) -> str:
    """Evaluate and render."""
    return render(evaluate(jobs))


@dataclass
class MixedPart:
    """One kind of series of the mixed population, forecast alone and within the mix."""

    name: str
    series: int
    alone: MethodResult
    mixed: MethodResult
    #: the best statsforecast method by MASE on the part's series (each of its methods
    #: forecasts a series from that series alone, so the mix does not change it)
    best: MethodResult


def _mixed_parts(length: int) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(name, train, test) of every part of the mixed population, its ids tagged by part."""
    train, test = load_yearly(MIXED_YARDSTICK)
    parts = [("M1", *devsets.short_cuts(train, test, length, seed=length))]
    for name, make, _ in SYNTHETIC:
        parts.append((name, *devsets.short_cuts(*make(), length, seed=length)))
    return [(name, tagged(name, train), tagged(name, test)) for name, train, test in parts]


def tagged(part: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every id prefixed by its part's name, so parts cannot share an id."""
    return frame.assign(unique_id=part + PART_SEPARATOR + frame["unique_id"].astype(str))


def evaluate_mixed(jobs: int, length: int = MIXED_LENGTH) -> list[MixedPart]:
    """Every part of the mixed population forecast alone and then all of them in one input,
    with the same reference corpus (M1 left out) for both, each part scored on its own series.
    A row named ``all`` scores the whole population both ways."""
    environment = exclude_from_reference(MIXED_YARDSTICK)
    parts = _mixed_parts(length)
    horizon = devsets.SHORT_HORIZON
    inputs = [train[["unique_id", "ds", "y"]] for _, train, _ in parts]
    alone = []
    for (name, _, _), part in zip(parts, inputs, strict=True):
        print(f"mixed population, {name} alone: {part['unique_id'].nunique()} series", flush=True)
        alone.append(run_fraudcast(part, jobs, horizon, env=environment))
    together = pd.concat(inputs)
    print(f"mixed population: {together['unique_id'].nunique()} series together", flush=True)
    mixed, seconds = run_fraudcast(together, jobs, horizon, env=environment)
    exclude_from_reference("")
    others, sf_seconds = run_statsforecast(together, jobs, False, horizon, cross_validate=False)
    whole = [
        ("all", pd.concat([train for _, train, _ in parts]), pd.concat([t for _, _, t in parts]))
    ]
    each = pd.concat([forecasts for forecasts, _ in alone])
    total = sum(part_seconds for _, part_seconds in alone)
    results = []
    for (name, train, test), (forecasts, alone_seconds) in zip(
        [*parts, *whole], [*alone, (each, total)], strict=True
    ):
        # a part is scored on its own test years only, whatever else was forecast beside it
        best = min(
            (score(model, frame, train, test, sf_seconds) for model, frame in others.items()),
            key=lambda result: result.mase,
        )
        results.append(
            MixedPart(
                name,
                train["unique_id"].nunique(),
                score(name, forecasts, train, test, alone_seconds),
                score(name, mixed, train, test, seconds),
                best,
            )
        )
    return results


def render_mixed(results: list[MixedPart], length: int = MIXED_LENGTH) -> str:
    """The markdown section: each part alone against within the mix."""
    lines = [
        "## A mixed population",
        "",
        f"M1 and every synthetic set above, each cut to {length} years as above, forecast "
        f"{devsets.SHORT_HORIZON} years ahead once set by set and once all together in one "
        "`forecast-file` input, as a newly compiled file holds several kinds of series at once "
        "(`populations.evaluate_mixed`); M1 is left out of the reference corpus in both runs, so "
        "the only difference is the company a series keeps. Each part is scored on its own "
        "series. *Mix / alone* is the ratio of the part's MASE in the mix to its MASE alone, "
        f"with in brackets the 95% interval of that ratio over {RESAMPLINGS:,} resamplings of "
        "the part's series: above 1, the part lost by the company it kept. *Against the best* "
        "is fraudcast's MASE alone and in the mix over that of the best statsforecast method "
        "on the part (Naive, RWD, AutoETS, AutoTheta; each forecasts a series from its own "
        "years, so the mix does not move it).",
        "",
        "| part | series | MASE alone | MASE in the mix | mix / alone | against the best, "
        "alone / mix | MSIS alone | MSIS in the mix | coverage 80 alone / mix "
        "| coverage 95 alone / mix |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        low, high = ratio_interval(r.mixed, r.alone, "mase")
        lines.append(
            f"| {r.name} | {r.series} | {r.alone.mase:.3f} | {r.mixed.mase:.3f} | "
            f"{r.mixed.mase / r.alone.mase:.3f} ({low:.2f}–{high:.2f}) | "
            f"{r.alone.mase / r.best.mase:.3f} / {r.mixed.mase / r.best.mase:.3f} "
            f"({r.best.name}) | {r.alone.msis:.2f} | "
            f"{r.mixed.msis:.2f} | {100 * r.alone.coverage_80:.1f}% / "
            f"{100 * r.mixed.coverage_80:.1f}% | {100 * r.alone.coverage_95:.1f}% / "
            f"{100 * r.mixed.coverage_95:.1f}% |"
        )
    return "\n".join([*lines, ""])


def mixed_section(jobs: int) -> str:
    """Evaluate the mixed population and render it."""
    return render_mixed(evaluate_mixed(jobs))
