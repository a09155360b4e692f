"""Fixtures of the data tests: writing small figures files."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from data.canonical import FIGURE_COLUMNS

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
