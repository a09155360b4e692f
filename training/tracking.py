"""MLflow tracking: an experiment per series, a parent run per retrain, a child per candidate."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

import mlflow
import pandas as pd
from mlflow.entities import Experiment, Run, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList
from mlflow.tracking import MlflowClient
from mlflow.tracking.context import registry as context_registry
from sqlalchemy.engine import make_url

from data.records import format_breaks
from training.outcome import Outcome
from training.settings import TrainingSettings

log = logging.getLogger(__name__)
#: An item of a paged MLflow search (``paged``).
T = TypeVar("T")

ROLE_TAG = "fraudcast.role"
#: why a retrain ran (``fraudcast train``, figures through the API, the weekly schedule, …)
TRIGGER_TAG = "fraudcast.trigger"
#: "true" when it retrained whatever had changed (``--force``)
FORCED_TAG = "fraudcast.forced"
#: Tag of a retrain run: the definition breaks declared when it ran (``2010;2018``; empty: none).
BREAKS_TAG = "breaks"
#: Why a run left RUNNING by a process that died was closed (MLflow's note shows it in the UI).
ORPHAN_REASON = "process ended without finishing"
#: The decision of a retrain closed that way: no outcome, so not the series' last retrain.
ABANDONED = "abandoned"


def experiment_name(series_id: str) -> str:
    """The experiment that holds every retrain of one series."""
    return f"fraudcast/{series_id}"


def connect(settings: TrainingSettings) -> MlflowClient:
    """Point MLflow at the configured tracking store and return a client for it."""
    uri = settings.mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if uri.startswith("sqlite:"):
        _write_ahead_log(uri)
    client = MlflowClient(tracking_uri=uri)
    if uri.startswith("sqlite:"):
        _index_runs_by_experiment(uri)
    return client


#: MLflow's schema leaves ``runs.experiment_id`` unindexed (mlflow/mlflow#3785 indexed only
#: the run ids), so every search within one series' experiment reads every run in the store.
_RUNS_INDEX = (
    "CREATE INDEX IF NOT EXISTS fraudcast_runs_experiment ON runs (experiment_id, start_time)"
)


@cache
def _index_runs_by_experiment(uri: str) -> None:
    """Index MLflow's runs by experiment in a SQLite tracking store (once; the file keeps it).

    A retrain looks up its series' last retrain; without the index that costs a scan of all
    runs, so with thousands of series each retrain was slower than the one before. Harmless
    to MLflow (an index changes no result), and made again if an upgrade drops it.
    """
    database = make_url(uri).database
    if not database or database == ":memory:":
        return
    try:
        connection = sqlite3.connect(database, timeout=20)
        try:
            connection.execute(_RUNS_INDEX)
        finally:
            connection.close()
    except sqlite3.Error as error:  # busy or read-only: MLflow works without it, only slower
        log.warning("could not index the runs of %s by experiment: %s", database, error)


@cache
def _write_ahead_log(uri: str) -> None:
    """Switch a SQLite tracking store to write-ahead logging (once; the file keeps it).

    Retrains write from several processes at once (``--jobs``) while the API and the MLflow UI
    read: in WAL mode readers and the writer never wait for each other, and writers queue on
    MLflow's 20 s busy timeout instead of failing with "database is locked".
    """
    database = make_url(uri).database
    if not database or database == ":memory:":
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(database, timeout=20)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
        finally:
            connection.close()
    except sqlite3.Error as error:  # busy or read-only: MLflow works without it, only slower
        log.warning("could not switch %s to write-ahead logging: %s", database, error)


def experiment_of_run(client: MlflowClient, run_id: str | None) -> str:
    """The experiment id of a run ("" when there is no run or it cannot be read: a link to it
    is then left out, and nothing else depends on it)."""
    if not run_id:
        return ""
    try:
        return str(client.get_run(run_id).info.experiment_id)
    except MlflowException as error:
        log.warning("could not read the experiment of run %s: %s", run_id, error)
        return ""


def ensure_experiment(client: MlflowClient, settings: TrainingSettings, series_id: str) -> str:
    """The id of the series' experiment, created on first use."""
    name = experiment_name(series_id)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    try:
        return str(
            client.create_experiment(
                name,
                artifact_location=settings.artifact_location(name),
                tags={"series_id": series_id},
            )
        )
    except MlflowException:  # made meanwhile by another process
        existing = client.get_experiment_by_name(name)
        if existing is None:
            raise
        return str(existing.experiment_id)


@dataclass(frozen=True)
class RetrainRecord:
    """What the last retrain of a series was trained on and how it ended."""

    run_id: str
    data_revision: str
    code_version: str
    decision: str
    #: the definition breaks it was given (``format_breaks``); None: a run from before they
    #: were recorded (its code version differs from any that records them)
    breaks: str | None = None


def last_retrain(client: MlflowClient, experiment_id: str) -> RetrainRecord | None:
    """The newest finished retrain run of an experiment, if any.

    Read from the experiment's newest finished runs (a retrain's parent comes right after its
    own candidates) rather than by a search on the role tag: that search reads the tag of
    every run in the store, so with thousands of series each retrain was slower than the one
    before (benchmarks/SCALING.md, train soak).
    """
    runs = paged(
        lambda token: client.search_runs(
            [experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=_RECENT_RUNS,
            page_token=token,
        )
    )
    for run in runs:
        tags = run.data.tags
        if tags.get(ROLE_TAG) == "retrain":
            return RetrainRecord(
                run_id=run.info.run_id,
                data_revision=tags.get("data_revision", ""),
                code_version=tags.get("code_version", ""),
                decision=tags.get("promotion.decision", ""),
                breaks=tags.get(BREAKS_TAG),
            )
    return None


def close_orphaned_runs(client: MlflowClient, experiment_id: str) -> int:
    """Mark FAILED, with the reason, every run of a series' experiment still RUNNING; returns
    how many there were.

    Call it only under the retrain lock (``training.locking``): no other retrain of the series
    is under way then, so a RUNNING run was left by a process killed mid-retrain (``kill -9``,
    a lost machine), and without this it would show as running in the MLflow UI for ever.
    """
    closed = 0
    while True:  # closed runs leave the filter, so each search starts afresh
        orphans = client.search_runs(
            [experiment_id],
            filter_string="attributes.status = 'RUNNING'",
            max_results=_PAGE_SIZE,
        )
        if not orphans:
            return closed
        when = pd.Timestamp.now(tz="UTC")
        note = f"{ORPHAN_REASON}: closed by the series' next retrain at {when:%Y-%m-%d %H:%M} UTC"
        for run in orphans:
            tags = {"mlflow.note.content": note}
            if run.data.tags.get(ROLE_TAG) == "retrain":
                tags.update({"promotion.decision": ABANDONED, "promotion.reason": note})
            else:
                tags["error"] = note
            client.log_batch(run.info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
        closed += len(orphans)
        series = orphans[0].data.tags.get("series_id") or f"experiment {experiment_id}"
        log.warning("closed %d run(s) of %s: %s", len(orphans), series, note)


#: Runs read per page when looking for a series' newest retrain (a retrain logs about ten:
#: its candidates, then itself).
_RECENT_RUNS = 12


def source_tags() -> dict[str, str]:
    """MLflow's tags for who started this process and how (user, source), to put on the runs
    that worker processes log for it: a worker would name its own bootstrap instead."""
    return dict(context_registry.resolve_tags())


@contextmanager
def retrain_run(
    experiment_id: str,
    *,
    series_id: str,
    data_revision: str,
    code_version: str,
    breaks: tuple[int, ...] = (),
    source: Mapping[str, str] | None = None,
) -> Iterator[Run]:
    """A parent run for one retrain; if the body raises, the run ends FAILED with the reason.
    It is tagged with what the retrain was given: figures (their hash), code and the
    definition breaks declared then."""
    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"retrain {pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M:%S}",
        tags={
            **(source or {}),
            ROLE_TAG: "retrain",
            "series_id": series_id,
            "data_revision": data_revision,
            "code_version": code_version,
            BREAKS_TAG: format_breaks(breaks),
        },
    )
    try:
        yield run
    except BaseException as error:
        mark_failed(f"{type(error).__name__}: {error}")
        mlflow.end_run(status="FAILED" if isinstance(error, Exception) else "KILLED")
        raise
    mlflow.end_run()


def mark_failed(reason: str) -> None:
    """Tag the active retrain run as failed, with the reason."""
    mlflow.set_tags({"promotion.decision": Outcome.FAILED, "promotion.reason": reason[:5000]})


def log_failed_retrain(
    experiment_id: str,
    *,
    series_id: str,
    data_revision: str,
    code_version: str,
    error: str,
    breaks: tuple[int, ...] = (),
    source: Mapping[str, str] | None = None,
) -> None:
    """A parent run marked FAILED with the reason, so the failure shows where successes do."""
    with retrain_run(
        experiment_id,
        series_id=series_id,
        data_revision=data_revision,
        code_version=code_version,
        breaks=breaks,
        source=source,
    ):
        mark_failed(error)
        mlflow.end_run(status="FAILED")


@dataclass(frozen=True)
class RetrainStatus:
    """How the newest retrain of a series ended, whatever the outcome."""

    series_id: str
    decision: str
    reason: str
    status: str
    data_revision: str
    finished_at: pd.Timestamp | None
    #: as ``RetrainRecord.breaks``
    breaks: str | None = None


def retrain_statuses(client: MlflowClient) -> dict[str, RetrainStatus]:
    """The newest ended retrain run of every series, in paged queries over fraudcast's
    experiments, newest first, until every series has one (or the runs run out).

    Runs still marked RUNNING are passed over: either a retrain is under way (the job queue
    reports it) or its process was killed, and then the run before it is what stands; so are
    the runs of killed retrains that a later one closed (``ABANDONED``).
    """
    experiments = [experiment.experiment_id for experiment in fraudcast_experiments(client)]
    if not experiments:
        return {}
    statuses: dict[str, RetrainStatus] = {}
    runs = paged(
        lambda token: client.search_runs(
            experiments,
            filter_string=f"tags.`{ROLE_TAG}` = 'retrain' and attributes.status != 'RUNNING'",
            order_by=["attributes.start_time DESC"],
            max_results=_PAGE_SIZE,
            page_token=token,
        )
    )
    for run in runs:
        series_id = run.data.tags.get("series_id", "")
        if run.data.tags.get("promotion.decision") == ABANDONED:
            continue
        if series_id not in statuses:
            statuses[series_id] = _status(series_id, run)
            if len(statuses) >= len(experiments):
                break  # every series has one: no further page
    return statuses


#: Rows per page of the searches that cover every series (MLflow allows up to 50,000 runs).
_PAGE_SIZE = 5000


def paged(search: Callable[[str | None], PagedList[T]]) -> Iterator[T]:
    """Every item of an MLflow search, page after page: ``search`` takes the page token (None
    for the first page). Stopping early fetches no further page."""
    token: str | None = None
    while True:
        page = search(token)
        yield from page
        token = page.token
        if not token:
            return


def fraudcast_experiments(client: MlflowClient) -> list[Experiment]:
    """Every series' experiment (``fraudcast/<series_id>``), in pages."""
    return list(
        paged(
            lambda token: client.search_experiments(
                filter_string="name LIKE 'fraudcast/%'", max_results=_PAGE_SIZE, page_token=token
            )
        )
    )


def _status(series_id: str, run: Run) -> RetrainStatus:
    finished = run.info.end_time
    return RetrainStatus(
        series_id=series_id,
        decision=run.data.tags.get("promotion.decision", "running"),
        reason=run.data.tags.get("promotion.reason", ""),
        status=run.info.status,
        data_revision=run.data.tags.get("data_revision", ""),
        finished_at=pd.Timestamp(finished, unit="ms", tz="UTC") if finished else None,
        breaks=run.data.tags.get(BREAKS_TAG),
    )
