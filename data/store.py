"""The figure store: series, append-only figures and their revisions, on any SQLAlchemy URL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError

from data import migrations
from data.batches import (
    CURRENT_COLUMNS,
    current_query,
    figure_row,
    figures_frame,
    latest_revision_id,
    plan_batch,
    refusals_as_rejections,
    write_batch,
    write_revision,
)
from data.bundled import BUNDLED_FIGURES, SEED_SOURCE, read_series_csv
from data.canonical import FIGURE_COLUMNS, frame_records, series_values_hash, withdrawal_hash
from data.diff import PROVENANCE_COLUMNS, figure_key
from data.errors import (
    InvalidSeries,
    InvalidWithdrawal,
    StoreBusy,
    UnknownRevision,
    UnknownSeries,
)
from data.records import (
    AddResult,
    Revision,
    SchemaState,
    SeriesInfo,
    format_breaks,
    year_spans,
)
from data.schema import (
    BUSY_RETRY_AFTER_S,
    WRITE_OPTION,
    figures_table,
    is_busy,
    lock_for_write,
    make_engine,
    revisions_table,
    series_table,
)
from data.scores import (
    SCORE_COLUMNS,
    drop_scores,
    insert_new_scores,
    read_scores,
    rescore_revised,
    score_rows,
)
from data.settings import StoreSettings
from data.states import SeriesState, read_states
from data.validation import FigureRange, read_figures_csv, validate_figures

log = logging.getLogger(__name__)

__all__ = [
    "CURRENT_COLUMNS",
    "HISTORY_COLUMNS",
    "SCORE_COLUMNS",
    "AddResult",
    "FigureStore",
    "Revision",
    "SeriesInfo",
    "SeriesState",
]

#: Columns of ``FigureStore.history()``, oldest revision first.
HISTORY_COLUMNS: tuple[str, ...] = (
    "revision_id",
    "created_at",
    "revision_source",
    "revision_message",
    *FIGURE_COLUMNS[FIGURE_COLUMNS.index("value") :],
)


def _values_of(years: np.ndarray, values: np.ndarray, series_id: str) -> pd.Series:
    """A series' current figures as ``FigureStore.values`` gives them: floats by year."""
    index = pd.Index(years.astype("int64"), name="year")
    return pd.Series(values.astype("float64"), index=index, name=series_id)


class FigureStore:
    """Yearly figures with provenance; every change is a revision and nothing is overwritten.

    Tables are created, or upgraded to this release's schema, on first use (``data.migrations``).
    Each ``add_figures`` call is one transaction, so a batch is taken whole or not at all and
    readers never see half of it.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: StoreSettings | None = None) -> FigureStore:
        """The store at ``FRAUDCAST_DATABASE_URL`` (a SQLite file under ``data/`` by default)."""
        return cls((settings or StoreSettings()).database_url)

    def close(self) -> None:
        """Release pooled connections (the store reopens on next use)."""
        with self._engine_lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    # -- connections ---------------------------------------------------------------------------

    def _ready(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                engine = make_engine(self.url)
                before = self._upgrade(engine)
                if not before.is_current and not before.created_anew:
                    # an upgrade on first use had been silent: said once, as `db upgrade` says it
                    log.info(before.upgrade_said(self.where))
                self._engine = engine
            return self._engine

    @property
    def where(self) -> str:
        """The store's URL without its password, as messages name the store."""
        return make_url(self.url).render_as_string(hide_password=True)

    def upgrade_schema(self) -> SchemaState:
        """Bring the store to this release's schema now, as its first use would; returns where
        it stood before (``fraudcast db upgrade``)."""
        with self._engine_lock:
            engine = self._engine or make_engine(self.url)
            before = self._upgrade(engine)
            self._engine = engine
            return before

    def _upgrade(self, engine: Engine) -> SchemaState:
        """Bring the store to this release's schema; returns where it stood before.

        A store already there is only read, so opening it waits for no writer. Otherwise the
        upgrade runs under the write lock: two processes opening a new store never both create
        its tables, and the second finds the first one's work. ``SchemaUpgradeFailed`` (the
        store left as it was), or ``StoreBusy`` when another writer held it too long.
        """
        try:
            with engine.connect() as connection:
                state = migrations.schema_state(connection)
            if state.is_current:
                return state
            with self._write_connection(engine) as connection:
                return migrations.upgrade_schema(connection)
        except BaseException:
            engine.dispose()  # nothing stays pooled for a store that cannot be used
            raise

    def schema_state(self) -> SchemaState:
        """Where the store's tables stand, without upgrading them (``fraudcast db current``)."""
        engine = self._engine or make_engine(self.url)
        try:
            with engine.connect() as connection:
                return migrations.schema_state(connection)
        finally:
            if engine is not self._engine:
                engine.dispose()

    @staticmethod
    @contextmanager
    def _write_connection(engine: Engine) -> Iterator[Connection]:
        """A transaction holding the write lock; ``StoreBusy`` if another writer kept it long."""
        try:
            with engine.connect() as connection:
                connection.execution_options(**{WRITE_OPTION: True})
                with connection.begin():
                    lock_for_write(connection)
                    yield connection
        except OperationalError as error:
            if is_busy(error):
                raise StoreBusy(retry_after=BUSY_RETRY_AFTER_S) from None
            raise

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One write transaction holding the store's write lock; rolled back on any error.
        ``StoreBusy`` when another writer held the store longer than a write may wait."""
        with self._write_connection(self._ready()) as connection:
            yield connection

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """One read transaction: a consistent snapshot across its statements."""
        with self._ready().connect() as connection, connection.begin():
            yield connection

    # -- series --------------------------------------------------------------------------------

    def list_series(self) -> list[SeriesInfo]:
        """Every series the store knows, sorted by id."""
        with self._reading() as connection:
            rows = connection.execute(select(series_table).order_by(series_table.c.id)).all()
        return [SeriesInfo.from_row(row) for row in rows]

    def _known_series(self) -> dict[str, SeriesInfo]:
        """Every series by id, in a read transaction of its own."""
        with self._reading() as connection:
            return self._series_map(connection)

    def _figure_ranges(self, series_ids: list[str]) -> dict[str, FigureRange]:
        """The range and the current figures of each of ``series_ids`` that has any."""
        current = current_query(series_ids).subquery()
        query = select(current.c.series_id, current.c.year, current.c.value)
        by_series: dict[str, dict[int, float]] = {}
        with self._reading() as connection:
            for series_id, year, value in connection.execute(query):
                by_series.setdefault(series_id, {})[int(year)] = float(value)
        return {series_id: FigureRange.of(values) for series_id, values in by_series.items()}

    def _series_map(self, connection: Connection) -> dict[str, SeriesInfo]:
        rows = connection.execute(select(series_table)).all()
        return {row.id: SeriesInfo.from_row(row) for row in rows}

    def _require_series(self, connection: Connection, series_id: str) -> SeriesInfo:
        row = connection.execute(
            select(series_table).where(series_table.c.id == series_id)
        ).one_or_none()
        if row is None:
            known = connection.execute(select(series_table.c.id)).scalars().all()
            raise UnknownSeries(series_id, known)
        return SeriesInfo.from_row(row)

    def get_series(self, series_id: str) -> SeriesInfo:
        """Metadata of one series; raises ``UnknownSeries``."""
        with self._reading() as connection:
            return self._require_series(connection, series_id)

    def add_series(self, info: SeriesInfo) -> bool:
        """Register a series; True if new, False if already stored with the same metadata.

        Raises ``InvalidSeries`` when a series with that id exists with different metadata.
        """
        with self._writing() as connection:
            return self._insert_series(connection, info)

    def set_breaks(self, series_id: str, breaks: Sequence[int]) -> tuple[SeriesInfo, SeriesInfo]:
        """Declare a series' definition breaks (replacing those it had): the series before and
        after. A definition that changed is often found out years later, after the series was
        registered. No figure changes; a retrain adjusts the level shift (``features.breaks``).
        Raises ``UnknownSeries``, or ``InvalidSeries`` for a year outside 1900..2200."""
        with self._writing() as connection:
            before = self._require_series(connection, series_id)
            after = replace(before, breaks=tuple(int(year) for year in breaks))
            if after != before:
                connection.execute(
                    update(series_table)
                    .where(series_table.c.id == series_id)
                    .values(breaks=format_breaks(after.breaks))
                )
            return before, after

    def remove_series(self, series_id: str) -> SeriesInfo:
        """Remove a series registered by mistake, before any figure was given for it; returns
        what it was. Raises ``UnknownSeries``, or ``InvalidSeries`` for a series that has had
        figures: its history stays (withdraw wrong figures with ``withdraw_figures``)."""
        with self._writing() as connection:
            info = self._require_series(connection, series_id)
            f = figures_table
            rows = connection.execute(
                select(func.count()).select_from(f).where(f.c.series_id == series_id)
            ).scalar_one()
            if rows:
                raise InvalidSeries(
                    f"{series_id} has had figures ({rows} in its history), so it stays with its "
                    "history; withdraw wrong figures with `fraudcast figures withdraw`"
                )
            connection.execute(delete(series_table).where(series_table.c.id == series_id))
            return info

    @staticmethod
    def _insert_series(connection: Connection, info: SeriesInfo) -> bool:
        row = connection.execute(
            select(series_table).where(series_table.c.id == info.id)
        ).one_or_none()
        if row is not None:
            stored = SeriesInfo.from_row(row)
            if stored != info:
                raise InvalidSeries(
                    f"series {info.id!r} already exists with different metadata "
                    f"(unit {stored.unit!r}, title {stored.title!r})"
                )
            return False
        values = {
            "id": info.id,
            "title": info.title,
            "unit": info.unit,
            "country": info.country,
            "publisher": info.publisher,
            "definition": info.definition,
            "breaks": format_breaks(info.breaks),
        }
        connection.execute(insert(series_table).values(**values))
        return True

    # -- reading figures -----------------------------------------------------------------------

    def figures(self, series_id: str | None = None) -> pd.DataFrame:
        """The current figures (latest revision per series and year), sorted by series and year."""
        with self._reading() as connection:
            if series_id is not None:
                self._require_series(connection, series_id)
            ids = None if series_id is None else [series_id]
            rows = connection.execute(current_query(ids)).all()
        return figures_frame(list(rows))

    def values(self, series_id: str) -> pd.Series:
        """Current values of one series as floats indexed by year; missing years stay absent."""
        current = self.figures(series_id)
        return _values_of(current["year"].to_numpy(), current["value"].to_numpy(), series_id)

    def all_values(self) -> dict[str, pd.Series]:
        """``values`` of every series with a figure, read in one query: a retrain's population
        had been read a query a series before any series could start (30 s for 10,000 series
        while every worker waited), and reads each figure's year and value alone. A series
        without figures is not in it."""
        with self._reading() as connection:
            rows = connection.execute(current_query(values_only=True)).all()
        if not rows:
            return {}
        ids = np.array([row[0] for row in rows], dtype=object)
        years = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
        values = np.fromiter((row[2] for row in rows), dtype=np.float64, count=len(rows))
        del rows
        # the figures come sorted by series: each series is one run of rows
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        ends = np.r_[starts[1:], len(ids)]
        return {
            str(ids[start]): _values_of(years[start:end], values[start:end], str(ids[start]))
            for start, end in zip(starts, ends, strict=True)
        }

    def data_revision_hash(self, series_id: str) -> str:
        """sha256 of this series' current (year, value) pairs; blind to every other series."""
        current = self.figures(series_id)
        pairs = zip(current["year"].tolist(), current["value"].tolist(), strict=True)
        return series_values_hash(series_id, pairs)

    def history(self, series_id: str, year: int) -> pd.DataFrame:
        """Every revision's value of one figure, oldest first (empty if never given)."""
        f, r = figures_table, revisions_table
        query = (
            select(
                f.c.revision_id,
                r.c.created_at,
                r.c.source,
                r.c.message,
                f.c.value,
                series_table.c.unit,
                *(f.c[name] for name in PROVENANCE_COLUMNS),
            )
            .join(r, r.c.id == f.c.revision_id)
            .join(series_table, series_table.c.id == f.c.series_id)
            .where(f.c.series_id == series_id, f.c.year == int(year))
            .order_by(f.c.revision_id)
        )
        with self._reading() as connection:
            self._require_series(connection, series_id)
            rows = connection.execute(query).all()
        frame = pd.DataFrame.from_records([tuple(row) for row in rows], columns=HISTORY_COLUMNS)
        frame["created_at"] = pd.to_datetime(frame["created_at"]).dt.tz_localize(UTC)
        frame = frame.astype({"revision_id": "int64", "value": "float64"})
        for name in ("source_url", "note"):
            frame[name] = frame[name].fillna("").astype(object)
        return frame

    def series_set_since(self, revision_id: int) -> set[str]:
        """The series a revision after ``revision_id`` set a figure of."""
        query = select(figures_table.c.series_id).where(figures_table.c.revision_id > revision_id)
        with self._reading() as connection:
            return set(connection.execute(query.distinct()).scalars())

    def figures_revision(self, series_id: str) -> int | None:
        """The latest revision that wrote one of this series' figures (None without figures):
        the store revision a model trained on its current figures is trained "as of"."""
        f = figures_table
        with self._reading() as connection:
            self._require_series(connection, series_id)
            latest = connection.execute(
                select(func.max(f.c.revision_id)).where(f.c.series_id == series_id)
            ).scalar()
        return None if latest is None else int(latest)

    def series_states(self, series_id: str) -> list[SeriesState]:
        """The series after each revision that set one of its figures, oldest first, each with
        the data revision hash a model trained on it records (``data.states``)."""
        with self._reading() as connection:
            self._require_series(connection, series_id)
            return read_states(connection, series_id)

    def revision(self, revision_id: int) -> Revision:
        """One revision by id; raises ``UnknownRevision``."""
        with self._reading() as connection:
            row = connection.execute(
                select(revisions_table).where(revisions_table.c.id == int(revision_id))
            ).one_or_none()
        if row is None:
            raise UnknownRevision(revision_id)
        return Revision.from_row(row)

    def revisions(self) -> list[Revision]:
        """Every revision, oldest first."""
        with self._reading() as connection:
            rows = connection.execute(select(revisions_table).order_by(revisions_table.c.id)).all()
        return [Revision.from_row(row) for row in rows]

    # -- writing figures -----------------------------------------------------------------------

    def add_figures(self, frame: pd.DataFrame, *, source: str, message: str = "") -> AddResult:
        """Validate and add a batch of figures in one transaction: all of it or none of it.

        Raises ``InvalidFigures`` listing every bad row. Figures already stored exactly as given
        are left alone; a batch that changes nothing is a no-op (``result.no_op``) and creates no
        revision. Sharp jumps against neighbouring years are accepted with a warning.

        The batch is validated and compared with the stored figures before the write lock is
        taken, so a big file holds up other writers only while its rows are inserted. Raises
        ``StoreBusy`` when another writer holds the store longer than a write waits.
        """
        known = self._known_series()
        # only the batch's series: a write reads what it is checked against, not the store
        named = {str(cell).strip() for cell in frame.get("series_id", ())}
        ranges = self._figure_ranges(sorted(named & known.keys()))
        clean = validate_figures(frame, known, ranges)
        with refusals_as_rejections():
            with self._reading() as connection:
                plan = plan_batch(connection, clean)
            if plan.diff.is_empty:
                return plan.unchanged_result()
            with self._writing() as connection:
                if latest_revision_id(connection) != plan.latest_revision:
                    plan = plan_batch(connection, clean)  # another batch landed meanwhile
                result = write_batch(connection, plan, source=source, message=message)
                # forecasts already scored against a figure now revised are judged anew
                value_changed = set(plan.diff.value_changed)
                revised = {
                    figure_key(row): float(row["value"])
                    for row in plan.given
                    if figure_key(row) in value_changed
                }
                rescore_revised(connection, revised)
                return result

    def withdraw_figures(
        self, series_id: str, years: Sequence[int], *, source: str, message: str
    ) -> AddResult:
        """Withdraw figures that should never have been stored (a year typed wrong, a figure
        given to the wrong series), as one new revision: the series reads as if they had never
        been given, and ``history`` keeps every value they had. A figure given again later
        comes back as added. The track record's scores against them go: nothing came in to
        judge a forecast by.

        A year withdrawn already is left as it is: the same request sent again (a client
        retrying after a timeout) is a no-op, as adding the same figures again is.

        Raises ``UnknownSeries``, or ``InvalidWithdrawal`` (nothing withdrawn) for a year never
        given a figure, for every figure of the series at once (its model would keep serving a
        projection from them), or for a ``message`` that gives no reason.
        """
        wanted = sorted({int(year) for year in years})
        if not message.strip():
            raise InvalidWithdrawal(
                "say why the figures are withdrawn (a message): it is kept in their history"
            )
        if not wanted:
            raise InvalidWithdrawal("name the years whose figures are withdrawn")
        with self._writing() as connection:
            self._require_series(connection, series_id)
            current = figures_frame(list(connection.execute(current_query([series_id])).all()))
            stored = {int(row["year"]): row for row in frame_records(current)}
            missing = [year for year in wanted if year not in stored]
            f = figures_table
            given = {
                int(year)
                for (year,) in connection.execute(
                    select(f.c.year).where(f.c.series_id == series_id).distinct()
                )
            }
            never = [year for year in missing if year not in given]
            if never:
                have = year_spans(stored) or "none"
                raise InvalidWithdrawal(
                    f"{series_id} holds no figure for {', '.join(map(str, never))} "
                    f"(years held: {have}); nothing was withdrawn"
                )
            already = [(series_id, year) for year in missing]  # withdrawn before
            wanted = [year for year in wanted if year in stored]
            if not wanted:
                return AddResult(revision=None, already_withdrawn=already)
            if len(wanted) == len(stored):
                raise InvalidWithdrawal(
                    f"withdrawing every figure of {series_id} would leave nothing to forecast "
                    "from while its model still serves them; withdraw the wrong years and add "
                    "the right figures, or keep one; nothing was withdrawn"
                )
            revision = write_revision(
                connection,
                # each withdrawn with the provenance it had, for its history
                [figure_row(series_id, year, None, stored[year]) for year in wanted],
                content_hash=withdrawal_hash(series_id, wanted),
                source=source,
                message=message.strip(),
                counts=(0, len(wanted), 0),
            )
            drop_scores(connection, series_id, wanted)
        return AddResult(
            revision=revision,
            changed_series=[series_id],
            withdrawn=[(series_id, year) for year in wanted],
            already_withdrawn=already,
        )

    def ensure_seeded(self) -> Revision | None:
        """Load the bundled series and figures once; None if the store was already seeded."""
        if self._seed_revision_exists():
            return None
        bundled_series = read_series_csv()
        bundled_figures = read_figures_csv(BUNDLED_FIGURES)
        with self._writing() as connection:
            if self._seed_revision_exists(connection):
                return None
            for info in bundled_series:
                if info.id not in self._series_map(connection):
                    self._insert_series(connection, info)
            clean = validate_figures(bundled_figures, self._series_map(connection))
            message = "seed: figures bundled with fraudcast (data/bundled/figures.csv)"
            plan = plan_batch(connection, clean)
            result = write_batch(connection, plan, source=SEED_SOURCE, message=message)
            return result.revision

    def _seed_revision_exists(self, connection: Connection | None = None) -> bool:
        query = select(revisions_table.c.id).where(revisions_table.c.source == SEED_SOURCE)
        if connection is not None:
            return connection.execute(query.limit(1)).first() is not None
        with self._reading() as reading:
            return reading.execute(query.limit(1)).first() is not None

    # -- track record --------------------------------------------------------------------------

    def record_scores(self, scores: pd.DataFrame) -> int:
        """Keep how champions' forecasts fared (``SCORE_COLUMNS``); returns the rows inserted.

        Idempotent: a (series, year, model_version) already recorded is left as it is, so
        re-scoring after a retry changes nothing. One transaction; raises ``UnknownSeries`` for a
        series the store does not know and ``ValueError`` for a malformed frame.
        """
        rows = score_rows(scores)
        if not rows:
            return 0
        with self._writing() as connection:
            for series_id in sorted({row["series_id"] for row in rows}):
                self._require_series(connection, series_id)
            return insert_new_scores(connection, rows)

    def track_record(self, series_id: str | None = None) -> pd.DataFrame:
        """Recorded scores (``SCORE_COLUMNS`` + UTC ``scored_at``) by series, year, scored_at."""
        with self._reading() as connection:
            if series_id is not None:
                self._require_series(connection, series_id)
            return read_scores(connection, series_id)
