"""The track record: how each champion's forecasts fared once the actual figures came in, one
row per (series, year, model version), kept in the figure store's ``track_record`` table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection

from data.canonical import frame_records
from data.schema import track_record_table

#: Columns of the frame ``FigureStore.record_scores`` takes; ``track_record()`` adds ``scored_at``.
SCORE_COLUMNS: tuple[str, ...] = (
    "series_id",
    "year",
    "actual",
    "mean",
    "lo-80",
    "hi-80",
    "lo-95",
    "hi-95",
    "inside_80",
    "inside_95",
    "model_name",
    "model_version",
    "data_revision",
)
_SCORE_FLOATS = ("actual", "mean", "lo-80", "hi-80", "lo-95", "hi-95")


def score_rows(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a scores frame as table values (``lo-80`` -> ``lo_80``); ValueError if bad."""
    missing = [name for name in SCORE_COLUMNS if name not in scores.columns]
    if missing:
        raise ValueError(f"scores frame lacks columns: {', '.join(missing)}")
    given = scores[list(SCORE_COLUMNS)]
    empty = [name for name in SCORE_COLUMNS if given[name].isna().any()]
    if empty:
        raise ValueError(f"scores frame has missing values in: {', '.join(empty)}")
    not_bool = [
        name for name in ("inside_80", "inside_95") if not given[name].isin([True, False]).all()
    ]
    if not_bool:
        raise ValueError(f"scores columns must hold True or False: {', '.join(not_bool)}")
    return [
        {
            "series_id": str(row["series_id"]),
            "year": int(row["year"]),
            **{name.replace("-", "_"): float(row[name]) for name in _SCORE_FLOATS},
            "inside_80": bool(row["inside_80"]),
            "inside_95": bool(row["inside_95"]),
            "model_name": str(row["model_name"]),
            "model_version": str(row["model_version"]),
            "data_revision": str(row["data_revision"]),
        }
        for row in frame_records(given)
    ]


def insert_new_scores(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert the ``rows`` (from ``score_rows``) whose (series, year, model_version) is not
    recorded yet, stamped now; returns how many were inserted."""
    t = track_record_table
    scored_at = datetime.now(UTC).replace(tzinfo=None)
    taken = {
        tuple(key)
        for key in connection.execute(
            select(t.c.series_id, t.c.year, t.c.model_version).where(
                t.c.series_id.in_({row["series_id"] for row in rows})
            )
        ).all()
    }
    new_rows = []
    for row in rows:
        key = (row["series_id"], row["year"], row["model_version"])
        if key not in taken:
            taken.add(key)
            new_rows.append({**row, "scored_at": scored_at})
    if new_rows:
        connection.execute(insert(t), new_rows)
    return len(new_rows)


def read_scores(connection: Connection, series_id: str | None = None) -> pd.DataFrame:
    """The recorded scores (of one series, or all) as ``SCORE_COLUMNS`` + UTC ``scored_at``,
    by series, year and scoring time."""
    t = track_record_table
    query = select(*(t.c[name.replace("-", "_")] for name in SCORE_COLUMNS), t.c.scored_at)
    if series_id is not None:
        query = query.where(t.c.series_id == series_id)
    rows = connection.execute(query.order_by(t.c.series_id, t.c.year, t.c.scored_at, t.c.id))
    frame = pd.DataFrame.from_records(
        [tuple(row) for row in rows.all()], columns=[*SCORE_COLUMNS, "scored_at"]
    ).astype(
        {
            "year": "int64",
            **dict.fromkeys(_SCORE_FLOATS, "float64"),
            "inside_80": "bool",
            "inside_95": "bool",
            **dict.fromkeys(("series_id", "model_name", "model_version", "data_revision"), object),
        }
    )
    frame["scored_at"] = pd.to_datetime(frame["scored_at"]).dt.tz_localize(UTC)
    return frame


def rescore_revised(connection: Connection, figures: dict[tuple[str, int], float]) -> int:
    """Set the recorded scores of revised figures (``(series, year) -> new value``) against the
    new value, each inside its own recorded bounds: a preliminary figure revised to its final
    value is judged by the final one. Returns the rows changed."""
    t = track_record_table
    changed = 0
    for (series_id, year), value in figures.items():
        changed += connection.execute(
            update(t)
            .where(and_(t.c.series_id == series_id, t.c.year == year, t.c.actual != value))
            .values(
                actual=value,
                inside_80=and_(t.c.lo_80 <= value, t.c.hi_80 >= value),
                inside_95=and_(t.c.lo_95 <= value, t.c.hi_95 >= value),
            )
        ).rowcount
    return changed


def drop_scores(connection: Connection, series_id: str, years: list[int]) -> int:
    """Forget the recorded scores of withdrawn figures: nothing came in to judge a forecast
    by. Returns the rows removed."""
    t = track_record_table
    removed: int = connection.execute(
        delete(t).where(and_(t.c.series_id == series_id, t.c.year.in_(years)))
    ).rowcount
    return removed
