"""`fraudcast runs prune`: old retrain runs go with their artifacts, and what the champion, a
rollback and the next retrain need stays."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from filelock import FileLock
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from data.store import FigureStore
from serving.app import create_app
from serving.cli import app
from tests.support import make_state, said
from training import registry, tracking
from training.pipeline import retrain
from training.registry import CHAMPION_ALIAS, registered_model_name
from training.settings import TrainingSettings

SERIES = "jp_cybercrime_cleared"
#: Two candidates keep three retrains quick; pruning cares about runs, not models.
CANDIDATES = ("naive", "drift")


def _train_three_times(store: FigureStore) -> MlflowClient:
    """Versions 1, 2 and 3 of the series (3 the champion), each from its own retrain."""
    settings = TrainingSettings()
    for _ in range(3):
        [outcome] = retrain(
            [SERIES], force=True, store=store, settings=settings, candidates=CANDIDATES
        )
        assert outcome.version is not None, outcome
    return tracking.connect(settings)


def _runs(client: MlflowClient) -> dict[str, str | None]:
    """Every run of the series, soft-deleted ones too: run id -> its parent's (None: a retrain)."""
    experiment = client.get_experiment_by_name(tracking.experiment_name(SERIES))
    runs = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL)
    return {run.info.run_id: run.data.tags.get("mlflow.parentRunId") for run in runs}


def _folder(client: MlflowClient, run_id: str) -> Path:
    """A run's own folder of artifacts."""
    uri = client.get_run(run_id).info.artifact_uri
    return Path(uri.removeprefix("file://")).parent


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*"))


def _prune(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["runs", "prune", *args])
    return result.exit_code, said(result.output)


def test_old_runs_go_with_their_artifacts_and_the_champion_and_a_rollback_target_stay(
    seeded_store: FigureStore, isolated_stores: Path
) -> None:
    client = _train_three_times(seeded_store)
    name = registered_model_name(SERIES)
    first, second, third = (registry.get_version(SERIES, v, client=client) for v in "123")
    # an operator removed version 1 from the registry: its retrain produced nothing kept
    client.delete_model_version(name, "1")
    runs = _runs(client)
    children = {v.run_id: [r for r, p in runs.items() if p == v.run_id] for v in (first, second)}
    first_folders = [_folder(client, r) for r in [first.run_id, *children[first.run_id]]]
    first_model = client.get_logged_model(first.source.removeprefix("models:/")).artifact_location
    selected = [
        r for r in children[second.run_id] if client.get_run(r).data.tags["selected"] == "true"
    ]
    others = [_folder(client, r) for r in children[second.run_id] if r not in selected]
    assert len(selected) == 1 and others

    code, output = _prune("--older-than", "0h")

    assert code == 0, output
    assert f"{SERIES} 1 3 1" in output  # a retrain, 1 + 1 candidates, and its model
    assert "Deleted 1 retrain and 3 candidate runs and 1 unused model of 1 series" in output
    left = _runs(client)
    for run_id in [first.run_id, *children[first.run_id]]:
        assert run_id not in left
        with pytest.raises(MlflowException):
            client.get_run(run_id)
    assert not any(folder.exists() for folder in [*first_folders, *others])
    assert not Path(first_model.removeprefix("file://")).exists()
    # the rollback target keeps its retrain run and the candidate it selected, and its model
    assert {second.run_id, *selected} <= set(left)
    assert (_folder(client, second.run_id) / "artifacts" / "candidates.csv").is_file()
    # the champion's retrain is kept whole
    assert {r for r, p in runs.items() if third.run_id in (r, p)} <= set(left)
    state = make_state(isolated_stores)
    with TestClient(create_app(state)) as service:
        served = service.get(f"/v1/series/{SERIES}/forecast")
        assert served.status_code == 200, served.text
        assert served.json()["model"]["version"] == "3"
        client.set_registered_model_alias(name, CHAMPION_ALIAS, "2")  # a rollback
        # picked up here, or by the service's own watcher (every reload_interval) just before:
        # under load the watcher had got there first and this refresh found nothing new
        assert state.board.refresh() in ([SERIES], [])
        rolled_back = service.get(f"/v1/series/{SERIES}/forecast")
        assert rolled_back.status_code == 200, rolled_back.text
        assert rolled_back.json()["model"]["version"] == "2"


def test_a_dry_run_lists_what_would_go_and_deletes_nothing(
    seeded_store: FigureStore, isolated_stores: Path
) -> None:
    client = _train_three_times(seeded_store)
    runs, files = _runs(client), _files(isolated_stores / "artifacts")

    code, output = _prune("--older-than", "0h", "--dry-run")

    assert code == 0, output
    assert f"{SERIES} 0 2 0" in output  # the unselected candidates of version 1 and 2's retrains
    assert "Dry run: nothing deleted. Would delete 0 retrains and 2 candidate runs" in output
    assert "freeing" in output and "of artifacts" in output
    assert "Kept 3 retrains started before" in output
    assert _runs(client) == runs
    assert _files(isolated_stores / "artifacts") == files
    # by default only runs older than 180 days go: these are minutes old
    code, output = _prune()
    assert code == 0, output
    assert "Nothing to prune. No retrain started before" in output
    assert _runs(client) == runs
    # rolled back to version 2, its retrain is the champion's, kept whole as the newest is
    client.set_registered_model_alias(registered_model_name(SERIES), CHAMPION_ALIAS, "2")
    code, output = _prune("--older-than", "0h", "--dry-run")
    assert code == 0, output
    assert "Would delete 0 retrains and 1 candidate run of 1 series" in output
    assert _runs(client) == runs


def test_prune_is_refused_while_a_retrain_holds_the_lock(
    seeded_store: FigureStore, isolated_stores: Path
) -> None:
    client = _train_three_times(seeded_store)
    runs, files = _runs(client), _files(isolated_stores / "artifacts")

    with FileLock(TrainingSettings().retrain_lock):  # another process's retrain is running
        code, output = _prune("--older-than", "0h")

    assert code == 75, output
    assert "a retrain is running (it holds" in output
    assert "nothing was pruned: run it again once the retrain has finished" in output
    assert "Traceback" not in output
    assert _runs(client) == runs
    assert _files(isolated_stores / "artifacts") == files


def test_an_age_it_cannot_read_is_refused_before_anything_is_read() -> None:
    code, output = _prune("--older-than", "6 months")

    assert code == 2
    assert "'6 months': give hours, days or weeks, e.g. 180d, 26w or 12h" in output
