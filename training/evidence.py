"""Population evidence: which model wins, learned from the pooled backtests of many series.

No series is forecast alone. The series forecast together (one ``forecast-file`` input, the
store's series) are a population; a few rolling origins of one short yearly series cannot tell
a real win from luck, but the same comparison pooled over hundreds of series can.

* **Relative errors.** A candidate's mean absolute scaled error at each step ahead is set
  against the naive forecast's at the same step and origins (the log of their ratio, as in the
  AvgRelMAE of Davydenko & Fildes 2013), and the log ratios are averaged over steps 1..6 with
  equal weight, as the forecasts will be judged. Series of any scale and difficulty pool. A
  longer series whose naive forecasts were exact at every origin and step (a count at 0
  throughout its backtest) has no ratio to naive, and adds none (Hyndman & Koehler 2006: a
  relative error is undefined where the benchmark's is 0, as on intermittent series).
* **Credibility.** A series' own relative error for a model is blended with the population's
  mean, ``Z * own + (1 - Z) * population``, with ``Z = n / (n + k)`` for ``n`` backtest origins
  (Bühlmann's credibility: the best linear predictor of a series' future relative error from
  its past one). ``k`` is estimated from the population itself, by how well the relative errors
  of each series' earlier origins predict those of its later ones: where they do not, series
  keep to the population's choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from models.calibration import grid_probabilities, recalibration_from
from models.global_ar import PooledWindows

#: The benchmark every candidate's error is measured against, at the same origins and steps.
BENCHMARK = "naive"
#: Added to both mean absolute scaled errors before their ratio (in MASE units, about a tenth
#: of a typical one-year change), so near-perfect forecasts of flat stretches do not produce
#: unbounded log ratios.
RATIO_FLOOR = 0.1
#: Credibility constant while a population is too small to estimate one (fewer than
#: MIN_SERIES_FOR_K series with enough origins): the population weighs as much as this many
#: origins of the series' own.
DEFAULT_K = 10.0
#: Series with at least this many origins inform the estimate of k.
MIN_SERIES_FOR_K = 20
#: The population's choice unless clearly worse than the best: the median of drift, dynamic
#: Theta and damped trend, robust where trends hold and where they fade.
DEFAULT = "comb"
#: Series of at most this many years pool apart from the longer ones: they borrow their
#: intervals from comparable series, and their population decides only their point path:
#: the last value carried forward unless another path (what comparable series did next,
#: drift, ...) clearly beats it on the population's pooled backtests.
SHORT_SERIES = 5
SHORT_DEFAULT = BENCHMARK


def is_short(length: int) -> bool:
    """Whether a series of ``length`` years is too short to backtest (it borrows)."""
    return 0 < length <= SHORT_SERIES


#: Series of at most this many years borrow their intervals from comparable series
#: (``models.analogs``) around the point path their population chose: their own three or four
#: backtest origins calibrate worse. M3, M1, Tourism and the crime-like set cut to 6 and to 8
#: years and calibrated on their own scored MSIS 0.67-1.13 times the best statsforecast
#: method's (M1 cut to 6 years 1.13, M3 1.03, where the 5-year cuts, borrowing, had 0.70);
#: borrowing around the same paths, 0.62-0.84, lower on each of the six measured. Their
#: point path is chosen as a longer series' is: chosen as a short series' is, by a handful
#: of short series in a small store, it was the last figure carried forward, and M1 cut to
#: 8 years in groups of 12 had a MASE 1.17 times the best where its own population's choice
#: had 1.03.
BORROWED_INTERVALS = 8


def borrows_intervals(length: int) -> bool:
    """Whether a series of ``length`` years is served intervals borrowed from comparable
    series rather than calibrated on its own backtest errors."""
    return 0 < length <= BORROWED_INTERVALS


def own_interval_weight(origins: int) -> float:
    """The weight a longer series' own calibrated intervals get beside borrowed ones around the
    same path (``training.selection.blended_forecast``): the credibility of ``origins`` backtest
    origins against the prior's DEFAULT_K, as its own evidence is weighed for the point choice
    before its population's k is known. Ten origins give it half."""
    return origins / (origins + DEFAULT_K) if origins > 0 else 0.0


#: Standard errors by which the default must trail the best before the population leaves it.
MCB_Z = 1.96


#: Joins the members of a mean combination in its name: ``log_theta+comb+damped``.
POOL_JOIN = "+"
#: Mean combinations of the population's best k single models are weighed for k up to this
#: (forecast pooling, Kourentzes, Barrow & Petropoulos 2019: average the top of the ranking).
MAX_POOL = 5


def pool_members(name: str) -> list[str]:
    """The members of a mean combination named ``a+b+...`` (one name for a single model)."""
    return name.split(POOL_JOIN)


def same_model(name: str, other: str) -> bool:
    """Whether two names are the same model: a mean combination is named by its members in the
    population's ranking, which a retrain can reorder (``drift+ridge`` is ``ridge+drift``)."""
    return sorted(pool_members(name)) == sorted(pool_members(other))


@dataclass(frozen=True)
class SeriesScores:
    """One series' backtest evidence: per candidate, signed scaled errors (forecast minus
    actual, over the MASE scale at the origin) by origin and step ahead (NaN where an origin
    has no such step). Mean combinations ``a+b`` are scored from their members' errors."""

    series_id: str
    errors: Mapping[str, np.ndarray]
    #: years of history (short series pool apart: ``SHORT_SERIES``)
    length: int = 0
    #: short series, per candidate: the steps ahead (first row) and the PITs (second) of the
    #: figures under intervals borrowed at each backtest origin and centred on the
    #: candidate's forecast there (``training.selection.borrowed_pits``)
    pits: Mapping[str, np.ndarray] = field(default_factory=dict)

    def signed(self, name: str) -> np.ndarray | None:
        """Signed scaled errors of a single model or of a mean combination of them."""
        members = [self.errors.get(member) for member in pool_members(name)]
        if any(member is None for member in members):
            return None
        return np.mean(np.stack(members), axis=0)  # type: ignore[arg-type]

    @property
    def origins(self) -> int:
        """Backtest origins the evidence rests on."""
        benchmark = self.errors.get(BENCHMARK)
        return 0 if benchmark is None else int(benchmark.shape[0])

    def relative(self, name: str, rows: slice = slice(None)) -> float:
        """Step-balanced log error ratio of ``name`` to naive over the origins in ``rows``;
        NaN without evidence, or where naive was exact at every one of them in a series
        longer than SHORT_SERIES."""
        model, benchmark = self.signed(name), self.errors.get(BENCHMARK)
        if model is None or benchmark is None:
            return float("nan")
        model, benchmark = np.abs(model[rows]), np.abs(benchmark[rows])
        both = np.isfinite(model) & np.isfinite(benchmark)
        count = both.sum(axis=0)
        steps = count > 0
        if not steps.any():
            return float("nan")
        # the mean over the origins where both forecast a step (nanmean's sum and count,
        # without its overhead: a pooled choice takes tens of thousands of these)
        own = np.where(both, model, 0.0).sum(axis=0)[steps] / count[steps]
        base = np.where(both, benchmark, 0.0).sum(axis=0)[steps] / count[steps]
        if not is_short(self.length) and not np.any(base > 0.0):
            # naive exact throughout: every other forecast's ratio to it would be unbounded,
            # held finite only by RATIO_FLOOR. Counts mostly at 0 had each such series
            # outweigh several where naive missed, and the population of sparse counts kept
            # comb (MASE 1.024x AutoETS') where dynamic Theta and smoothing beat naive.
            # A short series keeps its ratio: its choice moves only the point path inside
            # intervals borrowed around the last figure (a small count's, since, around its
            # rate, whichever path is chosen) and widened by a pooled check from 3- and
            # 4-year origins. Measured before that, left out, stable counts cut to 5 years took
            # smoothing (MASE 0.844x naive's) but 92% / 99.9% of their figures fell inside
            # 80% / 95% intervals, a count near 30 a year given a 95% interval from 0
            return float("nan")
        return float(np.mean(np.log((own + RATIO_FLOOR) / (base + RATIO_FLOOR))))


def error_matrix(backtest: pd.DataFrame, scale: np.ndarray, origins: Sequence[int]) -> np.ndarray:
    """Signed scaled errors of one backtest frame as an origins x steps matrix."""
    steps = backtest["step"].to_numpy(dtype=np.int64)
    rows = np.searchsorted(np.asarray(origins), backtest["origin"].to_numpy(dtype=np.int64))
    matrix = np.full((len(origins), int(steps.max(initial=0))), np.nan)
    errors = (backtest["mean"].to_numpy(float) - backtest["actual"].to_numpy(float)) / scale
    matrix[rows, steps - 1] = errors
    return matrix


@dataclass(frozen=True)
class ModelEvidence:
    """What the population says of one candidate model."""

    name: str
    #: population mean of the step-balanced log error ratio to naive (below 0: beats naive)
    mean: float
    series: int


@dataclass(frozen=True)
class Decision:
    """A series' choice: the model and, per candidate, the blended log error ratio and the
    weight its own evidence got."""

    chosen: str
    blended: dict[str, float]
    weights: dict[str, float]
    #: the population's choice the series was weighed against
    population: str = ""


@dataclass(frozen=True)
class PopulationEvidence:
    """Pooled backtest evidence of a population of series, per candidate model."""

    models: Mapping[str, ModelEvidence] = field(default_factory=dict)
    series: int = 0
    #: credibility constant: a series' own n origins get weight n / (n + k)
    k: float = DEFAULT_K
    #: the population's choice: the default unless it is clearly worse than the best
    choice: str = ""
    #: the evidence of the population's short series (SHORT_SERIES years or fewer), which
    #: decides for short series
    short: PopulationEvidence | None = None
    #: how the intervals of this stratum's series fared in their pooled backtests (borrowed
    #: ones for the short stratum: ``pooled_calibration``; the choice's calibrated ones for
    #: the longer series: ``training.population.population_evidence``), and the
    #: recalibration that calls for (``calibration_from_pits``)
    calibration: PooledCalibration | None = None
    #: how borrowed intervals fared in the pooled backtests of the longer series that borrow
    #: theirs (``borrows_intervals``), which are checked as short series' are
    borrowed_calibration: PooledCalibration | None = None
    #: the population's windows the global autoregression learns from (``models.global_ar``:
    #: None for a population too small to teach it, which leaves it to the reference corpus)
    windows: PooledWindows | None = None

    @classmethod
    def pool(cls, scores: Iterable[SeriesScores]) -> PopulationEvidence:
        """Every candidate's population mean relative error (and that of mean combinations of
        the best 2..MAX_POOL single models), the population's choice and the credibility k."""
        evidence = [score for score in scores if score.origins > 0]
        short = [score for score in evidence if is_short(score.length)]
        longer = [score for score in evidence if not is_short(score.length)]
        models, choice = _population_choice(longer, DEFAULT)
        short_evidence = None
        if short:
            short_models, short_choice = _population_choice(short, SHORT_DEFAULT)
            # two to four origins a series cannot tell one series from the rest: no departures
            short_evidence = cls(
                short_models,
                len(short),
                float("inf"),
                short_choice,
                calibration=pooled_calibration(short, short_choice),
            )
        best = min(models, key=lambda name: models[name].mean) if models else choice
        # where the default held although another model's pooled backtests look better,
        # leaving it did not pay in the test in time, so no single series leaves it either
        k = float("inf") if choice != best else _credibility_k(longer)
        borrowing = [score for score in longer if borrows_intervals(score.length)]
        return cls(
            models,
            len(longer),
            k,
            choice,
            short_evidence,
            borrowed_calibration=pooled_calibration(borrowing, choice),
        )

    def ranking(self) -> list[ModelEvidence]:
        """Candidates from the population's best to worst."""
        return sorted(self.models.values(), key=lambda model: model.mean)

    def stratum(self, length: int) -> PopulationEvidence:
        """The evidence that decides for a series of ``length`` years: the short series'
        own for a short one (when the population has any), else this."""
        return self.short if is_short(length) and self.short is not None else self

    def calibration_for(self, length: int) -> PooledCalibration | None:
        """The pooled check of intervals like those of a series of ``length`` years: the short
        series' (borrowed intervals) for a short one, None when the population has none; the
        longer series' (calibrated intervals) otherwise."""
        if is_short(length):
            return self.short.calibration if self.short is not None else None
        if borrows_intervals(length):
            return self.borrowed_calibration
        return self.calibration

    def weight(self, origins: int) -> float:
        """Credibility of a series' own evidence from ``origins`` backtest origins."""
        if origins <= 0 or not np.isfinite(self.k):
            return 0.0
        return origins / (origins + self.k)

    def decide(self, scores: SeriesScores, available: Sequence[str]) -> Decision | None:
        """The candidate with the lowest blended relative error among ``available``; None when
        the population knows none of them. Short series are decided by the short ones."""
        if self.stratum(scores.length) is not self:
            return self.stratum(scores.length).decide(scores, available)
        own = {name: scores.relative(name) for name in available if name in self.models}
        return self._decide_from(own, scores.origins)

    def _decide_from(self, own: Mapping[str, float], origins: int) -> Decision | None:
        """``decide`` from a series' own relative errors by candidate and its origins."""
        blended, weights = {}, {}
        best = min((model.mean for model in self.models.values()), default=0.0)
        for name, relative in own.items():
            # the population's choice is as good as its best: the difference is within noise
            prior = best if name == self.choice else self.models[name].mean
            weight = self.weight(origins) if np.isfinite(relative) else 0.0
            blended[name] = weight * (relative if weight else 0.0) + (1.0 - weight) * prior
            weights[name] = weight
        if not blended:
            return None
        # ties go to the population's choice
        chosen = min(blended, key=lambda name: (blended[name], name != self.choice))
        return Decision(chosen, blended, weights, self.choice)

    def table(self) -> pd.DataFrame:
        """The pooled evidence as a table (logged with every retrain): one row per model."""
        rows = [
            {
                "model": model.name,
                "error_vs_naive": float(np.exp(model.mean)),
                "log_ratio": model.mean,
                "series": model.series,
                "credibility_k": self.k,
            }
            for model in self.ranking()
        ]
        return pd.DataFrame(
            rows, columns=["model", "error_vs_naive", "log_ratio", "series", "credibility_k"]
        )


@dataclass(frozen=True)
class PooledCalibration:
    """How a population's intervals fared in its pooled backtests."""

    #: figures checked one year ahead (where ``widens`` looks)
    figures: int
    #: share of them inside the central 80% interval
    inside_80: float
    #: share of them inside the central 95% interval
    inside_95: float
    #: ``models.calibration.recalibration_from`` of their PITs; None: kept as they are
    recalibration: np.ndarray | None
    #: the series whose backtests they come from
    series: int = 0

    @property
    def widens(self) -> bool:
        """Whether the recalibration moves the 80% bounds one year ahead outward by at least
        a percentage point of probability between them (less is sampling noise)."""
        if self.recalibration is None:
            return False
        lower, upper = (
            float(np.interp(p, grid_probabilities(), self.recalibration[0])) for p in (0.1, 0.9)
        )
        return (0.1 - lower) + (upper - 0.9) >= 0.01


def pooled_calibration(evidence: Sequence[SeriesScores], choice: str) -> PooledCalibration | None:
    """The PITs of ``choice``'s intervals (its members', for a mean combination) pooled over
    the population's series, and the recalibration they call for; None without any."""
    members = pool_members(choice) if choice else []
    found = [score.pits[name] for score in evidence for name in members if name in score.pits]
    pooled = calibration_from_pits(found)
    series = sum(1 for score in evidence if any(name in score.pits for name in members))
    return replace(pooled, series=series) if pooled is not None else None


def calibration_from_pits(found: Sequence[np.ndarray]) -> PooledCalibration | None:
    """A population's pooled calibration from its series' (steps ahead, PITs) arrays; None
    without any figure."""
    if not found:
        return None
    steps, pits = np.concatenate(found, axis=1)
    finite = np.isfinite(pits)  # a path at 0 on the log scale can leave a figure no PIT
    steps, pits = steps[finite], pits[finite]
    first = pits[steps == 1]
    if not first.size:
        return None
    return PooledCalibration(
        figures=int(first.size),
        inside_80=float(np.mean(np.abs(first - 0.5) < 0.4)),
        inside_95=float(np.mean(np.abs(first - 0.5) < 0.475)),
        recalibration=recalibration_from(steps.astype(np.int64), pits),
    )


def _pooled_means(
    evidence: Sequence[SeriesScores], names: Sequence[str]
) -> dict[str, ModelEvidence]:
    models = {}
    for name in names:
        values = np.array([score.relative(name) for score in evidence])
        values = values[np.isfinite(values)]
        if values.size:
            models[name] = ModelEvidence(name, float(np.mean(values)), int(values.size))
    return models


def _population_choice(
    evidence: Sequence[SeriesScores], default: str
) -> tuple[dict[str, ModelEvidence], str]:
    """Pooled means of the single models and of mean combinations of the best few, and the
    population's choice among them: ``DEFAULT`` unless multiple comparisons with the best
    (Koning et al. 2005, as in the M3 analysis) find it clearly worse than the best; then the
    best."""
    singles = sorted({name for score in evidence for name in score.errors})
    models = _pooled_means(evidence, singles)
    ranked = sorted(models, key=lambda name: models[name].mean)
    combinations = [
        POOL_JOIN.join(ranked[:size]) for size in range(2, min(MAX_POOL, len(ranked)) + 1)
    ]
    models |= _pooled_means(evidence, combinations)
    if not models:
        return models, ""
    best = min(models, key=lambda name: models[name].mean)
    if default in models and not _pays_out_of_time(evidence, best, default):
        return models, default
    return models, best


def _pays_out_of_time(evidence: Sequence[SeriesScores], best: str, default: str) -> bool:
    """Whether leaving ``DEFAULT`` for ``best`` paid in a test in time: ``best`` must beat the
    default on the later halves of the series, by more than MCB_Z standard errors of the
    paired difference (multiple comparisons with the best, Koning et al. 2005), and the model
    the earlier halves favour must be ``best`` or beat the default there too."""
    if best == default:
        return False
    enough = _splittable(evidence)
    if len(enough) < MIN_SERIES_FOR_K:
        return _clearly_worse(evidence, default, best)
    early, late = zip(*(_halves(score) for score in enough), strict=True)
    early_models = _pooled_means(list(early), [best, default])
    if best not in early_models or default not in early_models:
        return False
    if early_models[best].mean >= early_models[default].mean:
        return False  # the earlier years alone would not have left the default
    return _clearly_worse(list(late), default, best)


def _clearly_worse(evidence: Sequence[SeriesScores], name: str, best: str) -> bool:
    """Whether ``name``'s relative error exceeds ``best``'s by more than MCB_Z standard errors
    of their paired difference across series."""
    if name == best:
        return False
    differences = np.array([score.relative(name) - score.relative(best) for score in evidence])
    mean, error = _mean_and_error(differences)
    return mean > MCB_Z * error


def _mean_and_error(differences: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the finite paired differences; (0, inf) below two of them,
    so that nothing counts as a clear difference."""
    finite = differences[np.isfinite(differences)]
    if finite.size < 2:
        return 0.0, float("inf")
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) / np.sqrt(finite.size)


#: Credibility constants tried when learning k from a population.
#: Infinity means no series ever departs from the population's choice.
K_GRID = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, float("inf"))


def _splittable(evidence: Sequence[SeriesScores]) -> list[SeriesScores]:
    """The series with enough origins (4) to split into earlier and later halves."""
    return [score for score in evidence if score.origins >= 4]


def _halves(score: SeriesScores) -> tuple[SeriesScores, SeriesScores]:
    """A series' evidence split in time: its earlier origins' forecasts of the years up to its
    middle origin, and its later origins' forecasts; no year is forecast in both."""
    half = score.origins // 2
    origin, step = np.indices(next(iter(score.errors.values())).shape)
    before = (origin < half) & (origin + step + 1 <= half)
    early = {name: np.where(before, errors, np.nan)[:half] for name, errors in score.errors.items()}
    late = {name: errors[half:] for name, errors in score.errors.items()}
    return (
        SeriesScores(score.series_id, early, score.length),
        SeriesScores(score.series_id, late, score.length),
    )


def _credibility_k(evidence: Sequence[SeriesScores]) -> float:
    """k learned from the population by a test in time: each series chooses from the evidence
    of its earlier years (its own, blended with the population's pooled over the same years)
    and is scored on its later years; the most cautious k that did about as well there as the
    best one wins.

    This measures what per-series departures are worth on this population, winner's curse and
    all: where a series' past relative errors do not predict its future ones, k grows and every
    series keeps to the population's choice. The earlier years' best model stands for that
    choice, as k only applies where the choice is the population's best (``pool``). Their
    choice under the default's rule had stood for it: where the default held on the earlier
    years but not on all of them, the best and the default tied as priors at every k, each
    series took one of them on its own noise, and that gain over keeping the default was
    credited to departures (synthetic stable counts: k 50, 46 of 200 series left smoothing,
    MASE 0.963 against 0.950 with none leaving)."""
    enough = _splittable(evidence)
    if len(enough) < MIN_SERIES_FOR_K:
        return DEFAULT_K
    split = [_halves(score) for score in enough]
    early_models, _ = _population_choice([early for early, _ in split], DEFAULT)
    if not early_models:
        return DEFAULT_K
    early_best = min(early_models, key=lambda name: early_models[name].mean)
    # each series' own relative errors do not depend on k: worked out once, not per k
    own = [{name: early.relative(name) for name in early_models} for early, _ in split]
    later: list[dict[str, float]] = [{} for _ in split]
    losses = {}
    for k in K_GRID:
        trial = PopulationEvidence(early_models, len(split), k, early_best)
        per_series = []
        for index, (early, late) in enumerate(split):
            decision = trial._decide_from(own[index], early.origins)
            if decision is None:
                per_series.append(np.nan)
                continue
            if decision.chosen not in later[index]:
                later[index][decision.chosen] = late.relative(decision.chosen)
            per_series.append(later[index][decision.chosen])
        losses[k] = np.array(per_series)
    # the one-standard-error rule (Breiman et al. 1984): the most cautious k whose loss is
    # within one standard error of the best k's, so departures must pay clearly
    best = min(losses, key=lambda k: float(np.nanmean(losses[k])))
    cautious = best
    for k in K_GRID:
        mean, error = _mean_and_error(losses[k] - losses[best])
        if np.isfinite(error) and mean <= error:
            cautious = max(cautious, k)
    return cautious
