"""Figures scored against the champion that forecast them: surprises are logged once."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from data.store import SCORE_COLUMNS, FigureStore
from training import track_record


def _scores(actual: float) -> pd.DataFrame:
    row = {
        "series_id": "jp_ib_transfer_cases",
        "year": 2026,
        "actual": actual,
        "mean": 5000.0,
        "lo-80": 4000.0,
        "hi-80": 6000.0,
        "lo-95": 3500.0,
        "hi-95": 7000.0,
        "inside_80": 4000.0 <= actual <= 6000.0,
        "inside_95": 3500.0 <= actual <= 7000.0,
        "model_name": "theta",
        "model_version": "3",
        "data_revision": "abc",
    }
    return pd.DataFrame([row], columns=list(SCORE_COLUMNS))


def test_a_surprise_is_logged_once_however_often_it_is_scored(
    seeded_store: FigureStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The figure's arrival and the retrain it starts both score it: the server log said the
    same surprise two or three times."""
    with caplog.at_level(logging.WARNING, logger="training.track_record"):
        first = track_record.record(seeded_store, _scores(12000.0))
        again = track_record.record(seeded_store, _scores(12000.0))
    assert first == again and first[0].startswith("surprise: jp_ib_transfer_cases 2026")
    logged = [r.getMessage() for r in caplog.records if r.name == "training.track_record"]
    assert logged == first
    assert len(seeded_store.track_record("jp_ib_transfer_cases")) == 1
