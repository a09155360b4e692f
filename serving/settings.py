"""Settings of the HTTP service, read from ``FRAUDCAST_*`` environment variables."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from data.settings import PROJECT_ROOT
from models.base import MAX_HORIZON

#: A web origin as a browser sends it in its Origin header.
_ORIGIN = re.compile(r"https?://[^/\s?#]+")


class ServiceSettings(BaseSettings):
    """Where the API listens, who may write, and how often it looks for new champions."""

    model_config = SettingsConfigDict(env_prefix="FRAUDCAST_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: Bearer token for endpoints that change state. Unset: one is generated into ``token_file``.
    api_token: SecretStr | None = None
    token_file: Path = PROJECT_ROOT / "data" / ".api-token"
    #: Seconds between checks of the registry for champions promoted by another process.
    reload_interval: float = Field(default=5.0, gt=0)
    #: Link to an MLflow UI shown on model cards (e.g. http://127.0.0.1:5000); empty hides it.
    mlflow_ui_url: str = ""
    #: Run the scheduler (folder watch, stale-series retrains, weekly full retrain) in the service.
    scheduler_enabled: bool = True
    #: Cron expression (minute hour day month weekday, UTC) of the full retrain; weekly by default.
    retrain_cron: str = "0 3 * * 1"
    #: Seconds between looks at the incoming folder and at series whose figures changed.
    watch_interval: float = Field(default=2.0, gt=0)
    #: A dropped file is read only once it has not changed for this many seconds.
    settle_seconds: float = Field(default=1.0, ge=0)
    #: Backoff of a series whose retrain failed: first retry after this many seconds, doubling.
    retry_base_seconds: float = Field(default=30.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    #: Largest request body in bytes (413 beyond it); bodies are refused before they are read.
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    #: Outlook PDFs drawn at once per process (seconds of CPU each); more wait for a turn up to
    #: ``report_wait_seconds``, then get 429.
    max_concurrent_reports: int = Field(default=1, ge=1)
    report_wait_seconds: float = Field(default=10.0, ge=0)
    #: Requests that refit a model in memory (what-if scenarios) running at once per process;
    #: more wait for a slot up to ``refit_wait_seconds``, then get 429.
    max_concurrent_refits: int = Field(default=2, ge=1)
    refit_wait_seconds: float = Field(default=5.0, ge=0)
    #: Largest horizon a forecast may ask for.
    max_horizon: int = Field(default=MAX_HORIZON, ge=1, le=MAX_HORIZON)
    #: Web origins whose pages may read the API in a browser (GET and HEAD; CORS), as a JSON
    #: list (``["https://dash.example.org"]``, or ``["*"]`` for any); empty: none but this one.
    cors_origins: tuple[str, ...] = ()

    @field_validator("cors_origins")
    @classmethod
    def _web_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        # a browser sends its Origin without a path or a trailing slash: one written with
        # either would never match, and the dashboard would be refused without a word why
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin[:100]!r} is not a web origin: a scheme, a host and maybe a port, "
                    "with no path and no trailing slash (e.g. 'https://dash.example.org', "
                    "'http://localhost:3000'), or '*' for any"
                )
        return origins

    @field_validator("retrain_cron")
    @classmethod
    def _a_cron_expression(cls, value: str) -> str:
        from serving.cron import cron_trigger

        try:
            cron_trigger(value)
        except ValueError as error:
            raise ValueError(
                "not a cron expression: five fields, minute hour day month weekday, in UTC "
                f"(e.g. '0 3 * * 1', Mondays at 03:00); {error}"
            ) from None
        return value

    def resolved_token(self) -> str:
        """The configured token, or the one kept in ``token_file`` (created on first use)."""
        if self.api_token is not None and self.api_token.get_secret_value():
            return self.api_token.get_secret_value()
        if self.token_file.exists():
            stored = self.token_file.read_text().strip()
            if stored:
                return stored
        token = secrets.token_urlsafe(32)
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        self.token_file.touch(mode=0o600)
        self.token_file.write_text(token + "\n")
        return token
