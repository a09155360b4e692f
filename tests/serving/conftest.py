"""A service on the session's trained stores (``trained_root``), copied fresh for each test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.state import ServiceState
from tests.support import TOKEN, make_state


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
