"""The retraining pipeline: figures store → backtests → MLflow runs → promotion gates → registry."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd
from mlflow.entities import RunInfo
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from data.records import format_breaks, input_changed, share_ceiling
from data.store import FigureStore, SeriesInfo
from models.global_ar import learning_from
from training import promotion, registry, run_logging, track_record, tracking
from training.backtest import calibrated_coverage
from training.evidence import PopulationEvidence, borrows_intervals, is_short
from training.failures import failure_reason, is_bug_to_raise
from training.locking import retrain_lock
from training.outcome import Outcome
from training.population import fit_many, population_evidence
from training.selection import (
    CandidateResult,
    SeriesFailure,
    SeriesFit,
    calibrated_forecast,
)
from training.settings import TrainingSettings
from training.versioning import code_version

log = logging.getLogger(__name__)


@dataclass
class SeriesOutcome:
    """How one series' retrain ended (``Outcome``) and why; ``model``, ``mase`` and
    ``coverage`` (of its calibrated intervals in the backtest, by level label) describe the
    model that serves afterwards, ``backtest_forecasts`` how many backtest forecasts those
    rest on, and ``intervals_borrowed`` whether its intervals were borrowed from comparable
    series (a short series': its few backtest forecasts are counted, not read as a rate)."""

    series_id: str
    status: Outcome
    reason: str
    model: str | None = None
    mase: float | None = None
    coverage: dict[str, float] = field(default_factory=dict)
    backtest_forecasts: int | None = None
    intervals_borrowed: bool = False
    version: str | None = None
    run_id: str | None = None
    data_revision: str | None = None

    def __post_init__(self) -> None:
        self.status = Outcome(self.status)  # a status that is not an Outcome is a bug

    @property
    def failed(self) -> bool:
        """True when training this series raised."""
        return self.status is Outcome.FAILED

    def said(self) -> str:
        """The outcome in one line: "<series> <status>: <reason>", the status said once, so
        left out when the reason's first clause already says it ("comb promoted: …")."""
        if str(self.status) in self.reason.split(":", 1)[0].split():
            return f"{self.series_id}: {self.reason}"
        return f"{self.series_id} {self.status}: {self.reason}"


@dataclass(frozen=True)
class _SeriesInput:
    info: SeriesInfo
    values: pd.Series
    data_revision: str
    experiment_id: str
    #: the store revision these figures stand as of (``FigureStore.figures_revision``)
    figures_revision: int | None = None


ProgressCallback = Callable[[SeriesOutcome], None]

#: Why a registered series without figures is not trained (a retrain of it is not a failure,
#: so neither the command's exit code nor the scheduler's retries count it as one).
NO_FIGURES_YET = (
    "no figures yet: add them (`fraudcast figures add`, or POST /v1/figures), and it is trained "
    "when they arrive"
)


def retrain(
    series_ids: Sequence[str] | None = None,
    *,
    force: bool = False,
    candidates: Sequence[str] | None = None,
    store: FigureStore | None = None,
    settings: TrainingSettings | None = None,
    jobs: int = 1,
    on_outcome: ProgressCallback | None = None,
    trigger: str = "",
) -> list[SeriesOutcome]:
    """Retrain the named series (all by default); one series' failure never stops the others.

    Each series is retrained whole (figures, backtests, MLflow runs, promotion) by one of
    ``jobs`` worker processes, or on the Dask cluster of an active ``compute_backend``; workers
    talk to the figure store and MLflow themselves and send back only a ``SeriesOutcome``, which
    ``on_outcome`` sees as it arrives. Every run is tagged with the ``trigger`` (why this
    retrain ran) and whether it was forced, for whoever audits it in MLflow. Retrains run one
    at a time, across processes and, with the figure store on PostgreSQL, across hosts
    (``training.locking``); a retrain that raises or is killed leaves figures and champions as
    they were.
    """
    settings = settings or TrainingSettings()
    store = store or FigureStore.from_settings()
    with retrain_lock(store.url, settings):
        return _retrain_locked(
            series_ids, force, candidates, store, settings, jobs, on_outcome, trigger
        )


@dataclass(frozen=True)
class _Job:
    """What a worker needs to retrain any one series: where the stores are, how to train."""

    store_url: str
    settings: TrainingSettings
    code: str
    force: bool
    candidates: tuple[str, ...] | None
    #: MLflow's user and source tags of the calling process, and why it retrains
    source: dict[str, str]
    #: the pooled backtest evidence of the store's series, which every series' choice blends in
    evidence: PopulationEvidence
    #: the process that holds the retrain lock (``_check_owner``)
    owner: int = field(default_factory=os.getpid)


class RetrainAbandoned(RuntimeError):
    """The process that started a retrain ended; its workers stop before writing more."""


def _check_owner(job: _Job) -> None:
    """Raise ``RetrainAbandoned`` in a joblib worker whose retrain's process died (killed with
    -9, it cannot stop its workers): they were re-parented and went on training and registering
    champions outside the retrain lock, which died with that process. (A Dask worker was
    started by its nanny, and the process that runs a retrain itself by no retrain.)"""
    started_by = multiprocessing.parent_process()  # a joblib worker's: set when it was spawned
    if started_by is not None and started_by.pid == job.owner and os.getppid() != job.owner:
        raise RetrainAbandoned(
            f"the retrain's process ({job.owner}) ended; this worker stops without writing"
        )


def _retrain_locked(
    series_ids: Sequence[str] | None,
    force: bool,
    candidates: Sequence[str] | None,
    store: FigureStore,
    settings: TrainingSettings,
    jobs: int,
    on_outcome: ProgressCallback | None,
    trigger: str,
) -> list[SeriesOutcome]:
    store.ensure_seeded()
    tracking.connect(settings)  # creates or upgrades the tracking store before any worker
    population = store.list_series()
    wanted = list(series_ids) if series_ids else [s.id for s in population]
    evidence = _store_evidence(store, population, jobs, candidates)
    job = _Job(
        store.url,
        settings,
        code_version(),
        force,
        tuple(candidates) if candidates is not None else None,
        {
            **tracking.source_tags(),
            tracking.TRIGGER_TAG: trigger or "not given",
            tracking.FORCED_TAG: str(force).lower(),
        },
        evidence,
    )
    outcomes: dict[str, SeriesOutcome] = {}
    with _stores_of_this_process(store):
        for outcome in _retrain_all(list(dict.fromkeys(wanted)), job, jobs):
            outcomes[outcome.series_id] = outcome
            if on_outcome is not None:
                on_outcome(outcome)
    return [outcomes[sid] for sid in wanted]


def _store_evidence(
    store: FigureStore,
    population: Sequence[SeriesInfo],
    jobs: int,
    candidates: Sequence[str] | None,
) -> PopulationEvidence:
    """The pooled evidence of the store's series. Their figures are read in one query, not one
    a series while every worker waits, and are not kept once the evidence is built: each
    series' retrain reads its own again, and a retrain had held every series' figures for as
    long as it ran."""
    values = store.all_values()
    return population_evidence(
        (
            (info.id, values[info.id] if info.id in values else store.values(info.id), info.breaks)
            for info in population
        ),
        jobs=jobs,
        candidates=candidates,
    )


def _retrain_all(series_ids: list[str], job: _Job, jobs: int) -> Iterator[SeriesOutcome]:
    """Outcomes as workers finish them; joblib dispatches only a few series ahead."""
    from joblib import Parallel, delayed

    tasks = (delayed(_retrain_one)(series_id, job) for series_id in series_ids)
    pending = set(series_ids)
    try:
        for outcome in Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks):
            pending.discard(outcome.series_id)
            yield outcome
    except Exception as error:  # a worker process died (e.g. out of memory): report the rest
        if is_bug_to_raise(error):  # a bug raised in a worker under FRAUDCAST_STRICT_ERRORS
            raise
        log.exception("a training worker stopped; %d series not trained", len(pending))
        reason = (
            f"not trained: a worker process stopped ({type(error).__name__}: {error}); "
            "run the retrain again (finished series are skipped as unchanged)"
        )
        for series_id in [sid for sid in series_ids if sid in pending]:
            yield SeriesOutcome(series_id, Outcome.FAILED, reason)


#: Figure stores of this process by URL: the caller's own when work runs in-process, else one
#: opened on first use and kept while the worker process lives.
_stores: dict[str, FigureStore] = {}


@contextmanager
def _stores_of_this_process(store: FigureStore) -> Iterator[None]:
    """Let work that runs in this process use the caller's store (not a second engine)."""
    previous = _stores.get(store.url)
    _stores[store.url] = store
    try:
        yield
    finally:
        if previous is None:
            _stores.pop(store.url, None)
        else:
            _stores[store.url] = previous


def _store(url: str) -> FigureStore:
    found = _stores.get(url)
    if found is None:
        found = _stores[url] = FigureStore(url)
    return found


def _retrain_one(series_id: str, job: _Job) -> SeriesOutcome:
    """Retrain one series wherever joblib runs it: the one error boundary of a series' retrain.
    An expected failure (``training.failures``) becomes the series' failed outcome and the other
    series go on; so does a bug, logged as one, except under ``FRAUDCAST_STRICT_ERRORS``."""
    from joblib import parallel_config

    try:
        # fit right here, never nested on a cluster; the global autoregression learns from the
        # store's windows in the retrain's every fit (promotion's and charts' too)
        with parallel_config(backend="sequential"), learning_from(job.evidence.windows):
            return _retrain_series(series_id, job)
    except RetrainAbandoned as error:  # nobody is left to hear the outcome, nor to log it
        return SeriesOutcome(series_id, Outcome.FAILED, str(error))
    except Exception as error:
        reason = failure_reason(error, f"retraining {series_id}")
        return SeriesOutcome(series_id, Outcome.FAILED, reason)


def _retrain_series(series_id: str, job: _Job) -> SeriesOutcome:
    _check_owner(job)
    store = _store(job.store_url)
    client = tracking.connect(job.settings)
    prepared = _prepare(store, client, job.settings, series_id)
    if prepared.values.empty:  # registered, no figures yet: nothing to train, nothing failed
        return SeriesOutcome(
            series_id,
            Outcome.UNCHANGED,
            NO_FIGURES_YET,
            data_revision=prepared.data_revision,
        )
    tracking.close_orphaned_runs(client, prepared.experiment_id)  # we hold the retrain lock
    last = tracking.last_retrain(client, prepared.experiment_id)
    if (
        not job.force
        and last is not None
        and last.code_version == job.code
        and not input_changed(
            last.data_revision, last.breaks, prepared.data_revision, prepared.info.breaks
        )
    ):
        return SeriesOutcome(
            series_id,
            Outcome.UNCHANGED,
            "figures, definition breaks and code unchanged since the last retrain (to retrain "
            'anyway: `fraudcast train --force`, or "force": true in POST /v1/retrain)',
            data_revision=prepared.data_revision,
            run_id=last.run_id,
        )
    champion = registry.champion_version(series_id, client=client)
    _score_outgoing_champion(store, champion, series_id, prepared.values)
    record = store.track_record(series_id)
    items = [(series_id, prepared.values, prepared.info.breaks)]
    [result] = fit_many(
        items,
        levels=job.settings.levels,
        jobs=1,
        candidates=job.candidates,
        evidence=job.evidence,
    )
    if isinstance(result, SeriesFailure):
        tracking.log_failed_retrain(
            prepared.experiment_id,
            series_id=series_id,
            data_revision=prepared.data_revision,
            code_version=job.code,
            error=result.error,
            breaks=prepared.info.breaks,
            source=job.source,
        )
        return SeriesOutcome(
            series_id, Outcome.FAILED, result.error, data_revision=prepared.data_revision
        )
    # a share in percent stops at 100, whatever its trend (a clearance rate of 99.6 rising)
    result.champion.under_ceiling(
        share_ceiling(prepared.info.unit, prepared.values), prepared.values
    )
    if result.champion.upper_limit is not None:  # the card says why its bounds stop there
        result.notes.append(
            f"a share in {prepared.info.unit}: the projection and its intervals stop at 100"
        )
    return _track_and_promote(
        result, prepared, job, client=client, record=record, champion=champion
    )


def _prepare(
    store: FigureStore, client: MlflowClient, settings: TrainingSettings, series_id: str
) -> _SeriesInput:
    info = store.get_series(series_id)
    return _SeriesInput(
        info=info,
        values=store.values(series_id),
        data_revision=store.data_revision_hash(series_id),
        experiment_id=tracking.ensure_experiment(client, settings, series_id),
        figures_revision=store.figures_revision(series_id),
    )


def _score_outgoing_champion(
    store: FigureStore, version: ModelVersion | None, series_id: str, observed: pd.Series
) -> None:
    """Before a retrain, score what the current champion forecast for figures that came in."""
    if version is None:
        return
    try:
        champion = registry.load_champion(version)
        scores = track_record.score_figures(
            series_id,
            observed,
            champion.forecast,
            model_name=champion.card.model_name,
            model_version=str(version.version),
            data_revision=champion.card.data_revision,
        )
        track_record.record(store, scores)
    except Exception as error:  # the track record must never stop a retrain
        reason = failure_reason(error, f"scoring the outgoing champion of {series_id}")
        log.warning("could not score the outgoing champion of %s: %s", series_id, reason)


@dataclass(frozen=True)
class _Retrain:
    """What the steps of one series' retrain share once its parent run is open."""

    fit: SeriesFit
    prepared: _SeriesInput
    job: _Job
    client: MlflowClient
    #: the retrain's parent run
    run: RunInfo
    #: the candidates as every card of this retrain lists them
    candidates: pd.DataFrame

    @property
    def run_id(self) -> str:
        """The parent run's id."""
        return str(self.run.run_id)


@dataclass(frozen=True)
class _Served:
    """What serves after a retrain, and how it came to."""

    outcome: Outcome
    reason: str
    model: CandidateResult
    version: str | None = None


def _track_and_promote(
    fit: SeriesFit,
    prepared: _SeriesInput,
    job: _Job,
    *,
    client: MlflowClient,
    record: pd.DataFrame,
    champion: ModelVersion | None,
) -> SeriesOutcome:
    """Log the retrain to MLflow and put the right model into service, in four steps: log the
    candidates, decide against the champion, register (the winner, or the champion's own model
    refitted on new figures), log the result."""
    selected = _selected(fit)
    promotion.add_calibrated_coverage(fit.candidates, fit.history, job.settings.levels)
    with tracking.retrain_run(
        prepared.experiment_id,
        series_id=fit.series_id,
        data_revision=prepared.data_revision,
        code_version=job.code,
        breaks=prepared.info.breaks,
        source=job.source,
    ) as run:
        step = _Retrain(fit, prepared, job, client, run.info, run_logging.candidates_table(fit))
        logged = _log_candidates(step)
        incumbent, decision = _decide(step, selected, champion)
        served = _register(step, selected, incumbent, decision)
        _log_result(step, logged, record, served)
    return SeriesOutcome(
        fit.series_id,
        served.outcome,
        served.reason,
        model=served.model.name,
        mase=_scored(served.model.metrics.get("mase")),
        coverage=calibrated_coverage(served.model.metrics),
        backtest_forecasts=_counted(served.model.metrics.get("backtest_forecasts")),
        intervals_borrowed=borrows_intervals(len(fit.history)),
        version=served.version,
        run_id=step.run_id,
        data_revision=prepared.data_revision,
    )


def _log_candidates(step: _Retrain) -> run_logging.LoggedCandidates:
    """Step 1: a child run per candidate, with its parameters, metrics and charts."""
    settings, prepared = step.job.settings, step.prepared
    return run_logging.log_candidates(
        step.fit,
        prepared.info,
        observed=prepared.values,
        experiment_id=prepared.experiment_id,
        parent_run_id=step.run_id,
        data_revision=prepared.data_revision,
        code_version=step.job.code,
        chart_horizon=settings.chart_horizon,
        charts=settings.candidate_charts,
        client=step.client,
        source=step.job.source,
    )


def _decide(
    step: _Retrain, selected: CandidateResult, champion: ModelVersion | None
) -> tuple[promotion.Incumbent | None, promotion.PromotionDecision]:
    """Step 2: the champion backtested on the same figures, and the gates' verdict."""
    settings, fit = step.job.settings, step.fit
    incumbent = promotion.incumbent(
        fit, step.prepared.values, step.prepared.info.breaks, champion, settings.levels
    )
    on_same_data = incumbent.on_same_data if incumbent else None
    decision = promotion.decide(
        candidate=fit.selected,
        candidate_mase=selected.metrics.get("mase", float("nan")),
        candidate_forecast=fit.champion,
        champion=incumbent.name if incumbent else None,
        champion_mase=on_same_data.metrics.get("mase") if on_same_data else None,
        tolerance=settings.promotion_tolerance,
        too_short_to_judge=is_short(len(fit.history)),
    )
    return incumbent, decision


def _register(
    step: _Retrain,
    selected: CandidateResult,
    incumbent: promotion.Incumbent | None,
    decision: promotion.PromotionDecision,
) -> _Served:
    """Step 3: register the winner; else refit the champion's own model on new figures; else
    keep the champion as it is."""
    _check_owner(step.job)  # a fit takes seconds: the retrain may have been killed meanwhile
    if decision.promote:
        card = _card(step, selected, step.fit.reason)
        version = registry.register_champion(step.fit.champion, card, client=step.client).version
        # the champion's own model chosen again serves refitted: a refresh, as the page says
        outcome = Outcome.REFRESHED if decision.again else Outcome.PROMOTED
        return _Served(outcome, decision.reason, selected, str(version))
    if incumbent is None:  # nothing was kept: the series has no champion to serve it
        why = f"{decision.reason}; the series has no champion, so nothing serves it yet"
        return _Served(Outcome.FAILED, why, selected)
    on_same_data = incumbent.on_same_data
    if on_same_data is None:
        return _Served(Outcome.KEPT, decision.reason, selected)
    prepared = step.prepared
    if input_changed(
        incumbent.data_revision, incumbent.breaks, prepared.data_revision, prepared.info.breaks
    ):
        refreshed = _refresh(step, incumbent, on_same_data, decision.reason)
        if refreshed is not None:
            return refreshed
    return _Served(Outcome.KEPT, decision.reason, on_same_data)


def _refresh(
    step: _Retrain, incumbent: promotion.Incumbent, model: CandidateResult, reason: str
) -> _Served | None:
    """The champion's own ``model`` refitted on the new figures and registered; None when its
    intervals are not sane."""
    forecast = calibrated_forecast(model, incumbent.history)
    # widened as this retrain's fit was, where the population's pooled backtests called for it
    forecast.recalibration = step.fit.champion.recalibration
    if promotion.interval_problems(forecast):
        return None
    given = (
        "on the new figures"
        if incumbent.data_revision != step.prepared.data_revision
        else "with the definition breaks declared since"
    )
    why = f"{reason}; the champion's model {incumbent.name} was refitted {given}"
    version = registry.register_champion(forecast, _card(step, model, why), client=step.client)
    return _Served(Outcome.REFRESHED, why, model, str(version.version))


def _log_result(
    step: _Retrain,
    logged: run_logging.LoggedCandidates,
    record: pd.DataFrame,
    served: _Served,
) -> None:
    """Step 4: the parent run's decision, charts, track record and population evidence."""
    run_logging.log_retrain_result(
        step.client,
        step.run,
        step.fit,
        step.prepared.info,
        observed=step.prepared.values,
        chart_horizon=step.job.settings.chart_horizon,
        candidates=logged,
        record=record,
        record_summary=track_record.summary(record),
        decision=served.outcome,
        reason=served.reason,
        evidence=step.job.evidence,
    )


def _selected(fit: SeriesFit) -> CandidateResult:
    return next(c for c in fit.candidates if c.name == fit.selected)


def _card(step: _Retrain, chosen: CandidateResult, reason: str) -> registry.ChampionCard:
    prepared = step.prepared
    return registry.ChampionCard(
        series_id=prepared.info.id,
        model_name=chosen.name,
        data_revision=prepared.data_revision,
        code_version=step.job.code,
        trained_at=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        reason=reason,
        metrics={k: float(v) for k, v in chosen.metrics.items()},
        candidates=[
            {str(key): value for key, value in row.items()}
            for row in step.candidates.to_dict(orient="records")
        ],
        notes=list(step.fit.notes),
        run_id=step.run_id,
        breaks=format_breaks(prepared.info.breaks),
        figures_revision=prepared.figures_revision,
    )


def has_champions(settings: TrainingSettings | None = None) -> bool:
    """True when at least one series has a registered champion."""
    client = tracking.connect(settings or TrainingSettings())
    return bool(registry.champion_series(client=client))


def _scored(mase: float | None) -> float | None:
    """A backtest MASE as the summary shows it: None where no backtest forecast could be
    scaled (one figure before the only origin), which the summary had printed as "nan"."""
    return mase if mase is not None and math.isfinite(mase) else None


def _counted(value: float | None) -> int | None:
    """A count logged as an MLflow metric (a float), None where it is missing or not finite."""
    finite = _scored(value)
    return int(finite) if finite is not None else None
