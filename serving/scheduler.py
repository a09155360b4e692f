"""The service's scheduler: the incoming folder, series whose figures changed, weekly retrains.

Every retrain goes through the one job queue (and the pipeline's cross-process lock), so they
run one at a time; a failed series is retried with exponential backoff on later ticks.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

from data.errors import StoreBusy, one_line
from data.incoming import TRANSIENT_ERRORS, IncomingOutcome, process_incoming, retry_wait
from data.records import SeriesInfo, input_changed
from serving import services
from serving.cron import cron_trigger
from serving.state import ServiceState
from training.outcome import Outcome

log = logging.getLogger(__name__)


class _NoSkippedTicks(logging.Filter):
    """Drops APScheduler's "skipped: maximum number of running instances reached": a look
    that finds the one before it still at work (a big dropped file) is skipped by design, and
    the line came every two seconds while the file was read."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


#: APScheduler's own log, under fraudcast's loggers (with their time and level on each line).
SCHEDULER_LOG = logging.getLogger(f"{__name__}.apscheduler")
SCHEDULER_LOG.addFilter(_NoSkippedTicks())


@dataclass
class _Backoff:
    attempts: int
    next_try: float


class RetrainScheduler:
    """Ticks that keep champions in step with the figures, without anyone restarting anything."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self._scheduler = BackgroundScheduler(timezone="UTC", logger=SCHEDULER_LOG)
        self._backoff: dict[str, _Backoff] = {}
        self._seen_revision: int | None = None
        self._looked = False  # whether a tick has read the store's revisions yet
        self._seen_series: list[SeriesInfo] = []
        self._tick_lock = threading.Lock()
        #: jobs seen failing as a whole, and when their series are looked at again
        self._crashes_seen = 0
        self._recheck: _Backoff | None = None
        #: ticks that failed in a row for an outage (the store down), and when to try again
        self._outage: _Backoff | None = None

    def start(self) -> None:
        """Start the folder watch, the stale-series check and the cron retrain."""
        settings = self.state.service
        self._scheduler.add_job(
            self.tick,
            "interval",
            seconds=settings.watch_interval,
            id="watch",
            max_instances=1,
            coalesce=True,
        )
        self._scheduler.add_job(
            self.full_retrain,
            cron_trigger(settings.retrain_cron),
            id="full-retrain",
            max_instances=1,
            coalesce=True,
        )
        self._scheduler.start()
        weekly = self._scheduler.get_job("full-retrain")
        log.info(
            "full retrain on cron %r (UTC): next on %s",
            settings.retrain_cron,
            f"{weekly.next_run_time:%A %d %B %Y at %H:%M %Z}" if weekly else "never",
        )

    def shutdown(self) -> None:
        """Stop ticking (a running tick finishes)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def tick(self) -> None:
        """One look at the incoming folder and at series that need a retrain.

        While the store is down (or the folder unwritable) a tick fails, and the next look
        waits as the drop folder's retries wait (``retry_wait``), with one line a try and one
        when it works again: a 100-line traceback every 2 s had filled the log.
        """
        with self._tick_lock:
            now = time.monotonic()
            if self._outage is not None and now < self._outage.next_try:
                return
            try:
                self.watch_incoming()
                self.retrain_stale()
            except TRANSIENT_ERRORS as error:
                failures = self._outage.attempts if self._outage is not None else 0
                wait = retry_wait(failures)
                self._outage = _Backoff(failures + 1, now + wait)
                said = StoreBusy.SITUATION if isinstance(error, StoreBusy) else one_line(error)
                log.warning("scheduler tick failed (%s); trying again in %.0f s", said, wait)
                return
            except Exception:  # a tick must never kill the scheduler
                log.exception("scheduler tick failed; trying again next tick")
                return
            if self._outage is not None:
                log.info(
                    "scheduler tick works again after %d failed %s",
                    self._outage.attempts,
                    "try" if self._outage.attempts == 1 else "tries",
                )
                self._outage = None

    def full_retrain(self) -> None:
        """The scheduled retrain of every series (idempotent: unchanged series are skipped)."""
        self.state.jobs.submit(None, reason="scheduled full retrain")

    def watch_incoming(self) -> list[IncomingOutcome]:
        """Add settled files from the incoming folder; queue retrains of what they changed."""
        outcomes = process_incoming(
            self.state.store,
            self.state.incoming_dir,
            settle_seconds=self.state.service.settle_seconds,
        )
        for outcome in outcomes:
            if not outcome.accepted or outcome.result is None:
                continue  # data.incoming logged the rejection and where the file went
            # surprises are logged where they are recorded (training.track_record)
            _, job = services.after_figures_added(
                self.state.store,
                self.state.board,
                self.state.jobs,
                outcome.result,
                reason=f"figures from incoming/{outcome.name}",
            )
            if job is not None:
                log.info("%r added; retrain job %s queued", outcome.name, job.id)
        return outcomes

    def retrain_stale(self) -> list[str]:
        """Queue retrains of series whose figures or definition breaks changed since their last
        retrain (figures added by the CLI or another process, ``series breaks``), of series
        without a champion whose figures changed while the service looked (a series registered
        and filled by the CLI) and, after their backoff, of series that failed."""
        store, board, jobs = self.state.store, self.state.board, self.state.jobs
        revisions = store.revisions()
        latest = revisions[-1].id if revisions else None
        candidates = set(self._due_retries())
        series = store.list_series()
        recheck = self._recheck_due()
        if recheck or latest != self._seen_revision or series != self._seen_series:
            statuses = board.statuses
            # a series never trained when the service started waits for `fraudcast train` or
            # the full retrain, as it did; one given figures since is trained now
            arrived = store.series_set_since(self._seen_revision or 0) if self._looked else set()
            for info in series:
                status = statuses.get(info.id)
                if status is None:
                    if info.id in arrived:
                        candidates.add(info.id)
                    continue
                # figures or breaks (``series breaks``) changed since
                revision = store.data_revision_hash(info.id)
                if input_changed(status.data_revision, status.breaks, revision, info.breaks):
                    candidates.add(info.id)
            self._seen_revision, self._seen_series = latest, series
        self._looked = True
        wanted = sorted(sid for sid in candidates if not jobs.busy_with(sid))
        if recheck and not wanted:  # every series is in step again
            self._recheck = None
        if wanted:
            jobs.submit(
                wanted,
                reason="figures or definition breaks changed since the last retrain, or a retry",
            )
        return wanted

    def _recheck_due(self) -> bool:
        """Whether to compare every series with its last retrain although no figure arrived:
        after a retrain job failed as a whole (MLflow's store locked, a crash), no series'
        outcome was recorded, so neither a new revision nor a failed status would ever bring
        its series back; they are looked at again after a backoff that doubles with each
        such failure (``retry_base_seconds`` up to ``retry_max_seconds``)."""
        now, settings = time.monotonic(), self.state.service
        crashed = self.state.jobs.crashed
        if crashed > self._crashes_seen:
            attempts = self._recheck.attempts if self._recheck is not None else 0
            delay = min(settings.retry_base_seconds * 2**attempts, settings.retry_max_seconds)
            self._recheck = _Backoff(attempts + 1, now + delay)
            self._crashes_seen = crashed
            log.warning("a retrain job failed; its series are looked at again in %.0f s", delay)
            return False
        if self._recheck is None:
            return False
        if self._recheck.next_try == float("inf"):  # looked again after the last failure
            if self.state.jobs.unfinished == 0:  # and what that queued ran without one
                self._recheck = None
            return False
        if now < self._recheck.next_try:
            return False
        self._recheck = _Backoff(self._recheck.attempts, float("inf"))  # one look a failure
        return True

    def _due_retries(self) -> list[str]:
        now = time.monotonic()
        settings = self.state.service
        due = []
        for series_id, status in self.state.board.statuses.items():
            if status.decision != Outcome.FAILED:
                self._backoff.pop(series_id, None)
                continue
            backoff = self._backoff.get(series_id)
            if backoff is None:
                self._backoff[series_id] = _Backoff(1, now + settings.retry_base_seconds)
            elif now >= backoff.next_try:
                delay = min(
                    settings.retry_base_seconds * 2**backoff.attempts, settings.retry_max_seconds
                )
                self._backoff[series_id] = _Backoff(backoff.attempts + 1, now + delay)
                due.append(series_id)
        return due
