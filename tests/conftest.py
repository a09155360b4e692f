"""Shared fixtures: every test gets its own figure store and MLflow store under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the figure store and MLflow at a temp dir so no test touches the repo's stores."""
    monkeypatch.setenv("FRAUDCAST_DATABASE_URL", f"sqlite:///{tmp_path / 'figures.db'}")
    monkeypatch.setenv("FRAUDCAST_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("FRAUDCAST_MLFLOW_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("FRAUDCAST_INCOMING_DIR", str(tmp_path / "incoming"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield tmp_path
