"""Writes are authenticated from their headers before any of their body is read, and bodies are
capped (413 naming the limit) whether their length is declared or not; nothing is written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.guard import guarded_operations
from serving.state import ServiceState
from tests.serving.conftest import auth
from tests.support import make_state, yen_figure

LIMIT = 4000


class Body:
    """A request body streamed in chunks that records whether anyone read it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read = False

    def __iter__(self) -> Iterator[bytes]:
        self.read = True
        figures = json.dumps([yen_figure(2026, 9.1e9)] * (self.size // 250 + 1))
        body = f'{{"figures": {figures}}}'.encode()
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]


@pytest.fixture
def capped(trained_root: Path, tmp_path: Path) -> ServiceState:
    """The trained service with bodies capped at LIMIT bytes."""
    root = tmp_path / "service"
    shutil.copytree(trained_root, root)
    return make_state(root, max_body_bytes=LIMIT)


@pytest.fixture
def capped_client(capped: ServiceState) -> Iterator[TestClient]:
    with TestClient(create_app(capped)) as test_client:
        yield test_client


@pytest.mark.parametrize(("headers", "code"), [({}, 401), ({"Authorization": "Bearer wrong"}, 403)])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", ["/v1/figures", "/v1/retrain"])
def test_a_write_without_the_right_token_is_refused_before_its_body_is_read(
    capped_client, capped, headers, code, declared, path
):
    before = capped.store.figures()
    body = Body(10 * LIMIT)
    length = {"Content-Length": str(10**8)} if declared else {}
    answer = capped_client.post(
        path,
        content=iter(body),
        headers={"Content-Type": "application/json", **headers, **length},
    )
    assert answer.status_code == code, answer.text
    assert not body.read
    pd.testing.assert_frame_equal(capped.store.figures(), before)


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(capped_client, capped):
    before = capped.store.figures()
    body = Body(10 * LIMIT)
    answer = capped_client.post(
        "/v1/figures",
        content=iter(body),
        headers={"Content-Type": "application/json", "Content-Length": str(10**8), **auth()},
    )
    assert answer.status_code == 413
    assert f"{LIMIT:,} bytes" in answer.json()["detail"]
    assert "FRAUDCAST_MAX_BODY_BYTES" in answer.json()["detail"]
    assert not body.read
    pd.testing.assert_frame_equal(capped.store.figures(), before)


@pytest.mark.parametrize("path", ["/v1/figures", "/v1/forecasts"])
def test_a_streamed_body_over_the_limit_is_413_and_writes_nothing(capped_client, capped, path):
    before = capped.store.figures()
    answer = capped_client.post(
        path, content=iter(Body(10 * LIMIT)), headers={"Content-Type": "application/json", **auth()}
    )
    assert answer.status_code == 413, answer.text
    assert f"{LIMIT:,} bytes" in answer.json()["detail"]
    pd.testing.assert_frame_equal(capped.store.figures(), before)


def test_the_guard_covers_exactly_the_operations_that_require_the_token():
    guarded = guarded_operations(create_app())
    paths = {(regex.pattern, methods) for regex, methods in guarded}
    post = frozenset({"POST"})
    assert paths == {
        ("^/v1/figures$", post),
        ("^/v1/figures/withdrawals$", post),
        ("^/v1/retrain$", post),
    }


def test_a_body_under_the_limit_is_served(capped_client):
    answer = capped_client.post(
        "/v1/figures", json={"figures": [yen_figure(2026, 9.1e9)]}, headers=auth()
    )
    assert answer.status_code == 201, answer.text


def test_a_token_written_into_the_token_file_takes_effect_without_a_restart(tmp_path):
    """Rotating the token (or restoring a backup's) by writing the token file had no effect
    until the service restarted: the old token kept writing and the new one was refused."""
    state = make_state(tmp_path, api_token=None)
    old = (tmp_path / "token").read_text().strip()
    body = {"figures": []}  # refused for what it holds (422) only once the token passed

    def answer(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return client.post("/v1/figures", json=body, headers=headers).status_code

    with TestClient(create_app(state)) as client:
        assert answer(old) == 422
        new = "a-rotated-token-of-enough-length"
        replacement = tmp_path / "token.new"
        replacement.write_text(new + "\n")
        replacement.replace(tmp_path / "token")  # written atomically, as an operator would
        assert answer(new) == 422 and answer(old) == 403
        (tmp_path / "token").write_text("")  # an emptied file keeps the token in force
        assert answer(new) == 422
    pinned = make_state(tmp_path, api_token="set-by-the-environment-0123")
    (tmp_path / "token").write_text("in-the-file-but-not-in-force\n")
    assert pinned.token == "set-by-the-environment-0123"
