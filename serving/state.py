"""What one running service holds: settings, the figure store, champions and the job queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data.settings import StoreSettings
from data.store import FigureStore
from serving.champions import ChampionBoard
from serving.jobs import JobQueue
from serving.settings import ServiceSettings
from training.pipeline import SeriesOutcome, retrain
from training.settings import TrainingSettings


@dataclass
class ServiceState:
    """Everything the routes need, built once per app and injected with ``Depends``."""

    service: ServiceSettings
    training: TrainingSettings
    store: FigureStore
    board: ChampionBoard
    incoming_dir: Path = field(default_factory=lambda: StoreSettings().incoming_dir)
    jobs: JobQueue = field(init=False)
    token: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.token = self.service.resolved_token()
        self.jobs = JobQueue(self._retrain, on_done=self.board.refresh)

    def _retrain(
        self, series: Sequence[str] | None, force: bool, trigger: str
    ) -> list[SeriesOutcome]:
        return retrain(
            series, force=force, store=self.store, settings=self.training, trigger=trigger
        )

    @classmethod
    def from_settings(
        cls,
        service: ServiceSettings | None = None,
        training: TrainingSettings | None = None,
        store: StoreSettings | None = None,
    ) -> ServiceState:
        """Build the state from environment settings (or the ones given)."""
        training = training or TrainingSettings()
        store = store or StoreSettings()
        return cls(
            service=service or ServiceSettings(),
            training=training,
            store=FigureStore(store.database_url),
            board=ChampionBoard(training),
            incoming_dir=store.incoming_dir,
        )
