"""`fraudcast --help`: the command list a new user reads first."""

from __future__ import annotations

import inspect
import sys

import pytest
from typer.models import CommandInfo
from typer.testing import CliRunner

from serving.cli import app, main


def _summary(command: CommandInfo) -> str:
    """A command's first help paragraph, its wrapped lines joined into one."""
    text = command.help or inspect.getdoc(command.callback) or ""
    return " ".join(text.split("\n\n")[0].split())


def test_every_command_is_listed_with_its_whole_summary_on_one_line() -> None:
    result = CliRunner(env={"COLUMNS": "400"}).invoke(app, ["--help"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for info in app.registered_commands:
        summary = _summary(info).replace("`", "")
        listed = [line for line in lines if f" {info.name} " in line]
        assert listed, f"{info.name} is not listed:\n{result.stdout}"
        assert summary in listed[0], f"{info.name}: {summary!r} not whole in {listed[0]!r}"


def test_the_command_line_starts_without_mlflow_or_matplotlib() -> None:
    """Every command (forecast-file, figures, --help) starts without the modules only training
    and serving need: they load in the commands that use them (about 2 s more at each start)."""
    import subprocess
    import sys

    heavy = ("mlflow", "matplotlib", "serving.services", "statsmodels")
    script = f"import sys, serving.cli; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"loaded when the command line starts: {loaded}"


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("FRAUDCAST_RETRAIN_CRON", "every monday", "not a cron expression: five fields"),
        ("FRAUDCAST_PORT", "abc", "Input should be a valid integer"),
        (
            "FRAUDCAST_DATABASE_URL",
            "postgres://fraudcast@db/figures",
            "SQLAlchemy has no database 'postgres' (SQLAlchemy names PostgreSQL "
            "postgresql+psycopg://)",
        ),
        ("FRAUDCAST_DATABASE_URL", "data/fraudcast.db", "not a SQLAlchemy URL"),
        (
            "FRAUDCAST_DATABASE_URL",
            "sqlite:///data/fraudcast.db?timeout=abc",
            "timeout=abc is not a number of seconds",
        ),
        (  # a list setting not written as JSON had printed a 148-line traceback
            "FRAUDCAST_LEVELS",
            "80,95",
            "not JSON; a list setting is written as a JSON list, e.g. [80, 95]",
        ),
        (  # a dialect SQLAlchemy has, whose driver is not installed: the service had crashed
            "FRAUDCAST_DATABASE_URL",
            "mysql://fraudcast@db/figures",
            "the Python driver for 'mysql' is not installed (No module named 'MySQLdb'); "
            "fraudcast installs SQLite's and PostgreSQL's (postgresql+psycopg://)",
        ),
    ],
)
def test_a_setting_that_cannot_be_used_is_named_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    said: str,
) -> None:
    """A bad cron expression once stopped `serve` at start-up with APScheduler's traceback,
    which did not name the variable."""
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(sys, "argv", ["fraudcast", "serve"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {variable}={value!r}: {said}")
    assert "Traceback" not in error


def test_serve_logs_fraudcast_lines_with_time_and_level(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a configuration of its own, INFO lines of the scheduler's retrains were dropped
    and warnings came without a time or level."""
    import logging
    import logging.config
    import re

    from serving.commands.service import PACKAGES, log_config

    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in (*PACKAGES, "uvicorn", "uvicorn.error", "uvicorn.access")
        for logger in [logging.getLogger(name)]
    }
    try:
        logging.config.dictConfig(log_config("info"))
        logging.getLogger("serving.jobs").info("retrain job 3 finished")
        logging.getLogger("models.base").debug("not at info")
        access = ("127.0.0.1:5", "GET", "/readyz", "1.1", 200)
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', *access)
    finally:
        for name, (handlers, level, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate
    written = capsys.readouterr()
    lines = written.err.splitlines()
    assert len(lines) == 1, lines
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* INFO serving\.jobs: retrain job 3 finished"
    assert re.fullmatch(pattern, lines[0]), lines
    # the access log's lines carry the time too (they had none)
    [request] = written.out.splitlines()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* INFO: +127\.0\.0\.1:5 - ", request), request


def test_a_database_url_that_cannot_be_used_is_echoed_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRAUDCAST_DATABASE_URL", "postgres://fraudcast:PW123secret@db/figures")
    monkeypatch.setattr(sys, "argv", ["fraudcast", "serve"])
    with pytest.raises(SystemExit):
        main()
    error = capsys.readouterr().err
    assert "postgres://fraudcast:***@db/figures" in error and "PW123secret" not in error
