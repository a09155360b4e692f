"""The ``fraudcast`` command line: every command group is assembled here."""

from __future__ import annotations

import logging
import os
import re
import sys

import typer

from data.errors import plain_reason
from serving.commands import changes as changes_commands
from serving.commands import db as db_commands
from serving.commands import figures as figures_commands
from serving.commands import forecast as forecast_commands
from serving.commands import report as report_commands
from serving.commands import runs as runs_commands
from serving.commands import scenario as scenario_commands
from serving.commands import service as service_commands
from serving.commands import train as train_commands

app = typer.Typer(
    name="fraudcast",
    help="Forecast yearly fraud and cybercrime figures with honest uncertainty.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",  # docstrings wrap at 100 columns: join their lines
)
figures_commands.register(app)
forecast_commands.register(app)
report_commands.register(app)
scenario_commands.register(app)
train_commands.register(app)
service_commands.register(app)
db_commands.register(app)
runs_commands.register(app)
changes_commands.register(app)


class _SaidToTheTerminal(logging.Handler):
    """Prints what the figure store logs (an upgrade of its tables on first use) to stderr,
    as a command's own message: ``figures seed`` had said only "Already seeded" while the
    store's schema moved on. Quiet where a command configured logging itself (``serve``,
    ``train``): the line goes to that log then, once."""

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger("data").handlers or logging.getLogger().handlers:
            return
        print(record.getMessage(), file=sys.stderr)


def _say_store_changes() -> None:
    store_log = logging.getLogger("data.store")
    store_log.setLevel(logging.INFO)
    if not any(isinstance(handler, _SaidToTheTerminal) for handler in store_log.handlers):
        store_log.addHandler(_SaidToTheTerminal())


def main() -> None:
    """Entry point of the ``fraudcast`` console script. A ``FRAUDCAST_*`` setting that cannot
    be used is named with what is wrong with it, not shown as a traceback. The command holds
    ``data.in_use`` while it runs."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from data.in_use import in_use
    from data.settings import without_password

    _say_store_changes()
    try:
        with in_use():  # `make clean-data` refuses while any command runs
            app()
    except SettingsError as error:  # a list or table setting that is not JSON
        found = re.search(r'field "(\w+)"', str(error))
        name = f"FRAUDCAST_{found.group(1).upper()}" if found else "a FRAUDCAST_ setting"
        given = os.environ.get(name, "")
        typer.echo(
            f"error: {name}={without_password(given)!r}: not JSON; a list setting is written "
            "as a JSON list, e.g. [80, 95]",
            err=True,
        )
        raise SystemExit(2) from None
    except ValidationError as error:
        for problem in error.errors(include_url=False):
            name = "FRAUDCAST_" + "_".join(str(part) for part in problem["loc"]).upper()
            reason = plain_reason(str(problem["msg"]))
            given = problem["input"]  # a database URL's password is not echoed
            shown = without_password(given) if isinstance(given, str) else given
            typer.echo(f"error: {name}={shown!r}: {reason}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
