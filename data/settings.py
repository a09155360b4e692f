"""Settings of the figure store, read from ``FRAUDCAST_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root when fraudcast runs from a clone (editable install).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


def without_password(uri: str) -> str:
    """``uri`` with the password of its user, if any, shown as *** (a database URL or an
    MLflow tracking URI, for messages, logs and backup notes)."""
    try:
        parts = urlsplit(uri)
        password = parts.password
    except ValueError:  # not a URL that can be split (a bad port): shown as given
        return uri
    if password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class StoreSettings(BaseSettings):
    """Where the figures live; any SQLAlchemy URL works, SQLite under ``data/`` by default."""

    model_config = SettingsConfigDict(env_prefix="FRAUDCAST_", extra="ignore")

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'data' / 'fraudcast.db'}"
    #: Drop folder for new figures files; see ``data.incoming``.
    incoming_dir: Path = PROJECT_ROOT / "data" / "incoming"
    #: A figures file (drop folder or ``figures add``) over this many bytes is refused unread.
    max_figures_file_bytes: int = Field(default=20_000_000, gt=0)

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, url: str) -> str:
        from data.schema import database_url_problem

        problem = database_url_problem(url)
        if problem:
            raise ValueError(problem)
        return url
