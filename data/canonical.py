"""Canonical text of figures: one way to write a value, one content hash per batch or series."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any, cast

import pandas as pd

#: The columns of a figures file, in the order files are written and read.
FIGURE_COLUMNS: tuple[str, ...] = (
    "series_id",
    "year",
    "value",
    "unit",
    "source_publisher",
    "source_title",
    "source_url",
    "accessed_via",
    "note",
)
#: Columns a figures file may leave out or leave empty.
OPTIONAL_COLUMNS: frozenset[str] = frozenset({"source_url", "note"})
#: How a figure was obtained; ``derived`` means worked out from an explicit year-on-year statement.
ACCESS_MODES: tuple[str, ...] = ("primary", "secondary", "seed", "derived")


#: First characters that make a spreadsheet read a cell as a formula (OWASP: CSV injection).
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def guard_formula(text: str) -> str:
    """A text cell a spreadsheet will show as text: a leading ``'`` before a formula start.

    Cells that are already quoted before a formula start get one more quote, so that
    ``unguard_formula`` gives back every text exactly.
    """
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text


def unguard_formula(text: str) -> str:
    """Undo ``guard_formula``: drop the quote it put before a formula start."""
    guarded = text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS)
    return text[1:] if guarded else text


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a frame as plain dicts keyed by column name."""
    return cast(list[dict[str, Any]], frame.to_dict("records"))


def format_value(value: float) -> str:
    """Write a figure the same way every time: whole numbers without a trailing ``.0``."""
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _digest(payload: object) -> str:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(figures: pd.DataFrame) -> str:
    """sha256 over the canonical, sorted rows of a validated figures frame (every column)."""
    ordered = figures.sort_values(["series_id", "year"], kind="stable")
    rows = [
        [
            str(row["series_id"]),
            int(row["year"]),
            format_value(float(row["value"])),
            *(str(row[column]) for column in FIGURE_COLUMNS[3:]),
        ]
        for row in frame_records(ordered)
    ]
    return _digest(["fraudcast-figures-v1", list(FIGURE_COLUMNS), rows])


def series_values_hash(series_id: str, year_values: Iterable[tuple[int, float]]) -> str:
    """sha256 over one series' (year, value) pairs: what a model trained on that series saw."""
    pairs = sorted((int(year), format_value(float(value))) for year, value in year_values)
    return _digest(["fraudcast-series-v1", series_id, pairs])


def withdrawal_hash(series_id: str, years: Iterable[int]) -> str:
    """sha256 naming a withdrawal of one series' figures (a revision's ``content_hash``)."""
    return _digest(["fraudcast-withdrawal-v1", series_id, sorted(int(year) for year in years)])


def written_out(value: float) -> str:
    """A figure in full with thousands separators, so a slip of a zero shows: 300,000,000,000."""
    text = format_value(value)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, point, fraction = digits.partition(".")
    if not whole.isdigit():  # an exponent or not finite: as written
        return text
    return f"{sign}{int(whole):,}{point}{fraction}"
