"""The retraining pipeline: figures store → backtests → MLflow runs → promotion gates → registry."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
from filelock import FileLock, Timeout
from mlflow.tracking import MlflowClient

from data.store import FigureStore, SeriesInfo
from training import registry, tracking
from training.promotion import PromotionDecision, decide
from training.selection import SeriesFailure, SeriesFit, fit_many, fit_series
from training.settings import TrainingSettings
from training.versioning import code_version

log = logging.getLogger(__name__)


class RetrainBusy(RuntimeError):
    """Another retrain held the lock for longer than allowed."""


@dataclass
class SeriesOutcome:
    """How one series' retrain ended: ``promoted``, ``kept``, ``unchanged`` or ``failed``."""

    series_id: str
    status: str
    reason: str
    model: str | None = None
    mase: float | None = None
    coverage: dict[str, float] = field(default_factory=dict)
    version: str | None = None
    run_id: str | None = None
    data_revision: str | None = None

    @property
    def failed(self) -> bool:
        """True when training this series raised."""
        return self.status == "failed"


@dataclass(frozen=True)
class _SeriesInput:
    info: SeriesInfo
    values: pd.Series
    data_revision: str
    experiment_id: str


ProgressCallback = Callable[[SeriesOutcome], None]


def retrain(
    series_ids: Sequence[str] | None = None,
    *,
    force: bool = False,
    candidates: Sequence[str] | None = None,
    store: FigureStore | None = None,
    settings: TrainingSettings | None = None,
    jobs: int = 1,
    on_outcome: ProgressCallback | None = None,
) -> list[SeriesOutcome]:
    """Retrain the named series (all by default); one series' failure never stops the others.

    Retrains run one at a time, across processes too (a file lock); a retrain that raises or is
    killed leaves figures and champions as they were.
    """
    settings = settings or TrainingSettings()
    store = store or FigureStore.from_settings()
    settings.retrain_lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(settings.retrain_lock, timeout=settings.retrain_lock_timeout):
            return _retrain_locked(series_ids, force, candidates, store, settings, jobs, on_outcome)
    except Timeout:
        raise RetrainBusy(
            f"another retrain held {settings.retrain_lock} for {settings.retrain_lock_timeout:g} s"
        ) from None


def _retrain_locked(
    series_ids: Sequence[str] | None,
    force: bool,
    candidates: Sequence[str] | None,
    store: FigureStore,
    settings: TrainingSettings,
    jobs: int,
    on_outcome: ProgressCallback | None,
) -> list[SeriesOutcome]:
    store.ensure_seeded()
    client = tracking.connect(settings)
    version = code_version()
    wanted = list(series_ids) if series_ids else [s.id for s in store.list_series()]

    outcomes: dict[str, SeriesOutcome] = {}
    inputs: dict[str, _SeriesInput] = {}
    for series_id in wanted:
        try:
            prepared = _prepare(store, client, settings, series_id)
        except Exception as error:  # reported per series, never fatal for the rest
            outcomes[series_id] = _failure(series_id, error)
            continue
        last = tracking.last_retrain(client, prepared.experiment_id)
        if (
            not force
            and last is not None
            and last.data_revision == prepared.data_revision
            and last.code_version == version
        ):
            outcomes[series_id] = SeriesOutcome(
                series_id,
                "unchanged",
                "data revision and code version unchanged since the last retrain (use --force)",
                data_revision=prepared.data_revision,
                run_id=last.run_id,
            )
        else:
            inputs[series_id] = prepared

    items = [(sid, p.values, p.info.breaks) for sid, p in inputs.items()]
    fits = fit_many(items, levels=settings.levels, jobs=jobs, candidates=candidates)
    for result in fits:
        prepared = inputs[result.series_id]
        if isinstance(result, SeriesFailure):
            outcomes[result.series_id] = SeriesOutcome(
                result.series_id, "failed", result.error, data_revision=prepared.data_revision
            )
            tracking.log_failed_retrain(
                prepared.experiment_id,
                series_id=result.series_id,
                data_revision=prepared.data_revision,
                code_version=version,
                error=result.error,
            )
        else:
            outcomes[result.series_id] = _track_and_promote(
                result, prepared, client=client, settings=settings, code=version
            )
        if on_outcome is not None:
            on_outcome(outcomes[result.series_id])
    return [outcomes[sid] for sid in wanted]


def _prepare(
    store: FigureStore, client: MlflowClient, settings: TrainingSettings, series_id: str
) -> _SeriesInput:
    info = store.get_series(series_id)
    return _SeriesInput(
        info=info,
        values=store.values(series_id),
        data_revision=store.data_revision_hash(series_id),
        experiment_id=tracking.ensure_experiment(client, settings, series_id),
    )


def _failure(series_id: str, error: BaseException) -> SeriesOutcome:
    log.exception("training %s failed", series_id, exc_info=error)
    return SeriesOutcome(series_id, "failed", f"{type(error).__name__}: {error}")


def _track_and_promote(
    fit: SeriesFit,
    prepared: _SeriesInput,
    *,
    client: MlflowClient,
    settings: TrainingSettings,
    code: str,
) -> SeriesOutcome:
    """Log the retrain to MLflow and register the selected model if it passes the gates."""
    series_id = fit.series_id
    try:
        selected = next(c for c in fit.candidates if c.name == fit.selected)
        with tracking.retrain_run(
            prepared.experiment_id,
            series_id=series_id,
            data_revision=prepared.data_revision,
            code_version=code,
        ) as run:
            tracking.log_candidates(
                fit,
                prepared.info,
                observed=prepared.values,
                experiment_id=prepared.experiment_id,
                data_revision=prepared.data_revision,
                code_version=code,
                chart_horizon=settings.chart_horizon,
            )
            tracking.log_selected_artifacts(
                fit, prepared.info, observed=prepared.values, chart_horizon=settings.chart_horizon
            )
            decision = _gate(fit, prepared, client=client, settings=settings)
            version = None
            if decision.promote:
                card = _card(fit, prepared, code=code, run_id=run.info.run_id)
                version = registry.register_champion(fit.champion, card, client=client).version
            tracking.log_decision(
                decision=decision.label,
                reason=decision.reason,
                selected=fit.selected,
                metrics=selected.metrics,
            )
    except Exception as error:
        return _failure(series_id, error)
    return SeriesOutcome(
        series_id,
        decision.label,
        decision.reason,
        model=fit.selected,
        mase=selected.metrics.get("mase"),
        coverage={k: v for k, v in selected.metrics.items() if k.startswith("coverage_")},
        version=version,
        run_id=run.info.run_id,
        data_revision=prepared.data_revision,
    )


def _gate(
    fit: SeriesFit, prepared: _SeriesInput, *, client: MlflowClient, settings: TrainingSettings
) -> PromotionDecision:
    selected = next(c for c in fit.candidates if c.name == fit.selected)
    current = registry.champion_version(fit.series_id, client=client)
    champion_name = current.tags.get("model_name") if current is not None else None
    return decide(
        candidate=fit.selected,
        candidate_mase=selected.metrics.get("mase", float("nan")),
        candidate_forecast=fit.champion,
        champion=champion_name,
        champion_mase=_mase_on_same_data(fit, prepared, champion_name, settings)
        if champion_name
        else None,
        tolerance=settings.promotion_tolerance,
    )


def _mase_on_same_data(
    fit: SeriesFit, prepared: _SeriesInput, champion_name: str, settings: TrainingSettings
) -> float | None:
    """The champion model's backtest MASE on the data this candidate was trained on."""
    for candidate in fit.candidates:
        if candidate.name == champion_name and candidate.error is None:
            return candidate.metrics.get("mase")
    try:
        refit = fit_series(
            prepared.values,
            series_id=fit.series_id,
            breaks=prepared.info.breaks,
            levels=settings.levels,
            candidates=[champion_name],
        )
    except Exception:  # the champion's model left the catalog or cannot fit this data
        return None
    return next((c.metrics.get("mase") for c in refit.candidates if c.name == champion_name), None)


def _card(
    fit: SeriesFit, prepared: _SeriesInput, *, code: str, run_id: str
) -> registry.ChampionCard:
    selected = next(c for c in fit.candidates if c.name == fit.selected)
    return registry.ChampionCard(
        series_id=fit.series_id,
        model_name=fit.selected,
        data_revision=prepared.data_revision,
        code_version=code,
        trained_at=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        reason=fit.reason,
        metrics={k: float(v) for k, v in selected.metrics.items()},
        candidates=[
            {str(key): value for key, value in row.items()}
            for row in tracking.candidates_table(fit).to_dict(orient="records")
        ],
        notes=list(fit.notes),
        run_id=run_id,
    )


def has_champions(settings: TrainingSettings | None = None) -> bool:
    """True when at least one series has a registered champion."""
    client = tracking.connect(settings or TrainingSettings())
    return bool(registry.champion_series(client=client))
