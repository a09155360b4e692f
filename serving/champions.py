"""The champions the service answers with, swapped in atomically when a new one is promoted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import pandas as pd

from training import registry, tracking
from training.registry import ChampionCard, ChampionModel
from training.settings import TrainingSettings

if TYPE_CHECKING:  # every MLflow import goes through ``training``, which turns telemetry off
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
_CACHE_LIMIT = 2048


#: What to do about a series registered without figures, said by the commands (the API names
#: its own way first: ``serving.errors.NO_FIGURES_HINT``).
NO_FIGURES_HINT = (
    "add its figures first (`fraudcast figures add`, POST /v1/figures or the drop folder); a "
    "running service trains it when they arrive"
)


class NoChampion(LookupError):
    """A known series that has no champion yet, or whose champion could not be loaded."""

    def __init__(
        self, series_id: str, unloadable: str | None = None, *, without_figures: bool = False
    ) -> None:
        self.series_id = series_id
        #: why its registered champion could not be loaded (None: it has none)
        self.unloadable = unloadable
        #: it has none because it has no figures yet (training it would do nothing)
        self.without_figures = without_figures
        if without_figures:
            super().__init__(f"series {series_id!r} has no figures yet, so no projection")
        elif unloadable is None:
            super().__init__(f"series {series_id!r} has no champion model yet")
        else:
            super().__init__(
                f"the champion of series {series_id!r} could not be loaded: {unloadable}"
            )


@dataclass
class Champion:
    """One loaded champion; forecasts depend only on it, so answers are cached on it."""

    series_id: str
    version: str
    model: ChampionModel
    #: The MLflow experiment of the retrain that registered it ("" when it cannot be read).
    experiment_id: str = ""
    _answers: dict[tuple[int, tuple[float, ...]], bytes] = field(default_factory=dict, repr=False)

    @property
    def card(self) -> ChampionCard:
        """The card logged with the model."""
        return self.model.card

    def forecast(self, horizon: int, levels: Sequence[float]) -> pd.DataFrame:
        """The registered model's own answer for this horizon and these levels."""
        return self.model.forecast.predict(horizon, list(levels))

    def cached(self, key: tuple[int, tuple[float, ...]]) -> bytes | None:
        """A rendered answer for (horizon, levels), if one was kept."""
        return self._answers.get(key)

    def keep(self, key: tuple[int, tuple[float, ...]], body: bytes) -> None:
        """Keep a rendered answer; the cache is bounded and dropped with the champion."""
        if len(self._answers) >= _CACHE_LIMIT:
            self._answers.clear()
        self._answers[key] = body


class ChampionBoard:
    """Champions by series id. Readers take one immutable snapshot; refresh swaps it whole."""

    def __init__(self, settings: TrainingSettings) -> None:
        self._settings = settings
        self._snapshot: Mapping[str, Champion] = MappingProxyType({})
        self._statuses: Mapping[str, tracking.RetrainStatus] = MappingProxyType({})
        self._refresh_lock = threading.Lock()
        self.loaded = False
        self.last_error: str | None = None
        #: series whose registered champion could not be loaded, and why (the others serve)
        self.load_errors: Mapping[str, str] = MappingProxyType({})

    @property
    def snapshot(self) -> Mapping[str, Champion]:
        """The current champions; a request should read this once and use it throughout."""
        return self._snapshot

    @property
    def statuses(self) -> Mapping[str, tracking.RetrainStatus]:
        """How the newest retrain of each series ended, as of the last refresh."""
        return self._statuses

    def get(self, series_id: str) -> Champion:
        """The champion of a series, or NoChampion."""
        champion = self._snapshot.get(series_id)
        if champion is None:
            raise NoChampion(series_id, self.load_errors.get(series_id))
        return champion

    @staticmethod
    def _load(client: MlflowClient, series_id: str, version: ModelVersion) -> Champion:
        """A registered version loaded to serve (its model, and its retrain's experiment)."""
        return Champion(
            series_id,
            str(version.version),
            registry.load_champion(version),
            tracking.experiment_of_run(client, version.run_id),
        )

    def load(self, series_id: str) -> Champion:
        """Load one series' champion now and serve it (a command that answers for one series
        needs no other); NoChampion when it has none."""
        with self._refresh_lock:
            client = tracking.connect(self._settings)
            version = registry.champion_version(series_id, client=client)
            if version is None:
                raise NoChampion(series_id)
            champion = self._load(client, series_id, version)
            self._snapshot = MappingProxyType({**self._snapshot, series_id: champion})
            return champion

    def refresh(self, *, statuses: bool = True) -> list[str]:
        """Load champions whose alias moved; swap them in at once. Returns the changed series.

        The retrain statuses (a heavier query) are re-read when ``statuses`` is set or a
        champion changed; the periodic look for other processes' promotions skips them
        otherwise, so it stays cheap enough not to disturb request latency.
        """
        with self._refresh_lock:
            try:
                client = tracking.connect(self._settings)
                wanted = registry.champion_versions(client=client)
                current = self._snapshot
                updated = dict(current)
                changed = []
                failed: dict[str, str] = {}
                for series_id, version in wanted.items():
                    held = current.get(series_id)
                    if held is not None and held.version == version:
                        continue
                    try:  # one champion that cannot be loaded must not keep the others out
                        registered = registry.get_version(series_id, version, client=client)
                        updated[series_id] = self._load(client, series_id, registered)
                    except Exception as error:
                        failed[series_id] = f"version {version}: {type(error).__name__}: {error}"
                        if self.load_errors.get(series_id) != failed[series_id]:
                            log.error("could not load the champion of %s (%s); it is not served "
                                      "until it loads", series_id, failed[series_id])  # fmt: skip
                        continue
                    changed.append(series_id)
                for series_id in set(updated) - set(wanted):
                    del updated[series_id]
                    changed.append(series_id)
                latest = (
                    tracking.retrain_statuses(client)
                    if statuses or changed or not self.loaded
                    else self._statuses
                )
            except Exception as error:  # keep serving the champions we have
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("could not refresh champions; keeping the current ones")
                return []
            self._snapshot = MappingProxyType(updated)
            self._statuses = MappingProxyType(dict(latest))
            self.load_errors = MappingProxyType(failed)
            self.loaded = True
            self.last_error = _load_error_summary(failed)
            if changed:
                log.info("champions swapped in: %s", ", ".join(sorted(changed)))
            return sorted(changed)


def _load_error_summary(failed: Mapping[str, str]) -> str | None:
    """``last_error`` for champions that could not be loaded: the first few, by series."""
    if not failed:
        return None
    named = [f"{series_id} ({reason})" for series_id, reason in sorted(failed.items())[:3]]
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    return f"champions that could not be loaded, not served: {'; '.join(named)}{more}"
