"""What a client polling a retrain sees: the job ends only once its champion is served, and
until then every answer about the series says a retrain of it is pending."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.jobs import JobQueue
from serving.state import ServiceState
from tests.serving.conftest import auth
from tests.support import QUICK_CANDIDATES, TRAINED, yen_figure
from training.pipeline import SeriesOutcome, retrain

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


@pytest.fixture
def held(state: ServiceState) -> Iterator[tuple[TestClient, threading.Event]]:
    """The trained service whose retrains wait until the event is set."""
    release = threading.Event()

    def held_retrain(
        series: Sequence[str] | None, force: bool, trigger: str
    ) -> list[SeriesOutcome]:
        assert release.wait(timeout=120), "the test never let the retrain run"
        return retrain(
            series,
            force=force,
            store=state.store,
            settings=state.training,
            trigger=trigger,
            candidates=QUICK_CANDIDATES,
        )

    state.jobs = JobQueue(held_retrain, on_done=state.board.refresh)
    try:
        with TestClient(create_app(state)) as client:
            yield client, release
    finally:
        release.set()


def test_a_pending_retrain_is_said_per_series_until_its_job_ends(held, state):
    """In the seconds after a 2026 figure was added, /v1/series showed it as the latest while
    the forecast still projected 2026 from figures up to 2025, and nothing said a retrain was
    coming: a nightly job could not tell a stale projection from a current one."""
    client, release = held
    before = client.get(f"/v1/series/{YEN}/forecast").json()
    assert before["retrain_pending"] is False and before["retrain_job_id"] is None
    assert before["last_figure_year"] == 2025
    answer = client.post(
        "/v1/figures", json={"figures": [yen_figure(2026, 9.1e9)]}, headers=auth()
    ).json()
    job_id = answer["retrain_job_id"]

    forecast = client.get(f"/v1/series/{YEN}/forecast").json()
    assert forecast["retrain_pending"] is True and forecast["retrain_job_id"] == job_id
    assert forecast["last_figure_year"] == 2025  # the old projection, marked as such
    [batch] = client.post("/v1/forecasts", json={"requests": [{"series_id": YEN}]}).json()[
        "forecasts"
    ]
    assert batch["retrain_pending"] is True and batch["retrain_job_id"] == job_id
    by_id = {item["id"]: item for item in client.get("/v1/series").json()}
    assert by_id[YEN]["retrain_pending"] is True and by_id[YEN]["retrain_job_id"] == job_id
    assert by_id[YEN]["projection_stale"] == (
        "this projection is from figures up to 2025: the 2026 figure added since is not in it "
        "(no retrain has replaced it yet)"
    )
    other = by_id[TRAINED[0]]
    assert other["retrain_pending"] is False and other["projection_stale"] is None

    release.set()
    assert state.jobs.wait(job_id, timeout=300).state == "succeeded"
    after = client.get(f"/v1/series/{YEN}/forecast").json()
    assert after["retrain_pending"] is False and after["retrain_job_id"] is None
    assert after["last_figure_year"] == 2026
    by_id = {item["id"]: item for item in client.get("/v1/series").json()}
    assert by_id[YEN]["retrain_pending"] is False and by_id[YEN]["projection_stale"] is None
