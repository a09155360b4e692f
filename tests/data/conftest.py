"""Fixtures of the data tests: writing small figures files, dropping them into the folder."""

from __future__ import annotations

import csv
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from data.canonical import FIGURE_COLUMNS
from data.incoming import IncomingOutcome, process_incoming
from data.settings import StoreSettings
from data.store import FigureStore

#: One good row for a bundled series; tests change one cell to make it bad.
GOOD_ROW: dict[str, str] = {
    "series_id": "jp_ib_transfer_cases",
    "year": "2024",
    "value": "4369",
    "unit": "count",
    "source_publisher": "National Police Agency (警察庁)",
    "source_title": "令和6年におけるサイバー空間をめぐる脅威の情勢等について",
    "source_url": "https://www.npa.go.jp/",
    "accessed_via": "primary",
    "note": "test row",
}

WriteFigures = Callable[..., Path]


@pytest.fixture
def write_figures(tmp_path: Path) -> WriteFigures:
    """Write rows (dicts over ``FIGURE_COLUMNS``) to a CSV file and return its path."""

    def write(
        rows: Sequence[Mapping[str, str]],
        name: str = "figures.csv",
        columns: Sequence[str] = FIGURE_COLUMNS,
    ) -> Path:
        path = tmp_path / name
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        return path

    return write


def row(**changes: str) -> dict[str, str]:
    """``GOOD_ROW`` with some cells changed."""
    return {**GOOD_ROW, **changes}


#: Seconds a dropped file must be left alone before the tests' drop folder takes it.
SETTLE = 5.0


def age(path: Path, seconds: float = 60.0) -> Path:
    """Backdate a file's (or a link's own) mtime, as if it had been written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)
    return path


@pytest.fixture
def incoming() -> Path:
    """The test's drop folder (``FRAUDCAST_INCOMING_DIR`` under tmp_path)."""
    folder = StoreSettings().incoming_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def drop(write_figures: WriteFigures, incoming: Path) -> WriteFigures:
    """Write a figures file into the incoming folder, already settled."""

    def write(rows: list[dict[str, str]], name: str = "npa-2024.csv") -> Path:
        # write_figures writes under tmp_path, which holds the incoming folder (tests/conftest.py).
        return age(write_figures(rows, name=f"{incoming.name}/{name}"))

    return write


def process(store: FigureStore, folder: Path) -> list[IncomingOutcome]:
    """One look at the drop folder with the tests' settle time."""
    return process_incoming(store, folder, settle_seconds=SETTLE)


@pytest.fixture
def next_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Call with the body of an ``upgrade()``: from then on this release has one more revision
    after its head that runs it (for this test only). Returns the revision's id."""
    import data.migrations
    from tests.data.schemas import NEXT_REVISION

    def release(upgrade: str) -> str:
        scripts = tmp_path / "migrations"
        shutil.copytree(data.migrations.SCRIPT_LOCATION, scripts)
        script = NEXT_REVISION.format(head=data.migrations.head_revision(), upgrade=upgrade)
        (scripts / "versions" / "9001_next.py").write_text(script, encoding="utf-8")
        monkeypatch.setattr(data.migrations, "SCRIPT_LOCATION", scripts)
        data.migrations._scripts.cache_clear()
        return "9001"

    yield release
    data.migrations._scripts.cache_clear()
