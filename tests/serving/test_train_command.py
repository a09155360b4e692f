"""What `fraudcast train` tells a modeller at the end: where the runs are and how to see them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.commands import train as train_command
from serving.commands.train import where_to_compare
from tests.support import said
from training.settings import TrainingSettings

#: Four of the bundled series.
FOUR = (
    "jp_cybercrime_cleared",
    "jp_ib_transfer_cases",
    "jp_special_fraud_cases",
    "jp_unauthorized_access_cleared",
)


@pytest.fixture
def trains_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """`train` with the pipeline replaced by one that trains no series."""
    monkeypatch.setattr(train_command, "run_with_progress", lambda *args, **kwargs: [])
    monkeypatch.delenv("FRAUDCAST_MLFLOW_UI_URL", raising=False)


@pytest.mark.usefixtures("trains_nothing")
def test_with_a_tracking_server_train_points_at_its_ui_not_the_local_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUDCAST_MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")

    result = CliRunner().invoke(app, ["train"])

    assert result.exit_code == 0, result.output
    text = said(result.output)
    assert "MLflow: http://mlflow.internal:5000 (open that address in a browser" in text
    assert "make mlflow-ui" not in text


@pytest.mark.usefixtures("trains_nothing")
def test_the_mlflow_ui_url_setting_is_where_runs_are_compared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUDCAST_MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("FRAUDCAST_MLFLOW_UI_URL", "https://models.example.org/mlflow")

    result = CliRunner().invoke(app, ["train"])

    assert result.exit_code == 0, result.output
    assert said(result.output).endswith("(compare runs at https://models.example.org/mlflow)")


@pytest.mark.usefixtures("trains_nothing")
def test_the_default_local_store_is_opened_with_make_mlflow_ui(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FRAUDCAST_MLFLOW_TRACKING_URI", raising=False)

    result = CliRunner().invoke(app, ["train"])

    assert result.exit_code == 0, result.output
    assert said(result.output).endswith("(`make mlflow-ui` to compare runs)")


def test_another_store_gets_an_mlflow_ui_command_of_its_own_and_no_password_is_shown() -> None:
    database = "postgresql+psycopg://fraudcast:s3cret@db.internal:5432/mlflow"

    hint = where_to_compare(database)

    assert "s3cret" not in hint and "make mlflow-ui" not in hint
    shown = "postgresql+psycopg://fraudcast:***@db.internal:5432/mlflow"
    assert (
        hint
        == f"MLflow: {shown}  (`.venv/bin/mlflow ui --backend-store-uri {shown}` to compare runs)"
    )
    assert "s3cret" not in where_to_compare("https://modeller:s3cret@mlflow.internal")
    assert where_to_compare(TrainingSettings.model_fields["mlflow_tracking_uri"].default).endswith(
        "`make mlflow-ui` to compare runs)"
    )


def test_ctrl_c_says_how_many_series_finished_and_how_to_train_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from training import pipeline
    from training.outcome import Outcome

    def two_series_then_ctrl_c(*args, on_outcome, **kwargs):
        for series_id in FOUR[:2]:
            on_outcome(pipeline.SeriesOutcome(series_id, Outcome.PROMOTED, "better"))
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "retrain", two_series_then_ctrl_c)

    result = CliRunner().invoke(app, ["train", *(f"-s{series_id}" for series_id in FOUR)])

    assert result.exit_code == 130, result.output
    text = said(result.output)
    assert "Interrupted: 2 of 4 series finished and are in MLflow" in text
    assert "finished series are skipped as unchanged" in text


@pytest.mark.usefixtures("trains_nothing")
def test_an_unknown_series_is_named_in_one_line_before_anything_is_trained() -> None:
    result = CliRunner().invoke(app, ["train", "-s", "jp_cybercrime_cleared", "-s", "nope"])

    assert result.exit_code == 2, result.output
    text = said(result.output)
    assert text.startswith("Error: unknown series 'nope'. Known series: cn_telecom")
    assert "training summary" not in text and "MLflow:" not in text


def test_the_summary_keeps_every_id_whole_on_an_80_column_terminal() -> None:
    """`make run`'s summary at 80 columns had split ids ("jp_sns_in / vestment_ / …") to make
    room for the reasons; narrow, the reasons follow the table, one line each."""
    from rich.console import Console

    from training.outcome import Outcome
    from training.pipeline import SeriesOutcome

    long_id = "jp_sns_investment_fraud_losses_jpy"
    outcomes = [
        SeriesOutcome(long_id, Outcome.REFRESHED, "analogs chosen again and refitted", "analogs"),
        SeriesOutcome("jp_cybercrime_cleared", Outcome.KEPT, "champion kept: comb was worse"),
    ]
    outcomes[0].mase, outcomes[0].coverage = 0.528, {"80": 0.33, "95": 0.33}
    shown = {}
    for width in (80, 200):
        console = Console(width=width, record=True, color_system=None)
        console.print(train_command.summary(outcomes))
        shown[width] = console.export_text()
        assert long_id in shown[width] and "jp_cybercrime_cleared" in shown[width], shown[width]
        assert all(len(line) <= width for line in shown[width].splitlines())
    assert f"{long_id}: analogs chosen again and refitted" in shown[80].splitlines()
    assert "why" not in shown[80] and "why" in shown[200]  # wide, the reasons stay in the rows


def test_the_summary_heads_its_coverage_columns_with_the_levels_trained_at() -> None:
    """With FRAUDCAST_LEVELS=[50,90] the summary's columns stood headed 80% and 95%, empty,
    under a line that still said "80% and 95%"."""
    from rich.console import Console

    from training.outcome import Outcome
    from training.pipeline import SeriesOutcome

    outcome = SeriesOutcome("jp_cybercrime_cleared", Outcome.PROMOTED, "first champion", "comb")
    outcome.mase, outcome.coverage = 0.9, {"50": 0.52, "90": 0.88}
    for width in (80, 200):
        console = Console(width=width, record=True, color_system=None)
        console.print(train_command.summary([outcome]))
        text = console.export_text()
        assert "52%" in text and "88%" in text, text
        assert "80%" not in text and "95%" not in text, text
        if width == 80:
            assert "inside the calibrated 50% and 90% intervals" in " ".join(text.split())


def test_a_short_series_coverage_is_counted_not_read_as_a_rate() -> None:
    """`make run`'s summary showed the SNS series' borrowed intervals at "0%" and "33%"
    coverage beside long series' rates: 0 of 3 backtest forecasts, too few to judge by, read as
    a verdict. They are counted, as the page's card counts them, and the caption says why."""
    from rich.console import Console

    from training.outcome import Outcome
    from training.pipeline import SeriesOutcome

    short = SeriesOutcome("jp_sns_romance_fraud_cases", Outcome.PROMOTED, "first", "analogs")
    short.coverage, short.backtest_forecasts, short.intervals_borrowed = (
        {"80": 0.0, "95": 2 / 3},
        3,
        True,
    )
    long = SeriesOutcome("jp_cybercrime_cleared", Outcome.PROMOTED, "first champion", "comb")
    long.coverage, long.backtest_forecasts = {"80": 0.84, "95": 0.98}, 120
    for width in (80, 200):
        console = Console(width=width, record=True, color_system=None)
        console.print(train_command.summary([short, long]))
        text = " ".join(console.export_text().split())
        assert "0 of 3" in text and "2 of 3" in text and " 0% " not in text, text
        assert "84%" in text and "98%" in text, text
        assert "too few to judge the intervals by" in text, text
    console = Console(width=200, record=True, color_system=None)
    console.print(train_command.summary([long]))
    assert "k of n" not in console.export_text()


def test_training_output_that_is_not_a_terminal_breaks_no_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Piped (`make run` under a log, journald, cron), rich wrapped the summary at 80 columns
    and reasons were broken mid-phrase."""
    import io

    from training.outcome import Outcome
    from training.pipeline import SeriesOutcome

    reason = (
        "promoted: backtest MASE 4.395 vs champion 5.120 over 6 origins, and its 80% and 95% "
        "intervals covered 83% and 96% of the backtest figures as claimed"
    )
    outcome = SeriesOutcome("cn_telecom_fraud_cases_solved", Outcome.PROMOTED, reason, "comb")
    outcome.mase, outcome.coverage = 4.395, {"80": 0.83, "95": 0.96}
    monkeypatch.delenv("COLUMNS", raising=False)
    piped = io.StringIO()
    # the command's consoles as they are made, writing to a pipe (setting the module's console
    # file would leave it writing to this test's stream for every later test)
    console = type(train_command.console)(file=piped)
    assert type(train_command.errors) is type(console)

    console.print(train_command.summary([outcome]))

    assert any(reason in line for line in piped.getvalue().splitlines()), piped.getvalue()
