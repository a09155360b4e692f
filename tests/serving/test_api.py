"""The HTTP API against stores trained by the real pipeline."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import mlflow
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from data.records import SeriesInfo
from serving.app import create_app
from serving.services import describe_model
from tests.serving.conftest import auth, retrain_yen
from tests.support import TRAINED, make_state, yen_figure
from training.registry import champion_uri

SERIES = "jp_cybercrime_cleared"
YEN = TRAINED[1]
UNTRAINED = "cn_telecom_fraud_cases_solved"


def _unloadable(monkeypatch: pytest.MonkeyPatch, series_id: str) -> Callable[..., Any]:
    """``series_id``'s model files gone from the artifact store: its champion cannot load.
    Returns the real loader, to put the files back."""
    from training import registry

    real = registry.load_champion

    def load(version):
        if version.tags.get("series_id") == series_id:
            raise OSError(f"No such file: artifacts of {series_id}")
        return real(version)

    monkeypatch.setattr(registry, "load_champion", load)
    return real


def test_series_list_shows_latest_figure_source_and_champion(client):
    answer = client.get("/v1/series")
    assert answer.status_code == 200
    by_id = {item["id"]: item for item in answer.json()}
    assert len(by_id) == 11
    cyber = by_id[SERIES]
    assert cyber["latest"]["year"] >= 2023
    assert cyber["latest"]["source"]["publisher"]
    assert cyber["champion"]["name"]
    name = cyber["champion"]["name"]
    assert cyber["champion"]["description"] == describe_model(name) != ""  # for the model card
    assert cyber["champion"]["backtest_mase"] > 0
    # the card's coverage is a share of the backtest forecasts it names
    checked = cyber["champion"]["backtest_forecasts"]
    assert isinstance(checked, int) and checked > 0
    for share in cyber["champion"]["coverage"].values():
        assert share * checked == pytest.approx(round(share * checked))
    assert by_id[UNTRAINED]["champion"] is None


def test_every_kind_of_champion_is_described_in_plain_words():
    from models.catalog import CATALOG

    assert describe_model("dotm") == CATALOG["dotm"].description
    assert describe_model("median_best3") == "median of the 3 candidates with the best backtests"
    assert describe_model("log_drift+comb") == (
        "mean of 2 models: constant growth rate; median of drift, dynamic Theta and damped trend"
    )
    assert describe_model("naive+theta+dotm").startswith("mean of 3 models: no change: the last")
    # a new small count's naive carries its rate forward, not its last figure
    assert describe_model("naive").endswith("(a new small count's rate)")
    assert describe_model("retired_model") == describe_model("retired+comb") == ""


def test_figures_carry_provenance(client):
    figures = client.get(f"/v1/series/{SERIES}/figures").json()
    by_year = {f["year"]: f for f in figures}
    assert by_year[2018]["value"] == 9040
    assert by_year[2018]["source"]["accessed_via"] == "seed"
    assert all(f["source"]["publisher"] and f["source"]["title"] for f in figures)
    # preliminary or final only as the note says: a figure whose source said neither had been
    # shown as final
    for figure in figures:
        note = (figure["source"]["note"] or "").lower()
        expected = (
            "preliminary"
            if figure["preliminary"]
            else "final"
            if note.lstrip(" (").startswith(("final", "確定"))
            else "not stated"
        )
        assert figure["status"] == expected, figure
    assert {f["status"] for f in figures} >= {"final", "not stated"}


def test_forecast_has_nested_intervals_and_matches_the_registered_model(client, state):
    answer = client.get(f"/v1/series/{SERIES}/forecast", params={"horizon": 5, "levels": "80,95"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["horizon"] == 5 and len(body["forecast"]) == 5
    # the horizon counts from the last figure, which the answer names (it had said nothing of
    # how old its figures were: a series last published in 2022 was "projected" for 2023)
    last = int(state.store.values(SERIES).index.max())
    assert body["last_figure_year"] == last and body["forecast"][0]["year"] == last + 1
    for point in body["forecast"]:
        assert 0 <= point["lower"]["95"] <= point["lower"]["80"] <= point["mean"]
        assert point["mean"] <= point["upper"]["80"] <= point["upper"]["95"]
    mlflow.set_tracking_uri(state.training.mlflow_tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(champion_uri(SERIES))
    expected = pyfunc.predict(pd.DataFrame({"horizon": [5, 5], "level": [80.0, 95.0]}))
    served = pd.DataFrame(
        {
            "year": [p["year"] for p in body["forecast"]],
            "mean": [p["mean"] for p in body["forecast"]],
            "hi-95": [p["upper"]["95"] for p in body["forecast"]],
        }
    )
    pd.testing.assert_frame_equal(served, expected[["year", "mean", "hi-95"]], check_dtype=False)
    assert body["model"]["version"] == "1"
    assert set(body["model"]["coverage"]) == {"80", "95"}


def test_any_level_between_0_and_100_can_be_asked_for(client):
    body = client.get(f"/v1/series/{SERIES}/forecast", params={"levels": "50,99.5"}).json()
    assert set(body["forecast"][0]["lower"]) == {"50", "99.5"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"horizon": 0}, "between 1 and 30"),
        ({"horizon": 31}, "between 1 and 30"),
        ({"levels": "0"}, "strictly between 0 and 100"),
        ({"levels": "100"}, "strictly between 0 and 100"),
        ({"levels": "eighty"}, "at most 4 decimal places"),
    ],
)
def test_bad_horizon_or_level_is_a_422_that_says_what_is_allowed(client, params, message):
    answer = client.get(f"/v1/series/{SERIES}/forecast", params=params)
    assert answer.status_code == 422
    assert message in answer.json()["detail"]


def test_a_mistyped_query_parameter_is_a_422_naming_the_ones_taken(client):
    answer = client.get(f"/v1/series/{SERIES}/forecast", params={"horizn": 10})
    assert answer.status_code == 422, answer.text
    assert answer.json()["problems"] == [
        {
            "where": "query.horizn",
            "reason": "not a parameter of this endpoint: it takes horizon, levels",
        }
    ]
    figures = client.get(f"/v1/series/{SERIES}/figures", params={"year": 2020})
    assert figures.status_code == 422
    assert "it takes no query parameters" in figures.json()["detail"]
    asked = client.get(f"/v1/series/{SERIES}/forecast", params={"horizon": 3, "levels": "50"})
    assert asked.status_code == 200 and len(asked.json()["forecast"]) == 3


def test_unknown_series_is_404_and_untrained_series_409_with_a_hint(client, state):
    """A series without a champion is a lasting state until it is trained, not a fault: it had
    answered 503, which sets off 5xx alerts and retry loops; one without figures says to add
    them (training it does nothing)."""
    unknown = client.get("/v1/series/no_such_series/forecast")
    assert unknown.status_code == 404
    assert "no_such_series" in unknown.json()["detail"]
    long = client.get(f"/v1/series/{'x' * 5000}/forecast")  # quoted only as long as an id can be
    assert long.status_code == 404 and f"unknown series '{'x' * 100}'…." in long.json()["detail"]
    assert "x" * 101 not in long.json()["detail"]
    assert client.get("/v1/series/no_such_series/figures").status_code == 404
    untrained = client.get(f"/v1/series/{UNTRAINED}/forecast")
    assert untrained.status_code == 409
    assert "fraudcast train" in untrained.json()["hint"]
    state.store.add_series(SeriesInfo("jp_phishing_reports", "Phishing reports", "count"))
    empty = client.get("/v1/series/jp_phishing_reports/forecast")
    assert empty.status_code == 409
    assert (
        empty.json()["detail"]
        == "series 'jp_phishing_reports' has no figures yet, so no projection"
    )
    assert empty.json()["hint"].startswith("add its figures first: POST /v1/figures")
    # a what-if of it says the same (it had said "train it first")
    what_if = client.post(
        "/v1/series/jp_phishing_reports/scenario",
        json={"figures": [{"year": 2026, "value": 10}], "horizon": 3},
    )
    assert what_if.status_code == 409 and what_if.json() == empty.json()


def test_csv_download_has_the_same_numbers_as_json(client):
    params = {"horizon": 4, "levels": "80,95"}
    csv = client.get(f"/v1/series/{SERIES}/forecast.csv", params=params)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(csv.text))
    body = client.get(f"/v1/series/{SERIES}/forecast", params=params).json()
    assert table["year"].tolist() == [p["year"] for p in body["forecast"]]
    rounding = 0.05  # a count to 1 decimal
    lower = [p["lower"]["80"] for p in body["forecast"]]
    assert table["lo-80"].tolist() == pytest.approx(lower, abs=rounding)
    assert table["mean"].tolist() == pytest.approx(
        [p["mean"] for p in body["forecast"]], abs=rounding
    )
    # what the numbers count and where the horizon starts, as the JSON says (it had not)
    assert set(table["unit"]) == {body["unit"]}
    assert set(table["last_figure_year"]) == {body["last_figure_year"]}


def test_the_csv_download_is_rounded_as_read_and_named_with_its_day(client):
    """A download read 6443.901395136709 cases and 10966629191.266674 yen, in a file named
    alike every day."""
    from datetime import UTC, datetime

    for series_id, decimals in ((SERIES, 1), (YEN, 0)):
        answer = client.get(f"/v1/series/{series_id}/forecast.csv")
        day = f"{datetime.now(UTC):%Y-%m-%d}"
        assert f'filename="{series_id}-forecast-{day}.csv"' in answer.headers["content-disposition"]
        table = pd.read_csv(io.StringIO(answer.text), dtype=str)
        for column in ("mean", "lo-80", "hi-95"):
            places = [len(cell.partition(".")[2]) for cell in table[column]]
            assert max(places) <= decimals, (series_id, column, table[column].tolist())
        body = client.get(f"/v1/series/{series_id}/forecast").json()
        means = table["mean"].astype(float).tolist()
        assert means == pytest.approx([p["mean"] for p in body["forecast"]], abs=0.5)


def test_png_fan_chart(client):
    answer = client.get(f"/v1/series/{SERIES}/forecast.png")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert answer.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_batch_forecasts_and_its_errors(client):
    answer = client.post(
        "/v1/forecasts",
        json={"requests": [{"series_id": s, "horizon": 3, "levels": [90]} for s in TRAINED]},
    )
    assert answer.status_code == 200
    forecasts = answer.json()["forecasts"]
    assert [f["series_id"] for f in forecasts] == list(TRAINED)
    assert all(len(f["forecast"]) == 3 for f in forecasts)
    missing = client.post("/v1/forecasts", json={"requests": [{"series_id": "nope"}]})
    assert missing.status_code == 404


def test_model_card_compares_candidates(client):
    card = client.get(f"/v1/models/{SERIES}").json()
    assert card["reason"]
    assert len(card["candidates"]) >= 5
    selected = [c for c in card["candidates"] if c["selected"]]
    assert len(selected) == 1 and selected[0]["model"] == card["champion"]["name"]
    assert all("mase" in c["metrics"] for c in card["candidates"] if not c["error"])


def test_writes_need_the_bearer_token(client):
    for path, payload in (("/v1/figures", {"figures": []}), ("/v1/retrain", {})):
        missing = client.post(path, json=payload)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = client.post(path, json=payload, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403


def test_invalid_figures_are_rejected_whole_with_every_problem(client, state):
    before = state.store.figures()
    answer = client.post(
        "/v1/figures",
        json={"figures": [yen_figure(2026, 9e9), yen_figure(2027, -3, unit="count")]},
        headers=auth(),
    )
    assert answer.status_code == 422
    body = answer.json()
    assert "nothing was written" in body["detail"]
    reasons = {(p["item"], p["column"]) for p in body["problems"]}
    assert (1, "value") in reasons and (1, "unit") in reasons
    pd.testing.assert_frame_equal(state.store.figures(), before)


def test_a_long_rejection_counts_every_problem_not_only_those_listed(client, state):
    """10,000 bad items answered "100 problems": an operator fixed those and tried again."""
    figures = [yen_figure(1900 + index % 120, -1) for index in range(10_000)]
    answer = client.post("/v1/figures", json={"figures": figures}, headers=auth())
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"].startswith("figures rejected, nothing was written: 19,880 problems")
    assert (
        "(the first 50 of each kind listed; 9,950 more items: value must be >= 0;"
        in (body["detail"])
    )
    assert len(body["problems"]) == 100


def test_a_body_of_many_malformed_figures_lists_the_first_of_each_kind(client, state):
    """10,000 figures with a word for a value answered every one of the 10,000 reasons, 2 MB,
    where the figures' own problems list the first 50 of each kind and count the rest."""
    figures = [{**yen_figure(1900 + index % 120, 1.0), "value": "x"} for index in range(10_000)]
    answer = client.post("/v1/figures", json={"figures": figures}, headers=auth())
    assert answer.status_code == 422
    body = answer.json()
    assert len(body["problems"]) == 50
    assert body["problems"][0]["where"] == "body.figures.0.value"
    assert body["detail"].startswith(
        "10,000 problems (the first 50 of each kind listed; 9,950 more: body.figures.value: "
    ), body["detail"][:300]
    assert len(answer.content) < 20_000


def test_a_figure_given_twice_names_both_items_not_lines(client, state):
    answer = client.post(
        "/v1/figures",
        json={"figures": [yen_figure(2026, 9e9), yen_figure(2026, 8e9)]},
        headers=auth(),
    )
    assert answer.status_code == 422
    [problem] = answer.json()["problems"]
    assert problem["item"] == 1 and problem["reason"].endswith(", first as item 0")
    assert "line" not in problem["reason"]


@pytest.mark.parametrize(
    ("field", "given", "said"),
    [
        ("value", True, "true is a boolean, not a number"),
        ("year", True, "true is a boolean, not a number"),
        # a string is not a number either: "13100" had been stored by a request meant to fail
        ("value", "9100000000", "'9100000000' is a string, not a number: write it without quotes"),
        ("year", "2026", "'2026' is a string, not a number"),
    ],
)
def test_a_boolean_or_a_string_is_not_a_number_and_names_its_row_and_field(
    client, state, field, given, said
):
    before = state.store.figures()
    figures = [{**yen_figure(2026, 9.1e9), field: given}]
    answer = client.post("/v1/figures", json={"figures": figures}, headers=auth())
    assert answer.status_code == 422, answer.text
    assert [p["where"] for p in answer.json()["problems"]] == [f"body.figures.0.{field}"]
    assert said in answer.json()["detail"]
    pd.testing.assert_frame_equal(state.store.figures(), before)


def test_a_surprise_is_named_in_the_answer_to_the_write_that_brought_it_only(
    client, state, monkeypatch
):
    """With its series not retrained yet, the 2026 surprise was named again in the answer to
    every later write, of whatever figure."""
    monkeypatch.setattr(state.jobs, "submit", lambda *args, **kwargs: None)  # no retrain
    first = client.post("/v1/figures", json={"figures": [yen_figure(2026, 2.0e11)]}, headers=auth())
    assert first.status_code == 201, first.text
    assert [s for s in first.json()["surprises"] if f"{YEN} 2026" in s]
    revised = float(state.store.values(YEN)[2025]) * 1.01
    later = client.post(
        "/v1/figures", json={"figures": [yen_figure(2025, revised)]}, headers=auth()
    )
    assert later.status_code == 201, later.text
    assert not [s for s in later.json()["surprises"] if "2026" in s], later.json()["surprises"]


def test_a_revised_figure_far_outside_the_forecast_made_before_it_is_a_surprise(
    client, state, monkeypatch
):
    """The champion was trained on the preliminary 2025 figure, so it forecasts from 2026; the
    forecast made before 2025 came in was judged anew against the revision, found outside its
    95% interval, and nothing was said."""
    monkeypatch.setattr(state.jobs, "submit", lambda *args, **kwargs: None)  # no retrain
    preliminary = float(state.store.values(YEN)[2025])
    earlier = {
        "series_id": YEN, "year": 2025, "actual": preliminary, "mean": preliminary,
        "lo-80": 0.95 * preliminary, "hi-80": 1.05 * preliminary,
        "lo-95": 0.9 * preliminary, "hi-95": 1.1 * preliminary,
        "inside_80": True, "inside_95": True,
        "model_name": "drift", "model_version": "0", "data_revision": "before-2025",
    }  # fmt: skip
    state.store.record_scores(pd.DataFrame([earlier]))
    answer = client.post(
        "/v1/figures", json={"figures": [yen_figure(2025, 3 * preliminary)]}, headers=auth()
    )
    assert answer.status_code == 201, answer.text
    [surprise] = [s for s in answer.json()["surprises"] if f"{YEN} 2025" in s]
    assert "of drift (version 0" in surprise
    [row] = state.store.track_record(YEN).query("year == 2025").to_dict("records")
    assert not row["inside_95"]  # the track record judged it anew, as it did before


def test_a_figure_of_nan_is_named_as_not_a_number_not_as_missing(client, state):
    before = state.store.figures()
    body = json.dumps({"figures": [yen_figure(2026, 1.0)]}).replace("1.0", "NaN")
    answer = client.post(
        "/v1/figures",
        content=body,
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["problems"]
    assert problem["where"] == "body.figures.0.value" and "finite number" in problem["reason"]
    pd.testing.assert_frame_equal(state.store.figures(), before)


def test_a_boolean_horizon_or_level_is_refused(client):
    for item, where in (({"horizon": True}, "horizon"), ({"levels": [True]}, "levels.0")):
        answer = client.post("/v1/forecasts", json={"requests": [{"series_id": SERIES, **item}]})
        assert answer.status_code == 422, answer.text
        assert answer.json()["problems"][0]["where"] == f"body.requests.0.{where}"


def test_added_figures_schedule_a_retrain_and_the_new_champion_is_served(client, state):
    old = client.get(f"/v1/series/{YEN}/forecast").json()["model"]
    answer = client.post(
        "/v1/figures",
        json={"figures": [yen_figure(2026, 9.1e9)], "message": "2026"},
        headers=auth(),
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["changed_series"] == [YEN] and body["retrain_job_id"]
    job = state.jobs.wait(body["retrain_job_id"], timeout=300)
    assert job.state == "succeeded", job.error
    [outcome] = job.outcomes
    assert outcome.series_id == YEN
    new = client.get(f"/v1/series/{YEN}/forecast").json()
    if outcome.status in {"promoted", "refreshed"}:
        assert new["model"]["data_revision"] != old["data_revision"]
        # the store revision the figures stood as of: the one this write made
        assert new["model"]["figures_revision"] == body["revision_id"]
        assert old["figures_revision"] < body["revision_id"]
        assert new["forecast"][0]["year"] == 2027
    else:
        assert new["model"] == old
    assert client.get(f"/v1/jobs/{body['retrain_job_id']}").json()["state"] == "succeeded"


def test_retrain_endpoint_returns_a_job(client, state):
    unknown = client.post("/v1/retrain", json={"series": ["nope"]}, headers=auth())
    assert unknown.status_code == 404
    # an empty list names no series (it had retrained all); only true or false forces
    for body, where in (({"series": []}, "body.series"), ({"force": "yes"}, "body.force")):
        refused = client.post("/v1/retrain", json=body, headers=auth())
        assert refused.status_code == 422, refused.text
        assert refused.json()["problems"][0]["where"] == where
        if where == "body.series":
            assert "leave series out to retrain every series" in refused.json()["detail"]
    answer = client.post("/v1/retrain", json={"series": [SERIES, SERIES]}, headers=auth())
    assert answer.status_code == 202
    assert answer.json()["series"] == [SERIES]  # named twice, retrained once
    job = state.jobs.wait(answer.json()["id"], timeout=300)
    assert job.state == "succeeded"
    assert len(job.outcomes) == 1 and job.outcomes[0].status == "unchanged"
    assert '"force": true in POST /v1/retrain' in job.outcomes[0].reason
    gone = client.get("/v1/jobs/not-a-job")  # e.g. a job of the server before a restart
    assert gone.status_code == 404
    assert "do not outlive a restart" in gone.json()["detail"]
    # no body at all retrains every series, as an empty one does (it was 422 "Field required")
    everything = client.post("/v1/retrain", headers=auth())
    assert everything.status_code == 202, everything.text
    assert everything.json()["series"] == []  # every series: which, it knows once it ran
    assert state.jobs.wait(everything.json()["id"], timeout=300).state == "succeeded"
    # and once ended it names them: it had kept "series": [] beside 11 outcomes
    ended = client.get(f"/v1/jobs/{everything.json()['id']}").json()
    assert len(ended["outcomes"]) == 11
    assert ended["series"] == [outcome["series_id"] for outcome in ended["outcomes"]]


def test_a_body_that_is_not_json_is_a_400_and_one_that_is_csv_says_where_csv_goes(client, state):
    """The OpenAPI schema promised 400 for a body that is not JSON; it was 422, and a CSV
    posted as the README's figures files are written got "Input should be a valid
    dictionary" with no word on what the body must be."""
    before = state.store.figures()
    broken = client.post(
        "/v1/figures",
        content=b'{"figures": [',
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert broken.status_code == 400, broken.text
    assert broken.json()["detail"].startswith("the body is not JSON")
    csv_text = b"series_id,year,value\njp_cybercrime_cleared,2026,13000\n"
    as_csv = client.post(
        "/v1/figures", content=csv_text, headers={**auth(), "Content-Type": "text/csv"}
    )
    assert as_csv.status_code in (400, 422), as_csv.text
    assert "`fraudcast figures add` or the drop folder" in as_csv.json()["hint"]
    pd.testing.assert_frame_equal(state.store.figures(), before)


def test_health_readiness_and_metrics(client):
    # liveness claims nothing about champions (it said "champions": 0 while 11 were loaded)
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["details"]["champions"]) == set(TRAINED)
    assert ready.json()["details"]["last_retrain"] == dict.fromkeys(sorted(TRAINED), "promoted")
    client.get(f"/v1/series/{SERIES}/forecast")
    client.post("/v1/figures", json={"figures": []})  # no token: refused before routing
    client.get("/no/such/page")
    metrics = client.get("/metrics").text
    assert 'route="/v1/series/{series_id}/forecast"' in metrics
    # a refusal is counted under the route it was for (it was "unmatched")
    assert 'method="POST",route="/v1/figures",status="401"' in metrics
    assert 'route="unmatched",status="404"' in metrics
    assert f"fraudcast_champions_loaded {len(TRAINED)}.0" in metrics
    # how each series' last retrain ended, for an alert on failures
    assert f'fraudcast_series_last_retrain{{outcome="promoted"}} {len(TRAINED)}.0' in metrics
    assert 'fraudcast_series_last_retrain{outcome="failed"} 0.0' in metrics
    assert "fraudcast_retrain_jobs_unfinished 0.0" in metrics
    assert client.get("/docs").status_code == 200


def test_not_ready_until_champions_are_loaded(tmp_path):
    with TestClient(create_app(make_state(tmp_path))) as untrained:
        ready = untrained.get("/readyz")
        assert ready.status_code == 503
        assert "fraudcast train" in ready.json()["details"]["hint"]
        assert untrained.get("/healthz").status_code == 200
        assert untrained.get(f"/v1/series/{SERIES}/forecast").status_code == 409


def test_a_champion_that_cannot_be_loaded_keeps_only_itself_out(state, monkeypatch):
    """One series' model files gone from the artifact store took every series down: /readyz
    said 0 champions and told the operator to train, which changes nothing."""
    from training import registry

    real = _unloadable(monkeypatch, YEN)
    with TestClient(create_app(state)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        details = ready.json()["details"]
        assert YEN not in details["champions"] and SERIES in details["champions"]
        assert details["load_errors"][YEN].endswith(f"OSError: No such file: artifacts of {YEN}")
        assert client.get(f"/v1/series/{SERIES}/forecast").status_code == 200
        broken = client.get(f"/v1/series/{YEN}/forecast")
        assert broken.status_code == 503
        assert broken.json()["detail"].startswith(f"the champion of series '{YEN}' could not")
        assert "restore them where MLflow recorded them" in broken.json()["hint"]
        listed = {item["id"]: item for item in client.get("/v1/series").json()}
        assert listed[YEN]["champion"] is None  # not "never trained": the page says why
        assert listed[YEN]["champion_problem"] == details["load_errors"][YEN]
        assert listed[SERIES]["champion_problem"] is None
        monkeypatch.setattr(registry, "load_champion", real)  # the files are back
        state.board.refresh()
        assert client.get(f"/v1/series/{YEN}/forecast").status_code == 200
        assert client.get("/readyz").json()["details"]["load_errors"] == {}


def test_figures_sent_again_answer_200_not_201(client, state):
    """A second send of the same figures (a retry after a timeout) creates nothing: it had
    answered 201 Created with no revision."""
    body = {"figures": [yen_figure(2026, 9.1e9)]}
    first = client.post("/v1/figures", json=body, headers=auth())
    assert first.status_code == 201 and not first.json()["no_op"], first.text
    revisions = state.store.revisions()
    again = client.post("/v1/figures", json=body, headers=auth())
    assert again.status_code == 200, again.text
    assert again.json()["no_op"] and again.json()["revision_id"] is None
    assert state.store.revisions() == revisions


def test_an_address_that_is_no_page_is_said_in_a_page_to_a_browser(client) -> None:
    """A person who mistyped an address got {"detail":"Not Found"} in their browser."""
    page = client.get("/forecasts", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "fraudcast has no page at <code>/forecasts</code>" in page.text
    assert '<a href="/">planner page</a>' in page.text
    # the API and any client that does not ask for a page keep the JSON answer
    assert client.get("/forecasts").json() == {"detail": "Not Found"}
    api = client.get("/v1/nothing", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    escaped = client.get("/<script>", headers={"Accept": "text/html"})
    assert "<script>" not in escaped.text and "&lt;script&gt;" in escaped.text


def test_preliminary_wording_in_japanese_and_english_marks_a_figure_preliminary(client, state):
    """速報値 and 速報 (the flash figure Japanese statistics publish first), provisional and
    prelim. had read as "not stated"; only 暫定 and preliminary marked a figure preliminary."""
    notes = {
        1996: "速報値",
        1997: "速報",
        1998: "provisional",
        1999: "prelim.",
        2000: "暫定値",
        2001: "確定値",
        2002: "(Prelim) NPA release",
    }
    # years before the series' first figure: nothing else in it changes
    figures = [yen_figure(year, 9.1e9, note=note) for year, note in notes.items()]
    state.store.add_figures(pd.DataFrame(figures), source="test")
    shown = {f["year"]: f for f in client.get(f"/v1/series/{YEN}/figures").json()}
    expected = {year: "preliminary" for year in notes} | {2001: "final"}
    assert {year: shown[year]["status"] for year in notes} == expected
    assert [year for year in notes if shown[year]["preliminary"]] == [
        1996, 1997, 1998, 1999, 2000, 2002
    ]  # fmt: skip


def test_an_unknown_job_id_is_quoted_only_as_far_as_a_series_id_is(client):
    """GET /v1/jobs/<20,000 a's> echoed the whole id in a 20 KB 404, where an unknown series
    id is cut at 100 characters."""
    given = "a" * 20_000
    job = client.get(f"/v1/jobs/{given}")
    series = client.get(f"/v1/series/{given}/forecast")
    assert job.status_code == series.status_code == 404
    cut = f"'{'a' * 100}'…"
    assert cut in job.json()["detail"] and cut in series.json()["detail"]
    assert len(job.content) < 1000


def test_every_moment_in_the_api_is_written_one_way(client, state):
    """One object said trained_at "2026-12-04T17:51:13+00:00" beside last_retrain.finished_at
    "…17:51:14.199000Z"; jobs wrote microseconds too."""
    written = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    series = {item["id"]: item for item in client.get("/v1/series").json()}[SERIES]
    assert written.fullmatch(series["champion"]["trained_at"]), series["champion"]
    assert written.fullmatch(series["last_retrain"]["finished_at"]), series["last_retrain"]
    forecast = client.get(f"/v1/series/{SERIES}/forecast").json()
    assert forecast["model"]["trained_at"] == series["champion"]["trained_at"]
    job = client.post("/v1/retrain", json={"series": [SERIES]}, headers=auth()).json()
    state.jobs.wait(job["id"], timeout=300)
    ended = client.get(f"/v1/jobs/{job['id']}").json()
    for moment in ("created_at", "started_at", "finished_at"):
        assert written.fullmatch(ended[moment]), ended


def test_every_api_error_has_one_shape_an_unexpected_fault_too(state, monkeypatch):
    """A client reads every 4xx and 5xx from /v1 as one Problem: ``detail`` a string, with
    ``problems`` and ``hint`` where they help. A fault of the service had answered the text
    "Internal Server Error", not JSON."""
    from sqlalchemy.exc import OperationalError

    from serving import services

    with TestClient(create_app(state), raise_server_exceptions=False) as client:
        answers = [
            (404, client.get("/v1/series/no_such_series/forecast")),
            (404, client.get("/v1/jobs/no_such_job")),
            (422, client.get(f"/v1/series/{SERIES}/forecast", params={"horizon": 500})),
            (422, client.get(f"/v1/series/{SERIES}/forecast", params={"_": "1"})),
            (401, client.post("/v1/retrain")),
            (403, client.post("/v1/retrain", headers={"Authorization": "Bearer wrong"})),
            (405, client.delete("/v1/series")),
        ]
        cause = OperationalError("SELECT", (), Exception("unable to open database file"))
        monkeypatch.setattr(state.store, "list_series", lambda: (_ for _ in ()).throw(cause))
        answers.append((503, client.get("/v1/series")))

        def fault(*args: object, **kwargs: object) -> bytes:
            raise RuntimeError("a bug")

        monkeypatch.setattr(services, "forecast_json", fault)
        answers.append((500, client.get(f"/v1/series/{SERIES}/forecast")))
    for code, answer in answers:
        assert answer.status_code == code, answer.text
        assert answer.headers["content-type"] == "application/json", (code, answer.text)
        problem = answer.json()
        assert isinstance(problem["detail"], str) and problem["detail"], (code, problem)
        assert set(problem) <= {"detail", "problems", "hint"}, (code, problem)
    unknown_parameter = answers[3][1].json()["problems"]
    assert unknown_parameter == [
        {"where": "query._", "reason": "not a parameter of this endpoint: it takes horizon, levels"}
    ]
    fault_answer = answers[-1][1]
    assert "a bug" not in fault_answer.text  # the traceback is the log's, not the client's
    assert "log" in fault_answer.json()["hint"]


def _api_way_first(hint: str, api: str, command: str) -> None:
    assert api in hint and command in hint, hint
    assert hint.index(api) < hint.index(command), hint


def test_a_hint_names_the_api_way_before_the_command_on_the_server(state, monkeypatch, tmp_path):
    """An API client may have no shell on the server: a 409 had said "train it first:
    `fraudcast train`", a 503 "register a new one with `fraudcast train --force -s …`" and
    /readyz "run `fraudcast train`", each without or before the API's way."""

    state.store.add_series(SeriesInfo("jp_phishing_reports", "Phishing reports", "count"))
    for index in range(20):  # over the 20 an unknown id's 404 lists
        state.store.add_series(SeriesInfo(f"jp_more_{index:02d}", "More", "count"))
    _unloadable(monkeypatch, YEN)
    with TestClient(create_app(state)) as client:
        untrained = client.get(f"/v1/series/{UNTRAINED}/forecast").json()["hint"]
        _api_way_first(
            untrained,
            f'POST /v1/retrain with the token and {{"series": ["{UNTRAINED}"]}}',
            f"`fraudcast train -s {UNTRAINED}`",
        )
        empty = client.get("/v1/series/jp_phishing_reports/forecast").json()["hint"]
        _api_way_first(empty, "POST /v1/figures with the token", "`fraudcast figures add`")
        broken = client.get(f"/v1/series/{YEN}/forecast").json()["hint"]
        _api_way_first(broken, f'"series": ["{YEN}"], "force": true', "`fraudcast train --force")
        as_csv = client.post(
            "/v1/figures",
            content=b"series_id,year\n",
            headers={**auth(), "Content-Type": "text/csv"},
        ).json()["hint"]
        _api_way_first(as_csv, "POST /v1/figures takes each figure", "`fraudcast figures add`")
        unknown = client.get("/v1/series/no_such_series/forecast").json()["detail"]
        _api_way_first(unknown, "GET /v1/series", "`fraudcast series list`")
    with TestClient(create_app(make_state(tmp_path / "untrained"))) as untrained_service:
        ready = untrained_service.get("/readyz").json()["details"]["hint"]
        _api_way_first(ready, "POST /v1/retrain", "`fraudcast train`")


def test_a_client_revalidates_an_answer_with_its_etag_and_gets_a_new_one_when_it_changed(
    client, state
):
    """Forecasts and /v1/series had no ETag nor Cache-Control: a client polling them fetched
    each answer whole (a cache-busting parameter is refused as unknown, and stays so)."""
    url = f"/v1/series/{YEN}/forecast"
    first = client.get(url)
    tag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    unchanged = client.get(url, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["ETag"] == tag and unchanged.headers["Cache-Control"] == "no-cache"
    assert client.head(url, headers={"If-None-Match": f'W/"other", W/{tag}'}).status_code == 304
    other = client.get(url, params={"horizon": 3}, headers={"If-None-Match": tag})
    assert other.status_code == 200 and other.headers["ETag"] != tag
    listed = client.get("/v1/series")
    assert (
        client.get("/v1/series", headers={"If-None-Match": listed.headers["ETag"]}).status_code
        == 304
    )
    # a figure arrives: the list says so at once, the forecast once its new champion serves
    state.store.add_figures(pd.DataFrame([yen_figure(2026, 9.1e9)]), source="test")
    relisted = client.get("/v1/series", headers={"If-None-Match": listed.headers["ETag"]})
    assert relisted.status_code == 200 and relisted.headers["ETag"] != listed.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    assert retrain_yen(state) in {"promoted", "refreshed"}
    renewed = client.get(url, headers={"If-None-Match": tag})
    assert renewed.status_code == 200 and renewed.headers["ETag"] != tag
    assert renewed.json()["model"]["version"] != first.json()["model"]["version"]
    assert client.get(url, params={"_": "1"}).status_code == 422
    assert "ETag" not in client.get("/v1/series/no_such_series/forecast").headers
