"""MLflow tracking: an experiment per series, a parent run per retrain, a child per candidate."""

from __future__ import annotations

import logging
import math
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Metric, Param, Run, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.tracking.context import registry as context_registry
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from sqlalchemy.engine import make_url

from data.store import SeriesInfo
from training.plots import renderer
from training.selection import CandidateResult, SeriesFit, calibrated_forecast
from training.settings import TrainingSettings

log = logging.getLogger(__name__)

ROLE_TAG = "fraudcast.role"
_MAX_PARAM_LENGTH = 500


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


def last_retrain(client: MlflowClient, experiment_id: str) -> RetrainRecord | None:
    """The newest finished retrain run of an experiment, if any.

    Read from the experiment's newest finished runs (a retrain's parent comes right after its
    own candidates) rather than by a search on the role tag: that search reads the tag of
    every run in the store, so with thousands of series each retrain was slower than the one
    before (benchmarks/SCALING.md, train soak).
    """
    token: str | None = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=_RECENT_RUNS,
            page_token=token,
        )
        for run in page:
            tags = run.data.tags
            if tags.get(ROLE_TAG) == "retrain":
                return RetrainRecord(
                    run_id=run.info.run_id,
                    data_revision=tags.get("data_revision", ""),
                    code_version=tags.get("code_version", ""),
                    decision=tags.get("promotion.decision", ""),
                )
        token = page.token
        if not token:
            return None


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
    source: Mapping[str, str] | None = None,
) -> Iterator[Run]:
    """A parent run for one retrain; if the body raises, the run ends FAILED with the reason."""
    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"retrain {pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M:%S}",
        tags={
            **(source or {}),
            ROLE_TAG: "retrain",
            "series_id": series_id,
            "data_revision": data_revision,
            "code_version": code_version,
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
    mlflow.set_tags({"promotion.decision": "failed", "promotion.reason": reason[:5000]})


def log_failed_retrain(
    experiment_id: str,
    *,
    series_id: str,
    data_revision: str,
    code_version: str,
    error: str,
    source: Mapping[str, str] | None = None,
) -> None:
    """A parent run marked FAILED with the reason, so the failure shows where successes do."""
    with retrain_run(
        experiment_id,
        series_id=series_id,
        data_revision=data_revision,
        code_version=code_version,
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


def retrain_statuses(client: MlflowClient) -> dict[str, RetrainStatus]:
    """The newest ended retrain run of every series, in paged queries over fraudcast's
    experiments, newest first, until every series has one (or the runs run out).

    Runs still marked RUNNING are passed over: either a retrain is under way (the job queue
    reports it) or its process was killed, and then the run before it is what stands.
    """
    experiments = _fraudcast_experiments(client)
    if not experiments:
        return {}
    statuses: dict[str, RetrainStatus] = {}
    token: str | None = None
    while True:
        page = client.search_runs(
            experiments,
            filter_string=f"tags.`{ROLE_TAG}` = 'retrain' and attributes.status != 'RUNNING'",
            order_by=["attributes.start_time DESC"],
            max_results=_PAGE_SIZE,
            page_token=token,
        )
        for run in page:
            series_id = run.data.tags.get("series_id", "")
            if series_id not in statuses:
                statuses[series_id] = _status(series_id, run)
        token = page.token
        if not token or len(statuses) >= len(experiments):
            return statuses


#: Rows per page of the searches that cover every series (MLflow allows up to 50,000 runs).
_PAGE_SIZE = 5000


def _fraudcast_experiments(client: MlflowClient) -> list[str]:
    found: list[str] = []
    token: str | None = None
    while True:
        page = client.search_experiments(
            filter_string="name LIKE 'fraudcast/%'", max_results=_PAGE_SIZE, page_token=token
        )
        found += [experiment.experiment_id for experiment in page]
        token = page.token
        if not token:
            return found


def _status(series_id: str, run: Run) -> RetrainStatus:
    finished = run.info.end_time
    return RetrainStatus(
        series_id=series_id,
        decision=run.data.tags.get("promotion.decision", "running"),
        reason=run.data.tags.get("promotion.reason", ""),
        status=run.info.status,
        data_revision=run.data.tags.get("data_revision", ""),
        finished_at=pd.Timestamp(finished, unit="ms", tz="UTC") if finished else None,
    )


@dataclass
class LoggedCandidates:
    """The child runs of one retrain, and the selected candidate's fan chart (for the parent)."""

    run_ids: dict[str, str] = field(default_factory=dict)
    selected_chart: bytes | None = None
    selected_forecast: pd.DataFrame | None = None


def log_candidates(
    fit: SeriesFit,
    series: SeriesInfo,
    *,
    observed: pd.Series,
    experiment_id: str,
    parent_run_id: str,
    data_revision: str,
    code_version: str,
    chart_horizon: int,
    charts: int,
    client: MlflowClient,
    source: Mapping[str, str] | None = None,
) -> LoggedCandidates:
    """One child run per candidate with params, metrics, tags, backtest and forecast; the
    selected candidate and the next best by backtest MASE, ``charts`` in all, get charts too.

    Each child is three tracking calls (create with its tags, one batch of params and metrics,
    end) and one artifact upload, so a retrain stays cheap on a remote tracking server too.
    """
    logged = LoggedCandidates()
    charted = charted_candidates(fit, charts)
    for candidate in fit.candidates:
        tags = {
            **(source or {}),
            MLFLOW_PARENT_RUN_ID: parent_run_id,
            ROLE_TAG: "candidate",
            "series_id": fit.series_id,
            "data_revision": data_revision,
            "code_version": code_version,
            "selected": str(candidate.name == fit.selected).lower(),
            "selection_reason": fit.reason,
            **({"error": candidate.error[:5000]} if candidate.error else {}),
            **(
                {}
                if candidate.name in charted or candidate.error
                else {"charts": f"not drawn: only the {charts} best candidates get charts"}
            ),
        }
        child = client.create_run(
            experiment_id, run_name=candidate.name, tags=context_registry.resolve_tags(tags)
        )
        run_id = child.info.run_id
        try:
            client.log_batch(
                run_id,
                metrics=_metrics(candidate.metrics),
                params=[Param(k, v) for k, v in _flat_params(candidate).items()],
            )
            forecast, chart = _log_candidate_artifacts(
                client,
                run_id,
                fit,
                candidate,
                series,
                observed,
                chart_horizon,
                charts=candidate.name in charted,
            )
        except BaseException:
            client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
            raise
        client.set_terminated(run_id)
        logged.run_ids[candidate.name] = run_id
        if candidate.name == fit.selected:
            logged.selected_chart, logged.selected_forecast = chart, forecast
    return logged


def charted_candidates(fit: SeriesFit, count: int) -> set[str]:
    """The candidates that get charts: the selected one, then the lowest backtest MASE."""
    ranked = [name for name in candidates_table(fit)["model"] if name != fit.selected]
    fitted = {c.name for c in fit.candidates if c.error is None}
    return {fit.selected, *[name for name in ranked if name in fitted][: max(count - 1, 0)]}


def _metrics(values: dict[str, Any], prefix: str = "") -> list[Metric]:
    """The finite values as MLflow metrics at step 0, stamped now."""
    now = int(time.time() * 1000)
    return [
        Metric(f"{prefix}{key}", float(value), now, 0)
        for key, value in values.items()
        if _is_finite(value)
    ]


def _flat_params(candidate: CandidateResult) -> dict[str, str]:
    params = {"model": candidate.name}
    for key, value in candidate.params.items():
        params[str(key)] = str(value)[:_MAX_PARAM_LENGTH]
    return params


def _is_finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _log_candidate_artifacts(
    client: MlflowClient,
    run_id: str,
    fit: SeriesFit,
    candidate: CandidateResult,
    series: SeriesInfo,
    observed: pd.Series,
    chart_horizon: int,
    *,
    charts: bool,
) -> tuple[pd.DataFrame | None, bytes | None]:
    """Backtest CSV and (for a candidate that fitted) its forecast CSV, with ``charts`` a
    residual plot and fan chart too, in one upload; returns the forecast and the fan chart."""
    forecast, chart = None, None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        candidate.backtest.to_csv(folder / "backtest.csv", index=False)
        title = f"{series.title}: {candidate.name}"
        if charts:
            residuals = renderer().residual_png(candidate.backtest, title=title)
            (folder / "residuals.png").write_bytes(residuals)
        if candidate.error is None:
            forecast = calibrated_forecast(candidate, fit.history).predict(
                chart_horizon, (80.0, 95.0)
            )
            forecast.to_csv(folder / "forecast.csv", index=False)
        if charts and forecast is not None:
            chart = renderer().fan_png(
                observed, forecast, title=title, unit=series.unit, breaks=series.breaks
            )
            (folder / "fan_chart.png").write_bytes(chart)
        client.log_artifacts(run_id, str(folder))
    return forecast, chart


def log_retrain_result(
    client: MlflowClient,
    run_id: str,
    fit: SeriesFit,
    series: SeriesInfo,
    *,
    observed: pd.Series,
    chart_horizon: int,
    candidates: LoggedCandidates,
    record: pd.DataFrame,
    record_summary: dict[str, float],
    decision: str,
    reason: str,
) -> None:
    """On the parent run: the selected model's fan chart, the candidates table and the outgoing
    champions' track record (one upload), and the decision with its metrics (one batch)."""
    selected = next(c for c in fit.candidates if c.name == fit.selected)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        forecast = fit.champion.predict(chart_horizon, (80.0, 95.0))
        chart = candidates.selected_chart
        if chart is None or not _same(forecast, candidates.selected_forecast):
            title = f"{series.title}: {fit.selected}"
            chart = renderer().fan_png(
                observed, forecast, title=title, unit=series.unit, breaks=series.breaks
            )
        (folder / "fan_chart.png").write_bytes(chart)
        candidates_table(fit).to_csv(folder / "candidates.csv", index=False)
        if not record.empty:
            record.to_csv(folder / "track_record.csv", index=False)
        client.log_artifacts(run_id, str(folder))
    tags = {
        "promotion.decision": decision,
        "promotion.reason": reason[:5000],
        "selected_model": fit.selected,
    }
    client.log_batch(
        run_id,
        metrics=_metrics(selected.metrics, "selected.")
        + (_metrics(record_summary) if not record.empty else []),
        tags=[RunTag(key, value) for key, value in tags.items()],
    )


def _same(forecast: pd.DataFrame, other: pd.DataFrame | None) -> bool:
    """True when a candidate's chart already shows exactly this forecast."""
    return other is not None and forecast.equals(other)


def candidates_table(fit: SeriesFit) -> pd.DataFrame:
    """Every candidate with its headline backtest metrics, best MASE first."""
    rows = [
        {"model": c.name, **c.metrics, "selected": c.name == fit.selected, "error": c.error or ""}
        for c in fit.candidates
    ]
    table = pd.DataFrame(rows)
    if "mase" in table:
        table = table.sort_values("mase", na_position="last")
    return table.reset_index(drop=True)
