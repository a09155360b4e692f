"""The seed figures shipped with fraudcast, in ``data/bundled/``."""

from __future__ import annotations

import csv
from pathlib import Path

from data.records import SeriesInfo, parse_breaks
from data.settings import BUNDLED_DIR

BUNDLED_FIGURES: Path = BUNDLED_DIR / "figures.csv"
BUNDLED_SERIES: Path = BUNDLED_DIR / "series.csv"
#: The revision source that marks the one-time seed load.
SEED_SOURCE = "bundled:data/bundled/figures.csv"


def read_series_csv(path: Path = BUNDLED_SERIES) -> list[SeriesInfo]:
    """Series metadata from a ``series.csv`` file (breaks written as ``2010;2018``)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [
            SeriesInfo(
                id=row["series_id"].strip(),
                title=row["title"].strip(),
                unit=row["unit"].strip(),
                country=row.get("country", "").strip(),
                publisher=row.get("publisher", "").strip(),
                definition=row.get("definition", "").strip(),
                breaks=parse_breaks(row.get("breaks", "")),
            )
            for row in csv.DictReader(handle)
        ]
