"""MLflow tracking: an experiment per series, a parent run per retrain, a child per candidate."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from data.store import SeriesInfo
from training.plots import fan_chart, residual_chart, to_png
from training.selection import CandidateResult, SeriesFit, calibrated_forecast
from training.settings import TrainingSettings

ROLE_TAG = "fraudcast.role"
_MAX_PARAM_LENGTH = 500


def experiment_name(series_id: str) -> str:
    """The experiment that holds every retrain of one series."""
    return f"fraudcast/{series_id}"


def connect(settings: TrainingSettings) -> MlflowClient:
    """Point MLflow at the configured tracking store and return a client for it."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri)


def ensure_experiment(client: MlflowClient, settings: TrainingSettings, series_id: str) -> str:
    """The id of the series' experiment, created on first use."""
    name = experiment_name(series_id)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    return str(
        client.create_experiment(
            name,
            artifact_location=settings.artifact_location(name),
            tags={"series_id": series_id},
        )
    )


@dataclass(frozen=True)
class RetrainRecord:
    """What the last retrain of a series was trained on and how it ended."""

    run_id: str
    data_revision: str
    code_version: str
    decision: str


def last_retrain(client: MlflowClient, experiment_id: str) -> RetrainRecord | None:
    """The newest finished retrain run of an experiment, if any."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = 'retrain' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    tags = runs[0].data.tags
    return RetrainRecord(
        run_id=runs[0].info.run_id,
        data_revision=tags.get("data_revision", ""),
        code_version=tags.get("code_version", ""),
        decision=tags.get("promotion.decision", ""),
    )


@contextmanager
def retrain_run(
    experiment_id: str, *, series_id: str, data_revision: str, code_version: str
) -> Iterator[Run]:
    """A parent run for one retrain; if the body raises, the run ends FAILED with the reason."""
    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"retrain {pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M:%S}",
        tags={
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
    experiment_id: str, *, series_id: str, data_revision: str, code_version: str, error: str
) -> None:
    """A parent run marked FAILED with the reason, so the failure shows where successes do."""
    with retrain_run(
        experiment_id, series_id=series_id, data_revision=data_revision, code_version=code_version
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
    """The newest ended retrain run of every series, in one query over fraudcast's experiments.

    Runs still marked RUNNING are passed over: either a retrain is under way (the job queue
    reports it) or its process was killed, and then the run before it is what stands.
    """
    experiments = [
        e.experiment_id
        for e in client.search_experiments(
            filter_string="name LIKE 'fraudcast/%'", max_results=5000
        )
    ]
    if not experiments:
        return {}
    statuses: dict[str, RetrainStatus] = {}
    for run in client.search_runs(
        experiments,
        filter_string=f"tags.`{ROLE_TAG}` = 'retrain' and attributes.status != 'RUNNING'",
        order_by=["attributes.start_time DESC"],
        max_results=5000,
    ):
        series_id = run.data.tags.get("series_id", "")
        if series_id in statuses:
            continue
        finished = run.info.end_time
        statuses[series_id] = RetrainStatus(
            series_id=series_id,
            decision=run.data.tags.get("promotion.decision", "running"),
            reason=run.data.tags.get("promotion.reason", ""),
            status=run.info.status,
            data_revision=run.data.tags.get("data_revision", ""),
            finished_at=pd.Timestamp(finished, unit="ms", tz="UTC") if finished else None,
        )
    return statuses


def log_candidates(
    fit: SeriesFit,
    series: SeriesInfo,
    *,
    observed: pd.Series,
    experiment_id: str,
    data_revision: str,
    code_version: str,
    chart_horizon: int,
) -> dict[str, str]:
    """One child run per candidate with params, metrics, tags and charts; returns name → run id."""
    run_ids: dict[str, str] = {}
    for candidate in fit.candidates:
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=candidate.name, nested=True
        ) as child:
            mlflow.set_tags(
                {
                    ROLE_TAG: "candidate",
                    "series_id": fit.series_id,
                    "data_revision": data_revision,
                    "code_version": code_version,
                    "selected": str(candidate.name == fit.selected).lower(),
                    "selection_reason": fit.reason,
                    **({"error": candidate.error[:5000]} if candidate.error else {}),
                }
            )
            mlflow.log_params(_flat_params(candidate))
            finite = {k: float(v) for k, v in candidate.metrics.items() if _is_finite(v)}
            if finite:
                mlflow.log_metrics(finite)
            _log_candidate_artifacts(fit, candidate, series, observed, chart_horizon)
            run_ids[candidate.name] = child.info.run_id
    return run_ids


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
    fit: SeriesFit,
    candidate: CandidateResult,
    series: SeriesInfo,
    observed: pd.Series,
    chart_horizon: int,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        candidate.backtest.to_csv(folder / "backtest.csv", index=False)
        title = f"{series.title}: {candidate.name}"
        (folder / "residuals.png").write_bytes(
            to_png(residual_chart(candidate.backtest, title=title))
        )
        if candidate.error is None:
            forecast = calibrated_forecast(candidate, fit.history).predict(
                chart_horizon, (80.0, 95.0)
            )
            chart = fan_chart(
                observed, forecast, title=title, unit=series.unit, breaks=series.breaks
            )
            (folder / "fan_chart.png").write_bytes(to_png(chart))
            forecast.to_csv(folder / "forecast.csv", index=False)
        mlflow.log_artifacts(str(folder))


def log_decision(*, decision: str, reason: str, selected: str, metrics: dict[str, float]) -> None:
    """Record on the active parent run whether the candidate was promoted, and why."""
    mlflow.set_tags(
        {
            "promotion.decision": decision,
            "promotion.reason": reason[:5000],
            "selected_model": selected,
        }
    )
    finite = {f"selected.{k}": float(v) for k, v in metrics.items() if _is_finite(v)}
    if finite:
        mlflow.log_metrics(finite)


def log_track_record(record: pd.DataFrame, summary: dict[str, float]) -> None:
    """The outgoing champions' scored forecasts on the active parent run, as metrics and CSV."""
    if record.empty:
        return
    finite = {key: value for key, value in summary.items() if _is_finite(value)}
    if finite:
        mlflow.log_metrics(finite)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "track_record.csv"
        record.to_csv(path, index=False)
        mlflow.log_artifact(str(path))


def log_selected_artifacts(
    fit: SeriesFit, series: SeriesInfo, *, observed: pd.Series, chart_horizon: int
) -> None:
    """The selected model's fan chart and the candidates table on the parent run."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        forecast = fit.champion.predict(chart_horizon, (80.0, 95.0))
        title = f"{series.title}: {fit.selected}"
        chart = fan_chart(observed, forecast, title=title, unit=series.unit, breaks=series.breaks)
        (folder / "fan_chart.png").write_bytes(to_png(chart))
        candidates_table(fit).to_csv(folder / "candidates.csv", index=False)
        mlflow.log_artifacts(str(folder))


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
