"""The one validation of figures, shared by the CLI and the HTTP API: every bad row, at once.

Reports stay short however long the file: the first ``PROBLEMS_PER_KIND`` problems of each
kind are listed and the rest counted, and a file over ``FRAUDCAST_MAX_FIGURES_FILE_BYTES`` is
refused before it is read.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, overload

import pandas as pd

from data.canonical import ACCESS_MODES, FIGURE_COLUMNS, OPTIONAL_COLUMNS, unguard_formula
from data.errors import (
    FileTooLarge,
    InvalidFigures,
    ProblemReport,
    RowProblem,
    closest_series,
    cut,
)
from data.records import SeriesInfo, canonical_unit
from data.settings import StoreSettings

FIRST_YEAR = 1900
# ASCII digits only: Python's \d, int() and float() also take full-width and other scripts'
# digits, so "２０２６" would pass as 2026 and slip past the duplicate check as another text.
_NUMBER = re.compile(
    r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)", re.I
)
_YEAR = re.compile(r"[0-9]{4}")

CsvInput = str | Path | bytes | IO[str] | IO[bytes]
#: Key of ``DataFrame.attrs`` under which ``read_figures_csv`` leaves the rows it could not split
#: (a ``ProblemReport``).
READ_PROBLEMS = "fraudcast_read_problems"
WRONG_FIELD_COUNT = "rows with the wrong number of fields"
DUPLICATE = "duplicate figures (a series and year given twice)"
UNKNOWN_SERIES = "unknown series"
#: A figure over this many times the largest published figure of its series, or under the
#: smallest positive one divided by it, is refused, in the store as in a what-if: no yearly
#: series moves like that; a unit or a few zeros slipped (the reference corpus' widest move is
#: x111 over ten years). 0 stays allowed: a count can be none.
IMPLAUSIBLE_RISE = 1000.0
#: A figure this many times above or below the published figure of its nearest year on each
#: side is refused too: unit slips come in factors of 1,000 (thousands, millions of yen), and
#: a 1,000x slip on a year whose true figure moved up to 3.3x still stands 300x or more off. The
#: reference corpus' widest one-year move between figures of 10 or more is 67x. Across a break
#: the neighbour is not compared: a new definition may count differently.
SLIP_FACTOR = 300.0
#: The neighbour rule leaves alone a move from or to a figure under this: a new offence's 3
#: cases may become 2,000 the next year.
SLIP_FLOOR = 10.0
#: The unit of series whose figures are whole numbers of cases.
COUNT_UNIT = "count"


@dataclass(frozen=True)
class FigureRange:
    """The smallest positive and the largest published figure of a series, and its published
    figures by year."""

    smallest: float
    largest: float
    by_year: Mapping[int, float] = field(default_factory=dict)

    @classmethod
    def of(cls, by_year: Mapping[int, float]) -> FigureRange:
        """The range of published figures given by year (at least one)."""
        values = list(by_year.values())
        positive = [value for value in values if value > 0]
        return cls(min(positive, default=0.0), max(values), dict(by_year))


def implausible_figure(
    value: float,
    known: FigureRange | None,
    series_id: str,
    year: int | None = None,
    breaks: tuple[int, ...] = (),
    *,
    break_hint: bool = True,
) -> str | None:
    """Why ``value`` cannot be a figure of ``series_id``, whose published figures span
    ``known`` (None when it has none yet); None when it can. Given its ``year``, a value
    ``SLIP_FACTOR`` times off the figure of the nearest year on each side in ``known.by_year``
    (outside the series' definition ``breaks``) cannot either; ``break_hint`` adds how to
    declare a break there (not for a what-if, which changes nothing stored)."""
    if known is None:
        return None
    if known.largest > 0 and value > IMPLAUSIBLE_RISE * known.largest:
        return (
            f"over {IMPLAUSIBLE_RISE:,.0f} times the largest published figure of {series_id} "
            f"({known.largest:,.15g}): no yearly series moves like that; check the number's "
            "unit and zeros"
        )
    if 0 < value < known.smallest / IMPLAUSIBLE_RISE:
        return (
            f"under a {IMPLAUSIBLE_RISE:,.0f}th of the smallest published figure of {series_id} "
            f"({known.smallest:,.15g}): no yearly series moves like that; check the number's "
            "unit and zeros"
        )
    if year is not None:
        return _slipped(value, known.by_year, series_id, year, breaks, break_hint)
    return None


def _slipped(
    value: float,
    by_year: Mapping[int, float],
    series_id: str,
    year: int,
    breaks: tuple[int, ...],
    break_hint: bool,
) -> str | None:
    earlier = max((other for other in by_year if other < year), default=None)
    later = min((other for other in by_year if other > year), default=None)
    neighbours = [
        other
        for other in (earlier, later)
        if other is not None and not any(min(other, year) < b <= max(other, year) for b in breaks)
    ]
    if not neighbours:
        return None
    for other in neighbours:
        small, big = sorted((value, by_year[other]))
        if small < SLIP_FLOOR or big < SLIP_FACTOR * small:
            return None
    nearest = neighbours[0]
    published = by_year[nearest]
    factor = value / published if value > published else published / value
    side = "above" if value > published else "below"
    said = (
        f"{factor:,.0f} times {side} the {nearest} figure of {series_id} ({published:,.15g}): "
        "no yearly series moves like that in a year; check the number's unit and zeros"
    )
    if not break_hint:
        return said
    # the command replaces every break: it names those the series has, and this one
    every = ",".join(str(b) for b in sorted({*breaks, year}))
    return (
        f"{said} (if the definition changed, declare it first: `fraudcast series breaks "
        f"{series_id} {every}`)"
    )


Check = tuple[str, Callable[[str], bool]]


def _size_of(handle: IO[str] | IO[bytes]) -> int | None:
    try:
        return os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


@overload
def read_bounded(handle: IO[bytes], limit: int | None = None) -> bytes: ...
@overload
def read_bounded(handle: IO[str], limit: int | None = None) -> str: ...
def read_bounded(handle: IO[str] | IO[bytes], limit: int | None = None) -> str | bytes:
    """All of ``handle``, or ``FileTooLarge`` if it holds more than ``limit`` bytes.

    ``limit`` defaults to ``FRAUDCAST_MAX_FIGURES_FILE_BYTES``. A file whose size is known is
    refused unread; anything else is refused after ``limit`` + 1 bytes at most.
    """
    limit = StoreSettings().max_figures_file_bytes if limit is None else limit
    size = _size_of(handle)
    if size is not None and size > limit:
        raise FileTooLarge(limit, size)
    content = handle.read(limit + 1)
    if len(content) > limit:
        raise FileTooLarge(limit, size)
    return content


def read_figures_csv(source: CsvInput) -> pd.DataFrame:
    """Read a figures CSV as text only (nothing coerced), indexed by each row's line number.

    Blank lines are skipped; a quoted field spanning lines keeps the line its row starts on.
    A cell that ``figures export`` guarded against spreadsheet formulas (``'=…``) is read as it
    was stored (``unguard_formula``). A file over the size limit raises ``FileTooLarge``; one
    that cannot be read as CSV at all (undecodable bytes, no header) raises ``InvalidFigures``.
    Rows with the wrong number of fields are left out of the frame and kept in
    ``frame.attrs[READ_PROBLEMS]``, so that ``validate_figures`` reports them beside every
    other bad row.
    """
    raw: str | bytes
    if isinstance(source, str | Path):
        with open(source, "rb") as handle:
            raw = read_bounded(handle)
    elif isinstance(source, bytes):
        raw = source
    else:
        raw = read_bounded(source)
    text = raw if isinstance(raw, str) else decoded(raw)
    return _read_text(io.StringIO(text.removeprefix("\ufeff"), newline=""))


#: Files that are not UTF-8 CSV text, by their first bytes, and what they are instead.
_NOT_CSV = {
    b"PK\x03\x04": "the file is a ZIP archive, as an Excel workbook (.xlsx) is, not CSV text",
    b"\xd0\xcf\x11\xe0": "the file is an Excel 97-2003 workbook (.xls), not CSV text",
    # a UTF-16 file had been taken for Shift_JIS
    b"\xff\xfe": "the file is UTF-16 text, as Excel's 'Unicode Text' saves it, not UTF-8",
    b"\xfe\xff": "the file is UTF-16 text, as Excel's 'Unicode Text' saves it, not UTF-8",
}
#: How to write a figures file from a spreadsheet.
SAVE_AS_CSV = "save it from the spreadsheet as 'CSV UTF-8 (comma delimited)' and use that"


def decoded(raw: bytes) -> str:
    """A CSV file's bytes as text (UTF-8, with or without a byte-order mark); raises
    ``InvalidFigures`` naming what the file is when it is not UTF-8 text (a workbook, UTF-16,
    Shift_JIS) and how to save it as CSV."""
    for magic, what in _NOT_CSV.items():
        if raw.startswith(magic):
            raise InvalidFigures([RowProblem(1, "", "", f"{what}: {SAVE_AS_CSV}")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        try:
            raw.decode("cp932")
            why = "it reads as Shift_JIS, Japanese Excel's default for CSV"
        except UnicodeDecodeError:
            why = "it is in another encoding"
        reason = f"the file is not UTF-8 text ({why}): {SAVE_AS_CSV}"
        raise InvalidFigures([RowProblem(line, "", "", reason)]) from None


def _split_thousands(header: list[str], record: list[str]) -> bool:
    """Whether a row has one field too many because its value was written as ``12,479``."""
    if "value" not in header or len(record) < len(header) + 1:
        return False
    at = header.index("value")
    digits = record[at : at + len(record) - len(header) + 1]
    return digits[0].strip().isdigit() and all(
        len(group.strip()) == 3 and group.strip().isdigit() for group in digits[1:]
    )


def _read_text(handle: IO[str]) -> pd.DataFrame:
    reader = csv.reader(handle)
    header: list[str] | None = None
    lines: list[int] = []
    records: list[list[str]] = []
    problems = ProblemReport()
    try:
        while True:
            start_line = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            if not record or all(cell.strip() == "" for cell in record):
                continue
            if header is None:
                header = [name.strip() for name in record]
                continue
            if len(record) != len(header):
                found = f"expected {len(header)} fields like the header, found {len(record)}"
                if _split_thousands(header, record):
                    found += (
                        " (a value written with a thousands separator, 12,479, splits in two: "
                        "write 12479)"
                    )
                problems.add(RowProblem(start_line, "", "", found, kind=WRONG_FIELD_COUNT))
                continue
            lines.append(start_line)
            records.append([unguard_formula(cell) for cell in record])
    except csv.Error as error:
        problems.add(RowProblem(reader.line_num, "", "", f"unreadable CSV: {error}"))
        raise InvalidFigures(problems) from None
    if header is None:
        raise InvalidFigures([RowProblem(1, "", "", "the file is empty: expected a header row")])
    frame = pd.DataFrame(records, columns=header, index=pd.Index(lines, name="line"), dtype=object)
    frame.attrs[READ_PROBLEMS] = problems
    return frame


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as stripped text; missing cells become empty strings."""

    def cell_text(cell: object) -> str:
        if cell is None or (isinstance(cell, float) and math.isnan(cell)) or cell is pd.NA:
            return ""
        return str(cell).strip()

    return frame.apply(lambda column: column.map(cell_text)).astype(object)


def _line_numbers(frame: pd.DataFrame) -> pd.Index:
    """CSV line numbers of the rows: the ``line`` index from ``read_figures_csv``, else row + 2."""
    if frame.index.name == "line":
        return pd.Index([int(line) for line in frame.index], name="line")
    return pd.Index(range(2, len(frame) + 2), name="line")


def _is_number(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text))


def _is_year(text: str, last_year: int) -> bool:
    return bool(_YEAR.fullmatch(text)) and FIRST_YEAR <= int(text) <= last_year


def _element_checks(
    known_series: Mapping[str, SeriesInfo], last_year: int
) -> dict[str, list[Check]]:
    """Per column, (reason, passes) pairs; each reason covers exactly one way a cell goes wrong."""

    def required(column: str, how: str = "") -> Check:
        return (f"{column} is required{f' ({how})' if how else ''}", lambda text: text != "")

    return {
        "series_id": [required("series_id")],
        "year": [
            required("year"),
            (
                f"year must be a whole number between {FIRST_YEAR} and {last_year}",
                lambda text: text == "" or _is_year(text, last_year),
            ),
        ],
        "value": [
            # a blank value reads as a year left missing, which is done by leaving out its row
            required("value", "to leave a year missing, leave out its row: gaps are fine"),
            (
                "value must be a plain number in ASCII digits, e.g. 12479, 2.5 or 2.78e10 (no "
                "thousands separators or units)",
                lambda text: text == "" or _is_number(text),
            ),
            (
                "value must be finite",
                lambda text: not _is_number(text) or math.isfinite(float(text)),
            ),
            (
                "value must be >= 0",
                lambda text: not _is_number(text) or not float(text) < 0,
            ),
        ],
        "unit": [required("unit")],
        "source_publisher": [
            ("every figure needs a source: source_publisher is required", lambda t: t != "")
        ],
        "source_title": [
            ("every figure needs a source: source_title is required", lambda t: t != "")
        ],
        "source_url": [
            (
                "source_url must start with http:// or https:// (or be left empty)",
                lambda text: text == "" or text.startswith(("http://", "https://")),
            )
        ],
        "accessed_via": [
            (
                f"accessed_via must be one of {', '.join(ACCESS_MODES)}",
                lambda text: text in ACCESS_MODES,
            )
        ],
    }


def _column_problems(text: pd.DataFrame) -> list[RowProblem]:
    names = [str(name) for name in text.columns]
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        separator = "';'" if ";" in names[0] else "tabs"
        reason = (
            f"the header is separated by {separator}, not commas: {SAVE_AS_CSV} (in a "
            "spreadsheet set to use ',' as decimal mark, choose the comma-delimited format)"
        )
        return [RowProblem(1, "", cut(names[0], 40), reason)]
    # a column named in other letter case ("Series_ID") is that column, misspelt
    cased = {name.strip().lower(): name for name in names if name not in FIGURE_COLUMNS}
    present = set(names)
    required = [name for name in FIGURE_COLUMNS if name not in OPTIONAL_COLUMNS]
    problems = [
        RowProblem(1, name, "", "required column is missing from the header")
        for name in required
        if name not in present and name not in cased
    ]
    expected = ", ".join(FIGURE_COLUMNS)
    for name in names:
        if name in FIGURE_COLUMNS:
            continue
        lower = name.strip().lower()
        reason = (
            f"column names are lower case: write {lower!r}"
            if lower in FIGURE_COLUMNS
            else f"unknown column (expected: {expected})"
        )
        problems.append(RowProblem(1, name, "", reason))
    return problems


def _check_cells(
    text: pd.DataFrame, checks: Mapping[str, list[Check]], report: ProblemReport
) -> None:
    """Every failed check of every cell, column by column and line by line."""
    lines = [int(line) for line in text.index]
    for column, column_checks in checks.items():
        for line, cell in zip(lines, text[column].tolist(), strict=True):
            for reason, passes in column_checks:
                if not passes(cell):
                    report.add(RowProblem(line, column, cell, reason))


def _check_rows(
    text: pd.DataFrame,
    known_series: Mapping[str, SeriesInfo],
    last_year: int,
    report: ProblemReport,
) -> None:
    """Wrong units and duplicate figures; only rows of a known series and a valid year can
    be duplicates, so a reason names nothing but a known series and a year."""
    first_line_of: dict[tuple[str, str], int] = {}
    columns = [text[name].tolist() for name in ("series_id", "year", "unit")]
    for line, series_id, year, unit in zip(text.index, *columns, strict=True):
        series = known_series.get(series_id)
        if series is None:
            if series_id:
                reason = _unknown_series(series_id, known_series)
                report.add(RowProblem(int(line), "series_id", series_id, reason, UNKNOWN_SERIES))
            continue
        if unit and canonical_unit(unit).lower() != series.unit.lower():
            reason = f"unit must be {series.unit!r} for series {series.id}"
            report.add(RowProblem(int(line), "unit", unit, reason))
        if not _is_year(year, last_year):
            continue
        first = first_line_of.setdefault((series.id, year), int(line))
        if first != line:
            reason = f"duplicate figure for {series.id} {year}"
            report.add(RowProblem(int(line), "year", year, reason, DUPLICATE, earlier=first))


def _unknown_series(series_id: str, known_series: Mapping[str, SeriesInfo]) -> str:
    close = closest_series(series_id[:100], known_series)
    if close:
        return (
            f"unknown series: did you mean {close}? A new series is registered first "
            "(`fraudcast series add`)"
        )
    return (
        "unknown series: register it first (`fraudcast series add`); `fraudcast series list` "
        "shows the known ones"
    )


def _check_values(
    text: pd.DataFrame,
    known_series: Mapping[str, SeriesInfo],
    ranges: Mapping[str, FigureRange],
    report: ProblemReport,
) -> None:
    """Values a series cannot take: a fraction of a count, or a rise or fall no yearly series
    makes (checked only where the value itself is a valid number of a known series)."""
    columns = [text[name].tolist() for name in ("series_id", "year", "value")]
    rows = [
        (int(line), series_id, int(year) if _YEAR.fullmatch(year) else None, cell)
        for line, series_id, year, cell in zip(text.index, *columns, strict=True)
    ]
    # each figure is set against its neighbours as they will stand: stored ones, or the
    # file's own where it gives them (a file correcting a slipped year, a new series' first)
    given: dict[str, dict[int, float]] = {}
    for _, series_id, year, cell in rows:
        if year is not None and _is_number(cell) and math.isfinite(float(cell)):
            given.setdefault(series_id, {})[year] = float(cell)
    standing: dict[str, FigureRange] = {}
    for series_id, figures in given.items():
        base = ranges.get(series_id) or FigureRange(0.0, 0.0)
        standing[series_id] = replace(base, by_year={**base.by_year, **figures})
    for line, series_id, given_year, cell in rows:
        series = known_series.get(series_id)
        if series is None or not _is_number(cell) or not math.isfinite(value := float(cell)):
            continue
        if series.unit == COUNT_UNIT and value != round(value):
            reason = f"{series.id} counts cases ({COUNT_UNIT}): value must be a whole number"
            report.add(RowProblem(line, "value", cell, reason))
        stored = ranges.get(series.id)
        if stored is not None and stored.by_year.get(given_year or -1) == value:
            given_year = None  # stored already as given (an export added back): nothing moves
        known = standing.get(series.id, stored)
        implausible = implausible_figure(value, known, series.id, given_year, series.breaks)
        if implausible:  # one kind, however many numbers the reasons quote
            kind = f"implausible value of {series.id}"
            report.add(RowProblem(line, "value", cell, f"value is {implausible}", kind=kind))


def validate_figures(
    frame: pd.DataFrame,
    known_series: Mapping[str, SeriesInfo],
    ranges: Mapping[str, FigureRange] | None = None,
) -> pd.DataFrame:
    """Check a figures frame and return it cleaned and typed, or raise ``InvalidFigures``.

    ``ranges`` holds the span of the stored figures of each series that has any; a figure
    ``IMPLAUSIBLE_RISE`` times beyond it is refused (``implausible_figure``).

    The returned frame has exactly ``FIGURE_COLUMNS`` in order: ``year`` int64, ``value`` float64,
    every other column stripped text with empty strings for missing optional cells.
    """
    report = ProblemReport()
    read_problems: ProblemReport | None = frame.attrs.get(READ_PROBLEMS)
    if read_problems is not None:
        report.merge(read_problems)
    text = _as_text(frame)
    text.index = _line_numbers(frame)
    report.extend(_column_problems(text))
    if any(name not in text.columns for name in set(FIGURE_COLUMNS) - OPTIONAL_COLUMNS):
        raise InvalidFigures(report)
    for name in OPTIONAL_COLUMNS - set(text.columns):
        text[name] = ""
    text = text[list(FIGURE_COLUMNS)]
    if text.empty and not report:
        raise InvalidFigures([RowProblem(1, "", "", "the file holds no figures")])
    last_year = datetime.now(UTC).year
    _check_cells(text, _element_checks(known_series, last_year), report)
    _check_rows(text, known_series, last_year, report)
    _check_values(text, known_series, ranges or {}, report)
    report.raise_if_any()
    cleaned = text.reset_index(drop=True)
    cleaned["year"] = cleaned["year"].astype("int64")
    cleaned["value"] = cleaned["value"].astype("float64")
    for name in FIGURE_COLUMNS:
        if name not in ("year", "value"):
            cleaned[name] = cleaned[name].astype(object)
    return cleaned
