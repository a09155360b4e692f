"""The MLflow training pipeline against a temporary tracking store and figure store."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import re
import tempfile
import types
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from data.records import SeriesInfo
from data.store import FigureStore
from models.global_ar import GlobalAR
from tests.support import QUICK_CANDIDATES
from training import pipeline, registry, run_logging, tracking
from training.outcome import Outcome
from training.population import fit_one, population_evidence
from training.selection import SeriesFit
from training.settings import TrainingSettings

TREND = "synthetic_trend"
QUICK = list(QUICK_CANDIDATES)


def _trend_figures(years: range, slope: float = 100.0) -> pd.DataFrame:
    """A steadily rising count series: naive forecasts are clearly worse than trend models."""
    wobble = np.random.default_rng(0).normal(0.0, 0.03 * slope, size=200)
    return pd.DataFrame(
        {
            "series_id": TREND,
            "year": list(years),
            "value": [round(1000.0 + slope * (y - 2000) + wobble[y - 2000]) for y in years],
            "unit": "count",
            "source_publisher": "fraudcast tests",
            "source_title": "synthetic linear trend",
            "source_url": "",
            "accessed_via": "primary",
            "note": "",
        }
    )


@pytest.fixture
def store() -> FigureStore:
    figure_store = FigureStore.from_settings()
    figure_store.ensure_seeded()
    figure_store.add_series(SeriesInfo(id=TREND, title="Synthetic trend", unit="count"))
    figure_store.add_figures(_trend_figures(range(2000, 2020)), source="test", message="trend")
    return figure_store


@pytest.fixture
def settings() -> TrainingSettings:
    return TrainingSettings()


def _client(settings: TrainingSettings) -> MlflowClient:
    return tracking.connect(settings)


def _runs(settings: TrainingSettings, series_id: str) -> pd.DataFrame:
    client = _client(settings)
    experiment = client.get_experiment_by_name(tracking.experiment_name(series_id))
    assert experiment is not None
    return mlflow.search_runs([experiment.experiment_id])


def test_retrain_logs_parent_and_candidate_runs_with_metrics_and_artifacts(store, settings):
    [outcome] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert outcome.status == "promoted", outcome.reason
    runs = _runs(settings, TREND)
    parents = runs[runs["tags.fraudcast.role"] == "retrain"]
    children = runs[runs["tags.fraudcast.role"] == "candidate"]
    assert len(parents) == 1
    assert len(children) >= 5
    assert set(children["tags.mlflow.parentRunId"]) == {parents["run_id"].iloc[0]}
    for metric in ("mase", "smape", "msis", "pinball", "coverage_80", "coverage_95", "mase_h1"):
        assert children[f"metrics.{metric}"].notna().any(), metric
    for metric in ("calibrated_coverage_80", "calibrated_coverage_95"):
        assert children[f"metrics.{metric}"].between(0.0, 1.0).all(), metric
    assert (children["tags.data_revision"] == store.data_revision_hash(TREND)).all()
    assert children["tags.code_version"].str.len().gt(0).all()
    assert (children["tags.selected"] == "true").sum() == 1
    client = _client(settings)
    selected_run = children[children["tags.selected"] == "true"]["run_id"].iloc[0]
    names = {item.path for item in client.list_artifacts(selected_run)}
    assert {"backtest.csv", "residuals.png", "fan_chart.png"} <= names
    assert parents["tags.promotion.decision"].iloc[0] == "promoted"
    # the bundled store's 12 series are too few to teach the global model their dynamics
    assert parents["tags.population.global_ar_learned_from"].iloc[0] == (
        "the windows of the reference corpus (a population under 30 series)"
    )
    # the population's pooled evidence that drove the choice is logged with the retrain
    parent = parents["run_id"].iloc[0]
    assert "population_evidence.csv" in {item.path for item in client.list_artifacts(parent)}
    # why the model was chosen is on the retrain's run and its description, and on the
    # chosen candidate's run only (every candidate's had read "lowest expected error ...")
    reason = parents["tags.selection_reason"].iloc[0]
    assert reason and reason in parents["tags.mlflow.note.content"].iloc[0]
    assert parents["tags.mlflow.note.content"].iloc[0].startswith("promoted: ")
    assert children["tags.selection_reason"].notna().sum() == 1
    # the pooled numbers behind the choice, as metrics to chart across retrains
    for metric in ("series", "best_error_vs_naive", "choice_error_vs_naive"):
        assert parents[f"metrics.population.{metric}"].notna().all(), metric
    assert (
        children.loc[children["tags.selected"] == "true", "tags.selection_reason"] == reason
    ).all()
    evidence = pd.read_csv(client.download_artifacts(parent, "population_evidence.csv"))
    assert evidence["population_choice"].sum() == 1
    assert evidence.loc[evidence["selected"], "model"].tolist() == [outcome.model]
    assert (evidence["series"] > 1).all()  # pooled over the store's series (and the top-up)
    # and how intervals calibrated like the champion's fared a year ahead in its backtests
    inside_80 = parents["metrics.population.inside_80_a_year_ahead"].iloc[0]
    assert 0.0 < inside_80 <= parents["metrics.population.inside_95_a_year_ahead"].iloc[0] <= 1.0
    assert parents["metrics.population.figures_a_year_ahead"].iloc[0] >= 100
    assert parents["tags.population.intervals_widened"].iloc[0] in {"true", "false"}
    # what the summary and the champion's card report is the coverage of calibrated intervals
    chosen = children[children["tags.selected"] == "true"].iloc[0]
    assert outcome.coverage == {
        "80": chosen["metrics.calibrated_coverage_80"],
        "95": chosen["metrics.calibrated_coverage_95"],
    }


def test_by_default_only_the_champion_gets_charts(store, settings):
    [outcome] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    children = _runs(settings, TREND)
    children = children[children["tags.fraudcast.role"] == "candidate"]
    client = _client(settings)
    for _, row in children.iterrows():
        names = {item.path for item in client.list_artifacts(row["run_id"])}
        charted = row["tags.selected"] == "true"
        assert ("fan_chart.png" in names) == charted, row["tags.mlflow.runName"]
        assert ("residuals.png" in names) == charted, row["tags.mlflow.runName"]
        assert {"backtest.csv", "forecast.csv"} <= names, row["tags.mlflow.runName"]
        if not charted:
            assert "only the selected candidate" in row["tags.charts"]
    assert (
        outcome.model
        == children.loc[children["tags.selected"] == "true", "tags.mlflow.runName"].iloc[0]
    )


def test_only_the_best_candidates_get_charts_the_rest_keep_their_csvs(store):
    settings = TrainingSettings(candidate_charts=2)
    [outcome] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert outcome.status == "promoted", outcome.reason
    children = _runs(settings, TREND)
    children = children[children["tags.fraudcast.role"] == "candidate"]
    client = _client(settings)
    files = {
        row["tags.mlflow.runName"]: {item.path for item in client.list_artifacts(row["run_id"])}
        for _, row in children.iterrows()
    }
    charted = {name for name, names in files.items() if "fan_chart.png" in names}
    selected = children.loc[children["tags.selected"] == "true", "tags.mlflow.runName"].iloc[0]
    others = children[children["tags.mlflow.runName"] != selected]
    runner_up = others.sort_values("metrics.mase")["tags.mlflow.runName"].iloc[0]
    assert charted == {selected, runner_up}
    for name, names in files.items():
        assert {"backtest.csv", "forecast.csv"} <= names, name
        assert ("residuals.png" in names) == (name in charted), name
    untouched = children[~children["tags.mlflow.runName"].isin(charted)]
    assert untouched["tags.charts"].str.contains("only the 2 best candidates").all()


def test_the_last_retrain_is_found_behind_pages_of_candidate_runs(store, settings, monkeypatch):
    monkeypatch.setattr(tracking, "_RECENT_RUNS", 2)  # a page holds less than one retrain
    pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    [second] = pipeline.retrain(
        [TREND], store=store, settings=settings, candidates=QUICK, force=True
    )
    client = _client(settings)
    experiment = client.get_experiment_by_name(tracking.experiment_name(TREND))
    assert experiment is not None
    found = tracking.last_retrain(client, experiment.experiment_id)
    assert found is not None and found.run_id == second.run_id
    assert found.data_revision == store.data_revision_hash(TREND)
    assert found.decision == second.status


def test_a_series_runs_are_found_by_index_not_by_reading_every_run(tmp_path):
    import sqlite3

    database = tmp_path / "fresh-mlflow.db"
    tracking.connect(TrainingSettings(mlflow_tracking_uri=f"sqlite:///{database}"))
    connection = sqlite3.connect(database)
    plan = connection.execute(
        "EXPLAIN QUERY PLAN SELECT run_uuid FROM runs WHERE experiment_id = 1 "
        "ORDER BY start_time DESC LIMIT 12"
    ).fetchall()
    connection.close()
    assert any("USING INDEX fraudcast_runs_experiment" in row[-1] for row in plan), plan


def test_registered_champion_loads_as_pyfunc_with_requested_intervals(store, settings):
    pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    model = mlflow.pyfunc.load_model(registry.champion_uri(TREND))
    answer = model.predict(pd.DataFrame({"horizon": [4, 4], "level": [90.0, 50.0]}))
    assert list(answer.columns) == ["year", "mean", "lo-50", "hi-50", "lo-90", "hi-90"]
    assert answer["year"].tolist() == [2020, 2021, 2022, 2023]
    assert (answer["lo-90"] <= answer["lo-50"]).all()
    assert (answer["lo-50"] <= answer["mean"]).all()
    assert (answer["mean"] <= answer["hi-50"]).all()
    assert (answer["hi-50"] <= answer["hi-90"]).all()
    # a rising trend keeps rising
    assert answer["mean"].iloc[0] > 2800


def test_every_run_of_a_retrain_says_why_it_ran_and_whether_it_was_forced(store, settings):
    pipeline.retrain(
        [TREND], store=store, settings=settings, candidates=QUICK, trigger="fraudcast train"
    )
    runs = _runs(settings, TREND)
    assert set(runs[f"tags.{tracking.TRIGGER_TAG}"]) == {"fraudcast train"}
    assert set(runs[f"tags.{tracking.FORCED_TAG}"]) == {"false"}  # parent and candidates


def test_unchanged_data_and_code_trains_nothing_unless_forced(store, settings):
    pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    before = len(_runs(settings, TREND))
    [again] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert again.status == "unchanged"
    assert len(_runs(settings, TREND)) == before
    [forced] = pipeline.retrain(
        [TREND], store=store, settings=settings, force=True, candidates=QUICK
    )
    assert forced.status in {"promoted", "refreshed", "kept"}
    assert len(_runs(settings, TREND)) > before


def test_a_break_declared_after_training_retrains_the_series(store, settings):
    """A definition change found out later (``fraudcast series breaks``) changes what the model
    is given, though no figure changes: the next retrain must not skip it as unchanged."""
    pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    years = store.values(TREND).index
    store.set_breaks(TREND, [int(years[len(years) // 2])])
    [after] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert after.status in {"promoted", "refreshed", "kept"}, after.reason
    [again] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert again.status == "unchanged"
    assert again.reason.startswith("figures, definition breaks and code unchanged")


def test_a_break_declared_after_training_is_served_even_when_the_champion_is_kept(
    store, settings, monkeypatch
):
    """A retrain after ``series breaks`` whose gates keep the champion refits its model with
    the breaks: "kept" had left the old fit serving, blind to the definition change that
    triggered the retrain."""
    from training import promotion

    pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    champion = registry.champion_version(TREND, client=_client(settings))
    store.set_breaks(TREND, [2012])
    keep = promotion.PromotionDecision(False, "no candidate beat it by the required margin")
    monkeypatch.setattr(promotion, "decide", lambda **_: keep)
    [after] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert after.status == "refreshed", after.reason
    assert after.reason.endswith("refitted with the definition breaks declared since")
    served = registry.champion_version(TREND, client=_client(settings))
    assert served.version != champion.version
    assert served.tags[tracking.BREAKS_TAG] == "2012"


def test_a_first_candidate_refused_by_the_gates_is_a_failure_not_kept(store, settings, monkeypatch):
    """A series with no champion whose chosen model the gates refuse has nothing serving it:
    the retrain read "kept", as if a champion went on serving."""
    from training import promotion

    refuse = promotion.PromotionDecision(False, "analogs rejected: the 95% interval is odd")
    monkeypatch.setattr(promotion, "decide", lambda **_: refuse)
    [outcome] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert outcome.status == "failed"
    assert outcome.reason.endswith("the series has no champion, so nothing serves it yet")
    assert registry.champion_version(TREND, client=_client(settings)) is None


def test_a_count_that_falls_to_zero_is_still_trained(store, settings):
    """A figure of 0 is allowed, but every retrain of its series failed with "log_theta needs
    a strictly positive series": the log-scale models' backtests, from earlier origins, ran."""
    zero = _trend_figures(range(2020, 2021)).assign(value=0.0)
    store.add_figures(zero, source="test", message="none this year")
    [outcome] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert outcome.status == "promoted", outcome.reason
    runs = _runs(settings, TREND)
    [log_theta] = runs[runs["tags.mlflow.runName"] == "log_theta"]["tags.error"].tolist()
    assert "needs a strictly positive series" in log_theta  # logged as unable to forecast it


def test_a_worker_whose_retrain_was_killed_stops_without_writing(store, settings, monkeypatch):
    """`train --jobs 2` killed with -9 left its two joblib workers re-parented, training and
    registering champions outside the retrain lock, which had died with it."""
    from training.evidence import PopulationEvidence

    job = pipeline._Job(
        store.url, settings, "test", False, tuple(QUICK), {}, PopulationEvidence(), owner=4_000_000
    )
    started_by = types.SimpleNamespace(pid=4_000_000)  # a worker that process started
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: started_by)
    outcome = pipeline._retrain_one(TREND, job)
    assert outcome.failed and "ended; this worker stops without writing" in outcome.reason
    assert (
        tracking.connect(settings).get_experiment_by_name(tracking.experiment_name(TREND)) is None
    )
    # while that process lives (here: this one's parent), the worker trains as ever
    alive = dataclasses.replace(job, owner=os.getppid())
    started_by.pid = os.getppid()
    assert pipeline._retrain_one(TREND, alive).status == "promoted"


def test_a_share_in_percent_is_never_projected_above_100(store, settings):
    """A clearance rate of 94.1 rising to 99.6 was projected at 100.98 in 2030, with 80% and
    95% bounds up to 121 and 134 percent."""
    rates = [94.1, 94.9, 95.6, 96.0, 96.8, 97.1, 97.9, 98.3, 98.6, 99.0, 99.2, 99.4, 99.6]
    store.add_series(SeriesInfo(id="uk_clearance", title="Homicides cleared", unit="percent"))
    frame = _trend_figures(range(2012, 2025)).assign(
        series_id="uk_clearance", value=rates, unit="percent"
    )
    store.add_figures(frame, source="test", message="rates")
    [outcome] = pipeline.retrain(["uk_clearance"], store=store, settings=settings, candidates=QUICK)
    assert outcome.status == "promoted", outcome.reason
    version = registry.champion_version("uk_clearance", client=_client(settings))
    served = registry.load_champion(version).forecast.predict(10, (50, 80, 95, 99))
    assert served.drop(columns="year").to_numpy().max() <= 100.0
    assert served["hi-99"].iloc[0] > served["mean"].iloc[0]  # still an interval below 100
    # and a rising rate is not projected at exactly 100: the room left shrinks, never to none
    # (it had read 100 for every year once the trend reached the ceiling)
    assert (served["mean"] < 100.0).all() and (served["mean"].diff().dropna() >= 0).all()
    assert served["mean"].iloc[0] > 99.6 or outcome.model in {"naive", "analogs"}
    # at most as fast as the series' own room shrank: 5.9 to 0.4 in 12 years, not 99.99 at once
    assert served["mean"].iloc[0] < 100 - 0.4 * np.exp(-np.log(5.9 / 0.4) / 12) + 1e-9
    card = registry.load_champion(version).card  # bounds at 100 are explained where they show
    assert "a share in percent: the projection and its intervals stop at 100" in card.notes


def test_a_series_without_figures_is_waited_for_not_failed(store, settings):
    """A registered series with no figures once failed every retrain ("the series is
    empty"): `train` exited 1 for good and the scheduler retried it forever."""
    store.add_series(SeriesInfo(id="jp_new_reports", title="New reports", unit="count"))
    outcomes = pipeline.retrain(
        ["jp_new_reports", TREND], store=store, settings=settings, candidates=QUICK
    )
    waiting, trained = outcomes
    assert waiting.status == "unchanged" and not waiting.failed
    assert waiting.reason.startswith("no figures yet: add them (`fraudcast figures add`")
    assert waiting.data_revision == store.data_revision_hash("jp_new_reports")
    assert trained.status == "promoted"
    assert registry.champion_version("jp_new_reports", client=_client(settings)) is None


def test_new_figures_trigger_a_new_retrain(store, settings):
    pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    store.add_figures(_trend_figures(range(2000, 2021)), source="test", message="2020 arrived")
    [outcome] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert outcome.status in {"promoted", "refreshed", "kept"}
    assert outcome.data_revision == store.data_revision_hash(TREND)


def test_the_champions_model_chosen_again_is_a_refresh_not_a_promotion(store, settings):
    """The outcome said "promoted" where the page said "same model, refitted"."""
    [first] = pipeline.retrain([TREND], store=store, settings=settings, candidates=["naive"])
    assert first.status == "promoted"
    store.add_figures(_trend_figures(range(2000, 2021)), source="test", message="2020 arrived")
    [again] = pipeline.retrain([TREND], store=store, settings=settings, candidates=["naive"])
    assert again.status == "refreshed" and again.model == "naive"
    assert again.reason.startswith("naive chosen again and refitted: backtest MASE")
    assert again.version != first.version


def test_a_short_series_refitted_on_a_new_figure_does_not_claim_a_replacement(store, settings):
    """A 3-year series served the same borrowed model again was told "refreshed" by its
    outcome while its reason said "promoted ... (champion X replaced)"."""
    sns = "jp_sns_investment_fraud_cases"
    [first] = pipeline.retrain([sns], store=store, settings=settings, candidates=QUICK)
    assert first.status == "promoted"
    figure = _trend_figures(range(2026, 2027)).assign(series_id=sns, value=12000)
    store.add_figures(figure, source="test", message="2026 arrived")
    [again] = pipeline.retrain([sns], store=store, settings=settings, candidates=QUICK)
    assert again.status == "refreshed" and again.model == first.model
    assert again.reason.startswith(f"{first.model} chosen again and refitted: the series is too")
    assert "replaced" not in again.reason
    # its coverage rests on the few backtest forecasts 4 years allow (at most 3 + 2 + 1, from
    # origins after 1, 2 and 3 years), which the summary counts rather than reads as a rate
    assert again.intervals_borrowed and 0 < (again.backtest_forecasts or 0) <= 6
    [trend] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert not trend.intervals_borrowed and trend.backtest_forecasts


def test_a_worse_candidate_is_not_promoted(store, settings):
    [first] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    client = _client(settings)
    champion_before = registry.champion_version(TREND, client=client)
    assert champion_before is not None and first.model != "naive"
    [second] = pipeline.retrain(
        [TREND], store=store, settings=settings, force=True, candidates=["naive"]
    )
    assert second.status == "kept"
    assert "worse" in second.reason
    champion_after = registry.champion_version(TREND, client=client)
    assert champion_after is not None
    assert champion_after.version == champion_before.version
    parents = _runs(settings, TREND).query("`tags.fraudcast.role` == 'retrain'")
    assert "kept" in set(parents["tags.promotion.decision"])


def test_one_failing_series_does_not_stop_the_others(store, settings, monkeypatch):
    pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    client = _client(settings)
    champion_before = registry.champion_version(TREND, client=client)
    original = run_logging.log_candidates

    def log_candidates_failing_for_trend(fit, *args, **kwargs):
        if fit.series_id == TREND:
            raise OSError(28, "No space left on device: disk full while logging")
        return original(fit, *args, **kwargs)

    monkeypatch.setattr(run_logging, "log_candidates", log_candidates_failing_for_trend)
    store.add_figures(_trend_figures(range(2000, 2021)), source="test", message="2020")
    outcomes = pipeline.retrain(
        [TREND, "jp_ib_transfer_cases"], store=store, settings=settings, candidates=QUICK
    )
    by_id = {o.series_id: o for o in outcomes}
    assert by_id[TREND].status == "failed"
    assert "disk full while logging" in by_id[TREND].reason
    assert by_id["jp_ib_transfer_cases"].status == "promoted"
    champion_after = registry.champion_version(TREND, client=client)
    assert champion_after is not None and champion_after.version == champion_before.version


def _theta_with_a_bug(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Make the Theta model raise ``error`` whenever it is fitted."""
    from models.catalog import make_forecaster

    theta = type(make_forecaster("theta"))

    def broken(self, *args):
        raise error

    monkeypatch.setattr(theta, "_fit", broken)  # refits
    monkeypatch.setattr(theta, "_rolling_quantiles", broken)  # one-pass backtests


def test_a_bug_inside_a_model_fails_loudly_where_errors_are_strict(store, settings, monkeypatch):
    """Under FRAUDCAST_STRICT_ERRORS (the test suite's setting) a programming error in a
    candidate is raised, not recorded as a candidate that could not fit."""
    _theta_with_a_bug(monkeypatch, TypeError("unsupported operand type(s)"))
    with pytest.raises(TypeError, match="unsupported operand"):
        pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)


def test_a_bug_fails_only_its_series_in_production_and_says_it_is_a_bug(
    store, settings, monkeypatch
):
    monkeypatch.delenv("FRAUDCAST_STRICT_ERRORS")
    _theta_with_a_bug(monkeypatch, TypeError("unsupported operand type(s)"))
    [outcome] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert outcome.status == Outcome.FAILED
    assert "internal error" in outcome.reason and "TypeError" in outcome.reason


def test_a_model_that_cannot_use_the_series_is_a_note_and_the_others_serve(
    store, settings, monkeypatch
):
    _theta_with_a_bug(monkeypatch, ValueError("the series is too flat for this model"))
    [outcome] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert outcome.status == Outcome.PROMOTED and outcome.model != "theta"
    runs = _runs(settings, TREND)
    theta = runs[runs["tags.mlflow.runName"].fillna("").str.startswith("theta")]
    assert not theta.empty


def test_a_retrain_killed_before_the_alias_moves_leaves_the_old_champion(
    store, settings, monkeypatch
):
    pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    client = _client(settings)
    before = registry.champion_version(TREND, client=client)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed after the version was registered, before the alias")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", killed)
    with pytest.raises(KeyboardInterrupt):
        pipeline.retrain([TREND], store=store, settings=settings, force=True, candidates=QUICK)
    after = registry.champion_version(TREND, client=client)
    assert after is not None and after.version == before.version


def _candidate_runs(client: MlflowClient, parent_run_id: str) -> dict[str, Any]:
    """The candidate runs of one retrain by name, as MLflow reads them back."""
    experiment = client.get_run(parent_run_id).info.experiment_id
    runs = client.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'"
    )
    return {run.info.run_name: run for run in runs}


def test_candidate_runs_read_back_the_same_from_a_sql_store_and_a_tracking_server(
    store, settings, monkeypatch
):
    # on a SQL store every candidate run is written in one transaction; through a tracking
    # server, run by run with the tracking API: what MLflow shows must be the same
    client = _client(settings)
    assert run_logging._sql_store(client) is not None  # SQLite takes the one-transaction path
    [first] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    monkeypatch.setattr(run_logging, "_sql_store", lambda client: None)
    [second] = pipeline.retrain(
        [TREND], store=store, settings=settings, candidates=QUICK, force=True
    )
    bulk, api = _candidate_runs(client, first.run_id), _candidate_runs(client, second.run_id)
    assert set(bulk) == set(api) and len(bulk) >= 5
    ignored = {MLFLOW_PARENT_RUN_ID, tracking.FORCED_TAG}  # the second was forced, on purpose
    for name, run in bulk.items():
        other = api[name]
        assert run.info.status == other.info.status == "FINISHED", name
        assert run.info.lifecycle_stage == other.info.lifecycle_stage == "active"
        assert run.info.user_id == other.info.user_id
        assert run.info.end_time is not None and run.info.end_time >= run.info.start_time
        assert run.info.artifact_uri.endswith(f"{run.info.run_id}/artifacts")
        assert run.data.params == other.data.params, name
        assert run.data.metrics == other.data.metrics, name
        tags = {k: v for k, v in run.data.tags.items() if k not in ignored}
        assert tags == {k: v for k, v in other.data.tags.items() if k not in ignored}, name
        artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
        assert artifacts == {item.path for item in client.list_artifacts(other.info.run_id)}
        history = client.get_metric_history(run.info.run_id, "mase")
        assert [m.value for m in history] == [run.data.metrics["mase"]], name


def test_candidate_runs_of_a_series_are_written_together_or_not_at_all(store, settings):
    client = _client(settings)
    experiment_id = tracking.ensure_experiment(client, settings, TREND)
    metric = Metric("mase", 0.9, 1_700_000_000_000, 0)

    def prepared(name: str, params: dict[str, Any], folder: Path) -> Any:
        folder.mkdir()
        (folder / "backtest.csv").write_text("year,actual\n2020,1\n")
        return run_logging._PreparedRun(name, {"series_id": TREND}, params, [metric], folder)

    root = Path(tempfile.mkdtemp())
    good = prepared("naive", {"model": "naive"}, root / "good")
    # a parameter without a value breaks the write after the first run's rows went in
    broken = prepared("drift", {"model": None}, root / "broken")
    with pytest.raises(MlflowException, match="NOT NULL"):
        run_logging._write_runs(client, experiment_id, [good, broken])
    assert client.search_runs([experiment_id]) == []
    written = run_logging._write_runs(client, experiment_id, [good])
    assert client.get_run(written["naive"]).data.metrics == {"mase": 0.9}


def test_candidate_runs_on_a_sql_store_get_ids_in_time_order(store, settings):
    # run ids index MLflow's tags, params and metrics: in time order, a retrain's rows land
    # together at the end of those indexes instead of one page apart each (SCALING.md)
    client = _client(settings)
    [first] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    [second] = pipeline.retrain(
        [TREND], store=store, settings=settings, candidates=QUICK, force=True
    )
    earlier = [run.info.run_id for run in _candidate_runs(client, first.run_id).values()]
    later = [run.info.run_id for run in _candidate_runs(client, second.run_id).values()]
    assert all(re.fullmatch(r"[0-9a-f]{32}", run_id) for run_id in earlier + later)
    assert len(set(earlier + later)) == len(earlier + later) >= 10
    assert max(earlier) < min(later)
    for run_id in later:  # MLflow finds each run, its artifacts and its metrics by that id
        assert client.get_run(run_id).data.metrics["mase"] > 0


def test_the_selected_candidates_forecast_and_chart_are_the_served_ones_when_widened() -> None:
    """Where the population's pooled backtests widen a champion, the selected candidate's
    forecast.csv (and so its fan chart, which the parent run reuses) shows the widened
    intervals it serves, not the candidate's own calibration."""
    from models.calibration import MAX_HORIZON, grid_probabilities
    from training.selection import fit_series

    y = pd.Series(1000.0 + 100.0 * np.arange(14), index=range(2010, 2024))
    fit = fit_series(y, series_id=TREND, candidates=QUICK)
    probabilities = grid_probabilities()
    # twice as far into each tail: the 80% interval becomes a 90% one
    wider = np.where(probabilities < 0.5, probabilities / 2, 1 - (1 - probabilities) / 2)
    fit.champion.recalibration = np.tile(wider, (MAX_HORIZON, 1))
    selected = next(c for c in fit.candidates if c.name == fit.selected)
    series = SeriesInfo(id=TREND, title="Synthetic trend", unit="count")
    with tempfile.TemporaryDirectory() as folder:
        forecast, chart = run_logging._write_candidate_artifacts(
            Path(folder), fit, selected, series, y, 6, charts=True
        )
        written = pd.read_csv(Path(folder) / "forecast.csv")
    served = fit.champion.predict(6, (80.0, 95.0))
    assert forecast is not None and chart is not None
    assert np.allclose(written["hi-80"], served["hi-80"])
    own = run_logging.calibrated_forecast(selected, y).predict(6, (80.0, 95.0))
    assert (served["hi-80"] > own["hi-80"]).all()  # the served ones are the wider ones


def test_the_logged_forecasts_are_at_the_levels_trained_at(store):
    """FRAUDCAST_LEVELS=[50,90] was calibrated and measured at 50 and 90, but every logged
    forecast.csv and fan chart was still drawn at 80 and 95."""
    settings = TrainingSettings(levels=(50.0, 90.0))
    [outcome] = pipeline.retrain([TREND], store=store, settings=settings, candidates=QUICK)
    assert outcome.status == "promoted", outcome.reason
    runs = _runs(settings, TREND)
    client = _client(settings)
    selected = runs[runs["tags.selected"] == "true"]["run_id"].iloc[0]
    with tempfile.TemporaryDirectory() as folder:
        path = client.download_artifacts(selected, "forecast.csv", folder)
        columns = list(pd.read_csv(path).columns)
    assert columns == ["year", "mean", "lo-50", "hi-50", "lo-90", "hi-90"]


def test_a_series_whose_backtest_cannot_be_scaled_has_no_mase_not_nan(store, settings):
    """Figures for 2023 and 2025 only: its one backtest forecast starts from a single figure,
    which gives no scale, and the train summary printed "nan" in its MASE column."""
    store.add_series(SeriesInfo(id="jp_gappy", title="Gappy", unit="count"))
    store.add_figures(
        _trend_figures(range(2000, 2020)).assign(series_id="jp_gappy").iloc[[0, 2]],
        source="test",
        message="two figures",
    )
    [outcome] = pipeline.retrain(["jp_gappy"], store=store, settings=settings)
    assert outcome.status == "promoted", outcome.reason
    assert outcome.mase is None


def test_a_store_of_thirty_series_teaches_the_global_model_its_own_dynamics(store, settings):
    """The bundled 11 series, the synthetic trend and 20 series whose bursts pass (incidents
    after an outbreak, back halfway to their level a year): from 30 series on, a retrain's
    global autoregression learns from the store's windows, so a burst this year is projected
    falling back, as the store's bursts did, not carried on as the reference corpus' trends
    are; the champion keeps those windows for its what-ifs."""
    rng = np.random.default_rng(3)
    for index in range(20):
        level, values = rng.uniform(50, 500), []
        for _ in range(15):
            last = values[-1] if values else level
            values.append(round(level + 0.5 * (last - level) + rng.normal(0, 0.1 * level)))
        if index == 0:
            values[-1] = round(2 * np.mean(values[:-1]))  # this year's burst
        store.add_series(SeriesInfo(id=f"incidents{index}", title="Incidents", unit="count"))
        frame = _trend_figures(range(2010, 2025)).assign(
            series_id=f"incidents{index}", value=values
        )
        store.add_figures(frame, source="test", message="incidents")
    assert len(store.list_series()) >= 30
    [outcome] = pipeline.retrain(
        ["incidents0"], store=store, settings=settings, candidates=["global_ar"]
    )
    assert outcome.status == "promoted", outcome.reason
    version = registry.champion_version("incidents0", client=_client(settings))
    champion = registry.load_champion(version).forecast
    figures = store.values("incidents0")
    from_corpus = GlobalAR().fit(figures).predict(1)["mean"].iloc[0]
    assert champion.learned_from is not None
    assert champion.point_path[0] < figures.iloc[-1] < from_corpus
    # the modeller sees in the MLflow UI which windows it learned from
    runs = _runs(settings, "incidents0")
    parent = runs[runs["tags.fraudcast.role"] == "retrain"].iloc[0]
    learned = parent["tags.population.global_ar_learned_from"]
    assert learned == f"the windows of this population's {len(store.list_series())} series"

    # a new year, and naive the only candidate: the champion is judged on the new figures as
    # it was trained, learning from the store's windows (from the corpus' it had trailed
    # naive by 4%, and naive had been promoted on that)
    frame = _trend_figures(range(2025, 2026)).assign(series_id="incidents0", value=200)
    store.add_figures(frame, source="test", message="2025")
    [again] = pipeline.retrain(["incidents0"], store=store, settings=settings, candidates=["naive"])
    items = [(info.id, store.values(info.id), info.breaks) for info in store.list_series()]
    evidence = population_evidence(items, candidates=["global_ar"])
    refitted = fit_one(
        "incidents0", store.values("incidents0"), (), (80, 95), 0, ["global_ar"], evidence
    )
    assert isinstance(refitted, SeriesFit)
    judged = refitted.candidates[0].metrics["mase"]
    assert f"vs champion global_ar {judged:.3f} on the same data" in again.reason
