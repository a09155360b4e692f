"""HEAD, as uptime probes send it, on every GET route: the GET's status and headers, no body."""

from __future__ import annotations

import pytest

from tests.support import TRAINED

SERIES = TRAINED[0]


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/readyz",
        "/v1/series",
        f"/v1/series/{SERIES}/forecast?horizon=3",
        f"/v1/series/{SERIES}/forecast.csv",
        "/v1/series/no_such_series/forecast",
    ],
)
def test_head_answers_as_get_would_without_a_body(client, path):
    """HEAD was refused with 405 on /healthz, /readyz and the forecasts; only / allowed it."""
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == got.status_code, head.text
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))
