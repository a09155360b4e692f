"""What one running service holds: settings, the figure store, champions and the job queue."""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    """Everything the routes need, built once per app and injected with ``Depends``."""

    service: ServiceSettings
    training: TrainingSettings
    store: FigureStore
    board: ChampionBoard
    incoming_dir: Path = field(default_factory=lambda: StoreSettings().incoming_dir)
    jobs: JobQueue = field(init=False)
    _token: str = field(init=False, repr=False)
    #: (modification time, inode) of the token file as last read; None: the token is set by
    #: FRAUDCAST_API_TOKEN, not read from the file
    _token_stamp: tuple[int, int] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self._token = self.service.resolved_token()
        if not self.service.api_token or not self.service.api_token.get_secret_value():
            self._token_stamp = self._stamp() or (0, 0)
        self.jobs = JobQueue(self._retrain, on_done=self.board.refresh)

    @property
    def token(self) -> str:
        """The write token: FRAUDCAST_API_TOKEN's, or the token file's as it stands now. A
        token written into the file (rotated, or restored from a backup) takes effect with
        the next request; services had kept the old one until restarted. An emptied or
        removed file leaves the token in force as it was."""
        if self._token_stamp is None:
            return self._token
        stamp = self._stamp()
        if stamp is not None and stamp != self._token_stamp:
            try:
                text = self.service.token_file.read_text().strip()
            except OSError:
                text = ""
            if text:
                if text != self._token:
                    log.info(
                        "the write token changed in %s; the new one is in force",
                        self.service.token_file,
                    )
                self._token, self._token_stamp = text, stamp
        return self._token

    def _stamp(self) -> tuple[int, int] | None:
        try:
            found = self.service.token_file.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_ino

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
