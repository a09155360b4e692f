"""Withdrawing figures stored by mistake: the series reads as if they had never been given, their
history keeps them, and a refused withdrawal changes nothing. A series registered by mistake is
removed while it has had no figure."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from data.errors import InvalidWithdrawal, UnknownSeries
from data.states import figure_changes
from data.store import FigureStore
from serving.commands import figures as figures_commands
from tests.data.conftest import row
from tests.data.test_track_record import score, scores

SERIES = "jp_ib_transfer_cases"


def test_a_withdrawn_figure_leaves_the_series_and_stays_in_its_history(
    seeded_store: FigureStore,
) -> None:
    before = seeded_store.values(SERIES)
    hash_before = seeded_store.data_revision_hash(SERIES)
    seeded_store.add_figures(
        pd.DataFrame([row(year="2024", value="5000")]), source="typo.csv", message="2024"
    )

    result = seeded_store.withdraw_figures(
        SERIES, [2024], source="cli", message="2024 is not out yet: a typo for 2023"
    )

    assert result.withdrawn == [(SERIES, 2024)] and result.changed_series == [SERIES]
    assert result.revision is not None
    assert result.summary() == f"Revision {result.revision.id}: withdrew {SERIES} 2024."
    assert seeded_store.values(SERIES).equals(before)
    assert 2024 not in seeded_store.figures()["year"][seeded_store.figures()["series_id"] == SERIES]
    # a model trained on the series now records what one trained before the typo did
    assert seeded_store.data_revision_hash(SERIES) == hash_before
    assert seeded_store.figures_revision(SERIES) == result.revision.id
    history = seeded_store.history(SERIES, 2024)
    assert history["value"].iloc[0] == 5000 and math.isnan(history["value"].iloc[1])
    assert history["revision_message"].tolist()[1] == "2024 is not out yet: a typo for 2023"
    assert history["source_publisher"].iloc[1] == history["source_publisher"].iloc[0]

    # what changed between the two states names the withdrawal with its reason
    states = seeded_store.series_states(SERIES)
    [change] = figure_changes(states[-2], states[-1])
    assert (change.kind, change.figure.year, change.previous_value) == ("withdrawn", 2024, 5000)
    assert change.figure.revision_message == "2024 is not out yet: a typo for 2023"

    # given again, it comes back as a figure that arrived
    again = seeded_store.add_figures(
        pd.DataFrame([row(year="2024", value="5100")]), source="npa.csv"
    )
    assert again.added == [(SERIES, 2024)]
    assert seeded_store.values(SERIES).loc[2024] == 5100
    [back] = figure_changes(states[-1], seeded_store.series_states(SERIES)[-1])
    assert (back.kind, back.figure.value) == ("arrived", 5100)


def test_a_withdrawal_drops_the_scores_against_the_figure(seeded_store: FigureStore) -> None:
    seeded_store.record_scores(
        scores(score(series_id=SERIES, year=2023), score(series_id=SERIES, year=2022))
    )
    seeded_store.withdraw_figures(SERIES, [2023], source="cli", message="wrong year")
    assert seeded_store.track_record(SERIES)["year"].tolist() == [2022]


@pytest.mark.parametrize(
    ("series_id", "years", "message", "error", "said"),
    [
        (
            SERIES,
            [2008, 2031],
            "x",
            InvalidWithdrawal,
            "holds no figure for 2008, 2031 (years held",
        ),
        (SERIES, [2020], " ", InvalidWithdrawal, "say why the figures are withdrawn"),
        (SERIES, [], "x", InvalidWithdrawal, "name the years"),
        ("jp_nope", [2020], "x", UnknownSeries, "unknown series 'jp_nope'"),
    ],
)
def test_a_refused_withdrawal_says_why_and_writes_nothing(
    seeded_store: FigureStore,
    series_id: str,
    years: list[int],
    message: str,
    error: type[Exception],
    said: str,
) -> None:
    revisions = seeded_store.revisions()
    with pytest.raises(error, match=said.replace("(", r"\(")):
        seeded_store.withdraw_figures(series_id, years, source="cli", message=message)
    assert seeded_store.revisions() == revisions


def test_a_year_without_a_figure_is_refused_naming_the_years_held(
    seeded_store: FigureStore,
) -> None:
    """The refusal had said "years held: 2016–2025" of a series with gaps in between."""
    series = "cn_telecom_fraud_cases_solved"
    with pytest.raises(InvalidWithdrawal) as caught:
        seeded_store.withdraw_figures(series, [2017], source="cli", message="x")
    assert "(years held: 2016, 2019–2020, 2022–2023, 2025)" in str(caught.value)


def test_every_figure_of_a_series_cannot_be_withdrawn_at_once(seeded_store: FigureStore) -> None:
    years = seeded_store.values(SERIES).index.tolist()
    with pytest.raises(InvalidWithdrawal, match="would leave nothing to forecast from"):
        seeded_store.withdraw_figures(SERIES, years, source="cli", message="wrong series")
    assert seeded_store.values(SERIES).index.tolist() == years


def test_the_command_withdraws_and_history_and_export_show_it(seeded_store: FigureStore) -> None:
    app = typer.Typer()
    figures_commands.register(app)
    runner = CliRunner(env={"COLUMNS": "200"})
    *_, kept, year = (int(held) for held in seeded_store.values(SERIES).index)

    done = runner.invoke(app, ["figures", "withdraw", SERIES, str(year), "-m", "not final"])
    assert done.exit_code == 0, done.output
    assert f"withdrew {SERIES} {year}." in done.stdout
    assert f"fraudcast train -s {SERIES}" in done.stdout
    withdrawn_revision = seeded_store.revisions()[-1].id

    history = runner.invoke(app, ["figures", "history", SERIES, str(year)])
    assert history.exit_code == 0, history.output
    assert "withdrawn" in history.stdout and "not final" in history.stdout
    exported = runner.invoke(app, ["figures", "export", SERIES])
    assert f"{SERIES},{year}," not in exported.stdout
    assert f"{SERIES},{kept}," in exported.stdout

    # the same withdrawal sent again (a retry) changes nothing and says so; a year never given
    # a figure is refused
    again = runner.invoke(app, ["figures", "withdraw", SERIES, str(year), "-m", "twice"])
    assert again.exit_code == 0, again.output
    assert f"No change: the {year} figure was withdrawn already" in again.stdout
    assert "retrains" not in again.stdout
    assert [r.id for r in seeded_store.revisions()][-1] == withdrawn_revision
    never = runner.invoke(app, ["figures", "withdraw", SERIES, "1990", "-m", "typo"])
    assert never.exit_code == 1 and "holds no figure for 1990" in never.stderr
    typo = runner.invoke(app, ["figures", "withdraw", SERIES, "20l9", "-m", "x"])
    assert typo.exit_code == 1
    assert "the years to withdraw must be years separated by ',' or ';', got '20l9'" in (
        typo.stderr
    )


def test_a_series_registered_by_mistake_is_removed_until_it_has_had_figures(
    seeded_store: FigureStore,
) -> None:
    app = typer.Typer()
    figures_commands.register(app)
    runner = CliRunner(env={"COLUMNS": "200"})
    typo = ["series", "add", "--id", "jp_phising_reports", "--title", "Phishing", "--unit", "count"]
    assert runner.invoke(app, typo).exit_code == 0
    near = ["series", "add", "--id", "jp_ib_transfer_case", "--title", "IB", "--unit", "count"]
    noted = runner.invoke(app, near)
    assert noted.exit_code == 0
    assert "jp_ib_transfer_case is close to the existing jp_ib_transfer_cases" in noted.stderr
    assert runner.invoke(app, ["series", "remove", "jp_ib_transfer_case"]).exit_code == 0

    removed = runner.invoke(app, ["series", "remove", "jp_phising_reports"])
    assert removed.exit_code == 0, removed.output
    assert "Removed series jp_phising_reports (Phishing)." in removed.stdout
    assert "jp_phising_reports" not in {info.id for info in seeded_store.list_series()}
    again = runner.invoke(app, ["series", "remove", "jp_phising_reports"])
    assert again.exit_code == 2 and "unknown series 'jp_phising_reports'" in again.stderr
    typo = runner.invoke(app, ["figures", "list", "jp_ib_transfer_case"])
    assert "unknown series 'jp_ib_transfer_case' (did you mean 'jp_ib_transfer_cases'?)." in (
        typo.stderr
    )
    capitals = runner.invoke(app, ["figures", "list", "JP_IB_TRANSFER_CASES"])
    assert "(did you mean 'jp_ib_transfer_cases'?)" in capitals.stderr

    kept = runner.invoke(app, ["series", "remove", SERIES])
    assert kept.exit_code == 1
    assert f"{SERIES} has had figures" in kept.stderr and "figures withdraw" in kept.stderr
    assert len(seeded_store.values(SERIES)) > 0
