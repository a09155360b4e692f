"""What-if scenarios: the champion refitted in memory on the figures plus hypothetical ones,
every refusal with its reason, nothing written anywhere, and at most a few refits at once."""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.prepare import prepare_series
from models.catalog import make_forecaster
from serving import scenarios
from serving.app import create_app
from serving.cli import app as cli
from serving.guard import pooled_operations
from serving.outlook import compact_yen
from serving.state import ServiceState
from tests.support import TRAINED, environment, make_state

SERIES = TRAINED[0]  # jp_cybercrime_cleared: figures to 2025
UNTRAINED = "cn_telecom_fraud_cases_solved"


def _scenario(client: TestClient, series_id: str = SERIES, **body: Any) -> Any:
    body.setdefault("figures", [{"year": 2026, "value": 20000}])
    return client.post(f"/v1/series/{series_id}/scenario", json=body)


def _refitted_path(state: ServiceState, series_id: str, extra: dict[int, float]) -> np.ndarray:
    """The champion's model fitted by hand, through the forecaster contract, to the published
    figures plus ``extra``: a mean combination ``a+b`` is the mean of its members' forecasts."""
    name = state.board.get(series_id).card.model_name
    values = pd.concat([state.store.values(series_id), pd.Series(extra, dtype=float)])
    history = prepare_series(values, state.store.get_series(series_id).breaks).series
    paths = [make_forecaster(member).fit(history).predict(10)["mean"] for member in name.split("+")]
    return np.maximum(np.mean(paths, axis=0), 0.0)


@pytest.mark.parametrize("series_id", TRAINED)
def test_the_hypothetical_figure_moves_the_projection_as_the_refitted_champion_says(
    client, state, series_id
):
    published = state.store.values(series_id)
    last = int(published.index.max())
    value = round(1.5 * float(published.iloc[-1]))  # a sharp rise, in the series' own units
    answer = _scenario(client, series_id, figures=[{"year": last + 1, "value": value}])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    served = client.get(f"/v1/series/{series_id}/forecast").json()
    assert body["hypothetical"] is True
    assert body["assumptions"] == [{"year": last + 1, "value": float(value)}]
    assert body["filled"] == []
    assert body["model"] == served["model"]  # the same champion, named as /forecast names it
    years = [point["year"] for point in body["forecast"]]
    assert years == [point["year"] for point in served["forecast"]]
    first, *projected = body["forecast"]
    assert first == {
        "year": last + 1,
        "mean": float(value),
        "lower": {"80": float(value), "95": float(value)},
        "upper": {"80": float(value), "95": float(value)},
    }
    expected = _refitted_path(state, series_id, {last + 1: float(value)})[: len(projected)]
    np.testing.assert_allclose([p["mean"] for p in projected], expected, rtol=1e-9)
    assert not np.allclose(expected, [p["mean"] for p in served["forecast"][1:]])
    # the champion's calibration is kept: k years after the last figure taken, an interval
    # stands in the same proportion to the projection as the champion's own k years out
    for step, point in enumerate(projected):
        own = served["forecast"][step]
        for label in ("80", "95"):
            for side in ("lower", "upper"):
                assert point[side][label] / point["mean"] == pytest.approx(
                    own[side][label] / own["mean"], rel=1e-9
                )
    end = projected[-1]
    given = compact_yen(value, decimals=3) if body["unit"] == "JPY" else f"{value:,}"
    words = (
        f"With {given} in {last + 1}, the {end['year']} "
        f"projection is {scenarios.rounded(end['mean'], body['unit'])} instead of "
        f"{scenarios.rounded(served['forecast'][-1]['mean'], body['unit'])}."
    )
    assert body["comparison"] == words
    assert body["basis"].startswith("hypothetical, not stored: ")


def test_years_a_scenario_skips_are_filled_by_interpolation_and_said_so(client, state):
    published = state.store.values(SERIES)
    last, value = int(published.index.max()), float(published.iloc[-1])
    answer = _scenario(client, figures=[{"year": last + 2, "value": 4 * value}], horizon=4)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    between = 2 * value  # log-linear: the geometric mean of its neighbours
    assert body["filled"] == [{"year": last + 1, "value": pytest.approx(between)}]
    assert body["forecast"][0]["mean"] == pytest.approx(between)
    assert body["forecast"][0]["upper"]["95"] == pytest.approx(between)
    expected = _refitted_path(state, SERIES, {last + 1: between, last + 2: 4 * value})[:2]
    np.testing.assert_allclose([p["mean"] for p in body["forecast"][2:]], expected, rtol=1e-9)
    assert f"({last + 1} filled by interpolation)" in body["basis"]


def _tree(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` with a hash of its bytes (but SQLite's shared-memory index,
    which readers write too)."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for root in roots
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith("-shm")
    }


def _stored(state: ServiceState) -> tuple[Any, ...]:
    import mlflow

    client = mlflow.MlflowClient(state.training.mlflow_tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return (
        state.store.list_series(),
        state.store.figures().to_dict("records"),
        [revision.id for revision in state.store.revisions()],
        state.store.track_record().to_dict("records"),
        sorted(run.info.run_id for run in client.search_runs(experiments, max_results=5000)),
        sorted((v.name, v.version) for v in client.search_model_versions()),
        client.get_model_version_by_alias(f"fraudcast.{SERIES}", "champion").version,
    )


def test_a_scenario_writes_nothing_to_the_store_or_mlflow(client, state, trained_root, tmp_path):
    roots = (tmp_path / "service", trained_root / "artifacts")
    files, stored = _tree(*roots), _stored(state)
    for value in (20000, 5000, 5e5):
        assert _scenario(client, figures=[{"year": 2026, "value": value}]).status_code == 200
    assert _scenario(client, TRAINED[2], figures=[{"year": 2027, "value": 1e9}]).status_code == 200
    assert _stored(state) == stored
    assert _tree(*roots) == files
    # and the served projection is the champion's own, not the last scenario's
    served = client.get(f"/v1/series/{SERIES}/forecast").json()
    assert served["forecast"][0]["mean"] != 20000.0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            {"figures": [{"year": 2025, "value": 15000}]},
            "2025 is not after the last published figure",
        ),
        (
            {"figures": [{"year": 1990, "value": 15000}]},
            "1990 is not after the last published figure",
        ),
        ({"figures": [{"year": 2026, "value": -1}]}, "figures[0].value must be >= 0"),
        (
            {"figures": [{"year": 2026 + i, "value": 15000} for i in range(11)]},
            "1 to 10 hypothetical years, one figure each; got 11",
        ),
        ({"figures": []}, "1 to 10 hypothetical years, one figure each; got 0"),
        (
            {"figures": [{"year": 2026, "value": 15000}, {"year": 2026, "value": 16000}]},
            "figures[1].year 2026 is set twice",
        ),
        ({"figures": [{"year": 2036, "value": 15000}]}, "2036 is more than 10 years after"),
        (
            {
                "figures": [{"year": 2026, "value": 15000}, {"year": 2030, "value": 16000}],
                "horizon": 5,
            },
            "ask for at least 6 years to see a projection after 2030",
        ),
        ({"horizon": 1}, "ask for at least 2 years to see a projection after 2026"),
        ({"horizon": 31}, "horizon must be between 1 and 30 years"),
        ({"levels": [100]}, "each level must be a number strictly between 0 and 100"),
        ({"figures": [{"year": 2026, "value": 1e300}]}, "over 1,000 times the largest published"),
        ({"figures": [{"year": 2026, "value": 1e-3}]}, "under a 1,000th of the smallest published"),
        # cybercrime cases cleared in thousands: within the range, hundreds of times off 2025
        ({"figures": [{"year": 2026, "value": 13}]}, "times below the 2025 figure of"),
        ({"figures": [{"year": 2026, "value": "many"}]}, "figures.0.value"),
        ({"figures": [{"year": 2026, "value": True}]}, "true is a boolean, not a number"),
        ({"figures": [{"year": 2026}]}, "figures.0.value: Field required"),
        ({"figures": [{"year": 2026, "value": 1, "note": "x"}]}, "Extra inputs"),
    ],
)
def test_a_scenario_outside_the_rules_is_422_saying_which(client, state, body, words):
    before = _stored(state)
    answer = _scenario(client, **body)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["detail"]
    assert "Value error" not in answer.json()["detail"]  # pydantic's prefix, not our words
    assert _stored(state) == before


@pytest.mark.parametrize(
    ("path", "words"),
    [
        (np.full(30, np.inf), "beyond any finite number"),
        (np.zeros(30), "projects 0 for 2027, where its intervals"),
    ],
)
def test_a_refitted_projection_that_says_nothing_is_422(client, monkeypatch, path, words):
    """Infinite, or 0 where the intervals are proportional to the projection and would vanish
    into a false certainty (forced here: the trained champions never give either)."""
    refit = scenarios.refit_champion

    def degenerate(*args: Any) -> Any:
        refitted = refit(*args)
        return refitted.recentred(refitted.last_year, path)

    monkeypatch.setattr(scenarios, "refit_champion", degenerate)
    answer = _scenario(client)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["detail"]


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN"])
def test_a_value_that_is_not_finite_is_422(client, literal):
    answer = client.post(
        f"/v1/series/{SERIES}/scenario",
        content=f'{{"figures": [{{"year": 2026, "value": {literal}}}]}}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert "figures[0].value must be a finite number" in answer.json()["detail"]


def test_an_unknown_series_is_404_and_one_without_champion_409_as_for_a_forecast(client):
    for series_id, code in (("no_such_series", 404), (UNTRAINED, 409)):
        scenario = _scenario(client, series_id)
        forecast = client.get(f"/v1/series/{series_id}/forecast")
        assert scenario.status_code == forecast.status_code == code
        assert scenario.json() == forecast.json()


def test_only_the_scenario_takes_a_refit_slot():
    operations = {
        (r.pattern, m) for r, m, pool in pooled_operations(create_app()) if pool == "refit"
    }
    assert operations == {("^/v1/series/(?P<series_id>[^/]+)/scenario$", "POST")}


def test_refits_beyond_the_limit_wait_then_get_429_while_forecasts_are_served(
    trained_root, tmp_path, monkeypatch
):
    root = tmp_path / "service"
    shutil.copytree(trained_root, root)
    state = make_state(root, max_concurrent_refits=1, refit_wait_seconds=0.3)
    started, release = threading.Event(), threading.Event()
    answer_for = scenarios.scenario_response

    def slow(*args: Any) -> Any:
        started.set()
        assert release.wait(30)
        return answer_for(*args)

    monkeypatch.setattr(scenarios, "scenario_response", slow)
    with TestClient(create_app(state)) as client:
        first: list[Any] = []
        running = threading.Thread(target=lambda: first.append(_scenario(client)))
        running.start()
        assert started.wait(30)
        refused = _scenario(client)
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert "FRAUDCAST_MAX_CONCURRENT_REFITS" in refused.json()["detail"]
        assert client.get(f"/v1/series/{SERIES}/forecast").status_code == 200
        release.set()
        running.join(30)
        assert first[0].status_code == 200
        assert _scenario(client).status_code == 200  # the slot was given back


def test_the_command_prints_the_scenario_beside_the_projection(state, tmp_path):
    runner = CliRunner(env={**environment(tmp_path / "service"), "COLUMNS": "200"})
    result = runner.invoke(cli, ["scenario", SERIES, "--set", "2026=20000", "--horizon", "3"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ 202")]
    assert [row.split("│")[1].strip() for row in rows] == ["2026", "2027", "2028"]
    assert "20,000 (assumed)" in rows[0]
    assert "With 20,000 in 2026, the 2028 projection is " in result.stdout
    state.board.refresh()
    expected = _refitted_path(state, SERIES, {2026: 20000.0})
    assert f"{expected[1]:,.0f}" in rows[2]  # 2028, the second year after the assumption


@pytest.mark.parametrize(
    ("arguments", "code", "words"),
    [
        (["no_such_series", "--set", "2026=1"], 2, "unknown series"),
        ([UNTRAINED, "--set", "2026=1"], 2, "train it first"),
        ([SERIES, "--set", "2025=15000"], 1, "not after the last published figure"),
        ([SERIES, "--set", "2026"], 2, "YEAR=VALUE"),
    ],
)
def test_the_command_refuses_what_the_api_refuses(state, tmp_path, arguments, code, words):
    runner = CliRunner(env={**environment(tmp_path / "service"), "COLUMNS": "200"})
    result = runner.invoke(cli, ["scenario", *arguments])
    assert result.exit_code == code, result.output
    assert words in result.output


def test_the_forecast_command_prints_what_the_api_serves(state, client, tmp_path):
    """No command printed a stored series' projection: a planner at a terminal had to start the
    server or write the whole brief."""
    runner = CliRunner(env={**environment(tmp_path / "service"), "COLUMNS": "200"})
    result = runner.invoke(cli, ["forecast", SERIES, "--horizon", "3"])
    assert result.exit_code == 0, result.output
    served = client.get(f"/v1/series/{SERIES}/forecast?horizon=3").json()
    rows = [line.split("│")[1:-1] for line in result.stdout.splitlines() if line.startswith("│ 20")]
    assert [[cell.strip() for cell in row] for row in rows] == [
        [
            str(point["year"]),
            f"{point['mean']:,.0f}",
            f"{point['lower']['80']:,.0f} – {point['upper']['80']:,.0f}",
            f"{point['lower']['95']:,.0f} – {point['upper']['95']:,.0f}",
        ]
        for point in served["forecast"]
    ]
    as_csv = runner.invoke(cli, ["forecast", SERIES, "--horizon", "3", "--csv"])
    assert as_csv.stdout == client.get(f"/v1/series/{SERIES}/forecast.csv?horizon=3").text
    unknown = runner.invoke(cli, ["forecast", "no_such_series"])
    assert unknown.exit_code == 2 and "unknown series" in unknown.output
    untrained = runner.invoke(cli, ["forecast", UNTRAINED])
    assert untrained.exit_code == 2 and "train it first" in untrained.output


def test_levels_typed_as_probabilities_are_warned_of(state, tmp_path):
    """--levels 0.8,0.95 gave a "0.8% interval" hugging the projection without a word."""
    runner = CliRunner(env={**environment(tmp_path / "service"), "COLUMNS": "200"})
    result = runner.invoke(cli, ["forecast", SERIES, "--levels", "0.8,0.95"])
    assert result.exit_code == 0, result.output
    assert "warning: levels are percentages: 0.8, 0.95 asks for 0.8, 0.95% intervals" in (
        " ".join(result.stderr.split())
    )
    assert "for 80,95% give --levels 80,95" in " ".join(result.stderr.split())
    usual = runner.invoke(cli, ["forecast", SERIES, "--levels", "50,80"])
    assert "warning" not in usual.stderr


def test_a_share_in_percent_cannot_be_assumed_above_100() -> None:
    """`scenario … --set 2026=150` projected "150 percent" for a clearance rate."""
    from data.records import SeriesInfo
    from serving import schemas
    from serving.requests import InvalidRequest
    from serving.scenarios import checked_assumptions

    info = SeriesInfo(id="uk_clearance", title="Homicides cleared", unit="percent")
    published = pd.Series([94.1, 97.0, 99.6], index=[2022, 2023, 2024])
    with pytest.raises(InvalidRequest, match="over 100: uk_clearance is a share in percent"):
        checked_assumptions([schemas.HypotheticalFigure(year=2025, value=150)], info, published)
    [kept] = checked_assumptions(
        [schemas.HypotheticalFigure(year=2025, value=99.9)], info, published
    )
    assert kept.value == 99.9


def test_a_what_if_that_leaves_the_projection_as_it_was_says_so(client, state):
    """A what-if on the champion's own path read "the 2030 projection is 18,100 instead of
    18,100" (and "0 instead of 0" for a series projected at 0)."""
    served = client.get(f"/v1/series/{SERIES}/forecast", params={"horizon": 5}).json()
    own = served["forecast"][0]["mean"]
    answer = _scenario(client, figures=[{"year": served["forecast"][0]["year"], "value": own}])
    assert answer.status_code == 200, answer.text
    comparison = answer.json()["comparison"]
    assert comparison.endswith(", as without it."), comparison
    assert "instead of" not in comparison


def test_the_forecast_command_says_when_a_figure_came_after_its_projection(state, tmp_path):
    """A figure added with `figures add` and no retrain since: `forecast` printed the
    projection for that year with nothing to say it was already published."""
    import pandas as pd

    from tests.support import yen_figure

    yen = TRAINED[1]
    first = int(state.store.figures(yen)["year"].max()) + 1
    runner = CliRunner(env={**environment(tmp_path / "service"), "COLUMNS": "200"})
    assert "Note:" not in runner.invoke(cli, ["forecast", yen]).stdout
    state.store.add_figures(pd.DataFrame([yen_figure(first, 5.0e9)]), source="late")
    result = runner.invoke(cli, ["forecast", yen])
    assert result.exit_code == 0, result.output
    assert (
        f"Note: This projection is from figures up to {first - 1}: the {first} figure added "
        "since is not in it (no retrain has replaced it yet)."
    ) in " ".join(result.stdout.split())


def test_a_what_if_on_a_share_keeps_its_room_below_100() -> None:
    """A what-if of 96.7 percent, about the champion's own next projection, went 98.1, 99.5,
    then exactly 100 for every later year, its 80% upper bound 100 from the first: the room
    below the ceiling was measured only from a published last figure."""
    from training.scenario import refit_champion
    from training.selection import fit_series

    years = range(2014, 2024)
    rates = pd.Series([80.0 + 2 * index for index in range(len(years))], index=years)
    fit = fit_series(rates, series_id="rate")
    fit.champion.under_ceiling(100.0, rates)
    what_if = pd.concat([rates, pd.Series([96.7], index=[2024])])
    forecast = refit_champion(fit.champion, what_if).predict(5, (80, 95))
    assert (forecast["mean"] < 100).all() and forecast["mean"].is_monotonic_increasing
    assert (forecast["hi-80"] < 100).all()
    # a longer series' envelope is served around the path as before: unchanged for a count
    long = pd.Series(np.linspace(1_000.0, 5_000.0, 12).round(), index=range(2012, 2024))
    counted = fit_series(long, series_id="count").champion
    figures = pd.concat([long, pd.Series([5_400.0], index=[2024])])
    before = counted.recentred(2024, refit_champion(counted, figures).point_path)
    after = refit_champion(counted, figures)
    pd.testing.assert_frame_equal(before.predict(6, (80, 95)), after.predict(6, (80, 95)))


def test_a_what_if_on_a_new_count_moves_its_rate_not_its_last_figure() -> None:
    """A new count (5, 8, 6 a year) is served at its rate carried forward, 6; had the next
    year been 10, its rate over four years would be 7.4 a year and its projection 7, not 10:
    the what-if refits the champion as training fitted it."""
    from training.scenario import refit_champion
    from training.selection import fit_series

    counts = pd.Series([5.0, 8.0, 6.0], index=range(2023, 2026))
    fit = fit_series(counts, series_id="new")
    assert fit.selected == "naive" and (fit.champion.predict(3, (80,))["mean"] == 6.0).all()
    what_if = pd.concat([counts, pd.Series([10.0], index=[2026])])
    assert (refit_champion(fit.champion, what_if).predict(3, (80,))["mean"] == 7.0).all()
