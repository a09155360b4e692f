"""Many series at once: the population's pooled evidence, then every series fitted with it
(joblib workers, or a Dask cluster through joblib's backend)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from features.prepare import prepare_series
from models.global_ar import PooledWindows, learning_from
from training.distributed import map_in_chunks
from training.evidence import (
    PopulationEvidence,
    SeriesScores,
    calibration_from_pits,
    is_short,
)
from training.failures import failure_reason
from training.selection import (
    SeriesEvaluation,
    SeriesFailure,
    SeriesFit,
    choice_pits,
    choose,
    evaluate_series,
    fit_series,
)


def fit_one(
    series_id: str,
    y: pd.Series,
    breaks: Sequence[int],
    levels: Sequence[float],
    seed: int,
    candidates: Sequence[str] | None,
    evidence: PopulationEvidence | None = None,
    evaluation: SeriesEvaluation | None = None,
) -> SeriesFit | SeriesFailure:
    """``fit_series`` for one series of ``fit_many``: a failure is returned, never raised
    (a bug only under ``FRAUDCAST_STRICT_ERRORS``: ``training.failures``). An ``evaluation``
    of the series made for the population's evidence (``population_evidence``) is chosen
    from instead of backtesting the series again. The global autoregression learns from the
    population's windows (``PopulationEvidence.windows``)."""
    try:
        with warnings.catch_warnings(), learning_from(evidence.windows if evidence else None):
            warnings.simplefilter("ignore")
            if evaluation is not None:
                return choose(evaluation, evidence or PopulationEvidence())
            return fit_series(
                y,
                series_id=series_id,
                breaks=breaks,
                levels=levels,
                seed=seed,
                candidates=candidates,
                evidence=evidence,
            )
    except Exception as error:
        return SeriesFailure(series_id, failure_reason(error, f"fitting {series_id}"))


#: At most this many series (a seeded sample) are backtested for the population's evidence: a
#: few hundred pin the pooled means down, and more would only repeat work.
EVIDENCE_SAMPLE = 300
#: A population of fewer series than SMALL_POPULATION (a store of a dozen fraud series) is
#: topped up with series of the bundled reference corpus, so its choice rests on more than a
#: handful of backtests; its own series still count as much each. One series is topped up with
#: REFERENCE_TOP_UP of them, and fewer the more series it has, none at SMALL_POPULATION: 29
#: series had been topped up with 100 and 30 with none, so one more series in a file could
#: change another's projection by half.
SMALL_POPULATION = 30
REFERENCE_TOP_UP = 100


def reference_top_up(series: int) -> int:
    """How many reference series top up a population of ``series`` (``SMALL_POPULATION``)."""
    return max(0, round(REFERENCE_TOP_UP * (SMALL_POPULATION - series) / (SMALL_POPULATION - 1)))


def _score_item(
    item: tuple[str, pd.Series, Sequence[int], bool],
    seed: int,
    candidates: Sequence[str] | None,
    levels: Sequence[float],
    windows: PooledWindows | None = None,
) -> tuple[SeriesScores | None, SeriesEvaluation | None]:
    """A series' scores for the evidence, and its evaluation too when the item says to keep
    it (for the caller to fit it) or it is long enough for a calibrated champion (for the
    pooled calibration of the population's choice). The global autoregression learns from
    ``windows`` (the population's)."""
    series_id, y, breaks, keep = item
    try:
        with warnings.catch_warnings(), learning_from(windows):
            warnings.simplefilter("ignore")
            evaluation = evaluate_series(
                y,
                series_id=series_id,
                breaks=breaks,
                levels=levels,
                candidates=candidates,
                seed=seed,
            )
            scores = evaluation.scores(with_pits=True)
            return scores, evaluation if keep or not is_short(scores.length) else None
    except Exception as error:  # a series that cannot be fitted adds no evidence
        failure_reason(error, f"backtesting {series_id} for the population's evidence")
        return None, None


def population_evidence(
    items: Iterable[tuple[str, pd.Series, Sequence[int]]],
    *,
    jobs: int = 1,
    seed: int = 0,
    candidates: Sequence[str] | None = None,
    sample: int = EVIDENCE_SAMPLE,
    levels: Sequence[float] = (80, 95),
    evaluations: dict[str, SeriesEvaluation] | None = None,
) -> PopulationEvidence:
    """The pooled backtest evidence of a population of series (at most ``sample`` of them,
    drawn with ``seed``), for ``fit_many``'s ``evidence``. ``evaluations``, when given, is
    filled with the backtests of the sampled series (at ``levels``), so that ``fit_one``
    chooses for them without backtesting them again. Every series, sampled or not, adds its
    windows to those the global autoregression learns from (``_windows``)."""
    work = list(items)
    windows = _windows(work, jobs)
    if len(work) > sample:
        picked = np.random.default_rng(seed).choice(len(work), size=sample, replace=False)
        work = [work[index] for index in sorted(picked)]
    # the population's own series are kept when asked; a reference top-up never is
    tasks = [(*item, evaluations is not None) for item in work]
    tasks += [(*item, False) for item in _reference_items(reference_top_up(len(work)), seed)]
    chosen = tuple(candidates) if candidates is not None else None
    score = functools.partial(
        _score_item, seed=seed, candidates=chosen, levels=tuple(levels), windows=windows
    )
    scores, longer = [], []
    results = map_in_chunks(score, tasks, jobs=jobs)
    for task, (found, evaluation) in zip(tasks, results, strict=True):
        if found is not None:
            scores.append(found)
        if evaluation is None:
            continue
        if task[-1] and evaluations is not None:
            evaluations[evaluation.series_id] = evaluation
        if not is_short(len(evaluation.history)):
            longer.append(evaluation)
    evidence = PopulationEvidence.pool(scores)
    # how the choice's calibrated intervals fared in the longer series' backtests (every
    # candidate's would cost as much as the backtests; the choice's alone is cheap), on the
    # workers, which have the calibration's imports loaded already
    of_choice = functools.partial(choice_pits, choice=evidence.choice)
    held_out = map_in_chunks(of_choice, longer, jobs=jobs)
    pits = [found for found in held_out if found is not None]
    return replace(evidence, calibration=calibration_from_pits(pits), windows=windows)


def _windows(
    items: Sequence[tuple[str, pd.Series, Sequence[int]]], jobs: int = 1
) -> PooledWindows | None:
    """The windows of the population's series prepared as for training (gaps filled, level
    shifts at their breaks adjusted; one that cannot be prepared adds none), which the global
    autoregression learns from; None for fewer than ``SMALL_POPULATION`` series, which leave
    it to the reference corpus as they are topped up from it. The series are prepared on the
    workers (a millisecond each, 10 s for 10,000 series in one process while every worker
    waited); only their sums are made here."""
    if len(items) < SMALL_POPULATION:  # too few however many could be prepared
        return None
    prepared = map_in_chunks(_prepared, items, jobs=jobs)
    histories = [history for history in prepared if history is not None]
    return PooledWindows(histories) if len(histories) >= SMALL_POPULATION else None


def _prepared(item: tuple[str, pd.Series, Sequence[int]]) -> pd.Series | None:
    """A population member's figures prepared as for training, None where they cannot be
    (the series' own training reports why)."""
    _, y, breaks = item
    try:
        return prepare_series(y, breaks, look_for_shifts=False).series
    except ValueError:
        return None


def _reference_items(count: int, seed: int) -> list[tuple[str, pd.Series, Sequence[int]]]:
    """A seeded sample of ``count`` series of the bundled reference corpus (none for 0 or
    less) as population members; a smaller count's sample is part of a larger one's."""
    if count <= 0:
        return []
    from data.reference import reference_series

    corpus = reference_series()
    picked = np.random.default_rng(seed).permutation(len(corpus))[:count]
    return [
        (f"reference:{index}", pd.Series(corpus[index], index=np.arange(len(corpus[index]))), ())
        for index in sorted(picked)
    ]


def _fit_item(
    item: tuple[str, pd.Series, Sequence[int]],
    levels: Sequence[float],
    seed: int,
    candidates: Sequence[str] | None,
    evidence: PopulationEvidence | None,
) -> SeriesFit | SeriesFailure:
    series_id, y, breaks = item
    return fit_one(series_id, y, breaks, levels, seed, candidates, evidence)


def fit_many(
    items: Iterable[tuple[str, pd.Series, Sequence[int]]],
    *,
    levels: Sequence[float] = (80, 95),
    jobs: int = 1,
    progress: bool = False,
    seed: int = 0,
    candidates: Sequence[str] | None = None,
    evidence: PopulationEvidence | None = None,
) -> Iterator[SeriesFit | SeriesFailure]:
    """Fit many series in parallel (joblib), yielding results in input order; a series that
    fails yields a ``SeriesFailure`` instead of stopping the others. ``candidates`` limits the
    models compared (all catalog models by default)."""
    work = list(items)
    chosen = tuple(candidates) if candidates is not None else None
    fit = functools.partial(
        _fit_item, levels=tuple(levels), seed=seed, candidates=chosen, evidence=evidence
    )
    outcomes = map_in_chunks(fit, work, jobs=jobs)
    if not progress:
        yield from outcomes
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("fitting series", total=len(work))
        for outcome in outcomes:
            bar.advance(task)
            yield outcome
