"""Retraining while serving: dropped files, a failing retrain, a killed training process."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pandas as pd
import pytest

from data.records import SeriesInfo
from serving.state import ServiceState
from tests.serving.conftest import auth
from tests.support import TRAINED, environment, make_state, running_server, yen_figure
from training import registry, run_logging, tracking

YEN, OTHER = TRAINED[1], TRAINED[0]
#: A bundled series the session's stores have no champion for.
UNTRAINED = "cn_telecom_fraud_cases_solved"
FAST_TICKS = {
    "scheduler_enabled": True,
    "watch_interval": 0.3,
    "settle_seconds": 0.2,
    "retry_base_seconds": 0.5,
}


def _get(url: str) -> Any:
    with urlopen(url, timeout=30) as response:
        return json.load(response)


def _post(url: str, payload: dict[str, Any]) -> Any:
    request = Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **auth()},
        method="POST",
    )
    with urlopen(request, timeout=60) as response:
        return json.load(response)


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.2)


def _drop(folder: Path, name: str, rows: list[dict[str, Any]]) -> None:
    """Write the way writers should: a .part file, renamed when complete."""
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"{name}.part"
    pd.DataFrame(rows).to_csv(part, index=False)
    os.replace(part, folder / name)


class RequestLoop:
    """Keeps asking for forecasts in a thread and counts every answer that is not a 200."""

    def __init__(self, base_url: str, series: tuple[str, ...]) -> None:
        self.urls = [f"{base_url}/v1/series/{s}/forecast?horizon=5&levels=80,95" for s in series]
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for url in self.urls:
                try:
                    _get(url)
                    self.ok += 1
                except (HTTPError, OSError) as error:
                    self.failures.append(f"{url}: {error}")

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def live(state: ServiceState) -> Iterator[tuple[ServiceState, str]]:
    served = make_state(Path(state.store.url.removeprefix("sqlite:///")).parent, **FAST_TICKS)
    with running_server(served) as url:
        yield served, url


def _runs(state: ServiceState, series_id: str) -> int:
    client = tracking.connect(state.training)
    experiment = client.get_experiment_by_name(tracking.experiment_name(series_id))
    assert experiment is not None
    return len(client.search_runs([experiment.experiment_id], max_results=1000))


def test_a_dropped_file_is_served_within_seconds_with_no_failed_request(live):
    state, url = live
    before = _get(f"{url}/v1/series/{YEN}/forecast")["model"]
    other_runs = _runs(state, OTHER)
    with RequestLoop(url, TRAINED) as loop:
        _drop(state.incoming_dir, "npa-2026.csv", [yen_figure(2026, 9.2e9)])
        _wait_for(
            lambda: (
                _get(f"{url}/v1/series/{YEN}/forecast")["model"]["data_revision"]
                != before["data_revision"]
            ),
            timeout=120,
            what="the new data revision to be served",
        )
        time.sleep(0.5)  # requests keep flowing across the swap
    assert loop.failures == []
    assert loop.ok > 10
    served = _get(f"{url}/v1/series/{YEN}/forecast")
    assert served["forecast"][0]["year"] == 2027
    assert list((state.incoming_dir / "processed").glob("*npa-2026.csv"))
    assert _runs(state, OTHER) == other_runs, "a series whose figures did not change was retrained"
    card = _get(f"{url}/v1/models/{YEN}")
    assert [item["year"] for item in card["track_record"]] == [2026]
    statuses = {s["id"]: s["last_retrain"] for s in _get(f"{url}/v1/series")}
    assert statuses[YEN]["status"] in {"promoted", "refreshed", "kept"}


def test_a_rejected_file_adds_nothing_and_says_why(live):
    state, _ = live
    before = state.store.figures()
    _drop(
        state.incoming_dir,
        "bad.csv",
        [yen_figure(2026, 9.2e9), {**yen_figure(2027, -5), "unit": "count"}],
    )
    rejected = state.incoming_dir / "rejected"
    _wait_for(lambda: any(rejected.glob("*bad.csv.error.txt")), 30, "the rejection")
    reasons = next(rejected.glob("*bad.csv.error.txt")).read_text()
    assert "line 3" in reasons and "value" in reasons and "unit" in reasons
    pd.testing.assert_frame_equal(state.store.figures(), before)
    assert not list(state.incoming_dir.glob("*.csv"))


def test_a_surprising_figure_is_flagged_when_it_arrives(live):
    state, url = live
    answer = _post(f"{url}/v1/figures", {"figures": [yen_figure(2026, 2.0e11)]})
    assert answer["surprises"] and "outside the 95% interval" in answer["surprises"][0]
    record = state.store.track_record(YEN)
    assert record["year"].tolist() == [2026] and not record["inside_95"].iloc[0]


def test_a_series_registered_and_filled_by_the_cli_is_trained_by_the_running_service(live):
    state, url = live
    _wait_for(lambda: _status(f"{url}/readyz") == 200, 30, "the service to answer")
    time.sleep(1.0)  # the scheduler has looked at the store (it ticks every 0.3 s)
    state.store.add_series(SeriesInfo("uk_qr_code_fraud", "QR-code fraud reports", "count"))
    figures = [
        {**yen_figure(year, value), "series_id": "uk_qr_code_fraud", "unit": "count"}
        for year, value in ((2023, 120), (2024, 480), (2025, 1900))
    ]
    state.store.add_figures(pd.DataFrame(figures), source="qr.csv")  # as `figures add` does
    _wait_for(
        lambda: _status(f"{url}/v1/series/uk_qr_code_fraud/forecast") == 200,
        120,
        "the new series to be trained and served",
    )
    # a series that had no champion when the service started still waits for `train`
    assert _status(f"{url}/v1/series/{UNTRAINED}/forecast") == 409


def _status(url: str) -> int:
    try:
        with urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except HTTPError as error:
        return int(error.code)


def test_a_retrain_that_raises_keeps_figures_and_champion_and_is_retried(live, monkeypatch):
    state, url = live
    client = tracking.connect(state.training)
    champion = registry.champion_version(YEN, client=client)
    assert champion is not None
    original = run_logging.log_candidates
    failing = threading.Event()
    failing.set()

    def crash_while_failing(*args: Any, **kwargs: Any) -> Any:
        if failing.is_set():
            raise OSError("injected crash mid-retrain")
        return original(*args, **kwargs)

    monkeypatch.setattr(run_logging, "log_candidates", crash_while_failing)
    answer = _post(f"{url}/v1/figures", {"figures": [yen_figure(2026, 9.2e9)]})
    job = state.jobs.wait(answer["retrain_job_id"], timeout=120)
    assert job.state == "failed" and "injected crash" in (job.error or "")
    assert registry.champion_version(YEN, client=client).version == champion.version
    assert 2026 in state.store.values(YEN).index
    _wait_for(
        lambda: (
            {s["id"]: s for s in _get(f"{url}/v1/series")}[YEN]["last_retrain"]["status"]
            == "failed"
        ),
        30,
        "the failure to show in /v1/series",
    )
    failing.clear()  # the next tick's retry must succeed
    _wait_for(
        lambda: (
            {s["id"]: s for s in _get(f"{url}/v1/series")}[YEN]["last_retrain"]["status"]
            in {"promoted", "refreshed", "kept"}
        ),
        120,
        "the retry to succeed",
    )


def test_a_killed_training_process_leaves_champion_and_figures_intact(state, caplog):
    root = Path(state.store.url.removeprefix("sqlite:///")).parent
    client = tracking.connect(state.training)
    champion = registry.champion_version(YEN, client=client)
    figures = state.store.figures()
    env = environment(root)
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.cli", "retrain", "--series", YEN, "--force"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        experiment = client.get_experiment_by_name(tracking.experiment_name(YEN))
        assert experiment is not None

        def training_started() -> bool:
            runs = client.search_runs(
                [experiment.experiment_id], filter_string="attributes.status = 'RUNNING'"
            )
            return bool(runs) or process.poll() is not None

        _wait_for(training_started, 120, "the retrain to start logging")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL, "the retrain ended before it was killed"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert registry.champion_version(YEN, client=client).version == champion.version
    pd.testing.assert_frame_equal(state.store.figures(), figures)
    # the lock died with the process: the next retrain runs and ends cleanly
    from training.pipeline import retrain

    with caplog.at_level(logging.WARNING, logger="training.tracking"):
        [outcome] = retrain([YEN], store=state.store, settings=state.training, candidates=["naive"])
    assert outcome.status in {"promoted", "refreshed", "kept", "unchanged"}
    # the log names the series whose runs it closed, not an experiment number
    assert re.search(rf"closed \d+ run\(s\) of {YEN}: process ended", caplog.text), caplog.text
    assert root.exists()
    # and it closed the killed retrain's runs, saying why
    runs = client.search_runs([experiment.experiment_id])
    assert not [run for run in runs if run.info.status == "RUNNING"]
    notes = [run.data.tags.get("mlflow.note.content", "") for run in runs]
    assert any(note.startswith(tracking.ORPHAN_REASON) for note in notes)
