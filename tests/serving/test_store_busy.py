"""A write that must wait for another writer answers 503 with Retry-After, never 500."""

from __future__ import annotations

import sqlite3
import time

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from data.store import FigureStore
from serving.app import create_app
from tests.serving.conftest import auth
from tests.support import yen_figure


def test_a_write_while_another_holds_the_store_is_503_with_retry_after(state):
    # The store's own busy timeout, shortened through its URL so the test is quick.
    state.store = FigureStore(f"{state.store.url}?timeout=0.3")
    before = state.store.figures()
    with TestClient(create_app(state), raise_server_exceptions=False) as client:
        holder = sqlite3.connect(make_url(state.store.url).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer, e.g. `figures add` of a big file
        try:
            started = time.monotonic()
            answer = client.post(
                "/v1/figures", json={"figures": [yen_figure(2026, 9.1e9)]}, headers=auth()
            )
            waited = time.monotonic() - started
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["Retry-After"]) >= 1
        assert "busy" in answer.json()["detail"]
        assert waited < 10
        pd.testing.assert_frame_equal(state.store.figures(), before)
        # Once the other writer is done, the same write goes through.
        again = client.post(
            "/v1/figures", json={"figures": [yen_figure(2026, 9.1e9)]}, headers=auth()
        )
        assert again.status_code == 201, again.text
