"""Training many series: worker processes give the same champions as one process, a series
that fails in a worker loses no other, and the summary of a big retrain stays readable."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from data.store import FigureStore
from serving.cli import app
from serving.commands.train import FAILURES_SHOWN, summary
from tests.support import QUICK_CANDIDATES
from training import pipeline, registry, tracking
from training.outcome import Outcome
from training.pipeline import SeriesOutcome
from training.settings import TrainingSettings

SERIES = [
    "jp_cybercrime_cleared",
    "jp_ib_transfer_cases",
    "jp_sns_romance_fraud_cases",
    "jp_special_fraud_losses_jpy",
    "cn_telecom_fraud_cases_solved",
]


def _stores(root: Path) -> tuple[FigureStore, TrainingSettings]:
    store = FigureStore(f"sqlite:///{root / 'figures.db'}")
    store.ensure_seeded()
    settings = TrainingSettings(
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        mlflow_artifacts=str(root / "artifacts"),
        retrain_lock=root / "retrain.lock",
    )
    return store, settings


def _comparable(outcome: SeriesOutcome) -> tuple[object, ...]:
    return (
        outcome.series_id,
        outcome.status,
        outcome.model,
        outcome.mase,
        outcome.coverage,
        outcome.version,
        outcome.data_revision,
    )


def _ran_in_the_caller(series_id: str, job: object) -> SeriesOutcome:
    raise AssertionError("this series was trained in the calling process, not in a worker")


def test_two_workers_train_the_same_champions_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = {}
    for jobs in (1, 2):
        store, settings = _stores(tmp_path / f"jobs{jobs}")
        with monkeypatch.context() as patch:
            if jobs == 2:  # the workers import the pipeline afresh: this patch cannot reach them
                patch.setattr(pipeline, "_retrain_series", _ran_in_the_caller)
            seen: list[SeriesOutcome] = []
            outcomes = pipeline.retrain(
                SERIES,
                store=store,
                settings=settings,
                candidates=QUICK_CANDIDATES,
                jobs=jobs,
                on_outcome=seen.append,
            )
        assert sorted(o.series_id for o in seen) == sorted(SERIES)
        client = tracking.connect(settings)
        champions = {}
        for series_id in SERIES:
            version = registry.champion_version(series_id, client=client)
            assert version is not None, series_id
            champions[series_id] = (version.version, version.tags["model_name"])
        results[jobs] = ([_comparable(o) for o in outcomes], champions)
        store.close()
    assert [o[0] for o in results[1][0]] == SERIES  # outcomes come back in the order asked
    assert all(o[1] == "promoted" for o in results[1][0])
    assert results[2] == results[1]


def test_a_series_failing_in_a_worker_loses_no_other(tmp_path: Path) -> None:
    store, settings = _stores(tmp_path)
    store.close()
    broken, *healthy = SERIES[:4]
    # the broken series' artifacts would go under a regular file: every upload fails there
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    client = tracking.connect(settings)
    client.create_experiment(
        tracking.experiment_name(broken), artifact_location=(blocker / "artifacts").as_uri()
    )
    args = ["train", "--jobs", "2", *(arg for sid in SERIES[:4] for arg in ("--series", sid))]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 1, result.output
    assert f"failed {broken}:" in " ".join(result.output.split())
    assert registry.champion_version(broken, client=client) is None
    for series_id in healthy:
        assert registry.champion_version(series_id, client=client) is not None, series_id
    experiment = client.get_experiment_by_name(tracking.experiment_name(broken))
    assert experiment is not None
    [parent] = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{tracking.ROLE_TAG}` = 'retrain'"
    )
    assert parent.info.status == "FAILED"
    assert parent.data.tags["promotion.decision"] == "failed"


def _outcomes(promoted: int, unchanged: int, failed: int) -> list[SeriesOutcome]:
    made = [
        SeriesOutcome(f"p{i:04d}", Outcome.PROMOTED, "better", model="comb", mase=1.0 + i / 1000)
        for i in range(promoted)
    ]
    made += [SeriesOutcome(f"u{i:04d}", Outcome.UNCHANGED, "same data") for i in range(unchanged)]
    made += [SeriesOutcome(f"f{i:04d}", Outcome.FAILED, f"broke #{i}") for i in range(failed)]
    return made


def _printed(outcomes: list[SeriesOutcome]) -> str:
    console = Console(record=True, width=160)
    console.print(summary(outcomes))
    return console.export_text()


def test_a_big_retrain_is_summarised_by_outcome_with_its_failures() -> None:
    text = _printed(_outcomes(promoted=9000, unchanged=970, failed=30))

    assert "10,000 series" in text
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if "│" in line}
    assert "9,000" in rows["promoted"] and "90.0%" in rows["promoted"]
    assert "970" in rows["unchanged"] and "0.3%" in rows["failed"]
    assert "5.500" in rows["promoted"]  # the median MASE of the promoted models
    assert "p4500" not in text  # no row per series
    listed = [line for line in text.splitlines() if line.startswith("failed ")]
    assert listed[0] == "failed f0000: broke #0" and len(listed) == FAILURES_SHOWN
    assert f"and {30 - FAILURES_SHOWN} more failed series" in text


def test_a_small_retrain_gets_a_row_per_series() -> None:
    text = _printed(_outcomes(promoted=2, unchanged=1, failed=1))

    for series_id in ("p0000", "p0001", "u0000", "f0000"):
        assert series_id in text
    assert "failed f0000: broke #0" in text


def test_retrain_statuses_cover_every_series_however_many_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, settings = _stores(tmp_path)
    first, *others = SERIES[:3]
    pipeline.retrain(SERIES[:3], store=store, settings=settings, candidates=QUICK_CANDIDATES)
    [kept] = pipeline.retrain(
        [first], store=store, settings=settings, force=True, candidates=["naive"]
    )
    assert kept.status == "kept"
    monkeypatch.setattr(tracking, "_PAGE_SIZE", 1)  # one experiment and one run per page

    statuses = tracking.retrain_statuses(tracking.connect(settings))

    assert sorted(statuses) == sorted(SERIES[:3])
    assert statuses[first].decision == "kept"  # its newest retrain, not the first
    assert all(statuses[series_id].decision == "promoted" for series_id in others)
