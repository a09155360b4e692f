"""`fraudcast serve`: the API and the planner page."""

from __future__ import annotations

import copy
import socket
from typing import Any

import typer
import uvicorn

from data.settings import StoreSettings
from serving.settings import ServiceSettings
from training.settings import TrainingSettings

#: A token shorter than this can be guessed: ``secrets.token_urlsafe(32)`` gives 43 characters.
SHORT_TOKEN = 16


def token_notes(settings: ServiceSettings, token: str) -> list[str]:
    """Where the write token in force comes from, and what about it is unsafe: a short token
    set in the environment, a token file others can read."""
    if settings.api_token is not None and settings.api_token.get_secret_value():
        notes = ["write endpoints need the bearer token in FRAUDCAST_API_TOKEN"]
        if len(token) < SHORT_TOKEN:
            notes.append(
                f"warning: FRAUDCAST_API_TOKEN is {len(token)} characters, short enough to "
                "guess; use a random one: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        return notes
    notes = [f"write endpoints need the bearer token in {settings.token_file}"]
    mode = settings.token_file.stat().st_mode & 0o777
    if mode & 0o077:
        notes.append(
            f"warning: {settings.token_file} can be read by others (mode {mode:o}): "
            f"chmod 600 {settings.token_file}"
        )
    return notes


def serve(
    host: str = typer.Option(None, help="Interface to listen on (default from settings)."),
    port: int = typer.Option(None, help="Port (default from settings, 8000)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve the API and the planner web page (champions load at start-up). One process: more
    behind one port could not be told apart, and each keeps its own retrain jobs, metrics and
    scheduler (README, "Scale beyond one machine", for several processes)."""
    settings = ServiceSettings()
    # every setting read before the server starts: one that cannot be used is named (cli.main),
    # not a traceback in the middle of start-up
    StoreSettings()
    TrainingSettings()
    host = host or settings.host
    port = port or settings.port
    taken = _port_problem(host, port)
    if taken:  # said before the banner, which would announce a server that never listens
        typer.echo(f"error: {taken}", err=True)
        raise typer.Exit(1)
    token = settings.resolved_token()  # create the token file before workers race to do it
    typer.echo(f"fraudcast on http://{host}:{port}  (API docs at /docs)")
    for line in token_notes(settings, token):
        typer.echo(line)
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config(log_level),
    )


def _port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (None when it can), found by listening
    there for a moment as uvicorn will."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            return None
    except OSError as error:
        return (
            f"cannot listen on {host}:{port}: {error.strerror or error} (another process, maybe "
            "an earlier `fraudcast serve`, may hold the port: give another with --port or "
            "FRAUDCAST_PORT)"
        )


#: fraudcast's own loggers (one per top-level package).
PACKAGES = ("data", "features", "models", "training", "serving")


#: The time on every line of the service's log: ISO 8601 with the offset.
LOG_TIME = "%Y-%m-%dT%H:%M:%S%z"


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus fraudcast's own loggers at ``level`` with the time and level on
    every line: without them the scheduler's retrains logged nothing (INFO was dropped) and
    warnings came without a time."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["fraudcast"] = {
        "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        "datefmt": LOG_TIME,
    }
    # uvicorn's own lines and the access log with the time too: they had none, beside
    # fraudcast's lines that had one
    for name in ("default", "access"):
        formatter = config["formatters"][name]
        formatter["fmt"], formatter["datefmt"] = f"%(asctime)s {formatter['fmt']}", LOG_TIME
    config["handlers"]["fraudcast"] = {
        "class": "logging.StreamHandler",
        "formatter": "fraudcast",
        "stream": "ext://sys.stderr",
    }
    for name in PACKAGES:
        config["loggers"][name] = {
            "handlers": ["fraudcast"],
            "level": level.upper(),
            "propagate": False,
        }
    return config


def register(app: typer.Typer) -> None:
    """Add `serve` to the main app."""
    app.command("serve")(serve)
