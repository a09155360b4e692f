"""Plain records the figure store hands out: series metadata, revisions, ingestion results and
the state of its schema."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from data.canonical import written_out
from data.errors import InvalidSeries

_SERIES_ID = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
#: Units with a meaning (whole numbers of cases; yen amounts written in full), by their lower
#: case: a series registered as "Count" had taken fractions and been charted as "14.44 Count".
CANONICAL_UNITS = {
    **dict.fromkeys(("count", "counts", "cases", "件", "件数"), "count"),
    **dict.fromkeys(("jpy", "yen", "円", "¥"), "JPY"),
    # a figure row in "%" for a series in "percent" had been refused as the wrong unit
    **dict.fromkeys(("percent", "%", "percentage", "pct", "per cent"), "percent"),
}


def canonical_unit(unit: str) -> str:
    """``unit`` as fraudcast reads it: "count" or "JPY" however those were typed ("Count",
    "yen", "円"; a series registered as "yen" had been charted as "1,080,000,000.00 yen"),
    any other unit as given, stripped. Full-width forms read as their ASCII ones (NFKC): a
    rate typed "％" on a Japanese keyboard had not been read as a percent, and was projected
    past 100."""
    text = unit.strip()
    return CANONICAL_UNITS.get(_unit_key(text), text)


def _unit_key(unit: str) -> str:
    """``unit`` as ``CANONICAL_UNITS`` is keyed: NFKC-normalised, stripped, lower case."""
    return unicodedata.normalize("NFKC", unit).strip().lower()


@dataclass(frozen=True)
class SeriesInfo:
    """What one yearly series measures: its unit, publisher, definition and definition breaks."""

    id: str
    title: str
    unit: str
    country: str = ""
    publisher: str = ""
    definition: str = ""
    breaks: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not _SERIES_ID.match(self.id):
            raise InvalidSeries(
                f"series id {self.id!r} must be lower-case letters, digits and '_', "
                "starting with a letter"
            )
        if not self.title.strip():
            raise InvalidSeries(f"series {self.id!r} needs a title")
        if not self.unit.strip():
            raise InvalidSeries(f"series {self.id!r} needs a unit (for example 'count' or 'JPY')")
        # the units fraudcast reads a meaning into, however they were typed ("Count", "yen")
        if _unit_key(self.unit) in CANONICAL_UNITS:
            object.__setattr__(self, "unit", canonical_unit(self.unit))
        if any(not 1900 <= year <= 2200 for year in self.breaks):
            raise InvalidSeries(f"series {self.id!r}: break years must lie in 1900..2200")
        # Breaks are a set of years; keep them sorted so equal metadata compares equal.
        object.__setattr__(self, "breaks", tuple(sorted(set(self.breaks))))

    @classmethod
    def from_row(cls, row: Any) -> SeriesInfo:
        """The series of a ``series`` table row."""
        return cls(
            id=row.id,
            title=row.title,
            unit=row.unit,
            country=row.country,
            publisher=row.publisher,
            definition=row.definition,
            breaks=parse_breaks(row.breaks),
        )


def share_ceiling(unit: str, values: Iterable[float]) -> float | None:
    """100 for a series in percent whose figures all lie within 0-100 (a clearance rate: no
    projection or interval of it may pass 100); None for any other series (a percent change
    can exceed 100, and its figures show it)."""
    if canonical_unit(unit) != "percent":  # "%", "pct", "per cent" alike
        return None
    return 100.0 if all(0.0 <= value <= 100.0 for value in values) else None


def parse_breaks(text: str) -> tuple[int, ...]:
    """Read break years written as ``2010,2018`` or ``2010;2018`` (empty means none)."""
    return parse_years(text, what="breaks")


def parse_years(text: str, *, what: str = "years") -> tuple[int, ...]:
    """Read years written as ``2010,2018`` or ``2010;2018`` (empty means none); ``what`` names
    them in the error ("breaks must be years ...")."""
    parts = [part.strip() for part in re.split(r"[;,\s]+", text.strip()) if part.strip()]
    try:
        return tuple(int(part) for part in parts)
    except ValueError:
        raise InvalidSeries(f"{what} must be years separated by ',' or ';', got {text!r}") from None


def year_spans(years: Iterable[int]) -> str:
    """Years as runs: "2016, 2019–2020, 2022–2023, 2025" (gaps show)."""
    runs: list[list[int]] = []
    for year in sorted(set(years)):
        if runs and year == runs[-1][1] + 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


def format_breaks(breaks: tuple[int, ...]) -> str:
    """Write break years the way ``series.csv`` does: ``2010;2018``."""
    return ";".join(str(year) for year in breaks)


def input_changed(
    recorded_revision: str,
    recorded_breaks: str | None,
    data_revision: str,
    breaks: tuple[int, ...],
) -> bool:
    """Whether a series' input moved since a model of it was trained: its figures (their
    ``data_revision`` hash) or its definition breaks (as ``format_breaks`` writes them).

    The one rule the retrain's skip, the scheduler and the champion's refit share. Breaks
    recorded as None (a run or champion from before breaks were recorded) are not a change: it
    came from older code, which retrains it anyway."""
    if recorded_revision != data_revision:
        return True
    return recorded_breaks is not None and recorded_breaks != format_breaks(breaks)


@dataclass(frozen=True)
class Revision:
    """One accepted batch of figures: when, from where, why, and what it changed."""

    id: int
    content_hash: str
    created_at: datetime
    source: str
    message: str
    added: int
    changed: int
    unchanged: int

    @classmethod
    def from_row(cls, row: Any) -> Revision:
        """The revision of a ``revisions`` table row (its naive UTC time made aware)."""
        return cls(
            id=row.id,
            content_hash=row.content_hash,
            created_at=row.created_at.replace(tzinfo=UTC),
            source=row.source,
            message=row.message,
            added=row.added,
            changed=row.changed,
            unchanged=row.unchanged,
        )


FigureKey = tuple[str, int]
#: Revised figures a summary names with their old and new value; the rest are counted.
REVISED_SHOWN = 5


@dataclass(frozen=True)
class AddResult:
    """What ``FigureStore.add_figures`` did with a batch of figures, or
    ``FigureStore.withdraw_figures`` with the figures it withdrew."""

    revision: Revision | None
    added: list[FigureKey] = field(default_factory=list)
    changed: list[FigureKey] = field(default_factory=list)
    unchanged: list[FigureKey] = field(default_factory=list)
    changed_series: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    withdrawn: list[FigureKey] = field(default_factory=list)
    #: the figures whose value changed, with the value before and after
    revised: list[tuple[FigureKey, float, float]] = field(default_factory=list)
    #: figures a withdrawal named that had been withdrawn before (left as they were)
    already_withdrawn: list[FigureKey] = field(default_factory=list)

    @property
    def no_op(self) -> bool:
        """True when every figure was already in the store exactly as given."""
        return self.revision is None

    def summary(self) -> str:
        """One human sentence saying what happened."""
        if self.revision is None and self.already_withdrawn:
            years = ", ".join(str(year) for _, year in self.already_withdrawn)
            were = "s were" if len(self.already_withdrawn) > 1 else " was"
            return (
                f"No change: the {years} figure{were} withdrawn already; no revision was created."
            )
        if self.revision is None:
            given = (
                "the figure is"
                if len(self.unchanged) == 1
                else f"all {len(self.unchanged)} figures are"
            )
            return (
                f"No change: {given} already in the store exactly as given; no revision was "
                "created."
            )
        series = ", ".join(self.changed_series) or "provenance only"
        if self.withdrawn:
            years = ", ".join(str(year) for _, year in self.withdrawn)
            before = ", ".join(str(year) for _, year in self.already_withdrawn)
            also = f" ({before} withdrawn already)" if before else ""
            return f"Revision {self.revision.id}: withdrew {series} {years}{also}."
        said = (
            f"Revision {self.revision.id}: {len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.unchanged)} unchanged ({series})."
        )
        if not self.revised:
            return said
        # a published figure replaced is named with both values: a year typed wrong shows
        shown = [
            f"{series_id} {year}: {written_out(before)} → {written_out(after)}"
            for (series_id, year), before, after in self.revised[:REVISED_SHOWN]
        ]
        rest = len(self.revised) - len(shown)
        more = f" and {rest:,} more" if rest else ""
        return f"{said} Revised: {'; '.join(shown)}{more}."


@dataclass(frozen=True)
class SchemaState:
    """Where a store's tables stand against this release's schema revisions."""

    #: The revision in the store's version table; None when it has none.
    revision: str | None
    #: The revision this release's tables are at.
    head: str
    #: Which of the tables fraudcast made before migrations existed the store holds.
    unversioned_tables: frozenset[str]
    #: Whether this release knows the store's revision (False after a newer release's upgrade).
    known: bool = True

    @property
    def is_current(self) -> bool:
        """True when the store is at this release's revision."""
        return self.revision == self.head

    @property
    def predates_migrations(self) -> bool:
        """True for a store made by fraudcast 0.1.0: its tables, no revision."""
        return self.revision is None and bool(self.unversioned_tables)

    def describe(self) -> str:
        """What the store is at, in words: a revision, 0.1.0's tables or nothing yet."""
        if self.revision is not None:
            return f"revision {self.revision}"
        if self.unversioned_tables:
            return "the tables of fraudcast 0.1.0 (no revision)"
        return "no tables"

    @property
    def created_anew(self) -> bool:
        """True for a store that had no tables at all: upgrading it creates them."""
        return self.revision is None and not self.unversioned_tables

    def upgrade_said(self, where: str) -> str:
        """What bringing a store that stood here to this release's schema did, in one sentence
        (``fraudcast db upgrade`` prints it; a store's first use logs it after an upgrade)."""
        if self.is_current:
            return f"The figure store at {where} is at revision {self.head}; nothing to do."
        if self.created_anew:
            return f"Created the figure store's tables at {where} (revision {self.head})."
        return (
            f"Upgraded the figure store at {where} from {self.describe()} to revision {self.head}."
        )
