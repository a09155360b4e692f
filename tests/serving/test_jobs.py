"""The retrain job queue: jobs a client can poll, and nothing kept that no one will ask for."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import pytest

from serving.jobs import _KEEP_JOBS, JobQueue, UnknownJob
from training.outcome import Outcome
from training.pipeline import SeriesOutcome


def _retrain(series: Sequence[str] | None, force: bool, trigger: str) -> list[SeriesOutcome]:
    return [SeriesOutcome(series_id=name, status="unchanged", reason="") for name in series or []]


def test_a_long_running_service_keeps_only_recent_jobs_and_no_finished_work() -> None:
    """A server retrains on every drop for months: the queue remembers the latest jobs for
    polling and lets go of every finished one's future (once it grew without end)."""
    queue = JobQueue(_retrain, on_done=lambda: None)
    try:
        jobs = [queue.submit([f"s{i}"], reason="test") for i in range(_KEEP_JOBS + 50)]
        assert queue.wait(jobs[-1].id, timeout=30).state == "succeeded"
        queue.shutdown()
        assert queue.unfinished == 0
        assert queue.get(jobs[-1].id).outcomes[0].series_id == f"s{_KEEP_JOBS + 49}"
        with pytest.raises(UnknownJob):
            queue.get(jobs[0].id)  # the oldest are forgotten
    finally:
        queue.shutdown()


def test_a_job_tells_the_retrain_why_it_runs() -> None:
    """An auditor in MLflow could not tell a weekly retrain from one figures started: the
    job's reason goes to the retrain, which tags every run with it."""
    told: list[str] = []

    def retrain(series: Sequence[str] | None, force: bool, trigger: str) -> list[SeriesOutcome]:
        told.append(trigger)
        return _retrain(series, force, trigger)

    queue = JobQueue(retrain, on_done=lambda: None)
    try:
        job = queue.submit(["s"], reason="figures added through the API")
        queue.wait(job.id, timeout=30)
    finally:
        queue.shutdown()
    assert told == [f"figures added through the API (job {job.id})"]


def test_each_series_outcome_is_logged_with_why_the_job_ran(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The service's log had said only "champions swapped in" after a retrain."""

    def retrain(series: Sequence[str] | None, force: bool, trigger: str) -> list[SeriesOutcome]:
        return [
            SeriesOutcome("a", Outcome.PROMOTED, "ridge beat naive"),
            SeriesOutcome("b", Outcome.FAILED, "UnsuitableSeries: too short"),
        ]

    queue = JobQueue(retrain, on_done=lambda: None)
    with caplog.at_level(logging.INFO, logger="serving.jobs"):
        try:
            job = queue.submit(["a", "b"], reason="figures from incoming/x.csv")
            queue.wait(job.id, timeout=30)
        finally:
            queue.shutdown()
    said = {(record.levelno, record.getMessage()) for record in caplog.records}
    prefix = f"retrain job {job.id} (figures from incoming/x.csv)"
    assert (logging.INFO, f"{prefix}: a promoted: ridge beat naive") in said
    assert (logging.WARNING, f"{prefix}: b failed: UnsuitableSeries: too short") in said
    # and when it started: nothing had been logged until the whole job ended
    started = f"retrain job {job.id} started (figures from incoming/x.csv): a, b"
    assert caplog.records[0].getMessage() == started


def test_an_outcome_its_reason_already_states_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The log said "cn_telecom_fraud_cases_solved promoted: comb promoted: backtest MASE
    4.395 vs champion …" and "… kept: champion theta kept: …": the outcome twice."""
    promoted = "comb promoted: backtest MASE 4.395 vs champion theta 4.512 on the same data"
    kept = "champion theta kept: comb backtest MASE 5.100 is worse than the champion's 4.512"

    def retrain(series: Sequence[str] | None, force: bool, trigger: str) -> list[SeriesOutcome]:
        return [
            SeriesOutcome("cn_telecom_fraud_cases_solved", Outcome.PROMOTED, promoted, "comb"),
            SeriesOutcome("jp_cybercrime_cleared", Outcome.KEPT, kept, "theta"),
        ]

    queue = JobQueue(retrain, on_done=lambda: None)
    with caplog.at_level(logging.INFO, logger="serving.jobs"):
        try:
            job = queue.submit(None, reason="scheduled full retrain")
            queue.wait(job.id, timeout=30)
        finally:
            queue.shutdown()
    prefix = f"retrain job {job.id} (scheduled full retrain)"
    said = [record.getMessage() for record in caplog.records]
    assert f"{prefix}: cn_telecom_fraud_cases_solved: {promoted}" in said, said
    assert f"{prefix}: jp_cybercrime_cleared: {kept}" in said, said


def test_a_retrain_that_raises_fails_its_job_with_one_line_and_no_statement() -> None:
    """MLflow's locked store failed a job with SQLAlchemy's whole text: the INSERT statement,
    its parameters and an autoflush hint, as the job's error a client polls."""
    from sqlalchemy.exc import OperationalError

    def locked(series: Sequence[str] | None, force: bool, trigger: str) -> list[SeriesOutcome]:
        cause = OperationalError(
            "INSERT INTO runs (run_uuid, name) VALUES (?, ?)", ("3e78", "x"), Exception("x")
        )
        raise RuntimeError(
            f"(raised as a result of Query-invoked autoflush) {cause}".replace(
                "(builtins.Exception) x", "(sqlite3.OperationalError) database is locked"
            )
        )

    queue = JobQueue(locked, on_done=lambda: None)
    try:
        job = queue.wait(queue.submit(["s"], reason="test").id, timeout=30)
    finally:
        queue.shutdown()
    assert job.state == "failed" and queue.crashed == 1
    assert job.error is not None and "database is locked" in job.error
    assert "INSERT" not in job.error and "\n" not in job.error


def test_a_job_ends_only_after_its_champions_are_reloaded() -> None:
    """A client polling a job until "succeeded" was served the previous version for a fifth
    of a second: the job was marked ended before ``on_done`` reloaded the champions."""
    reloaded = threading.Event()

    def reload() -> None:
        time.sleep(0.3)  # loading promoted champions from MLflow takes this long
        reloaded.set()

    queue = JobQueue(_retrain, on_done=reload)
    try:
        job = queue.submit(["s"], reason="test")
        deadline = time.monotonic() + 30
        while queue.get(job.id).state not in {"succeeded", "failed"}:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert reloaded.is_set()
    finally:
        queue.shutdown()
