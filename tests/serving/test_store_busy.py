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
from tests.support import TRAINED, yen_figure


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


def test_a_store_that_cannot_be_written_is_503_with_the_drivers_words(state, monkeypatch):
    """A full disk or a read-only store file had answered a bare 500 "Internal Server Error"
    and a traceback; nothing was written then either."""
    from sqlalchemy.exc import OperationalError

    before = state.store.revisions()

    def full(*args: object, **kwargs: object) -> None:
        raise OperationalError(
            "INSERT INTO figures (series_id, value) VALUES (?, ?)",
            ("secret_row", 1.0),
            sqlite3.OperationalError("database or disk is full"),
        )

    monkeypatch.setattr(state.store, "add_figures", full)
    with TestClient(create_app(state)) as client:
        answer = client.post(
            "/v1/figures", json={"figures": [yen_figure(2026, 9.1e9)]}, headers=auth()
        )
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "60"
    body = answer.json()
    assert body["detail"] == (
        "the figure store could not be used: database or disk is full; nothing was written"
    )
    assert "disk may be full or read-only" in body["hint"]
    assert "INSERT" not in answer.text and "secret_row" not in answer.text
    assert state.store.revisions() == before


def test_a_read_while_the_store_is_down_says_it_could_not_read(state, monkeypatch):
    """GET /readyz and GET /v1/series/{id}/forecast during an outage had answered with a
    write's words: "nothing was written" and "the store's disk may be full or read-only"."""
    from sqlalchemy.exc import OperationalError

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError(
            "SELECT id FROM series", (), ConnectionRefusedError("connection refused")
        )

    with TestClient(create_app(state)) as client:
        monkeypatch.setattr(state.store, "_reading", down)  # every read of the store fails
        answers = [client.get("/readyz"), client.get(f"/v1/series/{TRAINED[1]}/forecast")]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["detail"] == "the figure store could not be read: connection refused"
        assert "written" not in answer.text and "disk may be full" not in answer.text
        assert answer.headers["Retry-After"] == "60"
