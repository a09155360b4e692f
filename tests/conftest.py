"""Shared fixtures: every test gets its own figure store and MLflow store under tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from data.store import FigureStore


def pytest_configure(config: pytest.Config) -> None:
    """The CLI tests give each command its terminal width (``COLUMNS``). pytest-xdist starts
    its workers with ``COLUMNS`` set to the controller's width, and rich fixes a console's width
    from it when the console is made, at import: clear it before any test module imports the CLI.
    """
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


@pytest.fixture(autouse=True)
def isolated_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the figure store and MLflow at a temp dir so no test touches the repo's stores."""
    monkeypatch.setenv("FRAUDCAST_DATABASE_URL", f"sqlite:///{tmp_path / 'figures.db'}")
    monkeypatch.setenv("FRAUDCAST_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("FRAUDCAST_MLFLOW_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("FRAUDCAST_INCOMING_DIR", str(tmp_path / "incoming"))
    monkeypatch.setenv("FRAUDCAST_RETRAIN_LOCK", str(tmp_path / "retrain.lock"))
    monkeypatch.setenv("FRAUDCAST_TOKEN_FILE", str(tmp_path / "api-token"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # a bug inside a model or the pipeline fails the test instead of becoming a failed outcome
    monkeypatch.setenv("FRAUDCAST_STRICT_ERRORS", "1")
    yield tmp_path


@pytest.fixture
def figure_store(isolated_stores: Path) -> Iterator[FigureStore]:
    """An empty figure store (no series, no figures) in this test's temp dir."""
    from data.store import FigureStore  # imported here so other packages' tests stay light

    store = FigureStore.from_settings()
    yield store
    store.close()


@pytest.fixture
def seeded_store(figure_store: FigureStore) -> FigureStore:
    """The test's figure store, loaded with the bundled series and figures."""
    figure_store.ensure_seeded()
    return figure_store


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Figures and champions for tests.support.TRAINED, trained once per test session."""
    from tests.support import train_into  # imported here so other packages' tests stay light

    return train_into(tmp_path_factory.mktemp("trained"))
