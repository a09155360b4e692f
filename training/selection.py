"""Per-series model selection by rolling-origin backtest, and the calibrated champion it yields."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data.reference import reference_series
from features.prepare import prepare_series
from models.analogs import (
    COUNT_YEARS,
    JEFFREYS_SHAPE,
    ReferenceClass,
    is_poisson_count,
    is_steady_count,
    rate_median,
)
from models.base import Forecaster, UnsuitableSeries, validate_levels
from models.calibration import (
    MAX_HORIZON,
    CalibratedForecast,
    blend_probabilities,
    count_median,
    from_quantile_paths,
    grid_probabilities,
    held_out_pits,
    vincentized,
)
from models.catalog import CATALOG, make_forecaster
from models.combination import Combination
from models.global_ar import GlobalAR, population_learned_from
from training.backtest import _origin_scales, backtest, backtest_metrics, backtest_origins
from training.evidence import (
    BENCHMARK,
    BORROWED_INTERVALS,
    SHORT_SERIES,
    Decision,
    PooledCalibration,
    PopulationEvidence,
    SeriesScores,
    borrows_intervals,
    error_matrix,
    is_short,
    own_interval_weight,
    pool_members,
)
from training.failures import is_expected

#: Backtest forecasts run this many years ahead (the M3 yearly horizon).
BACKTEST_HORIZON = 6
#: The model short series (``training.evidence.is_short``) borrow their intervals from.
BORROWED = "analogs"
#: At most this many of the latest origins are backtested (bounds the cost on long series).
MAX_ORIGINS = 10
#: Models are compared on at least this many origins when the series allows.
MIN_WINDOWS = 3
#: The same for short series (``is_short``): their population's pooled backtests choose for
#: them and no series departs on its own evidence, so two origins a series are enough.
MIN_WINDOWS_SHORT = 2
#: Models compared when the caller names none: diverse, fast, and each with a reason to win
#: on some series (random walk, constant growth, a level that moves slowly under noise: SES,
#: Theta, damped trend, ridge, the combination).
DEFAULT_CANDIDATES = (
    "naive", "drift", "log_drift", "ses", "theta", "dotm", "log_theta", "damped", "ridge",
    "global_ar", "comb",
)  # fmt: skip


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
    #: the population's evidence blended with the series' own, when it decided
    decision: Decision | None = None
    #: the interval levels it was calibrated at (``FRAUDCAST_LEVELS``), which its logged
    #: forecasts and charts show
    levels: tuple[float, ...] = (80.0, 95.0)


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


def _published_origins(history: pd.Series, min_train: int, unpublished: Sequence[int]) -> list[int]:
    """The backtest origins after at least ``min_train`` years (the latest MAX_ORIGINS), none
    of them a year filled in (``unpublished``): its value was drawn towards the figure after
    the gap, which the forecast from it would then be checked against."""
    missing = set(unpublished)
    return [o for o in backtest_origins(history, min_train, MAX_ORIGINS) if o not in missing]


def _plan(
    history: pd.Series, candidates: Sequence[str] | None, unpublished: Sequence[int] = ()
) -> _Plan:
    """Which candidates to compare and from which training length, so that all are compared
    on the same origins and at least MIN_WINDOWS of them when the series allows.

    The origins counted are those the backtests will use (``_published_origins``), none a
    filled year: China's telecom fraud cases, published for 6 of 10 years, had its backtests
    start after 6 years for the candidates that need them, two published origins were left,
    and its intervals rested on 3 errors."""
    names = list(candidates) if candidates is not None else list(DEFAULT_CANDIDATES)
    unknown = [name for name in names if name not in CATALOG]
    if unknown:
        raise KeyError(f"unknown models: {unknown}")
    min_lengths = {name: CATALOG[name].min_length for name in names}
    length = len(history)
    windows = MIN_WINDOWS_SHORT if is_short(length) else MIN_WINDOWS
    usable = sorted(
        {
            m
            for m in min_lengths.values()
            if len(_published_origins(history, m, unpublished)) >= windows
        }
    )
    min_train = usable[-1] if usable else min(min_lengths.values())
    chosen = [name for name in names if min_lengths[name] <= min_train]
    skipped = [name for name in names if name not in chosen]
    notes = []
    if skipped:
        published = f" ({length - len(unpublished)} published)" if unpublished else ""
        notes.append(
            f"series of {length} years{published} too short to backtest {', '.join(skipped)}; "
            f"compared {', '.join(chosen)}"
        )
    return _Plan(chosen, min_train, notes)


def _evaluate(
    name: str,
    history: pd.Series,
    origins: list[int],
    levels: list[float],
    done: Sequence[CandidateResult] = (),
    unpublished: Sequence[int] = (),
    counted: Sequence[int] = (),
) -> CandidateResult:
    """Backtest one catalog model; an expected failure (``training.failures``: e.g. a model
    that cannot use this series) is recorded on the result, a bug is raised.

    A median combination whose members were all backtested already (``done``) on the same
    origins gets the median of their backtests: exactly what refitting it would give.
    Forecasts of ``unpublished`` years (missing years filled by interpolation) are dropped: a
    value drawn between its neighbours is no evidence of how well a model forecasts. From the
    ``counted`` origins (``_counted_origins``) the point forecasts are those such a count is
    served (``_served_as_count``): the median of a Poisson count at the model's path."""
    params: dict[str, Any] = {}
    try:
        model = make_forecaster(name)
        params = model.get_params()
        # backtests from earlier origins could run where the forecast itself cannot
        reason = model.unsuitable(history.to_numpy(dtype=float))
        if reason:
            raise UnsuitableSeries(reason)
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
        if len(unpublished):
            frame = frame[~frame["year"].isin(unpublished)].reset_index(drop=True)
        if len(counted) and not members:  # a median of members' medians is their median
            frame = frame.copy()
            served = frame["origin"].isin(counted)
            frame.loc[served, "mean"] = count_median(frame.loc[served, "mean"].to_numpy())
        return CandidateResult(name, params, backtest_metrics(frame, history, levels), frame)
    except Exception as exc:
        if not is_expected(exc):
            raise
        return CandidateResult(
            name, params, {}, pd.DataFrame(), error=f"{type(exc).__name__}: {exc}"
        )


def _counted_origins(history: pd.Series, origins: Sequence[int]) -> list[int]:
    """The origins from which the series would have been served at its count's median
    (``_served_as_count``): its years up to the origin are more than a short series' (a short
    one is served at its chosen path, ``_borrowed``) and read as a Poisson count
    (``models.analogs.is_poisson_count``). A count of 0, 3, 1, 0, 2, 1 on a path of 1.2 is
    served at 1, and its backtests score the 1, not the path no such count is served."""
    values = history.to_numpy(dtype=float)
    first = int(history.index[0])
    known = [values[: int(origin) - first + 1] for origin in origins]
    return [
        int(origin)
        for origin, years in zip(origins, known, strict=True)
        if not is_short(len(years)) and is_poisson_count(years)
    ]


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
    """Mean path of a catalog model fitted to the whole history, MAX_HORIZON years ahead.
    A small count at a slowly moving rate (``models.analogs.is_steady_count``) whose intervals
    are borrowed (``borrows_intervals``: up to 8 years, borrowed around that rate) is forecast
    at its rate carried forward (``rate_median``), whichever model but the analogs (whose path
    is already a count's at that rate): its last figure is as much noise as level, and its
    handful of backtest origins cannot tell a model's movement from that noise."""
    values = history.to_numpy(dtype=float)
    if _carries_rate(name, values):
        return np.full(MAX_HORIZON, rate_median(values))
    mean, _ = make_forecaster(name).rolling_forecasts(history, [len(history)], MAX_HORIZON)
    return mean[0]


def _carries_rate(name: str, values: np.ndarray) -> bool:
    """Whether ``name``'s path for a series of ``values`` is its count's rate carried forward
    (``_point_path``): any model's but the analogs', which ``borrowed_forecast`` serves as
    their own count distribution's median."""
    return name != BORROWED and borrows_intervals(len(values)) and is_steady_count(values)


@dataclass
class SeriesEvaluation:
    """One series' rolling-origin backtests of every candidate, before any choice is made."""

    series_id: str
    history: pd.Series
    candidates: list[CandidateResult]
    notes: list[str]
    windows: int
    levels: list[float]

    def scores(self, with_pits: bool = False) -> SeriesScores:
        """The series' evidence for the population: each catalog candidate's signed scaled
        errors by origin and step (combinations picked on this very backtest are left out),
        and, ``with_pits``, how intervals borrowed at each origin fared (series that borrow
        theirs only, ``borrows_intervals``: ``borrowed_pits``; a longer series' are
        ``choice_pits``, once the population chose)."""
        frames = {
            result.name: result.backtest
            for result in self.candidates
            if result.error is None and result.name in CATALOG and not result.backtest.empty
        }
        if not frames:
            return SeriesScores(self.series_id, {}, len(self.history))
        origins = sorted({int(o) for frame in frames.values() for o in frame["origin"]})
        errors = {}
        for name, frame in frames.items():
            scale = _origin_scales(self.history, frame["origin"].to_numpy(dtype=np.int64))
            errors[name] = error_matrix(frame, scale, origins)
        borrows = borrows_intervals(len(self.history))
        pits = borrowed_pits(self.history, frames) if with_pits and borrows else {}
        return SeriesScores(self.series_id, errors, len(self.history), pits)


def choice_pits(evaluation: SeriesEvaluation, choice: str) -> np.ndarray | None:
    """How the intervals of ``choice`` (a model, or a mean combination of models), calibrated
    as a champion's are, fared at each of the series' backtest origins, each figure calibrated
    from the other origins' errors on other years: the steps ahead (first row) and PITs (second), as
    ``models.calibration.held_out_pits``. None when the series cannot take that choice."""
    usable = {r.name: r for r in evaluation.candidates if r.error is None and not r.backtest.empty}
    members = pool_members(choice) if choice else []
    if not members or not all(member in usable for member in members):
        return None
    # the combination's backtest as ``pooled_candidate`` builds it, without its metrics
    backtest = _combine_backtests([usable[member] for member in members], "mean")
    return held_out_pits(evaluation.history, backtest)


def evaluate_series(
    y: pd.Series,
    *,
    series_id: str,
    breaks: Sequence[int] = (),
    levels: Sequence[float] = (80, 95),
    candidates: Sequence[str] | None = None,
    seed: int = 0,
) -> SeriesEvaluation:
    """Prepare ``y`` and backtest every candidate on the same rolling origins."""
    checked_levels = validate_levels(levels)
    np.random.seed(seed)  # every model is deterministic; this guards any that is not
    prepared = prepare_series(y, breaks, series_id)
    history = prepared.series
    notes = list(prepared.notes)
    unpublished = prepared.filled_years
    plan = _plan(history, candidates, unpublished)
    if is_short(len(history)) and BORROWED not in plan.names and candidates is None:
        plan.names.append(BORROWED)  # short series: what comparable series did is a candidate
    notes += plan.notes
    origins = _published_origins(history, plan.min_train, unpublished)
    counted = _counted_origins(history, origins)
    results: list[CandidateResult] = []
    for name in plan.names:
        results.append(
            _evaluate(name, history, origins, checked_levels, results, unpublished, counted)
        )
    checked_filled = [year for year in unpublished if origins and year > origins[0]]
    if checked_filled:  # an origin checked only against filled years adds no evidence
        kept = {int(o) for r in results if not r.backtest.empty for o in r.backtest["origin"]}
        origins = [origin for origin in origins if origin in kept] if kept else origins
        notes.append(
            f"backtests are checked against published figures only, not against the filled "
            f"year{'s' if len(checked_filled) != 1 else ''} {', '.join(map(str, checked_filled))}"
            ", and never forecast from one"
        )
    for result in results:
        if result.error is not None:
            notes.append(f"{result.name} failed and was skipped: {result.error}")
    return SeriesEvaluation(series_id, history, results, notes, len(origins), checked_levels)


def fit_series(
    y: pd.Series,
    *,
    series_id: str,
    breaks: Sequence[int] = (),
    levels: Sequence[float] = (80, 95),
    candidates: Sequence[str] | None = None,
    seed: int = 0,
    evidence: PopulationEvidence | None = None,
) -> SeriesFit:
    """Backtest the candidate models on ``y``, choose the champion from the population's pooled
    evidence blended with the series' own (``training.evidence``) and calibrate its intervals
    from its backtest errors."""
    evaluation = evaluate_series(
        y, series_id=series_id, breaks=breaks, levels=levels, candidates=candidates, seed=seed
    )
    return choose(evaluation, evidence if evidence is not None else PopulationEvidence())


def pooled_candidate(
    name: str, candidates: Sequence[CandidateResult], history: pd.Series, levels: Sequence[float]
) -> CandidateResult | None:
    """The mean combination ``a+b+...`` of catalog models rebuilt from its members' backtests
    among ``candidates``; None when ``name`` is not one or a member is missing."""
    members = pool_members(name)
    found = {c.name: c for c in candidates if c.error is None and c.name in CATALOG}
    if len(members) < 2 or not all(member in found for member in members):
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


def choose(evaluation: SeriesEvaluation, evidence: PopulationEvidence) -> SeriesFit:
    """Pick the champion among the evaluated candidates and calibrate it.

    The population's evidence decides, blended with the series' own by credibility; without
    population evidence for any candidate, the lowest backtest MASE does."""
    series_id, history, results = evaluation.series_id, evaluation.history, evaluation.candidates
    notes, windows = evaluation.notes, evaluation.windows
    scored = _best_k(results, len(results))
    usable = [r for r in results if r.error is None]
    if is_short(len(history)):
        return _borrowed(evaluation, evidence)
    if not usable:
        raise ValueError(f"{series_id}: every candidate model failed")
    decision = evidence.decide(evaluation.scores(), _options(usable, evidence))
    if decision is not None:
        first = _option(decision.chosen, usable, history, evaluation.levels)
        if first not in usable:
            results.append(first)
        ranking = [first, *sorted((r for r in usable if r is not first), key=_blended(decision))]
    else:
        ranking = scored or usable
    passed_over = ""
    for chosen in ranking:
        try:
            path = _champion_path(chosen, history)
        except Exception as exc:
            if not is_expected(exc):
                raise
            notes.append(f"{chosen.name} could not be refitted on the full series: {exc}")
            continue
        reached = _reaches_zero(path, history)
        if reached is not None and chosen is not ranking[-1]:
            passed_over = passed_over or (
                f"{chosen.name}, the first choice, was passed over: its path reaches 0 by "
                f"{reached} for a series that has never been 0 (a straight line run past "
                "its floor, not a forecast)"
            )
            continue
        break
    else:
        raise ValueError(f"{series_id}: no candidate could be fitted to the full series")
    if passed_over:
        notes.append(passed_over)
    if decision is not None and chosen.name == decision.chosen:
        reason = _reason_pooled_evidence(chosen, decision, evidence, windows)
        # the card's table shows each candidate's own backtest MASE: where one beat the
        # champion there by half, the reason says why it was not taken (China telecom's card
        # had read "0.81 x naive's" above a table where naive's MASE was half the champion's)
        reason += _own_evidence(
            chosen, usable, "not enough to outweigh the pooled evidence at that weight"
        )
    elif decision is not None and passed_over:
        reason = f"{chosen.name}, next by the pooled evidence: {passed_over}"
    elif scored:
        reason = _reason_lowest(chosen, scored, windows)
    else:
        reason = (
            f"{chosen.name} chosen by default: {len(history)} years allow no scored backtest, "
            "so intervals lean on a wide prior"
        )
        notes.append(reason)
    champion, intervals = _with_intervals(chosen, history, path, notes)
    reason += intervals
    reason += _widened(champion, evidence, len(history))
    carried = _rate_carried(chosen.name, history, champion)
    reason += f"; its point path {carried}" if carried else _served_as_count(champion, history)
    return SeriesFit(
        series_id,
        _keeping_what_it_learned(champion),
        chosen.name,
        reason,
        results,
        notes,
        history,
        decision,
        tuple(evaluation.levels),
    )


def _with_intervals(
    candidate: CandidateResult, history: pd.Series, path: np.ndarray, notes: Sequence[str] = ()
) -> tuple[CalibratedForecast, str]:
    """``candidate``'s forecast at ``path`` (its path over the whole history) for a series
    longer than a short one, and the clause that says where its intervals come from: borrowed
    around the path for a series of 6-8 years (``borrows_intervals``: too few origins of its
    own to calibrate on), else its own calibration averaged with borrowed ones
    (``blended_forecast``)."""
    if borrows_intervals(len(history)):
        forecast, borrowed = borrowed_forecast(history, notes, candidate, path)
        return forecast, f"; {borrowed}"
    own = CalibratedForecast.from_backtest(
        candidate.name, history, path, candidate.backtest, notes=notes
    )
    return blended_forecast(own, history, candidate)


def _widened(champion: CalibratedForecast, evidence: PopulationEvidence, length: int) -> str:
    """Recalibrate the champion of a series of ``length`` years as the pooled backtests of
    its stratum's series call for (``PopulationEvidence.calibration_for``), when they show
    figures falling outside such intervals more often than claimed; the clause that says so
    in its reason (empty when nothing is widened)."""
    pooled = evidence.calibration_for(length)
    if pooled is None or not pooled.widens:
        return ""
    champion.recalibration = pooled.recalibration
    kind = "short " if is_short(length) else ""
    series = evidence.stratum(length).series
    # a longer series that borrows its intervals is checked against those that do
    if borrows_intervals(length) and not is_short(length):
        series, kind = pooled.series, f"{SHORT_SERIES + 1}-{BORROWED_INTERVALS}-year "
    return (
        f", widened because in the pooled backtests of {series} "
        f"{kind}series {pooled.inside_80:.1%} of {pooled.figures:,} figures a year ahead fell "
        f"inside such 80% intervals and {pooled.inside_95:.1%} inside 95% ones{_short(pooled)}"
    )


def _rate_carried(name: str, history: pd.Series, champion: CalibratedForecast) -> str:
    """Where ``name``'s path for this series is its count's rate (``_point_path``: a small
    count at a slowly moving rate whose intervals are borrowed), the clause that says so; else
    empty. Only where the champion's path is that rate: a mean combination with the analogs
    among its members serves their path beside it."""
    values = history.to_numpy(dtype=float)
    if not _carries_rate(name, values) or np.any(champion.point_path != rate_median(values)):
        return ""
    rate = f"{champion.point_path[0]:.0f} a year, the median of a Poisson count at it"
    if name == BENCHMARK:
        return (
            f"is no change (naive), for a count its rate carried forward ({rate}) rather than "
            f"its last figure ({history.iloc[-1]:.0f}), which is as much noise as level"
        )
    return (
        f"is its count's rate carried forward ({rate}) rather than {name}'s path: its latest "
        f"{min(len(values), COUNT_YEARS)} years move no one way beyond a count's noise, and "
        f"{len(values)} years of backtests cannot tell a model's movement from that noise"
    )


def _served_as_count(champion: CalibratedForecast, history: pd.Series) -> str:
    """Serve the champion of a small count (``models.analogs.is_poisson_count``) at the median
    of a Poisson count at its path (``CalibratedForecast.count_point``); the clause that says
    so in its reason (empty for any other series). Its intervals stay as calibrated."""
    if not is_poisson_count(history.to_numpy(dtype=float)):
        return ""
    champion.count_point = True
    path = float(champion.point_path[0])
    return (
        f"; served as a count, each year at the median of a Poisson count at the path "
        f"({count_median(np.array([path]))[0]:.0f} next year where the path is {path:.3g}): "
        "a point judged by its absolute error is best at the median"
    )


def _short(pooled: PooledCalibration) -> str:
    """Which claimed levels the pooled coverage fell short of, or, when neither, that the
    tails alone were too thin."""
    short = [
        f"{level}%"
        for level, inside in ((80, pooled.inside_80), (95, pooled.inside_95))
        if inside < level / 100
    ]
    if not short:
        return ", their tails further out than such intervals allow"
    return f", short of the {' and '.join(short)} claimed"


#: A short series' own backtests are mentioned when another path's MASE there was below this
#: share of the chosen one's: too few forecasts to choose by, worth a planner's knowing.
OWN_EVIDENCE_SHARE = 0.5


def _own_evidence(
    chosen: CandidateResult,
    usable: Sequence[CandidateResult],
    why_not: str = "too few to choose a path by",
) -> str:
    """What a series' own backtest forecasts said, where they favoured another model markedly
    and ``why_not`` it was not taken ("120, 480, 1,900" got naive's flat path; log_drift's
    backtest MASE was 0.11 against naive's 10.0, and nothing on the card said so)."""
    own = chosen.metrics.get("mase", np.nan)
    others = [r for r in usable if r.name not in (chosen.name, BORROWED)]
    scored = [r for r in others if np.isfinite(r.metrics.get("mase", np.nan))]
    if not scored or not np.isfinite(own):
        return ""
    best = min(scored, key=lambda r: r.metrics["mase"])
    if best.metrics["mase"] >= OWN_EVIDENCE_SHARE * own:
        return ""
    forecasts = len(best.backtest)
    return (
        f"; its own {forecasts} backtest forecast{'s' if forecasts != 1 else ''} favoured "
        f"{best.name} (MASE {best.metrics['mase']:.2f} against {own:.2f}), {why_not}"
    )


def _borrowed(evaluation: SeriesEvaluation, evidence: PopulationEvidence) -> SeriesFit:
    """The champion of a series too short to backtest: intervals borrowed from what the most
    similar reference series did next (``models.analogs``), around the point path the
    population of short series chose (the last value unless another clearly did better)."""
    history, notes = evaluation.history, list(evaluation.notes)
    candidates = [r for r in evaluation.candidates if r.error is None or r.name == BORROWED]
    if not any(r.name == BORROWED for r in candidates):
        candidates.append(CandidateResult(BORROWED, {}, {}, pd.DataFrame()))
    usable = [r for r in candidates if r.error is None and not r.backtest.empty]
    stratum = evidence.stratum(len(history))
    decision = stratum.decide(evaluation.scores(), _options(usable, stratum))
    if decision is not None:
        chosen = _option(decision.chosen, usable, history, evaluation.levels)
        if chosen not in usable:
            candidates.append(chosen)
    else:
        chosen = next((r for r in candidates if r.name == "naive"), None) or next(
            r for r in candidates if r.name == BORROWED
        )
    champion, reason = borrowed_forecast(history, notes, chosen)
    kind = "short " if stratum is evidence.short else ""
    reason += _widened(champion, evidence, len(history))
    carried = _rate_carried(chosen.name, history, champion)
    no_change = carried or "carries the last figure forward (naive)"
    if decision is not None and chosen.name == BENCHMARK:
        model = stratum.models[chosen.name]
        reason += (
            f"; its point path {no_change}: no other path clearly beat that in the pooled "
            f"backtests of {model.series} {kind}series"
        )
    elif decision is not None:
        model = stratum.models[chosen.name]
        choice = (
            f"the choice of the pooled backtests of {model.series} {kind}series "
            f"({np.exp(model.mean):.2f} x naive's error there)"
        )
        reason += (
            f"; {chosen.name} is {choice}, and its point path {carried}"
            if carried
            else f"; its point path comes from {chosen.name}, {choice}"
        )
    elif carried:
        reason += f"; its point path {no_change}"
    else:
        reason += f"; its point path comes from {chosen.name}"
    reason += _own_evidence(chosen, usable)
    return SeriesFit(
        evaluation.series_id,
        _keeping_what_it_learned(champion),
        chosen.name,
        reason,
        candidates,
        champion.notes,
        history,
        decision,
        tuple(evaluation.levels),
    )


def borrowed_forecast(
    history: pd.Series,
    notes: Sequence[str] = (),
    centre: CandidateResult | None = None,
    path: np.ndarray | None = None,
) -> tuple[CalibratedForecast, str]:
    """The borrowed forecast of a short series and the sentence saying where it comes from:
    the analogs' quantiles, moved to ``centre``'s point path when given (another model's).
    A small count's quantiles stay where they are, the distribution of the count itself
    (``models.analogs``), and ``centre``'s path is only its point path: moved to a last figure
    of 1, the interval of 0, 0, 1 would have left out the 0 that it gives two chances in three.
    Naive's path, no change, is the count's rate carried forward (``_point_path``). ``path``
    is ``centre``'s, where the caller has it already (fitted again otherwise)."""
    fitted = _reference_class(history)
    name, target = BORROWED, None
    if centre is not None and centre.name != BORROWED:
        name = centre.name
        target = path if path is not None else _champion_path(centre, history)
    paths, point_path = _centred(fitted, target)
    length = len(history)
    reason = (
        f"{'1 year is' if length == 1 else f'{length} years are'} too few to calibrate "
        f"intervals on the series' own backtests: intervals borrowed from "
        f"{_precedents(fitted, length)}"
    )
    if fitted.counts_:
        shape, years = fitted.rate_
        reason += (
            f", applied to a Poisson count at the rate of "
            f"{'its one year' if years == 1 else f'its last {years:.0f} years'} "
            f"({(shape - JEFFREYS_SHAPE) / years:.3g} a year)"
        )
    champion = from_quantile_paths(
        name, history, paths, notes=[*notes, reason], point_path=point_path
    )
    return champion, reason


def _reference_class(history: pd.Series) -> ReferenceClass:
    """The reference-class forecaster (``models.analogs``) fitted to ``history``."""
    fitted = make_forecaster(BORROWED).fit(history)
    assert isinstance(fitted, ReferenceClass)
    return fitted


def _centred(
    fitted: ReferenceClass, target: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The analogs' quantile paths (steps x grid probabilities), moved so that their median is
    ``target`` when given (another model's path), and the point path to serve beside them
    (None: their median). A small count's stay where they are, and ``target`` is only its
    point path (``borrowed_forecast``)."""
    paths = fitted.quantile_paths(MAX_HORIZON, grid_probabilities())
    if target is None:
        return paths, None
    if fitted.counts_:
        return paths, target
    return _moved(paths, grid_probabilities(), target), None


def _moved(paths: np.ndarray, probabilities: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Quantile paths (steps x ``probabilities``) moved so that their median is ``target``:
    in proportion where all are positive, else by the difference."""
    median = paths[:, np.searchsorted(probabilities, 0.5)]
    if np.all(paths > 0) and np.all(median > 0) and np.all(target > 0):
        return np.asarray(paths * (target / median)[:, None])
    return np.asarray(paths + (target - median)[:, None])


#: The analogs' quantiles at ``blend_probabilities`` of the histories last blended, by their
#: figures and reference corpus: a retrain blends every candidate of a series around its own
#: path (``calibrated_forecast``: their forecasts and fan charts) from one fit.
_BLEND_ANALOGS: dict[tuple[bytes, int], tuple[np.ndarray, str]] = {}
#: At most this many histories are kept (then the cache starts again).
_BLEND_ANALOGS_KEPT = 64


def _blend_analogs(history: pd.Series) -> tuple[np.ndarray, str]:
    """The analogs' quantile paths (steps x ``blend_probabilities``) for ``history`` and where
    they come from (``_precedents``), from ``_BLEND_ANALOGS`` where it holds them."""
    key = (history.to_numpy(dtype=float).tobytes(), id(reference_series()))
    found = _BLEND_ANALOGS.get(key)
    if found is None:
        if len(_BLEND_ANALOGS) >= _BLEND_ANALOGS_KEPT:
            _BLEND_ANALOGS.clear()
        fitted = _reference_class(history)
        paths = fitted.quantile_paths(MAX_HORIZON, blend_probabilities())
        paths.setflags(write=False)
        found = _BLEND_ANALOGS[key] = (paths, _precedents(fitted, len(history)))
    return found


def _precedents(fitted: ReferenceClass, length: int) -> str:
    """Where a borrowed forecast comes from, for a reason: "what the 1,000 most similar
    stretches of 1,344 reference yearly series (similar recent growth and volatility) did
    next". One figure shows no growth to match, and two no volatility
    (``ReferenceClass._fit``)."""
    stretches = f"{len(fitted.precedents_):,}"
    if length == 1:
        precedents = f"every one of the {stretches} stretches of"
        matched = "one figure shows no growth to match"
    else:
        precedents = f"the {stretches} most similar stretches of"
        matched = "similar recent growth" + (" and volatility" if length > 2 else "")
    return (
        f"what {precedents} {fitted.reference_size_:,} reference yearly series ({matched}) did next"
    )


def blended_forecast(
    own: CalibratedForecast, history: pd.Series, centre: CandidateResult
) -> tuple[CalibratedForecast, str]:
    """The champion of a series long enough to calibrate its own intervals (``own``, from
    ``centre``'s backtest errors): their quantiles averaged with those borrowed around the same
    path (``borrowed_forecast``), its own at the credibility of its backtest origins
    (``own_interval_weight``); and the clause that says so in its reason.

    A few to ten origins make a noisy estimate of a spread, and where the comparable series
    moved like it the borrowed one is steadier. Side by side (own alone, then the average),
    MSIS as a ratio to the best statsforecast method's: M3 0.875 -> 0.848, M1 0.561 -> 0.526,
    Tourism 0.824 -> 0.706, the crime-like set 0.863 -> 0.805, and cut to 10 years M1
    0.915 -> 0.804. A small count keeps its own: its calibration is a count's, on the
    square-root scale with its Poisson noise, which the corpus' large aggregates do not have,
    and averaged, the small counts of every count set scored worse (stable counts
    0.799 -> 0.949). So does a series whose errors are additive (a figure, or a forecast of
    it, at or below 0; its analogs' changes relative to a mean level): averaged, a series of
    thousands with three years at 0 had its 95% upper bound six years out at 33,000, 10,000
    on its own, and M3's and M1's few did no better (MSIS 24.35 and 31.97 averaged, 24.34 and
    31.93 on their own)."""
    if own.error_scale != "log":  # a small count's is "sqrt" (``error_scale_of``)
        return own, ""
    origins = int(centre.backtest["origin"].nunique()) if not centre.backtest.empty else 0
    weight = own_interval_weight(origins)
    analogs, precedents = _blend_analogs(history)
    blend = vincentized(own, _moved(analogs, blend_probabilities(), own.point_path), weight)
    clause = (
        f"; intervals averaged, quantile by quantile, from its own backtests' ({weight:.0%} of "
        f"the weight, for {origins} origin{'s' if origins != 1 else ''}) and those borrowed "
        f"from {precedents}"
    )
    blend.notes.append(clause.removeprefix("; "))
    return blend, clause


def borrowed_pits(history: pd.Series, frames: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Per candidate, how intervals borrowed from the years up to each backtest origin and
    centred on the candidate's forecast there fared: the steps ahead (first row) and the PITs
    of the figures that followed (second row), for ``recalibration_from`` to pool. A small
    count's borrowed intervals do not move with the path (``borrowed_forecast``)."""
    found: dict[str, list[np.ndarray]] = {name: [] for name in frames}
    origins = sorted({int(o) for frame in frames.values() for o in frame["origin"]})
    for origin in origins:
        known = history[history.index <= origin]
        borrowed, _ = borrowed_forecast(known)
        moves = not is_steady_count(known.to_numpy(dtype=float))
        for name, frame in frames.items():
            rows = frame[frame["origin"] == origin].sort_values("step")
            if rows.empty:
                continue
            steps = rows["step"].to_numpy(dtype=np.int64)
            centred = borrowed
            if moves:
                path = borrowed.point_path.copy()
                path[steps - 1] = rows["mean"].to_numpy(dtype=float)
                centred = borrowed.recentred(origin, path)
            pits = centred.cdf(rows["actual"].to_numpy(dtype=float), steps)
            found[name].append(np.vstack([steps.astype(float), pits]))
    return {name: np.hstack(parts) for name, parts in found.items() if parts}


def _options(usable: Sequence[CandidateResult], evidence: PopulationEvidence) -> list[str]:
    """The candidates a series can take: its usable models and the population's mean
    combinations of them."""
    names = [result.name for result in usable]
    combinations = [
        name
        for name in evidence.models
        if name not in CATALOG and all(member in names for member in pool_members(name))
    ]
    return [*names, *combinations]


def _option(
    name: str, usable: Sequence[CandidateResult], history: pd.Series, levels: Sequence[float]
) -> CandidateResult:
    """The candidate named ``name``: a usable model, or a mean combination built from them."""
    found = next((result for result in usable if result.name == name), None)
    if found is not None:
        return found
    pooled = pooled_candidate(name, usable, history, levels)
    if pooled is None:
        raise ValueError(f"{name} cannot be built from the candidates")
    return pooled


def _blended(decision: Decision) -> Callable[[CandidateResult], float]:
    return lambda result: decision.blended.get(result.name, np.inf)


def _reason_lowest(chosen: CandidateResult, scored: list[CandidateResult], windows: int) -> str:
    return (
        f"lowest backtest MASE {chosen.metrics['mase']:.3g} among {len(scored)} candidates "
        f"over {windows} rolling origins"
    )


def _reason_pooled_evidence(
    chosen: CandidateResult, decision: Decision, evidence: PopulationEvidence, windows: int
) -> str:
    model = evidence.models[chosen.name]
    weight = decision.weights[chosen.name]
    relative = np.exp(decision.blended[chosen.name])
    # the card's table lists the candidates; the population's mean combinations of them are
    # options too (counted apart, or "14 candidates" sat above a table of 11)
    combined = sum(name not in CATALOG for name in decision.blended)
    options = f"{len(decision.blended) - combined} candidates" + (
        f" and {combined} mean combination{'s' if combined > 1 else ''} of them" if combined else ""
    )
    population = decision.population
    best = evidence.ranking()[0]
    if chosen.name == population and best.name != population:
        # the population's choice is scored as its best (``PopulationEvidence._decide_from``).
        # Not "lowest expected error": a card read "lowest expected error ..., 0.75 x naive's"
        # of comb, then comb "0.77 x" and "ridge at 0.75 x" in the same sentence
        reason = (
            f"the population's default among {options}: in the pooled backtests of "
            f"{model.series} series its errors were {np.exp(model.mean):.2f} x naive's; "
            f"{best.name}'s were the lowest there, {np.exp(best.mean):.2f} x, but not clearly "
            f"lower, so the population kept {chosen.name}, and no single series leaves it on "
            "its own backtests (leaving it did not pay in the population's test in time): "
            f"this series' own {windows} rolling origins get {weight:.0%} of the weight"
        )
    else:
        reason = (
            f"lowest expected error among {options}, {relative:.2f} x naive's: the pooled "
            f"backtests of {model.series} series ({np.exp(model.mean):.2f} x naive's there) "
            f"blended with this series' own {windows} rolling origins, which get {weight:.0%} of "
            "the weight"
        )
    if population in decision.blended and population != chosen.name:  # a departure: say so
        reason += (
            f"; that weight took it from the population's choice, {population} "
            f"({np.exp(decision.blended[population]):.2f} x naive's)"
        )
    return reason


def calibrated_forecast(candidate: CandidateResult, history: pd.Series) -> CalibratedForecast:
    """Any candidate fitted to the whole history and calibrated from its own backtest, the way
    the champion is (used for the candidates' fan charts, and for the champion's own model
    refitted on new figures): averaged with borrowed intervals as ``blended_forecast`` does,
    a small count served at its count's median as a champion is."""
    if is_short(len(history)):  # every forecast of a short series borrows intervals
        return _keeping_what_it_learned(borrowed_forecast(history, centre=candidate)[0])
    forecast, _ = _with_intervals(candidate, history, _champion_path(candidate, history))
    _served_as_count(forecast, history)
    return _keeping_what_it_learned(forecast)


def _keeping_what_it_learned(forecast: CalibratedForecast) -> CalibratedForecast:
    """``forecast``, keeping the windows its global autoregression learned from when its
    model is or pools that model (``models.global_ar.learning_from``: the population's, or
    None for the reference corpus'), for its what-if refits to learn from them too
    (``training.scenario.refit_champion``)."""
    if GlobalAR.name in pool_members(forecast.model_name):
        forecast.learned_from = population_learned_from()
    return forecast


def model_path(name: str, history: pd.Series) -> np.ndarray:
    """The point path, MAX_HORIZON years ahead, of the model a champion names fitted to
    ``history``: a catalog model or a mean combination ``a+b+...`` of them (else ValueError)."""
    if name in CATALOG:
        return _point_path(name, history)
    members = pool_members(name)
    if len(members) < 2 or not all(member in CATALOG for member in members):
        raise ValueError(f"{name!r} is neither a catalog model nor a mean combination of them")
    return _combined_path(members, "mean", history)


def _reaches_zero(path: np.ndarray, history: pd.Series) -> int | None:
    """The first year ``path`` is at or below 0, for a history that never was (None when it
    stays above 0, or the history has been 0). Such a path is a straight line run past the
    series' floor: a declining count of 1,000 ... 30, 15, 6 was projected at 0 for every year
    by the population's linear choice, where its own backtests favoured constant decline."""
    values = history.to_numpy(dtype=float)
    if values.size == 0 or not np.all(values > 0):
        return None
    at = np.flatnonzero(np.asarray(path, dtype=float) <= 0)
    return None if at.size == 0 else int(history.index[-1]) + int(at[0]) + 1


def _champion_path(chosen: CandidateResult, history: pd.Series) -> np.ndarray:
    members = chosen.params.get("members") if chosen.name not in CATALOG else None
    if members:
        return _combined_path(members, chosen.params.get("how", "median"), history)
    return _point_path(chosen.name, history)


def _combined_path(members: Sequence[str], how: str, history: pd.Series) -> np.ndarray:
    paths = np.stack([_point_path(name, history) for name in members])
    return np.asarray(_COMBINE[how](paths, axis=0))
