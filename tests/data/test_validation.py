"""Every way a figures file is refused names the line, the column and the reason."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.canonical import FIGURE_COLUMNS, format_value
from data.errors import InvalidFigures
from data.records import SeriesInfo
from data.validation import read_figures_csv, validate_figures
from tests.data.conftest import GOOD_ROW, WriteFigures, row

KNOWN = {
    "jp_ib_transfer_cases": SeriesInfo("jp_ib_transfer_cases", "IB transfer cases", "count"),
    "jp_ib_transfer_losses_jpy": SeriesInfo("jp_ib_transfer_losses_jpy", "IB losses", "JPY"),
}
NEXT_YEAR = str(datetime.now(UTC).year + 1)


def rejection(write_figures: WriteFigures, rows: list[dict[str, str]]) -> InvalidFigures:
    frame = read_figures_csv(write_figures(rows))
    with pytest.raises(InvalidFigures) as caught:
        validate_figures(frame, KNOWN)
    return caught.value


@pytest.mark.parametrize(
    ("bad_cell", "column", "reason"),
    [
        ({"series_id": ""}, "series_id", "series_id is required"),
        ({"series_id": "jp_nonexistent"}, "series_id", "unknown series: register it first"),
        # a typo of a known id is named with the id it was likely meant to be
        ({"series_id": "jp_ib_transfer_case"}, "series_id", "did you mean jp_ib_transfer_cases?"),
        ({"year": ""}, "year", "year is required"),
        ({"year": "20x4"}, "year", "year must be a whole number between 1900"),
        ({"year": "2024.5"}, "year", "year must be a whole number between 1900"),
        ({"year": "1899"}, "year", "year must be a whole number between 1900"),
        ({"year": NEXT_YEAR}, "year", "year must be a whole number between 1900"),
        # a blank is no way to leave a year missing: the message says what is
        ({"value": ""}, "value", "value is required (to leave a year missing, leave out its row"),
        ({"value": "lots"}, "value", "value must be a plain number"),
        ({"value": "4,369"}, "value", "no thousands separators"),
        ({"value": "nan"}, "value", "value must be finite"),
        ({"value": "inf"}, "value", "value must be finite"),
        ({"value": "-1"}, "value", "value must be >= 0"),
        ({"unit": ""}, "unit", "unit is required"),
        ({"unit": "JPY"}, "unit", "unit must be 'count' for series jp_ib_transfer_cases"),
        ({"source_publisher": ""}, "source_publisher", "every figure needs a source"),
        ({"source_title": "  "}, "source_title", "every figure needs a source"),
        ({"accessed_via": "guessed"}, "accessed_via", "accessed_via must be one of primary"),
        ({"source_url": "www.npa.go.jp"}, "source_url", "must start with http"),
    ],
)
def test_each_bad_cell_is_reported_with_line_column_and_reason(
    write_figures: WriteFigures, bad_cell: dict[str, str], column: str, reason: str
) -> None:
    good = row(year="2021")
    error = rejection(write_figures, [good, row(**bad_cell)])

    assert len(error.problems) == 1
    [problem] = error.problems
    assert (problem.line, problem.column) == (3, column)
    assert reason in problem.reason
    assert f"line 3, column {column}: " in str(error)


@pytest.mark.parametrize(
    ("bad_cell", "reason"),
    [
        ({"year": "２０２４"}, "year must be a whole number"),  # full-width
        ({"year": "٢٠٢٤"}, "year must be a whole number"),  # Arabic-Indic
        ({"year": "२०२४"}, "year must be a whole number"),  # Devanagari
        ({"value": "４３６９"}, "value must be a plain number"),
        ({"value": "٤٣٦٩"}, "value must be a plain number"),
        ({"value": "4369e٣"}, "value must be a plain number"),
    ],
)
def test_years_and_values_take_ascii_digits_only(
    write_figures: WriteFigures, bad_cell: dict[str, str], reason: str
) -> None:
    error = rejection(write_figures, [row(year="2021"), row(**bad_cell)])

    [problem] = error.problems
    assert problem.line == 3 and reason in problem.reason


def test_every_bad_row_is_listed_not_just_the_first(write_figures: WriteFigures) -> None:
    rows = [
        row(year="2019", value="-5"),
        row(year="2020"),
        row(year="2021", accessed_via="rumour"),
        row(year="2022", series_id="jp_ib_transfer_losses_jpy"),
    ]
    error = rejection(write_figures, rows)

    assert [(p.line, p.column) for p in error.problems] == [
        (2, "value"),
        (4, "accessed_via"),
        (5, "unit"),
    ]
    assert str(error).count("\n  line ") == 3


def test_a_bad_cell_is_quoted_only_as_a_short_escaped_excerpt(write_figures: WriteFigures) -> None:
    long_cell = "4369 yen " + "x" * 500 + "\nrm -rf ~"
    error = rejection(write_figures, [row(value=long_cell, series_id="jp_" + "y" * 300)])

    message = str(error)
    assert [p.column for p in error.problems] == ["series_id", "value"]
    assert "x" * 41 not in message and "y" * 41 not in message
    assert "\nrm" not in message  # no line of a report is the file's own text
    assert "(value '4369 yen xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…')" in message


def test_duplicate_series_year_names_both_lines(write_figures: WriteFigures) -> None:
    error = rejection(write_figures, [row(), row(year="2023"), row(value="4400")])

    [problem] = error.problems
    assert problem.line == 4
    assert (
        "line 4, column year: duplicate figure for jp_ib_transfer_cases 2024, first on line 2"
        in str(error)
    )


def test_missing_required_column_is_reported_on_the_header_line(
    write_figures: WriteFigures,
) -> None:
    columns = [name for name in FIGURE_COLUMNS if name != "source_title"]
    frame = read_figures_csv(write_figures([GOOD_ROW], columns=columns))

    with pytest.raises(InvalidFigures) as caught:
        validate_figures(frame, KNOWN)
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (1, "source_title")
    assert "required column is missing" in problem.reason


def test_unknown_column_is_refused_so_a_typo_loses_nothing(write_figures: WriteFigures) -> None:
    frame = read_figures_csv(write_figures([GOOD_ROW])).assign(sorce_url="x")

    with pytest.raises(InvalidFigures, match="line 1, column sorce_url: unknown column"):
        validate_figures(frame, KNOWN)


def test_optional_columns_may_be_left_out(write_figures: WriteFigures) -> None:
    columns = [name for name in FIGURE_COLUMNS if name not in ("source_url", "note")]
    frame = read_figures_csv(write_figures([GOOD_ROW], columns=columns))

    cleaned = validate_figures(frame, KNOWN)
    assert list(cleaned.columns) == list(FIGURE_COLUMNS)
    assert cleaned.loc[0, "source_url"] == "" and cleaned.loc[0, "note"] == ""


def test_ragged_rows_are_refused_with_their_lines() -> None:
    text = ",".join(FIGURE_COLUMNS) + "\njp_ib_transfer_cases,2024,1\n" + "a,b\n"

    with pytest.raises(InvalidFigures) as caught:
        validate_figures(read_figures_csv(io.StringIO(text)), KNOWN)
    assert [p.line for p in caught.value.problems] == [2, 3]
    assert "expected 9 fields like the header, found 3" in str(caught.value)
    assert "holds no figures" not in str(caught.value)


def test_a_row_with_the_wrong_number_of_fields_does_not_hide_the_other_bad_rows() -> None:
    good = "jp_ib_transfer_cases,{},5578,count,NPA,Report,,primary,"
    lines = [
        ",".join(FIGURE_COLUMNS),
        good.format(2019).replace(",5578,", ",-1,"),
        "jp_ib_transfer_cases,2020,1",
        good.format(2021).replace("primary", "rumour"),
        good.format(2022) + ",extra",
        good.format(2023),
    ]

    with pytest.raises(InvalidFigures) as caught:
        validate_figures(read_figures_csv(io.StringIO("\n".join(lines) + "\n")), KNOWN)
    assert [(p.line, p.column) for p in caught.value.problems] == [
        (2, "value"),
        (3, ""),
        (4, "accessed_via"),
        (5, ""),
    ]


@pytest.mark.parametrize("text", ["", ",".join(FIGURE_COLUMNS) + "\n"])
def test_empty_files_are_refused(text: str) -> None:
    with pytest.raises(InvalidFigures, match=r"empty|no figures"):
        validate_figures(read_figures_csv(io.StringIO(text)), KNOWN)


def test_line_numbers_count_blank_lines_and_multi_line_notes() -> None:
    header = ",".join(FIGURE_COLUMNS)
    good = "jp_ib_transfer_cases,2023,5578,count,NPA,Report,,primary"
    text = f'{header}\n{good},"first line\nsecond line"\n\n{good.replace("2023", "2024")},\n'
    frame = read_figures_csv(io.StringIO(text.replace(",5578,", ",-1,", 1)))

    assert list(frame.index) == [2, 5]
    with pytest.raises(InvalidFigures) as caught:
        validate_figures(frame, KNOWN)
    assert [(p.line, p.column) for p in caught.value.problems] == [(2, "value")]


def test_reading_coerces_nothing(write_figures: WriteFigures) -> None:
    frame = read_figures_csv(write_figures([row(value="004369", note="NA")]))

    assert frame.loc[2, "value"] == "004369"
    assert frame.loc[2, "note"] == "NA"
    assert frame.index.name == "line"


def test_bytes_with_a_byte_order_mark_are_read(write_figures: WriteFigures) -> None:
    raw = b"\xef\xbb\xbf" + write_figures([GOOD_ROW]).read_bytes()

    cleaned = validate_figures(read_figures_csv(io.BytesIO(raw)), KNOWN)
    assert cleaned.loc[0, "series_id"] == "jp_ib_transfer_cases"


def test_cleaned_frame_is_typed(write_figures: WriteFigures) -> None:
    cleaned = validate_figures(read_figures_csv(write_figures([row(value=" 4369 ")])), KNOWN)

    assert cleaned["year"].dtype == "int64"
    assert cleaned["value"].dtype == "float64"
    assert cleaned.loc[0, "value"] == 4369.0


@settings(max_examples=30, deadline=None)
@given(value=st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False))
def test_any_finite_non_negative_value_is_accepted_exactly(value: float) -> None:
    money = {"series_id": "jp_ib_transfer_losses_jpy", "unit": "JPY"}
    frame = pd.DataFrame([{**GOOD_ROW, **money, "value": format_value(value)}])

    cleaned = validate_figures(frame, KNOWN)
    assert cleaned.loc[0, "value"] == value


@settings(max_examples=30, deadline=None)
@given(year=st.integers(min_value=-5000, max_value=1899) | st.integers(min_value=2100))
def test_years_outside_the_range_are_refused(year: int) -> None:
    frame = pd.DataFrame([{**GOOD_ROW, "year": str(year)}])

    with pytest.raises(InvalidFigures, match="year must be a whole number"):
        validate_figures(frame, KNOWN)


def test_a_file_that_is_not_utf8_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "shift_jis.csv"
    path.write_bytes((",".join(FIGURE_COLUMNS) + "\n警察庁\n").encode("shift_jis"))

    with pytest.raises(InvalidFigures, match="not UTF-8 text") as caught:
        read_figures_csv(path)
    # Japanese Excel's default is named, with what to do
    assert "it reads as Shift_JIS, Japanese Excel's default for CSV): save it from the " in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"PK\x03\x04\x14\x00junk", "the file is a ZIP archive, as an Excel workbook (.xlsx) is"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1junk", "the file is an Excel 97-2003 workbook (.xls)"),
        # a UTF-16 file had been taken for Shift_JIS
        ("\ufeffseries_id\n".encode("utf-16-le"), "the file is UTF-16 text, as Excel's"),
        (
            (";".join(FIGURE_COLUMNS) + "\n").encode(),
            "the header is separated by ';', not commas: save it from the spreadsheet as 'CSV",
        ),
    ],
)
def test_a_workbook_or_a_semicolon_file_is_named_for_what_it_is(
    tmp_path: Path, content: bytes, said: str
) -> None:
    path = tmp_path / "figures.csv"
    path.write_bytes(content + ("\n" + ";".join(GOOD_ROW.values())).encode())

    with pytest.raises(InvalidFigures) as caught:
        validate_figures(read_figures_csv(path), KNOWN)
    assert caught.value.total == 1  # one reason, not one per column
    assert said in caught.value.problems[0].reason


def test_capitalised_column_names_and_a_thousands_separator_are_named(
    write_figures: WriteFigures,
) -> None:
    header = ",".join(name.title() if name == "series_id" else name for name in FIGURE_COLUMNS)
    row_cells = [GOOD_ROW[name] for name in FIGURE_COLUMNS]
    row_cells[FIGURE_COLUMNS.index("value")] = "12,479"
    path = write_figures([])
    path.write_text(header + "\n" + ",".join(row_cells) + "\n")

    with pytest.raises(InvalidFigures) as caught:
        validate_figures(read_figures_csv(path), KNOWN)
    reasons = [problem.reason for problem in caught.value.problems]
    assert "column names are lower case: write 'series_id'" in reasons
    assert not any("required column" in reason for reason in reasons)
    assert any(reason.endswith("splits in two: write 12479)") for reason in reasons)


def test_a_file_of_slipped_figures_lists_the_first_few_and_counts_the_rest(
    write_figures: WriteFigures,
) -> None:
    """102 figures alternating 2,000 and 2,000,000 printed every "1,000 times above" line
    (1,063 for a 20 MB file): each quoted other numbers, so each counted as its own kind."""
    from data.errors import PROBLEMS_PER_KIND

    rows = [
        row(year=str(year), value="2000" if year % 2 else "2000000") for year in range(1900, 2002)
    ]
    caught = rejection(write_figures, rows)
    assert caught.total == 102  # each is 1,000 times off its neighbours
    assert len(caught.problems) == PROBLEMS_PER_KIND
    assert all("times" in problem.reason for problem in caught.problems)
