"""Settings of training and MLflow, read from ``FRAUDCAST_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from data.settings import PROJECT_ROOT
from models.base import MAX_HORIZON
from training.distributed import scheduler_address_problem

MLRUNS_DIR = PROJECT_ROOT / "mlruns"


class TrainingSettings(BaseSettings):
    """Where MLflow keeps runs and models, and what every retrain computes."""

    model_config = SettingsConfigDict(env_prefix="FRAUDCAST_", extra="ignore")

    mlflow_tracking_uri: str = f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"
    #: Root for artifacts of experiments fraudcast creates (ignored by a tracking server that
    #: proxies artifacts: it decides for itself).
    mlflow_artifacts: str = str(MLRUNS_DIR / "artifacts")
    #: Interval levels computed and logged for every candidate.
    levels: tuple[float, ...] = (80.0, 95.0)
    #: A candidate replaces the champion only if its backtest MASE is at most this factor
    #: times the champion's MASE on the same data.
    promotion_tolerance: float = Field(default=1.02, gt=1.0, le=2.0)
    #: File lock that keeps retrains one at a time, across processes on this machine.
    retrain_lock: Path = MLRUNS_DIR / ".retrain.lock"
    #: Seconds a retrain waits for another one to finish before giving up.
    retrain_lock_timeout: float = Field(default=3600.0, ge=0)
    #: How far ahead fan charts logged to MLflow reach.
    chart_horizon: int = Field(default=6, ge=1, le=MAX_HORIZON)
    #: Candidates per retrain that get a fan chart and a residual plot in MLflow: the selected
    #: one, then the next best by backtest MASE. Charts are the largest single cost of a
    #: retrain (``make bench-train-profile``) and the one a person looks at is the champion's,
    #: so by default only it is drawn; the rest log their backtest and forecast as CSV (their
    #: params and metrics are all there, to compare in the MLflow UI).
    candidate_charts: int = Field(default=1, ge=1, le=100)
    #: Where per-series backtests run: ``loky`` (joblib's processes here) or ``dask``.
    backend: Literal["loky", "dask"] = "loky"
    #: Address of the Dask scheduler (``tcp://host:8786``); unset starts a local cluster.
    dask_scheduler: str | None = None
    #: Seconds to wait for the Dask scheduler to answer before giving up.
    dask_connect_timeout: float = Field(default=10.0, gt=0)

    @field_validator("dask_scheduler")
    @classmethod
    def _known_scheduler_address(cls, address: str | None) -> str | None:
        problem = scheduler_address_problem(address) if address else None
        if problem:
            raise ValueError(problem)
        return address or None

    @property
    def on_tracking_server(self) -> bool:
        """True when MLflow is a tracking server (http, https) rather than a database here."""
        return self.mlflow_tracking_uri.startswith(("http://", "https://"))

    def artifact_location(self, experiment_name: str) -> str | None:
        """Artifact root for a new experiment, or None to let the tracking server choose."""
        if self.on_tracking_server:
            return None
        safe = experiment_name.replace("/", "_")
        return Path(self.mlflow_artifacts).resolve().joinpath(safe).as_uri()
