"""How a validated batch of figures differs from what the store holds now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from data.records import FigureKey

#: The columns that say where a figure came from; a change there is a revision too.
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "source_publisher",
    "source_title",
    "source_url",
    "accessed_via",
    "note",
)


def figure_key(row: Mapping[str, Any]) -> FigureKey:
    """The (series, year) a row is about."""
    return (str(row["series_id"]), int(row["year"]))


def _differs(stored: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    if float(stored["value"]) != float(given["value"]):
        return True
    return any((stored[name] or "") != (given[name] or "") for name in PROVENANCE_COLUMNS)


@dataclass
class BatchDiff:
    """Each figure of a batch sorted into added, changed (value or provenance) or unchanged."""

    added: list[FigureKey] = field(default_factory=list)
    changed: list[FigureKey] = field(default_factory=list)
    unchanged: list[FigureKey] = field(default_factory=list)
    #: The changed figures whose value (not only provenance) changed.
    value_changed: list[FigureKey] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when the batch holds nothing the store does not already hold."""
        return not self.added and not self.changed

    @property
    def to_write(self) -> set[FigureKey]:
        """The figures that need a new row."""
        return set(self.added) | set(self.changed)


def diff_batch(
    given_rows: Sequence[Mapping[str, Any]], stored: Mapping[FigureKey, Mapping[str, Any]]
) -> BatchDiff:
    """Compare each given row with the stored current row of the same (series, year)."""
    diff = BatchDiff()
    for row in given_rows:
        key = figure_key(row)
        if key not in stored:
            diff.added.append(key)
        elif _differs(stored[key], row):
            diff.changed.append(key)
            if float(stored[key]["value"]) != float(row["value"]):
                diff.value_changed.append(key)
        else:
            diff.unchanged.append(key)
    return diff
