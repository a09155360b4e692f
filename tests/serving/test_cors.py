"""A planner's dashboard on another origin reads the API in a browser once its origin is set
in FRAUDCAST_CORS_ORIGINS, and only reads it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from serving.app import create_app
from serving.settings import ServiceSettings
from serving.state import ServiceState
from tests.support import TRAINED

DASHBOARD = "https://dash.example.org"
FORECAST = f"/v1/series/{TRAINED[0]}/forecast"


def _preflight(client: TestClient, method: str, headers: str = "") -> dict[str, str]:
    asked = {"Origin": DASHBOARD, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    answer = client.options(FORECAST, headers=asked)
    return {"status": str(answer.status_code), **answer.headers}


def test_a_dashboard_on_a_set_origin_reads_the_api_and_may_not_write(state: ServiceState):
    """A dashboard on another origin could not call the read-only API at all: no answer said
    which origins may read it."""
    state.service = state.service.model_copy(update={"cors_origins": (DASHBOARD,)})
    with TestClient(create_app(state)) as client:
        read = client.get(FORECAST, headers={"Origin": DASHBOARD})
        assert read.status_code == 200
        assert read.headers["Access-Control-Allow-Origin"] == DASHBOARD
        assert "etag" in read.headers["Access-Control-Expose-Headers"].lower()
        conditional = _preflight(client, "GET", "if-none-match")
        assert conditional["status"] == "200"
        assert conditional["access-control-allow-origin"] == DASHBOARD
        assert "GET" in conditional["access-control-allow-methods"]
        write = _preflight(client, "POST", "authorization,content-type")
        assert write["status"] == "400" and "POST" not in write["access-control-allow-methods"]
        other = client.get(FORECAST, headers={"Origin": "https://elsewhere.example"})
        assert "Access-Control-Allow-Origin" not in other.headers


def test_without_the_setting_no_origin_is_let_in(client: TestClient):
    read = client.get(FORECAST, headers={"Origin": DASHBOARD})
    assert read.status_code == 200 and "Access-Control-Allow-Origin" not in read.headers


def test_an_origin_written_with_a_path_or_a_trailing_slash_is_refused_at_start():
    """A browser's Origin has neither: such a setting would never match, and the dashboard
    would be refused without a word why."""
    with pytest.raises(ValidationError, match="not a web origin"):
        ServiceSettings(cors_origins=["https://dash.example.org/"])
    assert ServiceSettings(cors_origins=["*", "http://localhost:3000"]).cors_origins == (
        "*",
        "http://localhost:3000",
    )
