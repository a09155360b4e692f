"""What a client polling a retrain sees: the job ends only once its champion is served."""

from __future__ import annotations

import time

from tests.serving.conftest import auth
from tests.support import TRAINED, yen_figure

YEN = TRAINED[1]


def test_a_job_that_says_succeeded_has_its_version_served_already(client, state):
    """A client polling the job every few milliseconds until "succeeded" then asked for the
    forecast, and was served the previous version (figures revision 40, not 42) for 0.1–0.3 s:
    the job was marked ended before the champions it promoted were reloaded."""
    answer = client.post(
        "/v1/figures",
        json={"figures": [yen_figure(2026, 9.1e9)], "message": "2026"},
        headers=auth(),
    )
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["retrain_job_id"]
    deadline = time.monotonic() + 300
    while (job := client.get(f"/v1/jobs/{job_id}").json())["state"] not in {"succeeded", "failed"}:
        assert time.monotonic() < deadline, "the retrain did not end"
        time.sleep(0.005)
    [outcome] = job["outcomes"]
    assert job["state"] == "succeeded", job["error"]
    assert outcome["status"] in {"promoted", "refreshed"}, outcome
    served = client.get(f"/v1/series/{YEN}/forecast", params={"horizon": 1}).json()
    assert served["model"]["version"] == outcome["version"]
    assert served["model"]["figures_revision"] == answer.json()["revision_id"]
