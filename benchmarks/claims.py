"""Do the model cards claim the coverage the intervals get?

A champion's card says how often its 80% and 95% intervals contained the figure in backtests.
That claim is the backtest coverage of *calibrated* intervals, each figure checked against a
calibration without its origin's errors or any error on its year
(``calibrated_coverage_<level>``), because the served
intervals are recalibrated from the backtest errors; the coverage of the model's own intervals
(``coverage_<level>``) is about a different interval. This part of ``make bench`` puts both
beside the coverage the served intervals then got on the held-out test years.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.backtest import CALIBRATED_COVERAGE, calibrated_coverage_metrics
from training.parallel import parse_long_frame
from training.population import fit_many, population_evidence
from training.selection import SeriesFit

LEVELS = (80, 95)


@dataclass
class CoverageClaims:
    """Mean over series of the coverage each kind of backtest interval had, in percent."""

    dataset: str
    series: int
    calibrated: dict[int, float]  # what the cards claim
    own: dict[int, float]  # the selected model's own intervals

    def row(self, realised: dict[int, float]) -> str:
        """A markdown row: claimed, own and realised coverage at each level."""
        cells = [self.dataset, f"{self.series:,}"]
        for level in LEVELS:
            cells += [
                f"{self.calibrated[level]:.1f}",
                f"{self.own[level]:.1f}",
                f"**{realised[level]:.1f}**",
            ]
        return "| " + " | ".join(cells) + " |"


def coverage_claims(dataset: str, train: pd.DataFrame, jobs: int) -> CoverageClaims:
    """Fit every series of ``train`` (unique_id, ds, y) as forecast-file does and average the
    backtest coverage of each champion's calibrated and own intervals."""
    items = [(key, values, ()) for key, values in parse_long_frame(train)]
    calibrated: list[dict[str, float]] = []
    own: list[dict[str, float]] = []
    evidence = population_evidence(items, jobs=jobs)
    for fit in fit_many(items, levels=LEVELS, jobs=jobs, evidence=evidence):
        if not isinstance(fit, SeriesFit):
            continue
        chosen = next(c for c in fit.candidates if c.name == fit.selected)
        calibrated.append(calibrated_coverage_metrics(chosen.backtest, fit.history, LEVELS))
        own.append(chosen.metrics)
    return CoverageClaims(
        dataset,
        len(calibrated),
        calibrated=_mean_percent(calibrated, CALIBRATED_COVERAGE),
        own=_mean_percent(own, "coverage_"),
    )


def _mean_percent(metrics: Sequence[dict[str, float]], prefix: str) -> dict[int, float]:
    """Mean over series of the metric ``<prefix><level>`` at each level, in percent."""
    return {
        level: 100.0 * float(np.nanmean([m.get(f"{prefix}{level}", np.nan) for m in metrics]))
        for level in LEVELS
    }


def render(rows: Sequence[tuple[CoverageClaims, dict[int, float]]]) -> str:
    """The markdown section: per dataset, claimed (calibrated), own and realised coverage."""
    lines = [
        "## What the model cards claim against what the intervals got",
        "",
        "Mean over series of the backtest coverage a champion's card reports (its calibrated "
        "intervals, each backtest figure checked against a calibration without its origin's "
        "errors or any error on its year), "
        "of the coverage of the selected model's own intervals in the same backtest, and, in "
        "bold, the coverage the served intervals got on the held-out test years (%).",
        "",
        "| data set | series | card 80 | own 80 | test 80 | card 95 | own 95 | test 95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [claims.row(realised) for claims, realised in rows]
    return "\n".join([*lines, ""])
