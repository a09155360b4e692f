"""Per-series model selection by rolling-origin backtest, and the calibrated champion it yields."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.prepare import prepare_series
from models.base import Forecaster, validate_levels
from models.calibration import MAX_HORIZON, CalibratedForecast
from models.catalog import CATALOG, make_forecaster
from models.combination import Combination
from training.backtest import backtest, backtest_metrics, backtest_origins

#: Backtest forecasts run this many years ahead (the M3 yearly horizon).
BACKTEST_HORIZON = 6
#: At most this many of the latest origins are backtested (bounds the cost on long series).
MAX_ORIGINS = 10
#: Models are compared on at least this many origins when the series allows.
MIN_WINDOWS = 3
#: Candidates pooled into the best-k combination.
COMBINATION_SIZE = 3
#: Models compared when the caller names none: diverse, fast, and each with a reason to win
#: on some series (random walk, constant growth, Theta, damped trend, ridge, the combination).
DEFAULT_CANDIDATES = (
    "naive", "drift", "log_drift", "theta", "dotm", "log_theta", "damped", "ridge", "comb",
)  # fmt: skip
#: The champion unless another candidate's backtest MASE is below SWITCH_MARGIN times its own:
#: backtests over a few windows pick noisily, and on the M3 yearly series every per-series
#: switch away from the combination cost accuracy on average (benchmarks/RESULTS.md).
DEFAULT_CHAMPION = "comb"
SWITCH_MARGIN = 0.5
#: A single model that wins by the margin is pooled with the default, the mean of the two
#: (forecast pooling, Kourentzes, Barrow & Petropoulos 2019): a few backtest windows cannot
#: tell a real win from luck, and the mean keeps half of a real one while halving the damage
#: of a lucky one. Its name joins the two: ``log_drift+comb``.
POOL_JOIN = "+"


@dataclass
class CandidateResult:
    """One candidate model of a series: its parameters, backtest and backtest metrics."""

    name: str
    params: dict[str, Any]
    metrics: dict[str, float]
    backtest: pd.DataFrame
    error: str | None = None


@dataclass
class SeriesFit:
    """The outcome of fitting one series: the calibrated champion and every candidate tried."""

    series_id: str
    champion: CalibratedForecast
    selected: str
    reason: str
    candidates: list[CandidateResult]
    notes: list[str]
    history: pd.Series


@dataclass
class SeriesFailure:
    """A series that could not be fitted, with the reason."""

    series_id: str
    error: str


@dataclass
class _Plan:
    names: list[str]
    min_train: int
    notes: list[str] = field(default_factory=list)


def _plan(length: int, candidates: Sequence[str] | None) -> _Plan:
    """Which candidates to compare and from which training length, so that all are compared
    on the same origins and at least MIN_WINDOWS of them when the series allows."""
    names = list(candidates) if candidates is not None else list(DEFAULT_CANDIDATES)
    unknown = [name for name in names if name not in CATALOG]
    if unknown:
        raise KeyError(f"unknown models: {unknown}")
    min_lengths = {name: CATALOG[name].min_length for name in names}
    usable = sorted({m for m in min_lengths.values() if length - m >= MIN_WINDOWS})
    min_train = usable[-1] if usable else min(min_lengths.values())
    chosen = [name for name in names if min_lengths[name] <= min_train]
    skipped = [name for name in names if name not in chosen]
    notes = []
    if skipped:
        notes.append(
            f"series of {length} years too short to backtest {', '.join(skipped)}; "
            f"compared {', '.join(chosen)}"
        )
    return _Plan(chosen, min_train, notes)


def _evaluate(
    name: str,
    history: pd.Series,
    origins: list[int],
    levels: list[float],
    done: Sequence[CandidateResult] = (),
) -> CandidateResult:
    """Backtest one catalog model; an error is recorded on the result, never raised.

    A median combination whose members were all backtested already (``done``) on the same
    origins gets the median of their backtests: exactly what refitting it would give."""
    params: dict[str, Any] = {}
    try:
        model = make_forecaster(name)
        params = model.get_params()
        members = _finished_members(model, done)
        if members:
            frame = _combine_backtests(members)
        else:
            frame = backtest(
                history,
                name,
                horizon=BACKTEST_HORIZON,
                levels=_backtest_levels(levels),
                origins=origins,
            )
        if np.isnan(frame.iloc[:, 4:].to_numpy(dtype=float)).any():
            raise ValueError("the model produced missing forecasts")
        return CandidateResult(name, params, backtest_metrics(frame, history, levels), frame)
    except Exception as exc:
        return CandidateResult(
            name, params, {}, pd.DataFrame(), error=f"{type(exc).__name__}: {exc}"
        )


def _finished_members(model: Forecaster, done: Sequence[CandidateResult]) -> list[CandidateResult]:
    """The finished backtests of a median combination's members, if every member has one."""
    if not isinstance(model, Combination) or model.how != "median":
        return []
    by_name = {result.name: result for result in done if result.error is None}
    members = [by_name.get(member.name) for member in model.members]
    if any(member is None for member in members):
        return []
    found = [member for member in members if member is not None]
    if len({len(member.backtest) for member in found}) != 1:
        return []
    return found


def _backtest_levels(levels: Sequence[float]) -> list[float]:
    """The requested levels plus 95 (MSIS is always reported at 95)."""
    return sorted({*levels, 95.0})


def _combine_backtests(members: list[CandidateResult], how: str = "median") -> pd.DataFrame:
    """Backtest of the median (or mean) of several models: their forecasts row by row."""
    first = members[0].backtest
    combined = first.copy()
    value_columns = [column for column in first.columns if column not in BACKTEST_KEYS]
    stacked = np.stack([member.backtest[value_columns].to_numpy(dtype=float) for member in members])
    combined[value_columns] = _COMBINE[how](stacked, axis=0)
    return combined


_COMBINE: dict[str, Callable[..., Any]] = {"median": np.median, "mean": np.mean}


BACKTEST_KEYS = ("origin", "year", "step", "actual")


def _best_k(results: list[CandidateResult], k: int) -> list[CandidateResult]:
    ranked = [r for r in results if r.error is None and np.isfinite(r.metrics.get("mase", np.nan))]
    ranked.sort(key=lambda r: r.metrics["mase"])
    return ranked[:k]


def _point_path(name: str, history: pd.Series) -> np.ndarray:
    """Mean path of a catalog model fitted to the whole history, MAX_HORIZON years ahead."""
    mean, _ = make_forecaster(name).rolling_forecasts(history, [len(history)], MAX_HORIZON)
    return mean[0]


def fit_series(
    y: pd.Series,
    *,
    series_id: str,
    breaks: Sequence[int] = (),
    levels: Sequence[float] = (80, 95),
    candidates: Sequence[str] | None = None,
    seed: int = 0,
) -> SeriesFit:
    """Backtest the candidate models on ``y``, pick the champion by backtest MASE (a median of
    the best few counts as a candidate; the default combination stays unless beaten by the
    margin, and a single model that beats it is pooled with it) and calibrate its intervals
    from its backtest errors."""
    checked_levels = validate_levels(levels)
    np.random.seed(seed)  # every model is deterministic; this guards any that is not
    prepared = prepare_series(y, breaks)
    history = prepared.series
    notes = list(prepared.notes)
    plan = _plan(len(history), candidates)
    notes += plan.notes
    origins = backtest_origins(history, plan.min_train, MAX_ORIGINS)
    results: list[CandidateResult] = []
    for name in plan.names:
        results.append(_evaluate(name, history, origins, checked_levels, results))
    for result in results:
        if result.error is not None:
            notes.append(f"{result.name} failed and was skipped: {result.error}")
    best = _best_k(results, COMBINATION_SIZE)
    if len(best) == COMBINATION_SIZE:
        results.append(
            _combined(f"median_best{COMBINATION_SIZE}", best, "median", history, checked_levels)
        )
    return _choose(series_id, history, results, notes, len(origins), checked_levels)


def pooled_candidate(
    name: str, candidates: Sequence[CandidateResult], history: pd.Series, levels: Sequence[float]
) -> CandidateResult | None:
    """The pooled model ``a+b`` (the mean of two catalog models) rebuilt from its members'
    backtests among ``candidates``; None when ``name`` is not one or a member is missing."""
    members = name.split(POOL_JOIN)
    found = {c.name: c for c in candidates if c.error is None and c.name in CATALOG}
    if len(members) != 2 or not all(member in found for member in members):
        return None
    return _combined(name, [found[member] for member in members], "mean", history, levels)


def _combined(
    name: str,
    members: list[CandidateResult],
    how: str,
    history: pd.Series,
    levels: Sequence[float],
) -> CandidateResult:
    """A candidate that is the median or mean of catalog models already backtested."""
    frame = _combine_backtests(members, how)
    params = {"members": [member.name for member in members], "how": how}
    return CandidateResult(name, params, backtest_metrics(frame, history, levels), frame)


def _choose(
    series_id: str,
    history: pd.Series,
    results: list[CandidateResult],
    notes: list[str],
    windows: int,
    levels: Sequence[float],
) -> SeriesFit:
    """Pick the champion among the evaluated candidates and calibrate it."""
    scored = _best_k(results, len(results))
    ranking = scored or [r for r in results if r.error is None]
    reason_for = _reason_lowest
    default = next((r for r in scored if r.name == DEFAULT_CHAMPION), None)
    if default is not None and scored[0] is not default:
        challenger = scored[0]
        if challenger.metrics["mase"] >= SWITCH_MARGIN * default.metrics["mase"]:
            ranking = [default, *[r for r in ranking if r is not default]]
            reason_for = _reason_default_kept
        elif challenger.name in CATALOG:  # one model: pooled with the default
            name = f"{challenger.name}{POOL_JOIN}{default.name}"
            pooled = _combined(name, [challenger, default], "mean", history, levels)
            results.append(pooled)
            ranking = [pooled, *ranking]
            reason_for = _reason_pooled
        else:  # already a combination of the best few
            reason_for = _reason_switched
    if not ranking:
        raise ValueError(f"{series_id}: every candidate model failed")
    for chosen in ranking:
        try:
            path = _champion_path(chosen, history)
        except Exception as exc:
            notes.append(f"{chosen.name} could not be refitted on the full series: {exc}")
            continue
        break
    else:
        raise ValueError(f"{series_id}: no candidate could be fitted to the full series")
    if scored:
        reason = reason_for(chosen, scored, windows)
    else:
        reason = (
            f"{chosen.name} chosen by default: {len(history)} years allow no scored backtest, "
            "so intervals lean on a wide prior"
        )
        notes.append(reason)
    champion = CalibratedForecast.from_backtest(
        chosen.name, history, path, chosen.backtest, notes=notes
    )
    return SeriesFit(series_id, champion, chosen.name, reason, results, notes, history)


def _reason_lowest(chosen: CandidateResult, scored: list[CandidateResult], windows: int) -> str:
    return (
        f"lowest backtest MASE {chosen.metrics['mase']:.3g} among {len(scored)} candidates "
        f"over {windows} rolling origins"
    )


def _reason_default_kept(
    chosen: CandidateResult, scored: list[CandidateResult], windows: int
) -> str:
    best = scored[0]
    return (
        f"{chosen.name} kept (backtest MASE {chosen.metrics['mase']:.3g} over {windows} rolling "
        f"origins): no candidate beat it by the required margin (best {best.name} "
        f"{best.metrics['mase']:.3g}, needed below {SWITCH_MARGIN * chosen.metrics['mase']:.3g})"
    )


def _reason_switched(chosen: CandidateResult, scored: list[CandidateResult], windows: int) -> str:
    default = next(r for r in scored if r.name == DEFAULT_CHAMPION)
    return (
        f"lowest backtest MASE {chosen.metrics['mase']:.3g} among {len(scored)} candidates over "
        f"{windows} rolling origins, below {SWITCH_MARGIN:g} x {DEFAULT_CHAMPION}'s "
        f"{default.metrics['mase']:.3g}"
    )


def _reason_pooled(chosen: CandidateResult, scored: list[CandidateResult], windows: int) -> str:
    by_name = {result.name: result.metrics["mase"] for result in scored}
    challenger, default = chosen.params["members"]
    return (
        f"mean of {challenger} and {default}: {challenger} had the lowest backtest MASE "
        f"{by_name[challenger]:.3g} among {len(scored)} candidates over {windows} rolling "
        f"origins, below {SWITCH_MARGIN:g} x {default}'s {by_name[default]:.3g}, but so few "
        "origins cannot tell a real win from luck"
    )


def calibrated_forecast(candidate: CandidateResult, history: pd.Series) -> CalibratedForecast:
    """Any candidate fitted to the whole history and calibrated from its own backtest, the way
    the champion is (used for the candidates' fan charts)."""
    path = _champion_path(candidate, history)
    return CalibratedForecast.from_backtest(candidate.name, history, path, candidate.backtest)


def _champion_path(chosen: CandidateResult, history: pd.Series) -> np.ndarray:
    members = chosen.params.get("members") if chosen.name not in CATALOG else None
    if members:
        paths = np.stack([_point_path(name, history) for name in members])
        return np.asarray(_COMBINE[chosen.params.get("how", "median")](paths, axis=0))
    return _point_path(chosen.name, history)


def fit_one(
    series_id: str,
    y: pd.Series,
    breaks: Sequence[int],
    levels: Sequence[float],
    seed: int,
    candidates: Sequence[str] | None,
) -> SeriesFit | SeriesFailure:
    """``fit_series`` for one series of ``fit_many``: a failure is returned, never raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit_series(
                y,
                series_id=series_id,
                breaks=breaks,
                levels=levels,
                seed=seed,
                candidates=candidates,
            )
    except Exception as exc:
        return SeriesFailure(series_id, f"{type(exc).__name__}: {exc}")


def fit_many(
    items: Iterable[tuple[str, pd.Series, Sequence[int]]],
    *,
    levels: Sequence[float] = (80, 95),
    jobs: int = 1,
    progress: bool = False,
    seed: int = 0,
    candidates: Sequence[str] | None = None,
) -> Iterator[SeriesFit | SeriesFailure]:
    """Fit many series in parallel (joblib), yielding results in input order; a series that
    fails yields a ``SeriesFailure`` instead of stopping the others. ``candidates`` limits the
    models compared (all catalog models by default)."""
    from joblib import Parallel, delayed

    work = list(items)
    chosen = tuple(candidates) if candidates is not None else None
    tasks = (
        delayed(fit_one)(sid, y, breaks, tuple(levels), seed, chosen) for sid, y, breaks in work
    )
    outcomes = Parallel(n_jobs=jobs, return_as="generator")(tasks)
    if not progress:
        yield from outcomes
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("fitting series", total=len(work))
        for outcome in outcomes:
            bar.advance(task)
            yield outcome
