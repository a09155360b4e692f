"""Promotion gates: a candidate replaces the champion only when it has earned it; the incumbent
it is measured against, and the coverage a champion's card will claim."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from models.base import bound_columns
from models.calibration import CalibratedForecast
from training.backtest import CALIBRATED_COVERAGE, calibrated_coverage_metrics
from training.evidence import borrows_intervals, pool_members, same_model
from training.failures import is_expected
from training.selection import (
    CandidateResult,
    SeriesFit,
    fit_series,
    pooled_candidate,
)
from training.tracking import BREAKS_TAG

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

#: Levels and horizon at which a candidate's intervals are checked before promotion.
_CHECK_LEVELS = (50.0, 80.0, 95.0, 99.0)
_CHECK_HORIZON = 10
#: An interval bound this many times the largest projection within _CHECK_HORIZON years is a
#: bug, not humility (the widest borrowed 99% interval of the reference corpus is far inside).
IMPLAUSIBLE = 1000.0


@dataclass(frozen=True)
class PromotionDecision:
    """Whether to promote, and a sentence saying why. ``again``: the candidate is the
    champion's own model, chosen again and refitted on these figures (a refresh, not a new
    champion)."""

    promote: bool
    reason: str
    again: bool = False


def interval_problems(forecast: CalibratedForecast) -> list[str]:
    """Why a forecast's intervals are not sane (empty when they are): finite, ordered, nested."""
    horizon = min(_CHECK_HORIZON, forecast.max_horizon)
    frame = forecast.predict(horizon, _CHECK_LEVELS)
    problems: list[str] = []
    values = frame.drop(columns="year").to_numpy(dtype=float)
    if not np.isfinite(values).all():
        problems.append("forecast has non-finite values")
    mean = frame["mean"].to_numpy()
    inner_lo, inner_hi = mean, mean
    for level in _CHECK_LEVELS:
        label = f"{level:g}"
        lo, hi = (frame[name].to_numpy() for name in bound_columns(level))
        if (lo > inner_lo + 1e-9).any() or (hi < inner_hi - 1e-9).any():
            problems.append(f"the {label}% interval does not contain the narrower ones")
        if forecast.nonnegative and (lo < 0).any():
            problems.append(f"the {label}% interval goes below zero for a non-negative series")
        inner_lo, inner_hi = lo, hi
    no_room = inner_hi <= mean + 1e-9 * np.maximum(np.abs(mean), 1.0)
    if forecast.upper_limit is not None:  # a share projected at 100 has no room above it
        no_room &= mean < forecast.upper_limit
    flat = frame["year"].to_numpy()[no_room]
    if flat.size:  # the widest interval: no room above the projection is no interval at all
        years = ", ".join(str(int(year)) for year in flat[:3]) + (" …" if flat.size > 3 else "")
        problems.append(
            f"the {_CHECK_LEVELS[-1]:g}% interval has no room above the projection in {years}"
        )
    scale = np.abs(mean).max(initial=0.0)
    if scale > 0 and np.isfinite(values).all() and np.abs(values).max() > IMPLAUSIBLE * scale:
        problems.append(
            f"an interval reaches over {IMPLAUSIBLE:,.0f} times the largest projection: "
            "no yearly series moves like that"
        )
    return problems


def decide(
    *,
    candidate: str,
    candidate_mase: float,
    candidate_forecast: CalibratedForecast,
    champion: str | None,
    champion_mase: float | None,
    tolerance: float,
    too_short_to_judge: bool = False,
) -> PromotionDecision:
    """Apply the gates: sane intervals, and backtest MASE no worse than the champion's on the
    same data by more than ``tolerance`` (a factor, e.g. 1.02). A series too short for a
    backtest to judge (``too_short_to_judge``) takes the borrowed forecast once it is sane."""
    problems = interval_problems(candidate_forecast)
    if problems:
        return PromotionDecision(False, f"{candidate} rejected: " + "; ".join(problems))
    if champion is None:
        return PromotionDecision(True, f"{candidate} is the first champion of this series")
    again = same_model(candidate, champion)  # refitted on these figures
    verdict = f"{candidate} chosen again and refitted" if again else f"{candidate} promoted"
    if too_short_to_judge:
        replaced = "" if again else f" (champion {champion} replaced)"
        return PromotionDecision(
            True,
            f"{verdict}: the series is too short for a backtest to judge between models, so it "
            f"serves what comparable series did{replaced}",
            again,
        )
    if champion_mase is None or not np.isfinite(champion_mase):
        whose = "the champion's fit" if again else f"the champion {champion}"
        return PromotionDecision(
            True, f"{verdict}: {whose} cannot be backtested on this data", again
        )
    if not np.isfinite(candidate_mase) or candidate_mase > champion_mase * tolerance:
        return PromotionDecision(
            False,
            f"champion {champion} kept: {candidate} backtest MASE {candidate_mase:.3f} is worse "
            f"than the champion's {champion_mase:.3f} on the same data "
            f"(allowed up to {champion_mase * tolerance:.3f})",
        )
    if again:
        return PromotionDecision(
            True,
            f"{verdict}: backtest MASE {candidate_mase:.3f} vs "
            f"{champion_mase:.3f} for the champion's fit on the same data",
            again,
        )
    # a choice a little behind on this series' own backtests is promoted for the evidence of
    # the population it was chosen on; say so, or "promoted: 3.257 vs 3.233" reads as a slip
    behind = (
        f", within the {tolerance - 1:.0%} a new choice may trail it"
        if candidate_mase > champion_mase
        else ""
    )
    return PromotionDecision(
        True,
        f"{candidate} promoted: backtest MASE {candidate_mase:.3f} vs champion {champion} "
        f"{champion_mase:.3f} on the same data{behind}",
    )


def add_calibrated_coverage(
    candidates: Sequence[CandidateResult], history: pd.Series, levels: Sequence[float]
) -> None:
    """Add to each candidate's metrics the backtest coverage of calibrated intervals, the kind
    a champion serves (``calibrated_coverage_<level>``). Not part of ``fit_series``:
    only training logs and reports it."""
    for candidate in candidates:
        if candidate.error is not None or candidate.backtest.empty:
            continue
        if borrows_intervals(len(history)):  # served borrowed, not recalibrated: own coverage
            candidate.metrics.update(
                {
                    f"{CALIBRATED_COVERAGE}{key.removeprefix('coverage_')}": value
                    for key, value in candidate.metrics.items()
                    if key.startswith("coverage_")
                }
            )
            continue
        candidate.metrics.update(calibrated_coverage_metrics(candidate.backtest, history, levels))


@dataclass(frozen=True)
class Incumbent:
    """The current champion, and its model backtested on the data of this retrain."""

    name: str
    data_revision: str
    on_same_data: CandidateResult | None
    history: pd.Series
    #: the definition breaks it was trained with (``format_breaks``); None: registered before
    #: champions recorded them
    breaks: str | None = None


def incumbent(
    fit: SeriesFit,
    values: pd.Series,
    breaks: Sequence[int],
    current: ModelVersion | None,
    levels: Sequence[float],
) -> Incumbent | None:
    """The current champion with its model's backtest on this retrain's data (if it can be):
    among the retrain's candidates, rebuilt from them when pooled, else backtested alone."""
    if current is None:
        return None
    name = current.tags.get("model_name", "")
    revision = current.tags.get("data_revision", "")
    trained_with = current.tags.get(BREAKS_TAG)
    for candidate in fit.candidates:
        if same_model(candidate.name, name) and candidate.error is None:
            return Incumbent(name, revision, candidate, fit.history, trained_with)
    pooled = pooled_candidate(name, fit.candidates, fit.history, levels)
    if pooled is not None:  # a model pooled with the default that this retrain did not pool
        add_calibrated_coverage([pooled], fit.history, levels)
        return Incumbent(name, revision, pooled, fit.history, trained_with)
    try:  # a mean combination is backtested through its members
        refit = fit_series(
            values,
            series_id=fit.series_id,
            breaks=breaks,
            levels=levels,
            candidates=pool_members(name),
        )
    except Exception as error:  # the champion's model left the catalog or cannot fit this data
        if not (isinstance(error, KeyError) or is_expected(error)):
            raise
        return Incumbent(name, revision, None, fit.history, trained_with)
    same = next((c for c in refit.candidates if c.name == name and c.error is None), None)
    if same is None:
        same = pooled_candidate(name, refit.candidates, refit.history, levels)
    if same is not None:
        add_calibrated_coverage([same], refit.history, levels)
    return Incumbent(name, revision, same, refit.history, trained_with)
