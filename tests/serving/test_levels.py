"""Interval levels: what the API accepts is what its OpenAPI schema says, and nothing else."""

from __future__ import annotations

import re

import pytest

from serving.app import create_app
from tests.support import TRAINED

SERIES = TRAINED[0]
FORECAST_PATHS = [f"/v1/series/{SERIES}/forecast{suffix}" for suffix in ("", ".csv", ".png")]
# Each is 0 or 100 once rounded to the 4 decimal places a level carries (its label has 6
# significant digits: 99.999999 would be labelled "100").
NEAR_THE_ENDS = ["99.99999999", "1e-300", "0.00001", "99.99995", "0.0000", "99.999999"]


def _openapi() -> dict:
    return create_app().openapi()


def _levels_query(path: str) -> dict:
    [parameter] = [
        p for p in _openapi()["paths"][path]["get"]["parameters"] if p["name"] == "levels"
    ]
    return parameter


@pytest.mark.parametrize("path", FORECAST_PATHS)
@pytest.mark.parametrize("levels", NEAR_THE_ENDS)
def test_levels_next_to_0_or_100_are_a_422_naming_range_and_precision(client, path, levels):
    answer = client.get(path, params={"levels": levels})
    assert answer.status_code == 422, answer.text[:300]
    detail = answer.json()["detail"]
    assert "between 0 and 100" in detail and "4 decimal places" in detail


@pytest.mark.parametrize("level", [99.99999999, 1e-300, 1e-5, 99.999999, 80.12345])
def test_batch_levels_next_to_0_or_100_are_a_422(client, level):
    answer = client.post(
        "/v1/forecasts", json={"requests": [{"series_id": SERIES, "levels": [80, level]}]}
    )
    assert answer.status_code == 422, answer.text[:300]
    assert "between 0 and 100" in answer.json()["detail"]


def test_the_smallest_and_largest_levels_are_served(client):
    body = client.get(FORECAST_PATHS[0], params={"levels": "0.0001,99.9999", "horizon": 2}).json()
    assert set(body["forecast"][0]["lower"]) == {"0.0001", "99.9999"}
    batch = client.post(
        "/v1/forecasts",
        json={"requests": [{"series_id": SERIES, "horizon": 2, "levels": [0.0001, 99.9999]}]},
    )
    assert batch.status_code == 200, batch.text


def test_repeated_levels_parameters_are_merged(client):
    merged = client.get(FORECAST_PATHS[0], params=[("levels", "80"), ("levels", "95")]).json()
    assert merged["levels"] == [80.0, 95.0]
    csv = client.get(FORECAST_PATHS[1], params=[("levels", "50"), ("levels", "80,95")])
    assert {"lo-50", "lo-80", "lo-95"} <= set(csv.text.splitlines()[0].split(","))


@pytest.mark.parametrize("path", FORECAST_PATHS)
def test_openapi_levels_pattern_states_what_is_served(path):
    """The schema's pattern accepts exactly the level lists the service accepts."""
    from serving.requests import InvalidRequest, parse_levels

    parameter = _levels_query(path.replace(SERIES, "{series_id}"))
    assert parameter["schema"]["type"] == "array"  # repeated parameters are merged
    pattern = re.compile(parameter["schema"]["items"]["pattern"])
    assert "4 decimal places" in parameter["description"]
    assert "levels=80&levels=95" in parameter["description"]
    examples = [
        *NEAR_THE_ENDS,
        *("0", "100", "100.0", "0.0", "-5", "80,", ",80", "eighty", "80,,95", "nan", "inf"),
        *("80", "80,95", " 80 , 95 ", "0.0001", "99.9999", "50.5", "09", "0.5", "99.9"),
        *("1,2,3,4,5,6,7,8,9,10", "1,2,3,4,5,6,7,8,9,10,11", "80.00001", "80.0000", "12.3456"),
    ]
    for text in examples:
        try:
            parse_levels(text)
            served = True
        except InvalidRequest:
            served = False
        assert bool(pattern.search(text)) == served, text


def test_openapi_batch_levels_state_the_real_bounds():
    components = _openapi()["components"]["schemas"]
    items = components["ForecastRequestItem"]["properties"]["levels"]["items"]
    assert items["minimum"] == 0.0001 and items["maximum"] == 99.9999
