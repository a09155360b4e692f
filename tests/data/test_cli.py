"""The `fraudcast figures` and `fraudcast series` commands, as a user runs them."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from pathlib import Path

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from data.bundled import BUNDLED_FIGURES
from data.canonical import FORMULA_STARTS, guard_formula, unguard_formula
from data.store import FigureStore
from serving.commands import figures as figures_commands
from tests.data.conftest import WriteFigures, row

FIGURE_ROW = re.compile(r"^│ [a-z_]+ +│ \d{4} │")


@pytest.fixture
def app() -> typer.Typer:
    """Only this group's commands, so the tests do not depend on other command groups."""
    application = typer.Typer()
    figures_commands.register(application)
    return application


@pytest.fixture
def runner() -> CliRunner:
    """A terminal wide enough that one figure's row stays on one line."""
    return CliRunner(env={"COLUMNS": "200"})


def test_list_shows_the_bundled_figures_with_their_sources(
    app: typer.Typer, runner: CliRunner
) -> None:
    result = runner.invoke(app, ["figures", "list", "jp_cybercrime_cleared"])

    assert result.exit_code == 0, result.output
    line_2018 = next(line for line in result.stdout.splitlines() if "2018" in line)
    assert "9040" in line_2018
    assert "Japan Times (seed 000)" in line_2018
    assert "seed" in line_2018


def test_seed_says_what_it_did(app: typer.Typer, runner: CliRunner) -> None:
    first = runner.invoke(app, ["figures", "seed"])
    second = runner.invoke(app, ["figures", "seed"])

    assert first.exit_code == 0 and second.exit_code == 0
    assert "Seeded 11 series and 116 figures (revision 1)" in first.stdout
    assert "Already seeded" in second.stdout


def test_raw_export_of_a_fresh_store_is_the_bundled_file(
    app: typer.Typer, runner: CliRunner
) -> None:
    result = runner.invoke(app, ["figures", "export", "--raw"])

    assert result.exit_code == 0
    assert result.stdout_bytes == BUNDLED_FIGURES.read_bytes()


def test_export_neutralises_cells_a_spreadsheet_would_run_as_formulas(
    app: typer.Typer, runner: CliRunner, write_figures: WriteFigures
) -> None:
    notes = {"2010": '=HYPERLINK("http://x","y")', "2011": "@SUM(1)", "2012": "-2+3"}
    path = write_figures([row(year=year, value="100", note=note) for year, note in notes.items()])
    assert runner.invoke(app, ["figures", "add", str(path)]).exit_code == 0

    exported = runner.invoke(app, ["figures", "export"]).stdout
    rows = {(r["series_id"], r["year"]): r for r in csv.DictReader(io.StringIO(exported))}

    assert {year: rows["jp_ib_transfer_cases", year]["note"] for year in notes} == {
        year: "'" + note for year, note in notes.items()
    }
    assert rows["jp_ib_transfer_cases", "2012"]["value"] == "100"  # numbers stay numbers
    # A bundled note that a spreadsheet would otherwise read as the formula "+51.9%...":
    assert rows["jp_cybercrime_cleared", "2005"]["note"].startswith("'+51.9% on 2004.")


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="'=+-@\t\rab1 ", max_size=8))
def test_the_formula_guard_is_undone_exactly_on_import(text: str) -> None:
    guarded = guard_formula(text)

    assert not guarded.startswith(FORMULA_STARTS)
    assert unguard_formula(guarded) == text


def test_export_then_add_is_a_no_op(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    exported = tmp_path / "cybercrime.csv"
    exported.write_bytes(
        runner.invoke(app, ["figures", "export", "jp_cybercrime_cleared"]).stdout_bytes
    )

    result = runner.invoke(app, ["figures", "add", str(exported)])

    assert result.exit_code == 0
    assert "No change: all 23 figures are already in the store" in result.stdout
    assert len(FigureStore.from_settings().revisions()) == 1


def test_add_reports_the_revision_and_history_shows_both_values(
    app: typer.Typer, runner: CliRunner, write_figures: WriteFigures
) -> None:
    path = write_figures(
        [row(series_id="jp_cybercrime_cleared", year="2018", value="9041", note="FINAL (確定値)")]
    )

    added = runner.invoke(app, ["figures", "add", str(path), "--message", "NPA restated 2018"])
    history = runner.invoke(app, ["figures", "history", "jp_cybercrime_cleared", "2018"])

    assert added.exit_code == 0
    assert "Revision 2: 0 added, 1 changed, 0 unchanged (jp_cybercrime_cleared)" in added.stdout
    # what retrains the series next is said
    assert "run `fraudcast train -s jp_cybercrime_cleared`" in " ".join(added.stdout.split())
    assert history.exit_code == 0
    assert "9040" in history.stdout and "9041" in history.stdout
    assert "NPA restated 2018" in history.stdout
    assert "FINAL (確定値)" in history.stdout  # preliminary or final shows in the history


def test_a_bad_file_fails_listing_every_bad_row_and_writes_nothing(
    app: typer.Typer, runner: CliRunner, write_figures: WriteFigures
) -> None:
    path = write_figures([row(year="2023"), row(value="-1"), row(year="2025", accessed_via="")])

    result = runner.invoke(app, ["figures", "add", str(path)])

    assert result.exit_code == 1
    assert "nothing was written" in result.stderr
    assert "line 3, column value: value must be >= 0" in result.stderr
    assert "line 4, column accessed_via: accessed_via must be one of" in result.stderr
    assert len(FigureStore.from_settings().revisions()) == 1


def test_a_year_in_full_width_digits_is_a_bad_row_not_a_database_error(
    app: typer.Typer, runner: CliRunner, write_figures: WriteFigures
) -> None:
    path = write_figures([row(year="2024"), row(year="２０２４", value="4400")])

    result = runner.invoke(app, ["figures", "add", str(path)])

    assert result.exit_code == 1
    assert "line 3, column year: year must be a whole number" in result.stderr
    assert "IntegrityError" not in result.output
    assert len(FigureStore.from_settings().revisions()) == 1


def test_a_store_failure_during_add_is_one_clear_line_quoting_no_rows(
    app: typer.Typer,
    runner: CliRunner,
    write_figures: WriteFigures,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_figures([row(note="private remark")])

    def disk_fails(self: FigureStore, frame: object, **kwargs: object) -> None:
        cause = sqlite3.OperationalError("disk I/O error")
        raise OperationalError("INSERT INTO figures ...", [("private remark",)], cause)

    monkeypatch.setattr(FigureStore, "add_figures", disk_fails)
    result = runner.invoke(app, ["figures", "add", str(path)])

    assert result.exit_code == 1
    assert "Figure store error: disk I/O error" in result.stderr
    assert "private remark" not in result.output and "INSERT" not in result.output


def test_a_row_with_too_few_fields_does_not_hide_the_other_bad_rows(
    app: typer.Typer, runner: CliRunner, write_figures: WriteFigures
) -> None:
    path = write_figures([row(value="-1"), row(year="2023"), row(year="2022", unit="yen")])
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = "jp_ib_transfer_cases,2023,5578"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = runner.invoke(app, ["figures", "add", str(path)])

    assert result.exit_code == 1
    assert "line 2, column value: value must be >= 0" in result.stderr
    assert "line 3, column -: expected 9 fields like the header, found 3" in result.stderr
    assert "line 4, column unit: unit must be 'count'" in result.stderr


def test_add_prints_jump_warnings(
    app: typer.Typer, runner: CliRunner, write_figures: WriteFigures
) -> None:
    result = runner.invoke(app, ["figures", "add", str(write_figures([row(value="50000")]))])

    assert result.exit_code == 0
    assert result.stderr.count("Warning:") == 2


@pytest.mark.parametrize(
    "args",
    [
        ["figures", "list", "jp_nope"],
        ["figures", "history", "jp_nope", "2020"],
        ["figures", "export", "jp_nope"],
    ],
)
def test_unknown_series_is_a_clear_message_not_a_traceback(
    app: typer.Typer, runner: CliRunner, args: list[str]
) -> None:
    result = runner.invoke(app, args)

    assert result.exit_code == 2
    assert "unknown series 'jp_nope'" in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_missing_file_is_a_clear_message(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["figures", "add", "does-not-exist.csv"])

    assert result.exit_code == 1
    assert "does-not-exist.csv" in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_series_add_then_list_and_take_figures(
    app: typer.Typer, runner: CliRunner, write_figures: WriteFigures
) -> None:
    added = runner.invoke(
        app,
        [
            "series",
            "add",
            "--id",
            "jp_phishing_reports",
            "--title",
            "Phishing reports [test]",
            "--unit",
            "count",
            "--country",
            "JP",
            "--breaks",
            "2019,2015",
        ],
    )
    listed = runner.invoke(app, ["series", "list"])
    path = write_figures([row(series_id="jp_phishing_reports", year="2024", value="1700")])
    figures = runner.invoke(app, ["figures", "add", str(path)])

    assert added.exit_code == 0 and "Added series jp_phishing_reports [count]" in added.stdout
    assert "jp_phishing_reports" in listed.stdout and "2015;2019" in listed.stdout
    assert "Phishing reports [test]" in listed.stdout
    assert figures.exit_code == 0 and "1 added" in figures.stdout


def test_series_breaks_declares_a_definition_change_and_keeps_every_figure(
    app: typer.Typer, runner: CliRunner
) -> None:
    figures = runner.invoke(app, ["figures", "list", "jp_ib_transfer_cases"]).stdout
    declared = runner.invoke(app, ["series", "breaks", "jp_ib_transfer_cases", "2021"])
    said = " ".join(declared.stdout.split())
    assert declared.exit_code == 0, declared.output
    assert "jp_ib_transfer_cases now has breaks: 2021 (was: none)" in said
    assert "run `fraudcast train -s jp_ib_transfer_cases`" in said
    assert "2021" in runner.invoke(app, ["series", "list"]).stdout
    again = runner.invoke(app, ["series", "breaks", "jp_ib_transfer_cases", "2021"])
    assert "has breaks: 2021; nothing changed" in again.stdout
    cleared = runner.invoke(app, ["series", "breaks", "jp_ib_transfer_cases", "none"])
    assert "now has breaks: none (was: 2021)" in " ".join(cleared.stdout.split())
    assert runner.invoke(app, ["figures", "list", "jp_ib_transfer_cases"]).stdout == figures
    refused = runner.invoke(app, ["series", "breaks", "jp_ib_transfer_cases", "1850"])
    assert refused.exit_code == 1 and "break years must lie in 1900..2200" in refused.stderr
    unknown = runner.invoke(app, ["series", "breaks", "no_such_series", "2021"])
    assert unknown.exit_code == 2 and "unknown series 'no_such_series'" in unknown.stderr
    runner.invoke(app, ["series", "breaks", "jp_ib_transfer_cases", "2021"])
    for slip in (" ", ",", ";"):  # "$YEARS", "$A,$B" with empty variables
        empty = runner.invoke(app, ["series", "breaks", "jp_ib_transfer_cases", slip])
        assert empty.exit_code == 1 and "or none to declare none" in empty.stderr
    assert "2021" in runner.invoke(app, ["series", "list"]).stdout  # not cleared


def test_break_years_the_figures_cannot_use_are_noted(app: typer.Typer, runner: CliRunner) -> None:
    """A break after the last figure, or at the first, had been taken without a word."""
    said = runner.invoke(app, ["series", "breaks", "jp_ib_transfer_cases", "2011,2025,2030"])

    assert said.exit_code == 0, said.output
    notes = " ".join(said.stderr.split())
    assert "break 2011 is at or before the first figure (2011): there is nothing before it" in notes
    assert "break 2025: only one figure (2025) stands after it" in notes
    assert "break 2030 is after the last figure (2025): it changes nothing until figures" in notes
    quiet = runner.invoke(app, ["series", "breaks", "jp_ib_transfer_cases", "2020"])
    assert quiet.exit_code == 0 and "Note:" not in quiet.stderr


def test_series_add_refuses_to_redefine_a_series(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["series", "add", "--id", "jp_cybercrime_cleared", "--title", "X", "--unit", "JPY"]
    )

    assert result.exit_code == 1
    assert "already exists with different metadata" in result.stderr


def test_list_without_a_series_shows_every_figure(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["figures", "list"])

    assert result.exit_code == 0
    table_rows = [line for line in result.stdout.splitlines() if FIGURE_ROW.match(line)]
    assert len(table_rows) == 116


def test_a_rejected_file_names_each_problem_once_and_whole(
    app: typer.Typer, write_figures: WriteFigures
) -> None:
    """A table of the problems and the same problems as lines had said each one twice, and
    the table cut the "did you mean" id short at 80 columns."""
    bad = write_figures([row(series_id="jp_ib_transfer_case"), row(year="2024", value="-5")])
    for columns in ("80", "200"):
        result = CliRunner(env={"COLUMNS": columns}).invoke(app, ["figures", "add", str(bad)])
        assert result.exit_code != 0
        said = result.stderr
        assert said.count("did you mean jp_ib_transfer_cases?") == 1, said
        assert said.count("line 2,") == 1 and said.count("line 3,") == 1, said
        assert said.count("value must be >= 0") == 1, said
        assert "Rejected: 2 problems; nothing was written." in said


def test_series_list_on_a_narrow_terminal_keeps_ids_and_titles_whole(app: typer.Typer) -> None:
    """At 80 columns a table of seven columns had left each title a word a line ("Te…",
    "co…"); narrow, each series is a line of its id, unit, figures and years and a line of its
    title."""
    listed = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["series", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert "jp_cybercrime_cleared  count  23 figures  2002–2025  JP  breaks 2003, 2011" in lines
    assert "  Cybercrime cases cleared by police (サイバー犯罪 検挙件数)" in lines
    assert all(len(line) <= 80 or line.startswith("  ") for line in lines)
    wide = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["series", "list"])
    assert "│ jp_cybercrime_cleared " in wide.stdout  # wide, the table
