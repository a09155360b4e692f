"""Runs left RUNNING by a killed train are closed, with the reason, by the series' next retrain."""

from __future__ import annotations

from data.store import FigureStore
from tests.support import QUICK_CANDIDATES
from training import pipeline, tracking
from training.settings import TrainingSettings

SERIES = "jp_cybercrime_cleared"
OTHER = "jp_special_fraud_cases"


def _killed_train(client, settings: TrainingSettings, series_id: str) -> tuple[str, str]:
    """A retrain parent and one candidate left RUNNING, as `kill -9` of `train` leaves them."""
    experiment_id = tracking.ensure_experiment(client, settings, series_id)
    parent = client.create_run(
        experiment_id, tags={tracking.ROLE_TAG: "retrain", "series_id": series_id}
    )
    child = client.create_run(
        experiment_id,
        tags={
            tracking.ROLE_TAG: "candidate",
            "series_id": series_id,
            "mlflow.parentRunId": parent.info.run_id,
        },
    )
    return parent.info.run_id, child.info.run_id


def test_the_next_retrain_of_a_series_marks_its_orphaned_runs_failed(seeded_store: FigureStore):
    settings = TrainingSettings()
    client = tracking.connect(settings)
    orphans = _killed_train(client, settings, SERIES)
    elsewhere = _killed_train(client, settings, OTHER)

    [outcome] = pipeline.retrain(
        [SERIES], store=seeded_store, settings=settings, candidates=QUICK_CANDIDATES
    )
    assert outcome.status == "promoted", outcome.reason

    for run_id in orphans:
        run = client.get_run(run_id)
        assert run.info.status == "FAILED"
        assert run.info.end_time is not None
        assert run.data.tags["mlflow.note.content"].startswith("process ended without finishing")
    parent = client.get_run(orphans[0]).data.tags
    assert parent["promotion.decision"] == tracking.ABANDONED
    assert parent["promotion.reason"].startswith("process ended without finishing")
    # Another series' runs are its own retrain's business.
    assert {client.get_run(run_id).info.status for run_id in elsewhere} == {"RUNNING"}
    # The retrain that closed them finished as usual.
    assert client.get_run(outcome.run_id).info.status == "FINISHED"


def test_an_unchanged_series_closes_its_orphans_too(seeded_store: FigureStore):
    settings = TrainingSettings()
    client = tracking.connect(settings)
    pipeline.retrain([SERIES], store=seeded_store, settings=settings, candidates=QUICK_CANDIDATES)
    orphans = _killed_train(client, settings, SERIES)
    [outcome] = pipeline.retrain(
        [SERIES], store=seeded_store, settings=settings, candidates=QUICK_CANDIDATES
    )
    assert outcome.status == "unchanged"
    assert {client.get_run(run_id).info.status for run_id in orphans} == {"FAILED"}
    # A killed retrain is no outcome: the series' last retrain is still the one that ended.
    assert tracking.retrain_statuses(client)[SERIES].decision == "promoted"
