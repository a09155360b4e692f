"""A huge bad file is rejected quickly with a short report; a file over the size limit unread."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from data.canonical import FIGURE_COLUMNS
from data.errors import InvalidFigures
from data.incoming import ERROR_SUFFIX
from data.records import SeriesInfo
from data.store import FigureStore
from data.validation import read_figures_csv, validate_figures
from serving.commands import figures as figures_commands
from tests.data.conftest import WriteFigures, age, process, row

BAD_ROWS = 200_000
KNOWN = {"jp_ib_transfer_cases": SeriesInfo("jp_ib_transfer_cases", "IB cases", "count")}


@pytest.fixture
def negative_rows(tmp_path: Path) -> Path:
    """200,000 rows with a negative value, and (25 years over and over) duplicates."""
    path = tmp_path / "negative.csv"
    rows = (
        f"jp_ib_transfer_cases,{2000 + i % 25},-1,count,NPA,Report,,primary,\n"
        for i in range(BAD_ROWS)
    )
    path.write_text(",".join(FIGURE_COLUMNS) + "\n" + "".join(rows), encoding="utf-8")
    return path


@pytest.mark.timeout(120)
def test_a_file_of_200000_bad_rows_gets_a_short_report_with_every_count(
    negative_rows: Path,
) -> None:
    with pytest.raises(InvalidFigures) as caught:
        validate_figures(read_figures_csv(negative_rows), KNOWN)

    message = str(caught.value)
    assert len(message.encode("utf-8")) < 20_000
    assert message.startswith("figures rejected, nothing was written: 399,975 problems")
    assert "line 2, column value: value must be >= 0" in message
    assert "… and 199,950 more rows: value must be >= 0" in message
    assert "… and 199,925 more rows: duplicate figure" in message
    assert caught.value.total == 399_975


@pytest.mark.timeout(180)
def test_the_drop_folder_rejects_a_file_of_200000_bad_rows_with_a_short_report(
    seeded_store: FigureStore,
    incoming: Path,
    negative_rows: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    age(negative_rows.rename(incoming / "negative.csv"))

    with caplog.at_level(logging.INFO):
        [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    report = outcome.moved_to.with_name(outcome.moved_to.name + ERROR_SUFFIX).read_text("utf-8")
    assert len(report.encode("utf-8")) < 20_000
    assert "399,975 problems" in report and "199,950 more rows" in report
    assert len(caplog.text.encode("utf-8")) < 20_000


def test_a_file_over_the_size_limit_is_refused_unread_saying_the_limit(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUDCAST_MAX_FIGURES_FILE_BYTES", "2000")
    dropped = drop([row(year=str(year)) for year in range(2000, 2015)])
    assert dropped.stat().st_size > 2000

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    assert "over the limit of 2,000 bytes" in outcome.error
    assert "FRAUDCAST_MAX_FIGURES_FILE_BYTES" in outcome.error
    assert len(seeded_store.revisions()) == 1


def test_figures_add_refuses_a_file_over_the_size_limit(
    seeded_store: FigureStore, write_figures: WriteFigures, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDCAST_MAX_FIGURES_FILE_BYTES", "2000")
    path = write_figures([row(year=str(year)) for year in range(2000, 2015)])
    app = typer.Typer()
    figures_commands.register(app)

    result = CliRunner().invoke(app, ["figures", "add", str(path)])

    assert result.exit_code == 1
    assert "over the limit of 2,000 bytes" in result.stderr
    assert len(seeded_store.revisions()) == 1


@pytest.mark.timeout(120)
def test_figures_add_of_200000_bad_rows_lists_a_few_and_counts_the_rest(
    seeded_store: FigureStore, negative_rows: Path
) -> None:
    app = typer.Typer()
    figures_commands.register(app)

    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["figures", "add", str(negative_rows)])

    assert result.exit_code == 1
    assert "Rejected: 399,975 problems; nothing was written." in result.stderr
    assert "… and 199,950 more rows: value must be >= 0" in result.stderr
    assert len(result.stderr.encode("utf-8")) < 60_000
