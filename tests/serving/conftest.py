"""A service on the session's trained stores (``trained_root``), copied fresh for each test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright

from serving.app import create_app
from serving.state import ServiceState
from tests.support import (
    QUICK_CANDIDATES,
    TOKEN,
    TRAINED,
    launch_chromium,
    make_state,
    yen_figure,
)
from training.pipeline import retrain

#: Services whose tests retrain by hand: no scheduler may retrain the figures they just added.
QUIET = {"scheduler_enabled": False}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless chromium through Playwright, one per browser-test module."""
    with sync_playwright() as playwright:
        yield launch_chromium(playwright)


@pytest.fixture
def state(trained_root: Path, tmp_path: Path) -> ServiceState:
    """A fresh copy of the trained stores, so tests that write don't disturb each other.

    (Artifacts stay where the session's training wrote them; the copied registry points there.)
    """
    root = tmp_path / "service"
    shutil.copytree(trained_root, root)
    return make_state(root)


@pytest.fixture
def client(state: ServiceState) -> Iterator[TestClient]:
    with TestClient(create_app(state)) as test_client:
        yield test_client


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def retrain_yen(state: ServiceState, *, force: bool = False) -> str:
    """Retrain the trained yen series as the service would and serve the outcome; its status."""
    [outcome] = retrain(
        [TRAINED[1]],
        force=force,
        store=state.store,
        settings=state.training,
        candidates=QUICK_CANDIDATES,
    )
    state.board.refresh()
    return outcome.status


def yen_forecast(client: TestClient) -> dict[str, Any]:
    """The yen series' served projection, 10 years ahead."""
    answer = client.get(f"/v1/series/{TRAINED[1]}/forecast", params={"horizon": 10})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@dataclass(frozen=True)
class Changed:
    """Stores under ``root`` whose yen series was retrained once after a new and a revised
    figure, and the forecasts served before and after."""

    root: Path
    before: dict[str, Any]
    after: dict[str, Any]
    arrived: float
    old_2025: float


@pytest.fixture(scope="session")
def changed(trained_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Changed:
    """The session's trained stores, copied; the yen series gets its 2026 figure at twice its
    projection (so the projection must rise) and 2025 revised up 5%, then is retrained. Tests
    only read these stores."""
    root = tmp_path_factory.mktemp("changes") / "service"
    shutil.copytree(trained_root, root)
    state = make_state(root, **QUIET)
    with TestClient(create_app(state)) as client:
        before = yen_forecast(client)
        assert before["forecast"][0]["year"] == 2026
        arrived = 2.0 * before["forecast"][0]["mean"]
        old_2025 = float(state.store.values(TRAINED[1])[2025])
        figures = [
            yen_figure(2026, arrived, source_title="NPA 2026 annual report"),
            yen_figure(2025, old_2025 * 1.05, note="final figure"),
        ]
        state.store.add_figures(pd.DataFrame(figures), source="test", message="2026 release")
        assert retrain_yen(state) in {"promoted", "refreshed"}
        after = yen_forecast(client)
    return Changed(root, before, after, arrived, old_2025)
