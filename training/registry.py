"""The MLflow model registry: champions logged as pyfunc models, registered and aliased.

Every champion is registered as ``fraudcast.<series_id>`` with the alias ``champion``. The alias
moves only after the new version is fully logged and READY, so a killed retrain never leaves a
half-registered champion behind.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import (
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

from models.calibration import CalibratedForecast
from training.tracking import BREAKS_TAG, paged

CHAMPION_ALIAS = "champion"
_MODEL_NAME_PREFIX = "fraudcast."
#: Tag of every registered version holding the projection it serves (JSON columns ``year``,
#: ``mean``, ``lo-80`` ...), so what a past champion projected is read back, never refitted.
PROJECTION_TAG = "projection"
#: Years ahead and interval levels of that recorded projection.
PROJECTION_HORIZON = 10
PROJECTION_LEVELS = (80.0, 95.0)
_INPUT_SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("long", "horizon"), ColSpec("double", "level")]),
)


def registered_model_name(series_id: str) -> str:
    """The registry name of a series' models."""
    return f"{_MODEL_NAME_PREFIX}{series_id}"


@dataclass
class ChampionCard:
    """What a planner or modeller needs to judge a champion, carried inside the model."""

    series_id: str
    model_name: str
    data_revision: str
    code_version: str
    trained_at: str
    reason: str
    metrics: dict[str, float]
    candidates: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_id: str = ""
    #: the definition breaks it was trained with (``format_breaks``); None on a card from
    #: before they were recorded
    breaks: str | None = None
    #: the store revision its figures stood as of (None on a card from before it was kept)
    figures_revision: int | None = None


#: The champion's environment: this MLflow, which brings the pandas and numpy the model needs
#: (its own requirements). Naming them as well made MLflow look up their installed versions on
#: every champion it logged, about 8 ms a series and 4% of a retrain.
_PIP_REQUIREMENTS = [f"mlflow=={mlflow.__version__}"]


class ChampionModel(PythonModel):
    """A calibrated forecast as an MLflow pyfunc: input rows carry ``horizon`` and ``level``.

    All rows share one horizon (the largest is used); every distinct level gets a lo/hi pair.
    The output has one row per forecast year: ``year, mean, lo-<L>, hi-<L>, ...``.
    """

    def __init__(self, forecast: CalibratedForecast, card: ChampionCard) -> None:
        self.forecast = forecast
        self.card = card

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecast for the requested horizon and levels."""
        horizon, levels = parse_model_input(model_input)
        return self.forecast.predict(horizon, levels)


def parse_model_input(model_input: pd.DataFrame) -> tuple[int, list[float]]:
    """Horizon and levels from a pyfunc input frame, with a clear error when malformed."""
    missing = {"horizon", "level"} - set(model_input.columns)
    if missing:
        raise ValueError(
            f"model input needs columns 'horizon' and 'level'; missing {sorted(missing)}"
        )
    if model_input.empty:
        raise ValueError("model input has no rows: give at least one (horizon, level) row")
    horizon = int(pd.to_numeric(model_input["horizon"]).max())
    levels = sorted({float(level) for level in pd.to_numeric(model_input["level"])})
    return horizon, levels


def register_champion(
    forecast: CalibratedForecast, card: ChampionCard, *, client: MlflowClient
) -> ModelVersion:
    """Log the champion into the active run, register it, and move the alias once it is READY."""
    name = registered_model_name(card.series_id)
    with _without_expected_warnings():
        info = mlflow.pyfunc.log_model(
            name="champion",
            python_model=ChampionModel(forecast, card),
            signature=_INPUT_SIGNATURE,
            pip_requirements=list(_PIP_REQUIREMENTS),
        )
    tags = {**_card_tags(card), PROJECTION_TAG: _projection_json(served_projection(forecast))}

    def new_version() -> ModelVersion:
        return client.create_model_version(
            name,
            source=info.model_uri,
            run_id=card.run_id or None,
            model_id=info.model_id,  # a tracking server refuses a models:/ source without it
            tags=tags,
            description=card.reason,
        )

    # the registered model exists after a series' first champion: try the version first, and
    # create the model only when the registry says there is none (one call, not two, a retrain)
    try:
        version = new_version()
    except MlflowException as error:
        if error.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        client.create_registered_model(
            name, description=f"fraudcast champions for series {card.series_id}"
        )
        version = new_version()
    version = _wait_until_ready(client, version)
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)
    return version


class _DropMessage(logging.Filter):
    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.start)


@contextmanager
def _without_expected_warnings() -> Iterator[None]:
    """Silence MLflow's two warnings on every champion logged (thousands in a big retrain):
    the model is a Python object on purpose, and its signature stands in for an input example."""
    pyfunc_log = logging.getLogger("mlflow.pyfunc")
    pickled = _DropMessage("Passing a Python object as `python_model`")
    pyfunc_log.addFilter(pickled)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            yield
    finally:
        pyfunc_log.removeFilter(pickled)


def _card_tags(card: ChampionCard) -> dict[str, str]:
    tags = {
        "series_id": card.series_id,
        "model_name": card.model_name,
        "data_revision": card.data_revision,
        "code_version": card.code_version,
        "trained_at": card.trained_at,
    }
    if card.breaks is not None:
        tags[BREAKS_TAG] = card.breaks
    if card.figures_revision is not None:
        tags["figures_revision"] = str(card.figures_revision)
    tags.update({f"metric.{key}": f"{value:.6g}" for key, value in card.metrics.items()})
    return tags


def served_projection(forecast: CalibratedForecast) -> pd.DataFrame:
    """The projection a champion serves, as its version records it: ``PROJECTION_HORIZON``
    years (fewer if the model reaches less far) at ``PROJECTION_LEVELS``."""
    return forecast.predict(min(PROJECTION_HORIZON, forecast.max_horizon), PROJECTION_LEVELS)


def _projection_json(projection: pd.DataFrame) -> str:
    return json.dumps({str(column): projection[column].tolist() for column in projection.columns})


def recorded_projection(version: ModelVersion) -> pd.DataFrame:
    """The projection a registered version served, from its ``projection`` tag; a version
    registered before projections were recorded is asked its model (the same numbers)."""
    recorded = version.tags.get(PROJECTION_TAG)
    if recorded:
        return pd.DataFrame(json.loads(recorded))
    return served_projection(load_champion(version).forecast)


def _wait_until_ready(
    client: MlflowClient, version: ModelVersion, timeout: float = 60.0
) -> ModelVersion:
    """``version`` once READY: as created when it already is (a SQL registry), else polled."""
    deadline = time.monotonic() + timeout
    current = version
    while current.status != "READY":
        if current.status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            raise RuntimeError(
                f"model version {version.name}/{version.version} did not become READY: "
                f"{current.status}"
            )
        time.sleep(0.2)
        current = client.get_model_version(version.name, version.version)
    return current


def champion_version(series_id: str, *, client: MlflowClient) -> ModelVersion | None:
    """The version the ``champion`` alias points at, or None when the series has none."""
    try:
        return client.get_model_version_by_alias(registered_model_name(series_id), CHAMPION_ALIAS)
    except MlflowException:
        return None


def champion_uri(series_id: str) -> str:
    """The models:/ URI of a series' champion."""
    return f"models:/{registered_model_name(series_id)}@{CHAMPION_ALIAS}"


def load_champion(version: ModelVersion) -> ChampionModel:
    """Load a registered version and unwrap it to the fraudcast model inside."""
    loaded = mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}")
    model = loaded.unwrap_python_model()
    if not isinstance(model, ChampionModel):
        raise TypeError(f"{version.name}/{version.version} is not a fraudcast champion model")
    return model


def champion_versions(*, client: MlflowClient) -> dict[str, str]:
    """Series id → version number the ``champion`` alias points at, in one paged query."""
    found: dict[str, str] = {}
    models = paged(
        lambda token: client.search_registered_models(
            filter_string=f"name LIKE '{_MODEL_NAME_PREFIX}%'", max_results=1000, page_token=token
        )
    )
    for model in models:
        aliases = model.aliases or {}
        if CHAMPION_ALIAS in aliases:
            found[model.name.removeprefix(_MODEL_NAME_PREFIX)] = str(aliases[CHAMPION_ALIAS])
    return found


def champion_series(*, client: MlflowClient) -> list[str]:
    """Series ids that have a registered champion."""
    return sorted(champion_versions(client=client))


def champion_history(series_id: str, *, client: MlflowClient) -> list[ModelVersion]:
    """Every version that served as the series' champion, oldest first, up to the current one
    (each registered version became champion when it was registered)."""
    current = champion_version(series_id, client=client)
    if current is None:
        return []
    versions = paged(
        lambda token: client.search_model_versions(
            f"name = '{registered_model_name(series_id)}'", page_token=token
        )
    )
    found = [v for v in versions if v.status == "READY" and int(v.version) <= int(current.version)]
    return sorted(found, key=lambda v: int(v.version))


def get_version(series_id: str, version: str, *, client: MlflowClient) -> ModelVersion:
    """One registered version of a series' model."""
    return client.get_model_version(registered_model_name(series_id), version)
