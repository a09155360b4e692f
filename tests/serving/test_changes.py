"""What changed since the last projection: GET /v1/series/{id}/changes and `fraudcast changes`."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from data.states import FigureChange, StoredFigure
from serving.app import create_app
from serving.cli import app
from serving.state import ServiceState
from tests.serving.conftest import QUIET, Changed, auth, retrain_yen, yen_forecast
from tests.support import TRAINED, environment, make_state, yen_figure
from training import registry, tracking
from training.changes import ChangedFigure, YearChange, summary
from training.evidence import same_model

YEN = TRAINED[1]
UNTRAINED = "cn_telecom_fraud_cases_solved"


@pytest.fixture
def service(trained_root: Path, tmp_path: Path) -> Iterator[tuple[ServiceState, TestClient]]:
    """A service on a fresh copy of the session's trained stores, without a scheduler."""
    root = tmp_path / "service"
    shutil.copytree(trained_root, root)
    state = make_state(root, **QUIET)
    with TestClient(create_app(state)) as client:
        yield state, client


def _percent(fraction: float) -> str:
    """A percentage as the plain words round it: whole above 10%, one decimal below, and one
    decimal where a whole number would read 100% for a change that is not 100%."""
    value = abs(fraction) * 100
    if value >= 10 and not (f"{value:.0f}" == "100" and value != 100):
        return f"{value:.0f}%"
    return f"{value:.1f}%".replace(".0%", "%")


@pytest.fixture
def changed_client(changed: Changed) -> Iterator[TestClient]:
    """A service on the ``changed`` stores, for one test (two services at once in one process
    would point MLflow's process-wide tracking URI at each other's stores)."""
    with TestClient(create_app(make_state(changed.root, **QUIET))) as client:
        yield client


def test_new_and_revised_figures_are_named_with_the_old_and_new_projection_in_words(
    changed, changed_client
):
    before, after = changed.before, changed.after
    answer = changed_client.get(f"/v1/series/{YEN}/changes")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["message"] is None
    [change] = body["changes"]
    assert change["version"] == after["model"]["version"]
    assert change["previous_version"] == before["model"]["version"]
    assert change["trained_at"] == after["model"]["trained_at"]
    assert change["model_changed"] == (
        not same_model(after["model"]["name"], before["model"]["name"])
    )

    new, revised = change["figures"]
    assert (new["year"], new["kind"], new["value"]) == (2026, "arrived", changed.arrived)
    assert new["previous_value"] is None
    assert new["source"]["title"] == "NPA 2026 annual report"
    assert new["message"] == "2026 release"
    assert new["projected"] == pytest.approx(before["forecast"][0]["mean"])
    assert (revised["year"], revised["kind"]) == (2025, "revised")
    assert revised["previous_value"] == changed.old_2025
    assert revised["value"] == pytest.approx(changed.old_2025 * 1.05)

    # the old and new projection for the same years: the numbers each champion served
    old_by_year = {point["year"]: point for point in before["forecast"]}
    new_by_year = {point["year"]: point for point in after["forecast"]}
    years = [row["year"] for row in change["projection"]]
    assert years == list(range(2027, 2036))
    for row in change["projection"]:
        for side, served in (("before", old_by_year), ("after", new_by_year)):
            point = served[row["year"]]
            assert row[side]["mean"] == pytest.approx(point["mean"], rel=1e-12)
            assert row[side]["lower"] == pytest.approx(point["lower"], rel=1e-12)
            assert row[side]["upper"] == pytest.approx(point["upper"], rel=1e-12)

    first_old, first_new = old_by_year[2027]["mean"], new_by_year[2027]["mean"]
    assert first_new > first_old
    summary = change["summary"]
    assert summary.startswith(
        f"The 2027 projection rose {_percent((first_new - first_old) / first_old)}, from ¥"
    ), summary
    assert "after the 2026 figure came in 100% above the projection" in summary
    assert "the 2025 figure was revised up 5%, from ¥" in summary
    if change["model_changed"]:
        assert f"The model changed from {before['model']['name']} to" in summary
    else:
        assert summary.endswith(f"The model is still {after['model']['name']}.")


def test_a_figure_below_the_projection_makes_it_fall_and_changes_list_newest_first(service):
    state, client = service
    before = yen_forecast(client)
    low = 0.3 * before["forecast"][0]["mean"]
    state.store.add_figures(pd.DataFrame([yen_figure(2026, low)]), source="test")
    retrain_yen(state)
    after = yen_forecast(client)
    [fell] = client.get(f"/v1/series/{YEN}/changes").json()["changes"]
    old, new = before["forecast"][1]["mean"], after["forecast"][0]["mean"]
    assert new < old
    assert fell["summary"].startswith(f"The 2027 projection fell {_percent((new - old) / old)}")
    assert "after the 2026 figure came in 70% below the projection" in fell["summary"]

    state.store.add_figures(pd.DataFrame([yen_figure(2025, 1.0e9)]), source="test")
    retrain_yen(state)
    changes = client.get(f"/v1/series/{YEN}/changes").json()["changes"]
    assert [(c["figures"][0]["year"], c["figures"][0]["kind"]) for c in changes] == [
        (2025, "revised"),
        (2026, "arrived"),
    ]
    assert changes[1] == fell
    assert changes[0]["previous_version"] == fell["version"]
    assert int(changes[0]["version"]) > int(fell["version"])


def test_a_withdrawn_figure_is_named_with_its_reason_on_the_change_it_made(service):
    state, client = service
    values = state.store.values(YEN)
    year = int(values.index[-2])
    refused = client.post(
        "/v1/figures/withdrawals", json={"series_id": YEN, "years": [year], "message": "typo"}
    )
    assert refused.status_code == 401  # a write, as adding figures is
    for body, status, said in (
        ({"series_id": YEN, "years": [1990], "message": "x"}, 422, "holds no figure for 1990"),
        ({"series_id": "jp_nope", "years": [year], "message": "x"}, 404, "unknown series"),
        ({"series_id": YEN, "years": [year], "message": ""}, 422, "message"),
        ({"series_id": YEN, "years": [True], "message": "x"}, 422, "body.years.0"),
        ({"series_id": YEN, "years": [str(year)], "message": "x"}, 422, "body.years.0"),
    ):
        answer = client.post("/v1/figures/withdrawals", json=body, headers=auth())
        assert answer.status_code == status, answer.text
        assert said in answer.text
    assert state.store.values(YEN).equals(values)  # refused: nothing withdrawn

    answer = client.post(
        "/v1/figures/withdrawals",
        json={"series_id": YEN, "years": [year], "message": "a typo: belongs to another series"},
        headers=auth(),
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["withdrawn"], body["changed_series"]) == (1, [YEN])
    assert body["retrain_job_id"] and f"withdrew {YEN} {year}" in body["summary"]
    job = state.jobs.wait(body["retrain_job_id"], timeout=300)
    assert job.state == "succeeded", job.error
    assert year not in {figure["year"] for figure in client.get(f"/v1/series/{YEN}/figures").json()}
    # the same request again (a client retrying after a timeout) changes nothing: 200, not 422
    retried = client.post(
        "/v1/figures/withdrawals",
        json={"series_id": YEN, "years": [year], "message": "a typo: belongs to another series"},
        headers=auth(),
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["no_op"] and retried.json()["retrain_job_id"] is None
    assert retried.json()["summary"].startswith(f"No change: the {year} figure was withdrawn")

    [change] = client.get(f"/v1/series/{YEN}/changes").json()["changes"]
    [withdrawn] = change["figures"]
    assert (withdrawn["year"], withdrawn["kind"], withdrawn["value"]) == (year, "withdrawn", None)
    assert withdrawn["previous_value"] == values[year]
    assert withdrawn["message"] == "a typo: belongs to another series"
    assert f"after the {year} figure of ¥" in change["summary"]
    assert "was withdrawn" in change["summary"] and "on the same figures" not in change["summary"]

    # four at once: the one past the three named is withdrawn too, not "changed"
    years = [int(held) for held in state.store.values(YEN).index[-6:-2]]
    answer = client.post(
        "/v1/figures/withdrawals",
        json={"series_id": YEN, "years": years, "message": "another series' figures"},
        headers=auth(),
    )
    assert answer.status_code == 201, answer.text
    job = state.jobs.wait(answer.json()["retrain_job_id"], timeout=300)
    assert job.state == "succeeded", job.error
    latest = client.get(f"/v1/series/{YEN}/changes").json()["changes"][0]
    assert [figure["kind"] for figure in latest["figures"]] == ["withdrawn"] * 4
    assert "and 1 more figure was withdrawn" in latest["summary"], latest["summary"]


def test_a_retrain_that_did_not_change_the_projection_is_not_listed(service):
    state, client = service
    first = yen_forecast(client)["model"]
    assert retrain_yen(state, force=True) == "refreshed"  # a new version, the same projection
    second = yen_forecast(client)["model"]
    assert second["version"] != first["version"]
    body = client.get(f"/v1/series/{YEN}/changes").json()
    assert body["changes"] == []
    assert "retrained 1 time since its first projection" in body["message"]
    assert "none changed the projection" in body["message"]

    # the next change is measured against the projection that served last
    state.store.add_figures(pd.DataFrame([yen_figure(2026, 9.9e9)]), source="test")
    retrain_yen(state)
    [change] = client.get(f"/v1/series/{YEN}/changes").json()["changes"]
    assert change["previous_version"] == second["version"]


def test_a_version_registered_before_projections_were_recorded_is_read_from_its_model(
    changed, tmp_path
):
    with TestClient(create_app(make_state(changed.root, **QUIET))) as client:
        recorded = client.get(f"/v1/series/{YEN}/changes").json()
    assert recorded["changes"]
    root = tmp_path / "copy"
    shutil.copytree(changed.root, root)
    copy = make_state(root, **QUIET)
    mlflow = tracking.connect(copy.training)
    for version in registry.champion_history(YEN, client=mlflow):
        mlflow.delete_model_version_tag(version.name, version.version, registry.PROJECTION_TAG)
    assert not any(
        registry.PROJECTION_TAG in version.tags
        for version in registry.champion_history(YEN, client=mlflow)
    )
    with TestClient(create_app(copy)) as client:
        assert client.get(f"/v1/series/{YEN}/changes").json() == recorded


def test_a_source_corrected_after_a_retrain_is_not_credited_to_that_retrain(changed, tmp_path):
    """A revision that only corrected the 2026 figure's source, after the retrain, was shown
    as the figure that retrain was given: its message and time, later than the training."""
    root = tmp_path / "copy"
    shutil.copytree(changed.root, root)
    copy = make_state(root, **QUIET)
    with TestClient(create_app(copy)) as client:
        [before] = client.get(f"/v1/series/{YEN}/changes").json()["changes"]
        corrected = yen_figure(2026, changed.arrived, source_title="NPA 2026 report, corrected")
        copy.store.add_figures(pd.DataFrame([corrected]), source="test", message="source fixed")
        [after] = client.get(f"/v1/series/{YEN}/changes").json()["changes"]
    assert after == before
    assert after["figures"][0]["message"] == "2026 release"


def test_unknown_series_is_a_404_and_a_series_never_retrained_says_why_its_list_is_empty(
    changed_client,
):
    client = changed_client
    unknown = client.get("/v1/series/no_such_series/changes")
    assert unknown.status_code == 404
    forecast = client.get("/v1/series/no_such_series/forecast")
    assert unknown.json()["detail"] == forecast.json()["detail"]
    once = client.get(f"/v1/series/{TRAINED[0]}/changes")
    assert once.status_code == 200
    assert once.json()["changes"] == []
    # the card is under the series' title: the message does not name it by its id
    assert once.json()["message"].startswith("This series has been trained once (")
    # when, in words a reader takes in and as the page's model card writes it: "trained 2 Dec
    # 2026, 03:42 UTC", not ISO 8601 (nor "02 December 2026 at 03:42" beside "Trained 2 Dec 2026")
    assert re.search(r"trained \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC", once.json()["message"])
    untrained = client.get(f"/v1/series/{UNTRAINED}/changes")
    assert untrained.status_code == 200
    assert untrained.json()["changes"] == []
    assert "has no trained model yet" in untrained.json()["message"]


def test_the_command_prints_the_changes_and_refuses_an_unknown_series(changed, changed_client):
    [change] = changed_client.get(f"/v1/series/{YEN}/changes").json()["changes"]
    env = environment(changed.root)
    runner = CliRunner(env={**env, "COLUMNS": "300"})
    shown = runner.invoke(app, ["changes", YEN])
    assert shown.exit_code == 0, shown.output
    assert change["summary"] in shown.stdout
    assert f"{changed.arrived:,.0f} yen" in shown.stdout
    as_json = runner.invoke(app, ["changes", YEN, "--json"])
    assert json.loads(as_json.stdout)["changes"] == [change]
    unknown = runner.invoke(app, ["changes", "no_such_series"])
    assert unknown.exit_code == 2
    assert "unknown series 'no_such_series'" in unknown.stderr


def test_a_combination_reranked_by_the_population_is_not_a_model_change() -> None:
    """A forced retrain on the same figures told the planner "The model changed from
    drift+ridge to ridge+drift": the same mean of the same two models."""
    said = summary([], [], unit="count", model="ridge+drift", previous_model="drift+ridge")
    assert said.endswith("The model is still ridge+drift.")
    other = summary([], [], unit="count", model="ridge+naive", previous_model="drift+ridge")
    assert other.endswith("The model changed from drift+ridge to ridge+naive.")


def test_a_change_on_the_same_figures_says_what_else_moved_it() -> None:
    """ "The 2026 projection fell 2.4% ..., on the same figures" left the planner guessing: the
    other series' figures had changed the evidence its choice blends in."""
    pooled = summary([], [], unit="count", model="naive", previous_model="naive")
    assert pooled.startswith(
        "The projection moved to other years, on the same figures: the backtests of the other "
        "series it is chosen with, or its definition breaks, changed."
    )
    release = summary([], [], unit="count", model="naive", previous_model="naive", new_release=True)
    assert "on the same figures, retrained by a new release of fraudcast." in release
    # champions that record their breaks say which it was
    declared = summary([], [], unit="count", model="naive", previous_model="naive",
                       breaks=("", "2020"))  # fmt: skip
    assert "on the same figures, with definition breaks at 2020 (were none)." in declared
    others = summary([], [], unit="count", model="naive", previous_model="naive",
                     breaks=("2020", "2020"))  # fmt: skip
    assert others.startswith(
        "The projection moved to other years, on the same figures: the backtests of the other "
        "series it is chosen with changed."
    )


def test_a_fall_of_nearly_all_is_not_rounded_to_all() -> None:
    """A fall of 99.7% had read "fell 100%", as if to nothing."""
    fall = YearChange(2027, before={"mean": 1000.0}, after={"mean": 3.0})
    said = summary(
        [fall], [], unit="count", model="naive", previous_model="naive", new_release=True
    )
    assert said.startswith("The 2027 projection fell 99.7%, from 1,000 to 3.00, on the same")
    gone = YearChange(2027, before={"mean": 1000.0}, after={"mean": 0.0})
    assert "fell 100%" in summary(
        [gone], [], unit="count", model="naive", previous_model="naive", new_release=True
    )


def _figure(year: int, value: float) -> StoredFigure:
    return StoredFigure(
        year, value, "NPA", "press release", "", "", "", 2, datetime(2026, 3, 1, tzinfo=UTC), "fix"
    )


def test_published_figures_are_quoted_exactly_and_projections_rounded() -> None:
    """A revision from 13,100 to 13,150 had read "from 13,100 to 13,200": figures are quoted
    as given (yen too), projections to three significant digits."""
    moved = YearChange(2027, before={"mean": 16123.4}, after={"mean": 16187.9})
    revised = ChangedFigure(FigureChange(_figure(2026, 13150.0), 13100.0), projected=None)
    said = summary([moved], [revised], unit="count", model="naive", previous_model="naive")
    assert said.startswith("The 2027 projection rose 0.4%, from 16,100 to 16,200, after the 2026")
    assert "the 2026 figure was revised up 0.4%, from 13,100 to 13,150." in said
    yen = ChangedFigure(FigureChange(_figure(2025, 10_397_000_000.0), None), projected=None)
    said = summary([moved], [yen], unit="JPY", model="naive", previous_model="naive")
    assert "after the 2025 figure came in at ¥10.397 billion." in said
