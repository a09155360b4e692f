"""A series as it stood after each revision of the store, and which figures differ between two
such states: what arrived or was revised between two trainings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from data.canonical import series_values_hash
from data.diff import PROVENANCE_COLUMNS
from data.schema import figures_table, revisions_table


@dataclass(frozen=True)
class StoredFigure:
    """One figure as a revision set it: value, provenance, and the revision's when and why."""

    year: int
    value: float
    source_publisher: str
    source_title: str
    source_url: str
    accessed_via: str
    note: str
    revision_id: int
    revised_at: datetime
    revision_message: str


@dataclass(frozen=True)
class SeriesState:
    """A series' figures after one revision; ``data_revision`` is what a model trained on them
    records (``FigureStore.data_revision_hash``)."""

    revision_id: int
    data_revision: str
    figures: Mapping[int, StoredFigure]
    #: when that revision was written (UTC)
    created_at: datetime | None = None
    #: the figures withdrawn and not given again, each as its withdrawal (value NaN)
    withdrawn: Mapping[int, StoredFigure] = field(default_factory=dict)


@dataclass(frozen=True)
class FigureChange:
    """A figure that arrived (``previous_value`` None), whose value was revised, or that was
    withdrawn (``figure`` is its withdrawal: value NaN, the withdrawal's revision and message)."""

    figure: StoredFigure
    previous_value: float | None

    @property
    def kind(self) -> str:
        """``arrived``, ``revised`` or ``withdrawn``."""
        if self.previous_value is None:
            return "arrived"
        return "withdrawn" if math.isnan(self.figure.value) else "revised"


def read_states(connection: Connection, series_id: str) -> list[SeriesState]:
    """The series after each revision that set or withdrew one of its figures, oldest first."""
    f, r = figures_table, revisions_table
    rows = connection.execute(
        select(
            f.c.year,
            f.c.value,
            *(f.c[name] for name in PROVENANCE_COLUMNS),
            f.c.revision_id,
            r.c.created_at,
            r.c.message,
        )
        .join(r, r.c.id == f.c.revision_id)
        .where(f.c.series_id == series_id)
        .order_by(f.c.revision_id, f.c.year)
    ).all()
    states: list[SeriesState] = []
    current: dict[int, StoredFigure] = {}
    withdrawn: dict[int, StoredFigure] = {}
    for index, row in enumerate(rows):
        year = int(row.year)
        if row.value is None:
            current.pop(year, None)
            withdrawn[year] = _figure(row)
        else:
            current[year] = _figure(row)
            withdrawn.pop(year, None)
        last_of_revision = index + 1 == len(rows) or rows[index + 1].revision_id != row.revision_id
        if last_of_revision:
            pairs = ((year, figure.value) for year, figure in current.items())
            data_revision = series_values_hash(series_id, pairs)
            created = row.created_at.replace(tzinfo=UTC)  # stored as naive UTC
            states.append(
                SeriesState(row.revision_id, data_revision, dict(current), created, dict(withdrawn))
            )
    return states


def _figure(row: Any) -> StoredFigure:
    return StoredFigure(
        year=int(row.year),
        value=math.nan if row.value is None else float(row.value),
        **{name: getattr(row, name) or "" for name in PROVENANCE_COLUMNS},
        revision_id=int(row.revision_id),
        revised_at=row.created_at.replace(tzinfo=UTC),  # stored as naive UTC
        revision_message=row.message or "",
    )


def state_of(
    states: Sequence[SeriesState],
    data_revision: str,
    *,
    up_to: int | None = None,
    trained_at: datetime | None = None,
) -> SeriesState | None:
    """The latest state with these figures (at or before revision ``up_to``), or None. Given
    when a model was ``trained_at``, the latest written by then: a later revision that changed
    only a figure's source leaves the same figures, but no model trained before it saw it."""
    matching = [
        state
        for state in states
        if state.data_revision == data_revision and (up_to is None or state.revision_id <= up_to)
    ]
    if trained_at is not None:
        seen = [s for s in matching if s.created_at is None or s.created_at <= trained_at]
        matching = seen or matching
    return matching[-1] if matching else None


def figure_changes(before: SeriesState, after: SeriesState) -> list[FigureChange]:
    """The figures of ``after`` that ``before`` lacked or held another value for, and those of
    ``before`` withdrawn in ``after``, newest year first. A change of provenance alone is not
    listed: no model saw it."""
    changes = []
    for year in sorted({*after.figures, *before.figures}, reverse=True):
        figure, earlier = after.figures.get(year), before.figures.get(year)
        if figure is None:
            assert earlier is not None
            withdrawal = after.withdrawn.get(year)
            if withdrawal is not None:
                changes.append(FigureChange(withdrawal, earlier.value))
        elif earlier is None or earlier.value != figure.value:
            changes.append(FigureChange(figure, None if earlier is None else earlier.value))
    return changes
