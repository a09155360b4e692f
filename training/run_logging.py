"""What one retrain writes to MLflow: a child run per candidate (params, metrics, backtest and
forecast CSVs, charts for the best few; on a SQL store all of a series' candidates in one
transaction) and, on the parent run, the selected model's chart, the candidates table and the
promotion decision. ``tracking`` finds and opens the runs."""

from __future__ import annotations

import math
import secrets
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.entities import LifecycleStage, Metric, Param, RunInfo, RunStatus, RunTag, SourceType
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.store.tracking.dbmodels.models import (
    SqlLatestMetric,
    SqlMetric,
    SqlParam,
    SqlRun,
    SqlTag,
)
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.tracking import MlflowClient
from mlflow.tracking.context import registry as context_registry
from mlflow.utils.mlflow_tags import (
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_RUN_NAME,
    MLFLOW_RUN_NOTE,
    MLFLOW_USER,
)
from mlflow.utils.uri import append_to_uri_path
from sqlalchemy import insert

from data.store import SeriesInfo
from training.evidence import PopulationEvidence
from training.plots import chart_title, renderer
from training.population import SMALL_POPULATION
from training.selection import CandidateResult, SeriesFit, calibrated_forecast
from training.tracking import ROLE_TAG

_MAX_PARAM_LENGTH = 500


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

    Everything is prepared first, then written in one go (``_write_runs``): on a SQL tracking
    store every candidate run of the series in one transaction, so they appear together or not
    at all; on a tracking server three calls and one upload per run.
    """
    logged = LoggedCandidates()
    charted = charted_candidates(fit, charts)
    # MLflow's context tags (user, source, git commit) are the same for every child: once
    shared = context_registry.resolve_tags(
        {
            **(source or {}),
            MLFLOW_PARENT_RUN_ID: parent_run_id,
            ROLE_TAG: "candidate",
            "series_id": fit.series_id,
            "data_revision": data_revision,
            "code_version": code_version,
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        runs: list[_PreparedRun] = []
        for candidate in fit.candidates:
            folder = Path(tmp) / str(len(runs))
            folder.mkdir()
            forecast, chart = _write_candidate_artifacts(
                folder,
                fit,
                candidate,
                series,
                observed,
                chart_horizon,
                charts=candidate.name in charted,
            )
            if candidate.name == fit.selected:
                logged.selected_chart, logged.selected_forecast = chart, forecast
            selected = candidate.name == fit.selected
            tags = {
                **shared,
                "selected": str(selected).lower(),
                # why it was chosen, on its own run only: every candidate's run had read
                # "lowest expected error ...", naive's too
                **({"selection_reason": fit.reason[:5000]} if selected else {}),
                **({"error": candidate.error[:5000]} if candidate.error else {}),
                **(
                    {}
                    if candidate.name in charted or candidate.error
                    else {"charts": _not_drawn(charts)}
                ),
            }
            runs.append(
                _PreparedRun(
                    name=candidate.name,
                    tags=tags,
                    params=_flat_params(candidate),
                    metrics=_metrics(candidate.metrics),
                    artifacts=folder,
                )
            )
        logged.run_ids = _write_runs(client, experiment_id, runs)
    return logged


@dataclass(frozen=True)
class _PreparedRun:
    """A finished run ready to write: its name, tags, params, metrics and a folder holding its
    artifacts."""

    name: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: list[Metric]
    artifacts: Path


def _write_runs(
    client: MlflowClient, experiment_id: str, runs: list[_PreparedRun]
) -> dict[str, str]:
    """Write ``runs`` as FINISHED runs of the experiment; returns their ids by name.

    A SQL tracking store (SQLite, PostgreSQL, ...) gets every run in one transaction, through
    MLflow's own table definitions: per run, ``create_run``, ``log_batch`` and
    ``set_terminated`` would each open a session, read the run back and commit, about 45 SQL
    statements and 30 ms of CPU a run. A tracking server gets those three calls per run.
    """
    store = _sql_store(client)
    if store is None:
        return {run.name: _write_run_through_client(client, experiment_id, run) for run in runs}
    experiment = store.get_experiment(experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise MlflowException(f"The experiment {experiment_id} is deleted, not active.")
    now = int(time.time() * 1000)
    rows: dict[str, list[dict[str, Any]]] = {table: [] for table in _SQL_TABLES}
    run_ids: dict[str, str] = {}
    for run in runs:
        run_id = _new_run_id()
        artifact_uri = append_to_uri_path(experiment.artifact_location, run_id, "artifacts")
        _upload(client, artifact_uri, run.artifacts)
        rows["runs"].append(
            {
                "run_uuid": run_id,
                "name": run.name,
                "source_type": SourceType.to_string(SourceType.UNKNOWN),
                "source_name": "",
                "entry_point_name": "",
                "user_id": run.tags.get(MLFLOW_USER, "unknown"),
                "status": RunStatus.to_string(RunStatus.FINISHED),
                "start_time": now,
                "end_time": now,
                "deleted_time": None,
                "source_version": "",
                "lifecycle_stage": LifecycleStage.ACTIVE,
                "artifact_uri": artifact_uri,
                "experiment_id": int(experiment_id),
            }
        )
        tags = {**run.tags, MLFLOW_RUN_NAME: run.name}  # as create_run adds it
        rows["tags"] += [{"run_uuid": run_id, "key": k, "value": v} for k, v in tags.items()]
        rows["params"] += [
            {"run_uuid": run_id, "key": k, "value": v} for k, v in run.params.items()
        ]
        # one value a key at step 0: each metric is also its run's latest
        metrics = [
            {
                "run_uuid": run_id,
                "key": m.key,
                "value": m.value,
                "timestamp": m.timestamp,
                "step": m.step,
                "is_nan": False,
            }
            for m in run.metrics
        ]
        rows["metrics"] += metrics
        rows["latest_metrics"] += metrics
        run_ids[run.name] = run_id
    _insert_rows(store, rows)
    return run_ids


def _new_run_id() -> str:
    """A run id like MLflow's (32 hex digits) but in time order, as a UUIDv7 (RFC 9562) is:
    the time in nanoseconds, then 64 random bits.

    MLflow indexes tags, params and metrics by run id. Random ids scatter each series' rows
    over the whole of those indexes: once the store outgrows SQLite's page cache, every row
    costs a page read and a page written. Ids in time order land together at the end.
    """
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def _insert_rows(store: SqlAlchemyStore, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Every row in one transaction of MLflow's own session (its SQLite pragmas, its retries):
    all the runs or none."""
    with store.ManagedSessionMaker(read_only=False) as session:
        for table, model in _SQL_TABLES.items():
            if rows[table]:
                session.execute(insert(model.__table__), rows[table])


#: MLflow's tables of a run, in the order their rows must go in (the runs first).
_SQL_TABLES: dict[str, type[Any]] = {
    "runs": SqlRun,
    "tags": SqlTag,
    "params": SqlParam,
    "metrics": SqlMetric,
    "latest_metrics": SqlLatestMetric,
}


def _sql_store(client: MlflowClient) -> SqlAlchemyStore | None:
    """The client's tracking store when it is a SQL database MLflow opens itself."""
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    return store if isinstance(store, SqlAlchemyStore) else None


def _write_run_through_client(client: MlflowClient, experiment_id: str, run: _PreparedRun) -> str:
    """One run through the tracking API: create it with its tags, one batch of params and
    metrics, one upload, end it (FAILED, and the error raised again, if any step fails)."""
    child = client.create_run(experiment_id, run_name=run.name, tags=run.tags)
    run_id = child.info.run_id
    try:
        client.log_batch(
            run_id,
            metrics=run.metrics,
            params=[Param(k, v) for k, v in run.params.items()],
        )
        _upload(client, child.info.artifact_uri, run.artifacts)
    except BaseException:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(run_id)
    return run_id


def charted_candidates(fit: SeriesFit, count: int) -> set[str]:
    """The candidates that get charts: the selected one, then the lowest backtest MASE."""
    ranked = [name for name in candidates_table(fit)["model"] if name != fit.selected]
    fitted = {c.name for c in fit.candidates if c.error is None}
    return {fit.selected, *[name for name in ranked if name in fitted][: max(count - 1, 0)]}


def _not_drawn(charts: int) -> str:
    """The tag on a candidate run without charts, saying why and how to get them."""
    which = "the selected candidate gets" if charts == 1 else f"the {charts} best candidates get"
    return f"not drawn: only {which} charts (FRAUDCAST_CANDIDATE_CHARTS)"


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


def _write_candidate_artifacts(
    folder: Path,
    fit: SeriesFit,
    candidate: CandidateResult,
    series: SeriesInfo,
    observed: pd.Series,
    chart_horizon: int,
    *,
    charts: bool,
) -> tuple[pd.DataFrame | None, bytes | None]:
    """Backtest CSV and (for a candidate that fitted) its forecast CSV into ``folder``, with
    ``charts`` a residual plot and fan chart too; returns the forecast and the fan chart."""
    forecast, chart = None, None
    candidate.backtest.to_csv(folder / "backtest.csv", index=False)
    title = f"{chart_title(series.title, series.id)}: {candidate.name}"
    if charts:
        residuals = renderer().residual_png(candidate.backtest, title=title)
        (folder / "residuals.png").write_bytes(residuals)
    if candidate.error is None:
        # the selected candidate's is the forecast served, widened where its population's
        # pooled backtests called for it (and its chart is then the parent run's too)
        served = candidate.name == fit.selected
        calibrated = fit.champion if served else calibrated_forecast(candidate, fit.history)
        forecast = calibrated.predict(chart_horizon, fit.levels)
        forecast.to_csv(folder / "forecast.csv", index=False)
    if charts and forecast is not None:
        chart = renderer().fan_png(
            observed, forecast, title=title, unit=series.unit, breaks=series.breaks
        )
        (folder / "fan_chart.png").write_bytes(chart)
    return forecast, chart


def _upload(client: MlflowClient, artifact_uri: str, folder: Path) -> None:
    """Every file of ``folder`` into a run's artifacts at ``artifact_uri`` (its
    ``info.artifact_uri``): ``MlflowClient.log_artifacts`` would first read the whole run back
    (tags, params, metrics) only to learn where its artifacts go."""
    get_artifact_repository(artifact_uri, tracking_uri=client.tracking_uri).log_artifacts(
        str(folder)
    )


def log_retrain_result(
    client: MlflowClient,
    run: RunInfo,
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
    evidence: PopulationEvidence | None = None,
) -> None:
    """On the parent run: the selected model's fan chart, the candidates table, the population
    evidence that drove the choice and the outgoing champions' track record (one upload), and
    the decision with its metrics (one batch)."""
    selected = next(c for c in fit.candidates if c.name == fit.selected)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        forecast = fit.champion.predict(chart_horizon, fit.levels)
        chart = candidates.selected_chart
        if chart is None or not _same(forecast, candidates.selected_forecast):
            title = f"{chart_title(series.title, series.id)}: {fit.selected}"
            chart = renderer().fan_png(
                observed, forecast, title=title, unit=series.unit, breaks=series.breaks
            )
        (folder / "fan_chart.png").write_bytes(chart)
        candidates_table(fit).to_csv(folder / "candidates.csv", index=False)
        if evidence is not None and evidence.models:
            evidence_table(evidence, fit).to_csv(folder / "population_evidence.csv", index=False)
        if not record.empty:
            record.to_csv(folder / "track_record.csv", index=False)
        _upload(client, run.artifact_uri, folder)
    tags = {
        "promotion.decision": decision,
        "promotion.reason": reason[:5000],
        "selected_model": fit.selected,
        "selection_reason": fit.reason[:5000],
        # the run's description in the MLflow UI: what the retrain decided, and why the
        # model was chosen (its tags alone had said only "comb is the first champion")
        MLFLOW_RUN_NOTE: f"{decision}: {reason}\n\n{fit.selected} chosen: {fit.reason}"[:5000],
    }
    pooled = _pooled_interval_check(evidence, fit)
    if pooled:
        tags["population.intervals_widened"] = str(fit.champion.recalibration is not None).lower()
    if evidence is not None:  # which windows the global autoregression learned from
        windows = evidence.windows
        tags["population.global_ar_learned_from"] = (
            f"the windows of this population's {windows.series_} series"
            if windows is not None
            else "the windows of the reference corpus (a population under "
            f"{SMALL_POPULATION} series)"
        )
    client.log_batch(
        run.run_id,
        metrics=_metrics(selected.metrics, "selected.")
        + (_metrics(record_summary) if not record.empty else [])
        + _metrics(pooled, "population.")
        + _metrics(_pooled_choice(evidence, fit), "population."),
        tags=[RunTag(key, value) for key, value in tags.items()],
    )


def _pooled_choice(evidence: PopulationEvidence | None, fit: SeriesFit) -> dict[str, float]:
    """The pooled evidence that decided, as metrics a modeller can chart across retrains in
    the MLflow UI (``population_evidence.csv`` holds the whole table, one file a retrain):
    how many series were pooled, the mean error relative to naive's of the population's
    choice, of its best-looking model and of the selected model there, and the weight this
    series' own backtests got; empty without evidence."""
    if evidence is None or not evidence.models:
        return {}
    stratum = evidence.stratum(len(fit.history))
    found = {
        "series": float(stratum.series),
        "best_error_vs_naive": float(np.exp(stratum.ranking()[0].mean)),
    }
    if stratum.choice in stratum.models:
        found["choice_error_vs_naive"] = float(np.exp(stratum.models[stratum.choice].mean))
    if fit.selected in stratum.models:
        found["selected_error_vs_naive"] = float(np.exp(stratum.models[fit.selected].mean))
    if fit.decision is not None and fit.selected in fit.decision.weights:
        found["own_weight"] = float(fit.decision.weights[fit.selected])
    return found


def _pooled_interval_check(evidence: PopulationEvidence | None, fit: SeriesFit) -> dict[str, float]:
    """How intervals like this series' fared a year ahead in its population's pooled
    backtests (the check that widens them when they missed too often); empty without one."""
    pooled = evidence.calibration_for(len(fit.history)) if evidence is not None else None
    if pooled is None:
        return {}
    return {
        "inside_80_a_year_ahead": pooled.inside_80,
        "inside_95_a_year_ahead": pooled.inside_95,
        "figures_a_year_ahead": pooled.figures,
    }


def _same(forecast: pd.DataFrame, other: pd.DataFrame | None) -> bool:
    """True when a candidate's chart already shows exactly this forecast."""
    return other is not None and forecast.equals(other)


def evidence_table(evidence: PopulationEvidence, fit: SeriesFit) -> pd.DataFrame:
    """The pooled evidence that decided for this series (the short series' own for a short
    one) per model, with this series' blended expected error and the weight its own backtest
    got (where it decided)."""
    evidence = evidence.stratum(len(fit.history))
    table = evidence.table()
    table["population_choice"] = table["model"] == evidence.choice
    if fit.decision is not None:
        table["series_expected_vs_naive"] = [
            float(np.exp(fit.decision.blended[m])) if m in fit.decision.blended else np.nan
            for m in table["model"]
        ]
        table["series_own_weight"] = [fit.decision.weights.get(m, np.nan) for m in table["model"]]
    table["selected"] = table["model"] == fit.selected
    return table


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
