"""A validated batch of figures against the store: planned on a snapshot, written under the lock.

Planning (reading the current figures of the batch's series and diffing) happens before the
write lock is taken, so a write transaction only re-checks that no revision landed meanwhile
and inserts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, and_, func, insert, select
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import DataError, IntegrityError

from data.canonical import FIGURE_COLUMNS, content_hash, frame_records
from data.diff import PROVENANCE_COLUMNS, BatchDiff, diff_batch, figure_key
from data.errors import InvalidFigures, RowProblem, cut
from data.jumps import jump_warnings
from data.records import AddResult, FigureKey, Revision
from data.schema import figures_table, revisions_table, series_table

#: Columns of ``FigureStore.figures()``: the file columns plus the revision that set each value.
CURRENT_COLUMNS: tuple[str, ...] = (*FIGURE_COLUMNS, "revision_id")


def current_query(series_ids: list[str] | None = None, *, values_only: bool = False) -> Select[Any]:
    """The current view: per (series, year), the row of the latest revision that set it,
    unless that row withdrew the figure (no value). ``values_only`` reads series, year and
    value alone (``FigureStore.all_values``): read with every figure's provenance, 10,000
    series of 8-30 years took the reading process' peak 219 MB above where it started; read
    alone, 70 MB."""
    f = figures_table
    latest = select(f.c.series_id, f.c.year, func.max(f.c.revision_id).label("revision_id"))
    if series_ids is not None:
        latest = latest.where(f.c.series_id.in_(series_ids))
    latest_keys = latest.group_by(f.c.series_id, f.c.year).subquery()
    described = (
        ()
        if values_only
        else (series_table.c.unit, *(f.c[name] for name in PROVENANCE_COLUMNS), f.c.revision_id)
    )
    return (
        select(f.c.series_id, f.c.year, f.c.value, *described)
        .join(
            latest_keys,
            and_(
                f.c.series_id == latest_keys.c.series_id,
                f.c.year == latest_keys.c.year,
                f.c.revision_id == latest_keys.c.revision_id,
            ),
        )
        .join(series_table, series_table.c.id == f.c.series_id)
        .where(f.c.value.is_not(None))
        .order_by(f.c.series_id, f.c.year)
    )


def figures_frame(rows: list[Row[Any]]) -> pd.DataFrame:
    """Rows of ``current_query`` as a frame of ``CURRENT_COLUMNS``."""
    frame = pd.DataFrame.from_records(
        [tuple(row) for row in rows], columns=list(CURRENT_COLUMNS)
    ).astype({"year": "int64", "value": "float64", "revision_id": "int64"})
    for name in ("source_url", "note"):
        frame[name] = frame[name].fillna("").astype(object)
    return frame


def latest_revision_id(connection: Connection) -> int | None:
    """The newest revision's id (None for an empty store): it changes with every write."""
    latest: int | None = connection.execute(select(func.max(revisions_table.c.id))).scalar()
    return latest


@dataclass(frozen=True)
class BatchPlan:
    """What a validated batch would change, as of the store's ``latest_revision``."""

    latest_revision: int | None
    given: list[dict[str, Any]]
    stored: dict[FigureKey, dict[str, Any]]
    diff: BatchDiff
    content_hash: str

    def unchanged_result(self) -> AddResult:
        """The result of a batch the store already holds exactly as given."""
        return AddResult(revision=None, unchanged=self.diff.unchanged)


def plan_batch(connection: Connection, clean: pd.DataFrame) -> BatchPlan:
    """Diff a validated batch against the current figures of its series."""
    series_ids = sorted(set(clean["series_id"]))
    latest = latest_revision_id(connection)
    current = figures_frame(list(connection.execute(current_query(series_ids)).all()))
    stored = {figure_key(row): row for row in frame_records(current)}
    given = frame_records(clean)
    return BatchPlan(latest, given, stored, diff_batch(given, stored), content_hash(clean))


def write_batch(connection: Connection, plan: BatchPlan, *, source: str, message: str) -> AddResult:
    """Append what the plan says differs as one new revision (nothing if nothing differs).

    ``connection`` must hold the write lock and the plan must be as of its latest revision.
    """
    diff = plan.diff
    if diff.is_empty:
        return plan.unchanged_result()
    to_write = diff.to_write
    revision = write_revision(
        connection,
        [
            figure_row(row["series_id"], int(row["year"]), float(row["value"]), row)
            for row in plan.given
            if figure_key(row) in to_write
        ],
        content_hash=plan.content_hash,
        source=source,
        message=message,
        counts=(len(diff.added), len(diff.changed), len(diff.unchanged)),
    )
    merged: dict[str, dict[int, float]] = {series_id: {} for series_id, _ in plan.stored}
    for (series_id, year), row in plan.stored.items():
        merged[series_id][year] = float(row["value"])
    for row in plan.given:
        merged.setdefault(row["series_id"], {})[int(row["year"])] = float(row["value"])
    touched = [*diff.added, *diff.value_changed]
    return AddResult(
        revision=revision,
        added=diff.added,
        changed=diff.changed,
        unchanged=diff.unchanged,
        changed_series=sorted({series_id for series_id, _ in touched}),
        warnings=jump_warnings(merged, touched),
        revised=[
            (key, float(plan.stored[key]["value"]), merged[key[0]][key[1]])
            for key in diff.value_changed
        ],
    )


def figure_row(
    series_id: str, year: int, value: float | None, provenance: Mapping[str, Any]
) -> dict[str, Any]:
    """A ``figures`` row of one figure with the provenance of ``provenance`` (a figures-file
    or stored row); a value of None withdraws the figure."""
    return {
        "series_id": series_id,
        "year": year,
        "value": value,
        **{name: provenance[name] or None for name in PROVENANCE_COLUMNS},
        "accessed_via": provenance["accessed_via"],
    }


def write_revision(
    connection: Connection,
    rows: list[dict[str, Any]],
    *,
    content_hash: str,
    source: str,
    message: str,
    counts: tuple[int, int, int],
) -> Revision:
    """Append one revision holding ``rows`` (``figure_row``) and return it as stored;
    ``counts`` are its figures added, changed and unchanged. ``connection`` must hold the
    write lock."""
    added, changed, unchanged = counts
    revision_id = connection.execute(
        insert(revisions_table)
        .values(
            content_hash=content_hash,
            created_at=datetime.now(UTC).replace(tzinfo=None),
            source=source,
            message=message,
            added=added,
            changed=changed,
            unchanged=unchanged,
        )
        .returning(revisions_table.c.id)
    ).scalar_one()
    connection.execute(insert(figures_table), [{**row, "revision_id": revision_id} for row in rows])
    stored = connection.execute(
        select(revisions_table).where(revisions_table.c.id == revision_id)
    ).one()
    return Revision.from_row(stored)


@contextmanager
def refusals_as_rejections() -> Iterator[None]:
    """A batch the database refuses (a constraint, a value it cannot hold) is rejected whole."""
    try:
        yield
    except (IntegrityError, DataError) as error:
        # The driver's first line names the constraint; SQLAlchemy's text would quote every row.
        lines = str(error.orig).strip().splitlines() or ["no reason given"]
        reason = f"the figure store refused these figures ({cut(lines[0], 120)})"
        raise InvalidFigures([RowProblem(1, "", "", reason)]) from None
