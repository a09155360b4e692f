"""Track record: how a champion's forecasts fared against the figures that came in later."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from data.store import SCORE_COLUMNS, FigureStore
from models.base import bound_columns, interval_columns
from models.calibration import CalibratedForecast

log = logging.getLogger(__name__)
_LEVELS = (80.0, 95.0)


def score_figures(
    series_id: str,
    observed: pd.Series,
    forecast: CalibratedForecast,
    *,
    model_name: str,
    model_version: str,
    data_revision: str,
) -> pd.DataFrame:
    """Score every observed year the champion forecast (after its training data ends).

    Returns one row per such year in the store's ``SCORE_COLUMNS`` layout: the forecast mean,
    its 80% and 95% bounds, and whether the figure fell inside each interval.
    """
    horizon_years = [
        int(year)
        for year in observed.index
        if forecast.last_year < int(year) <= forecast.last_year + forecast.max_horizon
    ]
    if not horizon_years:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    predicted = forecast.predict(max(horizon_years) - forecast.last_year, _LEVELS)
    predicted = predicted.set_index("year").loc[horizon_years]
    actual = observed.loc[horizon_years].to_numpy(dtype=float)
    scores = pd.DataFrame(
        {
            "series_id": series_id,
            "year": horizon_years,
            "actual": actual,
            "mean": predicted["mean"].to_numpy(),
            **{name: predicted[name].to_numpy() for name in interval_columns(_LEVELS)},
        }
    )
    for level in ("80", "95"):
        lo, hi = bound_columns(level)
        inside = (scores[lo] <= actual) & (actual <= scores[hi])
        scores[f"inside_{level}"] = inside.astype(bool)
    scores["model_name"] = model_name
    scores["model_version"] = str(model_version)
    scores["data_revision"] = data_revision
    return scores[list(SCORE_COLUMNS)]


def surprises(scores: pd.DataFrame) -> list[str]:
    """One sentence per figure that fell outside the champion's 95% interval."""
    outside = scores[~scores["inside_95"].astype(bool)]
    return [
        f"surprise: {row['series_id']} {row['year']} came in at {row['actual']:,.0f}, outside "
        f"the 95% interval {row['lo-95']:,.0f}–{row['hi-95']:,.0f} of {row['model_name']} "
        f"(version {row['model_version']}, forecast {row['mean']:,.0f})"
        for row in outside.to_dict(orient="records")
    ]


def record(store: FigureStore, scores: pd.DataFrame) -> list[str]:
    """Keep the scores (idempotent) and log any surprise the first time it is recorded (the
    figures' arrival and the retrain they start both score them); returns the surprise
    sentences."""
    if scores.empty:
        return []
    recorded = store.record_scores(scores)
    found = surprises(scores)
    if recorded:
        for sentence in found:
            log.warning(sentence)
    return found


def summary(scores: pd.DataFrame) -> dict[str, float]:
    """Headline figures of a track record: how many scored, coverage, mean absolute % error."""
    if scores.empty:
        return {}
    actual = scores["actual"].to_numpy(dtype=float)
    mean = scores["mean"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.abs(actual - mean) / np.abs(actual)
    return {
        "track_record.scored": float(len(scores)),
        "track_record.inside_80": float(scores["inside_80"].astype(bool).mean()),
        "track_record.inside_95": float(scores["inside_95"].astype(bool).mean()),
        "track_record.mape": float(np.nanmean(ape)) if np.isfinite(ape).any() else float("nan"),
    }
