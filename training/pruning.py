"""Pruning old retrain runs from MLflow: what may go, and deleting it for good.

Every retrain adds a parent run and a child run per candidate, with their artifacts, so the
tracking store grows with every figure added. Runs older than a cutoff go, except those a
person or the service still reads: the newest retrain of each series and the champion's, with
their candidates, and the run that registered each model version still in the registry, with
the candidate it selected (model files of registered versions are never touched).
Deleting is MLflow's soft delete followed by what ``mlflow gc`` does for those runs (their
artifacts removed, their rows hard-deleted); a tracking server only soft-deletes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from mlflow.entities import LifecycleStage, LoggedModel, Run, ViewType
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient, _get_store
from mlflow.utils.file_utils import local_file_uri_to_path
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from training.registry import CHAMPION_ALIAS, registered_model_name
from training.settings import TrainingSettings
from training.tracking import ROLE_TAG, fraudcast_experiments, paged

#: Runs read per page (MLflow allows up to 50,000).
_PAGE_SIZE = 5000


@dataclass
class SeriesPrune:
    """What goes from one series' experiment."""

    series_id: str
    retrains: int = 0
    candidates: int = 0
    #: logged models no registered version uses, whose retrain goes
    models: int = 0
    #: bytes of the artifacts that go; None where they cannot be measured (a tracking server)
    size: int | None = 0

    def add_size(self, size: int | None) -> None:
        self.size = None if size is None or self.size is None else self.size + size


@dataclass(frozen=True)
class TrackedRun:
    """What pruning needs of a run (a page of full runs, metrics and all, would be large)."""

    run_id: str
    experiment_id: str
    artifact_uri: str
    started: int  # ms since the epoch
    status: str
    deleted: bool
    role: str | None
    parent_run_id: str | None
    #: a candidate its retrain selected
    selected: bool

    @classmethod
    def of(cls, run: Run) -> TrackedRun:
        info, tags = run.info, run.data.tags
        return cls(
            run_id=info.run_id,
            experiment_id=info.experiment_id,
            artifact_uri=info.artifact_uri,
            started=info.start_time or 0,
            status=info.status,
            deleted=info.lifecycle_stage == LifecycleStage.DELETED,
            role=tags.get(ROLE_TAG),
            parent_run_id=tags.get(MLFLOW_PARENT_RUN_ID),
            selected=tags.get("selected") == "true",
        )


@dataclass
class PrunePlan:
    """The retrains older than the cutoff that go with their candidates and unused models, and
    the old candidates of the retrains kept, by series; how many old retrains stay."""

    cutoff: datetime
    runs: list[TrackedRun] = field(default_factory=list)
    models: list[LoggedModel] = field(default_factory=list)
    by_series: dict[str, SeriesPrune] = field(default_factory=dict)
    #: old retrains kept: the newest of their series, the champion's, or a registered version's
    kept_retrains: int = 0

    @property
    def size(self) -> int | None:
        """Bytes of artifacts freed (None when not measurable)."""
        sizes = [series.size for series in self.by_series.values()]
        return None if None in sizes else sum(size or 0 for size in sizes)


#: How long after its retrain's start a candidate run may start (a retrain of one series takes
#: seconds to minutes): candidates go with their retrain, even across the cutoff.
_RETRAIN_SPAN = timedelta(days=1)


def plan_prune(
    client: MlflowClient, settings: TrainingSettings, older_than: timedelta, now: datetime
) -> PrunePlan:
    """The retrains started more than ``older_than`` before ``now`` that may go, with their
    candidates, and how many old ones stay.

    Kept whatever their age: the newest retrain of each series and its newest finished one
    (``tracking.last_retrain`` reads it to skip unchanged figures), with their candidates; the
    champion's retrain with its candidates (the page links to it, to compare them); and the
    retrain run of every registered version still in the registry with its selected
    candidate (a rollback can move the champion alias to it; its model files are not a run's
    and are never deleted), while its other candidates go once old, their scores staying in
    its candidates table. Runs still RUNNING stay too. Raises when the registry cannot be
    read: nothing is planned blind.

    Through a tracking server, runs it already marked deleted are not listed again (only its
    own ``mlflow gc`` can remove them) and sizes are not measured (its artifact store is not
    this machine's to read).
    """
    cutoff = now - older_than
    experiments = {e.experiment_id: e.name for e in fraudcast_experiments(client)}
    plan = PrunePlan(cutoff)
    if not experiments:
        return plan
    versions = _registered_versions(client)
    whole = _newest_retrains(client, list(experiments)) | {
        v.run_id for v in versions if v.run_id and CHAMPION_ALIAS in v.aliases
    }
    parents_kept = whole | {v.run_id for v in versions if v.run_id}
    before = int(cutoff.timestamp() * 1000)
    server = settings.on_tracking_server
    runs = _runs_started_before(
        client, list(experiments), cutoff + _RETRAIN_SPAN, deleted_too=not server
    )
    going = {
        run.run_id
        for run in runs
        if run.role == "retrain"
        and run.started < before
        and run.run_id not in parents_kept
        and run.status != "RUNNING"
    }
    plan.kept_retrains = sum(
        run.role == "retrain" and run.started < before and run.run_id in parents_kept
        for run in runs
    )
    for run in runs:
        if run.status == "RUNNING":
            continue
        if run.role == "retrain":
            if run.run_id in going:
                plan.runs.append(run)
            continue
        parent = run.parent_run_id
        if parent is None or parent in whole:
            continue  # not a run fraudcast logged, or a candidate of a retrain kept whole
        if parent in going:
            plan.runs.append(run)
        elif run.started < before and not (parent in parents_kept and run.selected):
            plan.runs.append(run)  # an old candidate its registered retrain did not select
    plan.runs.sort(key=lambda run: run.role == "retrain")  # candidates before their retrain
    for run in plan.runs:
        series = _series_of(plan, experiments[run.experiment_id])
        if run.role == "retrain":
            series.retrains += 1
        else:
            series.candidates += 1
        series.add_size(None if server else _folder_size(_run_folder(run)))
    used = {v.model_id for v in versions if v.model_id}
    for model in _logged_models(client, list(experiments)):
        if model.source_run_id in going and model.model_id not in used:
            plan.models.append(model)
            series = _series_of(plan, experiments[model.experiment_id])
            series.models += 1
            local = None if server else _local_path(model.artifact_location)
            series.add_size(_folder_size(local))
    return plan


def prune(
    client: MlflowClient,
    settings: TrainingSettings,
    plan: PrunePlan,
    on_deleted: Callable[[], None],
) -> None:
    """Delete what ``plan`` lists: MLflow's soft delete, then, on a database store, the
    artifacts and the rows, as ``mlflow gc`` does for those runs (a tracking server's own
    ``mlflow gc`` does that there). ``on_deleted`` is called after each run or model."""
    uri = settings.mlflow_tracking_uri
    # the store and its _hard_delete_* are what `mlflow gc` calls: MLflow has no public way
    store = None if settings.on_tracking_server else _get_store(uri)
    if store is not None and not hasattr(store, "_hard_delete_run"):
        raise MlflowException(f"the tracking store at {uri} cannot delete runs for good")
    for run in plan.runs:
        if not run.deleted:
            client.delete_run(run.run_id)
        if store is not None:
            _remove_artifacts(run.artifact_uri, _run_folder(run))
            store._hard_delete_run(run.run_id)
        on_deleted()
    for model in plan.models:
        client.delete_logged_model(model.model_id)
        if store is not None:
            location = model.artifact_location
            _remove_artifacts(location, _local_path(location))
            store._hard_delete_logged_model(model.model_id)
        on_deleted()


def _registered_versions(client: MlflowClient) -> list[_Version]:
    """Every version of every series' registered model, with the aliases pointing at it."""
    aliases: dict[tuple[str, str], list[str]] = {}
    prefix = registered_model_name("")
    models = paged(
        lambda token: client.search_registered_models(
            filter_string=f"name LIKE '{prefix}%'", max_results=1000, page_token=token
        )
    )
    for model in models:
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault((model.name, str(version)), []).append(alias)
    versions = paged(
        lambda token: client.search_model_versions(f"name LIKE '{prefix}%'", page_token=token)
    )
    return [
        _Version(
            version.run_id,
            _model_id(version),
            aliases.get((version.name, str(version.version)), []),
        )
        for version in versions
    ]


def _model_id(version: ModelVersion) -> str | None:
    """The logged model a version serves: its ``model_id``, which a SQL registry leaves empty,
    else the id in its ``models:/<id>`` source."""
    if version.model_id:
        return str(version.model_id)
    source = version.source or ""
    if source.startswith("models:/"):
        return source.removeprefix("models:/").split("/")[0]
    return None


@dataclass(frozen=True)
class _Version:
    run_id: str | None
    model_id: str | None
    aliases: list[str]


def _newest_retrains(client: MlflowClient, experiment_ids: list[str]) -> set[str]:
    """The newest retrain run of each series' experiment, and its newest finished one."""
    newest: dict[str, str] = {}
    finished: dict[str, str] = {}
    runs = paged(
        lambda token: client.search_runs(
            experiment_ids,
            filter_string=f"tags.`{ROLE_TAG}` = 'retrain'",
            run_view_type=ViewType.ACTIVE_ONLY,
            order_by=["attributes.start_time DESC"],
            max_results=_PAGE_SIZE,
            page_token=token,
        )
    )
    for run in runs:
        experiment = run.info.experiment_id
        newest.setdefault(experiment, run.info.run_id)
        if run.info.status == "FINISHED":
            finished.setdefault(experiment, run.info.run_id)
    return set(newest.values()) | set(finished.values())


def _runs_started_before(
    client: MlflowClient, experiment_ids: list[str], cutoff: datetime, *, deleted_too: bool
) -> list[TrackedRun]:
    """Every run of the experiments started before ``cutoff``; ``deleted_too``: soft-deleted
    ones as well (a prune interrupted after MLflow's soft delete is finished by the next)."""
    before = int(cutoff.timestamp() * 1000)
    runs = paged(
        lambda token: client.search_runs(
            experiment_ids,
            filter_string=f"attributes.start_time < {before}",
            run_view_type=ViewType.ALL if deleted_too else ViewType.ACTIVE_ONLY,
            max_results=_PAGE_SIZE,
            page_token=token,
        )
    )
    return [TrackedRun.of(run) for run in runs]


def _logged_models(client: MlflowClient, experiment_ids: list[str]) -> Iterator[LoggedModel]:
    return paged(lambda token: client.search_logged_models(experiment_ids, page_token=token))


def _series_of(plan: PrunePlan, experiment_name: str) -> SeriesPrune:
    series_id = experiment_name.removeprefix("fraudcast/")
    return plan.by_series.setdefault(series_id, SeriesPrune(series_id))


def _local_path(uri: str) -> Path | None:
    """The folder of a ``file:`` artifact location (or a bare path); None elsewhere."""
    if uri.startswith("file:"):
        return Path(local_file_uri_to_path(uri))
    if "://" not in uri and not uri.startswith(("mlflow-artifacts:", "models:", "runs:")):
        return Path(uri)
    return None


def _run_folder(run: TrackedRun) -> Path | None:
    """The run's own folder (``<experiment>/<run id>``, holding ``artifacts/``) when local."""
    artifacts = _local_path(run.artifact_uri)
    return artifacts.parent if artifacts is not None else None


def _folder_size(folder: Path | None) -> int | None:
    """The disk space a folder takes, as ``du`` counts it (its small files take a block each,
    and its folders too); None when it is not local."""
    if folder is None:
        return None
    if not folder.is_dir():
        return 0
    paths = [folder, *folder.rglob("*")]
    return sum(path.lstat().st_blocks * 512 for path in paths)


def _remove_artifacts(uri: str, folder: Path | None) -> None:
    """Remove a run's or model's artifacts: its whole local folder (MLflow's repository would
    leave it behind, empty), else through MLflow's artifact repository for the URI."""
    if folder is not None:
        if folder.exists():
            shutil.rmtree(folder)
        return
    get_artifact_repository(uri).delete_artifacts()
