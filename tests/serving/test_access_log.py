"""A token sent in a query string never reaches the access log."""

from __future__ import annotations

import logging

import httpx

from tests.support import running_server


def test_a_token_in_a_query_string_never_reaches_the_access_log(state, caplog):
    access = logging.getLogger("uvicorn.access")
    secret = "query-secret-0123456789"
    with running_server(state, log_level="info", access_log=True) as url:
        access.addHandler(caplog.handler)
        try:
            with caplog.at_level(logging.INFO, logger="uvicorn.access"):
                refused = httpx.post(f"{url}/v1/figures?token={secret}", json={"figures": []})
                other_name = httpx.post(f"{url}/v1/retrain?t={secret}", json={})
                served = httpx.get(f"{url}/v1/series?api_key={secret}&x=1")
                auth = httpx.get(f"{url}/v1/series?auth={secret}")
        finally:
            access.removeHandler(caplog.handler)
    statuses = (refused.status_code, other_name.status_code, served.status_code, auth.status_code)
    # a token in the query is no parameter of /v1/series: refused, and still not logged
    assert statuses == (401, 401, 422, 422)
    lines = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert len(lines) == 4, lines
    assert not [line for line in lines if secret in line], lines
    assert any("/v1/series?api_key=[redacted]&x=1" in line for line in lines), lines
    assert any("/v1/series?auth=[redacted]" in line for line in lines), lines
    assert any("/v1/retrain?[redacted]" in line and "401" in line for line in lines), lines
