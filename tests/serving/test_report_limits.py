"""Drawing an outlook PDF takes seconds of CPU: a process draws one at a time (the request
guard's "report" slots); others wait their turn, or get 429 once the wait is over."""

from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from serving import report
from serving.app import create_app
from serving.guard import pooled_operations
from tests.support import TRAINED, make_state, running_server


def get(url: str) -> tuple[int, Message, bytes]:
    try:
        with urlopen(url, timeout=60) as response:
            return response.status, response.headers, response.read()
    except HTTPError as error:
        return error.code, error.headers, error.read()


class SlowBrief:
    """Stands in for drawing the PDF: blocks until released, counting who is inside at once."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.inside = self.most_inside = self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        with self._lock:
            self.calls += 1
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        self.started.set()
        self.release.wait(60)
        with self._lock:
            self.inside -= 1
        return b"%PDF-1.4 stand-in"


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> SlowBrief:
    brief = SlowBrief()
    monkeypatch.setattr(report, "outlook_pdf", brief)
    return brief


def _server(trained_root: Path, tmp_path: Path, wait: float) -> Any:
    root = tmp_path / "service"
    shutil.copytree(trained_root, root)
    return running_server(make_state(root, max_concurrent_reports=1, report_wait_seconds=wait))


def test_a_brief_asked_while_another_is_drawn_gets_429_after_the_wait(
    trained_root: Path, tmp_path: Path, slow: SlowBrief
) -> None:
    with _server(trained_root, tmp_path, wait=0.2) as url, ThreadPoolExecutor(1) as pool:
        first = pool.submit(get, f"{url}/v1/report.pdf")
        assert slow.started.wait(30)
        code, headers, body = get(f"{url}/v1/report.pdf?series={TRAINED[0]}")
        assert code == 429
        assert headers["Retry-After"] == "5"
        detail = json.loads(body)["detail"]
        assert "at most 1 outlook PDF drawn at a time in this process" in detail
        assert "no place came free within" in detail
        assert "FRAUDCAST_MAX_CONCURRENT_REPORTS" in detail
        # the rest of the API does not wait for the brief
        assert get(f"{url}/v1/series/{TRAINED[0]}/forecast")[0] == 200
        slow.release.set()
        assert first.result()[0] == 200
    assert slow.calls == 1


def test_briefs_asked_at_once_are_drawn_one_after_the_other(
    trained_root: Path, tmp_path: Path, slow: SlowBrief
) -> None:
    with _server(trained_root, tmp_path, wait=30) as url, ThreadPoolExecutor(2) as pool:
        first = pool.submit(get, f"{url}/v1/report.pdf")
        assert slow.started.wait(30)
        second = pool.submit(get, f"{url}/v1/report.pdf")
        time.sleep(0.5)  # time enough for the second to start drawing, were it let in
        slow.release.set()
        assert first.result()[0] == 200 and second.result()[0] == 200
    assert slow.calls == 2 and slow.most_inside == 1


def test_the_guard_holds_exactly_the_brief_to_a_report_slot() -> None:
    pooled = [
        (regex.pattern, method)
        for regex, method, pool in pooled_operations(create_app())
        if pool == "report"
    ]
    assert pooled == [("^/v1/report\\.pdf$", "GET")]
