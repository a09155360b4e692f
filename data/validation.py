"""The one validation of figures, shared by the CLI and the HTTP API: every bad row, at once."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pandas as pd
import pandera.pandas as pa

from data.canonical import ACCESS_MODES, FIGURE_COLUMNS, OPTIONAL_COLUMNS
from data.errors import InvalidFigures, RowProblem
from data.records import SeriesInfo

FIRST_YEAR = 1900
# ASCII digits only: Python's \d, int() and float() also take full-width and other scripts'
# digits, so "２０２６" would pass as 2026 and slip past the duplicate check as another text.
_NUMBER = re.compile(
    r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)", re.I
)
_YEAR = re.compile(r"[0-9]{4}")

CsvInput = str | Path | IO[str] | IO[bytes]
#: Key of ``DataFrame.attrs`` under which ``read_figures_csv`` leaves the rows it could not split.
READ_PROBLEMS = "fraudcast_read_problems"


def read_figures_csv(path_or_buffer: CsvInput) -> pd.DataFrame:
    """Read a figures CSV as text only (nothing coerced), indexed by each row's line number.

    Blank lines are skipped; a quoted field spanning lines keeps the line its row starts on.
    A file that cannot be read as CSV at all (undecodable bytes, no header) raises
    ``InvalidFigures``. Rows with the wrong number of fields are left out of the frame and
    kept in ``frame.attrs[READ_PROBLEMS]``, so that ``validate_figures`` reports them beside
    every other bad row.
    """
    if isinstance(path_or_buffer, str | Path):
        with open(path_or_buffer, encoding="utf-8-sig", newline="") as handle:
            return _read_text(handle)
    if isinstance(path_or_buffer, io.TextIOBase):
        return _read_text(path_or_buffer)
    raw = path_or_buffer.read()
    if isinstance(raw, str):
        return _read_text(io.StringIO(raw, newline=""))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise InvalidFigures([RowProblem(line, "", "", "the file is not UTF-8 text")]) from None
    return _read_text(io.StringIO(text, newline=""))


def _read_text(handle: IO[str]) -> pd.DataFrame:
    reader = csv.reader(handle)
    header: list[str] | None = None
    lines: list[int] = []
    records: list[list[str]] = []
    problems: list[RowProblem] = []
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
                problems.append(
                    RowProblem(
                        start_line,
                        "",
                        "",
                        f"expected {len(header)} fields like the header, found {len(record)}",
                    )
                )
                continue
            lines.append(start_line)
            records.append(record)
    except UnicodeDecodeError:
        raise InvalidFigures(
            [*problems, RowProblem(reader.line_num + 1, "", "", "the file is not UTF-8 text")]
        ) from None
    except csv.Error as error:
        unreadable = RowProblem(reader.line_num, "", "", f"unreadable CSV: {error}")
        raise InvalidFigures([*problems, unreadable]) from None
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
) -> dict[str, list[tuple[str, Callable[[str], bool]]]]:
    """Per column, (reason, passes) pairs; each reason covers exactly one way a cell goes wrong."""

    def required(column: str) -> tuple[str, Callable[[str], bool]]:
        return (f"{column} is required", lambda text: text != "")

    return {
        "series_id": [
            required("series_id"),
            (
                "unknown series: add its metadata first (`fraudcast series add`)",
                lambda text: text == "" or text in known_series,
            ),
        ],
        "year": [
            required("year"),
            (
                f"year must be a whole number between {FIRST_YEAR} and {last_year}",
                lambda text: text == "" or _is_year(text, last_year),
            ),
        ],
        "value": [
            required("value"),
            (
                "value must be a plain number (digits only: no thousands separators or units)",
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


def _schema(known_series: Mapping[str, SeriesInfo], last_year: int) -> pa.DataFrameSchema:
    columns = {
        name: pa.Column(
            object,
            checks=[pa.Check(passes, element_wise=True, error=reason) for reason, passes in checks],
            nullable=False,
        )
        for name, checks in _element_checks(known_series, last_year).items()
    }
    columns["note"] = pa.Column(object, nullable=False)
    return pa.DataFrameSchema(columns, strict=False)


def _column_problems(text: pd.DataFrame) -> list[RowProblem]:
    present = set(text.columns)
    required = [name for name in FIGURE_COLUMNS if name not in OPTIONAL_COLUMNS]
    problems = [
        RowProblem(1, name, "", "required column is missing from the header")
        for name in required
        if name not in present
    ]
    expected = ", ".join(FIGURE_COLUMNS)
    problems += [
        RowProblem(1, str(name), "", f"unknown column (expected: {expected})")
        for name in text.columns
        if name not in FIGURE_COLUMNS
    ]
    return problems


def _schema_problems(text: pd.DataFrame, schema: pa.DataFrameSchema) -> list[RowProblem]:
    try:
        schema.validate(text, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return [
            RowProblem(int(case.index), str(case.column), str(case.failure_case), str(case.check))
            for case in cases.itertuples(index=False)
            if case.index is not None and not pd.isna(case.index)
        ]
    return []


def _cross_column_problems(
    text: pd.DataFrame, known_series: Mapping[str, SeriesInfo], last_year: int
) -> list[RowProblem]:
    """Wrong units and duplicate figures; only rows of a known series and a valid year can
    be duplicates, so a reason names nothing but a known series and a year."""
    problems = []
    first_line_of: dict[tuple[str, str], int] = {}
    for line, row in text.iterrows():
        series = known_series.get(row["series_id"])
        if series is None:
            continue
        if row["unit"] not in ("", series.unit):
            reason = f"unit must be {series.unit!r} for series {series.id}"
            problems.append(RowProblem(int(line), "unit", row["unit"], reason))  # type: ignore[call-overload]
        if not _is_year(row["year"], last_year):
            continue
        key = (series.id, row["year"])
        if key in first_line_of:
            first = first_line_of[key]
            reason = f"duplicate figure for {key[0]} {key[1]}: already given on line {first}"
            problems.append(RowProblem(int(line), "year", row["year"], reason))  # type: ignore[call-overload]
        first_line_of.setdefault(key, int(line))  # type: ignore[call-overload]
    return problems


def validate_figures(frame: pd.DataFrame, known_series: Mapping[str, SeriesInfo]) -> pd.DataFrame:
    """Check a figures frame and return it cleaned and typed, or raise ``InvalidFigures``.

    The returned frame has exactly ``FIGURE_COLUMNS`` in order: ``year`` int64, ``value`` float64,
    every other column stripped text with empty strings for missing optional cells.
    """
    read_problems: list[RowProblem] = list(frame.attrs.get(READ_PROBLEMS, []))
    text = _as_text(frame)
    text.index = _line_numbers(frame)
    problems = read_problems + _column_problems(text)
    if any(problem.reason.startswith("required column") for problem in problems):
        raise InvalidFigures(problems)
    for name in OPTIONAL_COLUMNS - set(text.columns):
        text[name] = ""
    text = text[list(FIGURE_COLUMNS)]
    if text.empty and not read_problems:
        raise InvalidFigures([*problems, RowProblem(1, "", "", "the file holds no figures")])
    last_year = datetime.now(UTC).year
    problems += _schema_problems(text, _schema(known_series, last_year))
    problems += _cross_column_problems(text, known_series, last_year)
    if problems:
        raise InvalidFigures(problems)
    cleaned = text.reset_index(drop=True)
    cleaned["year"] = cleaned["year"].astype("int64")
    cleaned["value"] = cleaned["value"].astype("float64")
    for name in FIGURE_COLUMNS:
        if name not in ("year", "value"):
            cleaned[name] = cleaned[name].astype(object)
    return cleaned
