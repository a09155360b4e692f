"""`fraudcast serve`: the API and the planner page."""

from __future__ import annotations

import typer
import uvicorn

from serving.settings import ServiceSettings


def serve(
    host: str = typer.Option(None, help="Interface to listen on (default from settings)."),
    port: int = typer.Option(None, help="Port (default from settings, 8000)."),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve the API and the planner web page (champions load at start-up)."""
    settings = ServiceSettings()
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
    )


def register(app: typer.Typer) -> None:
    """Add `serve` to the main app."""
    app.command("serve")(serve)
