"""`fraudcast serve`: the API and the planner page."""

from __future__ import annotations

import copy
from typing import Any

import typer
import uvicorn

from data.settings import StoreSettings
from serving.settings import ServiceSettings
from training.settings import TrainingSettings


def serve(
    host: str = typer.Option(None, help="Interface to listen on (default from settings)."),
    port: int = typer.Option(None, help="Port (default from settings, 8000)."),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve the API and the planner web page (champions load at start-up)."""
    settings = ServiceSettings()
    # every setting read before the server starts: one that cannot be used is named (cli.main),
    # not a traceback in the middle of start-up
    StoreSettings()
    TrainingSettings()
    host = host or settings.host
    port = port or settings.port
    settings.resolved_token()  # create the token file before workers race to do it
    typer.echo(f"fraudcast on http://{host}:{port}  (API docs at /docs)")
    typer.echo(
        f"write endpoints need the bearer token in FRAUDCAST_API_TOKEN or {settings.token_file}"
    )
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=log_config(log_level),
    )


#: fraudcast's own loggers (one per top-level package).
PACKAGES = ("data", "features", "models", "training", "serving")


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus fraudcast's own loggers at ``level`` with the time and level on
    every line: without them the scheduler's retrains logged nothing (INFO was dropped) and
    warnings came without a time."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["fraudcast"] = {
        "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        "datefmt": "%Y-%m-%dT%H:%M:%S%z",
    }
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
