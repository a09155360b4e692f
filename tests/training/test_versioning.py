"""The code version changes when a forecast can change, and only then."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from training.versioning import forecast_sources, source_digest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the source packages and the reference corpus."""
    for package in ("features", "models", "training", "data"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.db"))
    return tmp_path


def _edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit\n")


@pytest.mark.parametrize(
    "name",
    ["training/plots.py", "training/run_logging.py", "training/registry.py", "data/store.py"],
)
def test_an_edit_that_cannot_change_a_forecast_keeps_the_code_version(tree: Path, name: str):
    before = source_digest(tree)
    _edit(tree / name)
    assert source_digest(tree) == before


@pytest.mark.parametrize(
    "name",
    [
        "training/selection.py",
        "training/evidence.py",
        "training/backtest.py",
        "models/calibration.py",
        "features/prepare.py",
    ],
)
def test_an_edit_to_forecasting_code_changes_the_code_version(tree: Path, name: str):
    before = source_digest(tree)
    _edit(tree / name)
    assert source_digest(tree) != before


def test_the_reference_corpus_is_part_of_the_version() -> None:
    assert ROOT / "data" / "reference" / "yearly.csv.gz" in forecast_sources(ROOT)
