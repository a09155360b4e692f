"""Background retrains: one at a time, each with an id a client can poll."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime

from data.errors import one_line, quoted_id
from serving import schemas
from training.pipeline import SeriesOutcome

log = logging.getLogger(__name__)
_KEEP_JOBS = 200

#: retrain(series, force, trigger): the series named (all when None), forced or not, and why
RetrainFunction = Callable[[Sequence[str] | None, bool, str], list[SeriesOutcome]]


class UnknownJob(LookupError):
    """A job id this service never issued (or has forgotten)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"unknown job {quoted_id(job_id)}: jobs are kept in the server's memory and do not "
            "outlive a restart (the retrain's outcome is in MLflow and on the series' card)"
        )


class JobQueue:
    """Runs retrains on one worker thread; ``on_done`` runs after each retrain and before its
    job is marked ended (it reloads the champions, so a finished job's versions are served)."""

    def __init__(self, retrain: RetrainFunction, on_done: Callable[[], object]) -> None:
        self._retrain = retrain
        self._on_done = on_done
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
        self._jobs: OrderedDict[str, schemas.Job] = OrderedDict()
        self._lock = threading.Lock()
        self._futures: dict[str, Future[None]] = {}
        self._crashed = 0

    def submit(
        self, series: Sequence[str] | None, *, force: bool = False, reason: str
    ) -> schemas.Job:
        """Queue a retrain of the named series (all when None) and return its job."""
        job = schemas.Job(
            id=uuid.uuid4().hex,
            state="queued",
            series=list(series or []),
            reason=reason,
            created_at=datetime.now(UTC),
        )
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > _KEEP_JOBS:
                self._jobs.popitem(last=False)
            future = self._executor.submit(self._run, job.id, series, force, reason)
            self._futures[job.id] = future
        future.add_done_callback(lambda _: self._forget_future(job.id))
        return job

    @property
    def crashed(self) -> int:
        """Jobs that failed as a whole (the retrain raised; no series' outcome was recorded,
        e.g. MLflow's store was locked): the scheduler looks at their series again."""
        with self._lock:
            return self._crashed

    @property
    def unfinished(self) -> int:
        """Jobs queued or running (their futures are kept until they finish, no longer)."""
        with self._lock:
            return len(self._futures)

    def _forget_future(self, job_id: str) -> None:
        with self._lock:
            self._futures.pop(job_id, None)

    def get(self, job_id: str) -> schemas.Job:
        """A job by id (UnknownJob if none)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise UnknownJob(job_id)
        return job

    def busy_with(self, series_id: str) -> bool:
        """True when a queued or running job will retrain this series."""
        return self.pending_job(series_id) is not None

    def pending_job(self, series_id: str) -> str | None:
        """The id of the earliest queued or running job that will retrain this series (one
        named for it, or one for every series), None when none will."""
        with self._lock:
            for job in self._jobs.values():
                if job.state in {"queued", "running"} and (
                    not job.series or series_id in job.series
                ):
                    return job.id
        return None

    def wait(self, job_id: str, timeout: float | None = None) -> schemas.Job:
        """Block until a job has finished (for the CLI and tests)."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)
        return self.get(job_id)

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            self._jobs[job_id] = self._jobs[job_id].model_copy(update=changes)

    def _run(self, job_id: str, series: Sequence[str] | None, force: bool, reason: str) -> None:
        self._update(job_id, state="running", started_at=datetime.now(UTC))
        log.info(
            "retrain job %s started (%s): %s",
            job_id,
            reason,
            ", ".join(series) if series else "every series",
        )
        try:
            outcomes = self._retrain(series, force, f"{reason} (job {job_id})")
        except Exception as error:  # the job fails; figures and champions are left as they were
            log.exception("retrain job %s failed", job_id)
            with self._lock:
                self._crashed += 1
            self._update(
                job_id,
                state="failed",
                error=one_line(error),
                finished_at=datetime.now(UTC),
            )
            return
        failed = [o for o in outcomes if o.failed]
        # one line per series in the service's log: what the retrain did and why it ran
        for outcome in outcomes:
            log.log(
                logging.WARNING if outcome.failed else logging.INFO,
                "retrain job %s (%s): %s",
                job_id,
                reason,
                outcome.said(),
            )
        # the champions it promoted serve before the job says it has ended: a client polling
        # for "succeeded" had been answered by the previous version for a fifth of a second
        try:
            self._on_done()
        except Exception:
            log.exception("after retrain job %s: reloading champions failed", job_id)
        self._update(
            job_id,
            state="failed" if failed else "succeeded",
            # a job for every series names the series it covered once it knows them
            series=list(series) if series else [o.series_id for o in outcomes],
            outcomes=[
                schemas.JobOutcome(**{**asdict(o), "status": str(o.status)}) for o in outcomes
            ],
            error="; ".join(f"{o.series_id}: {o.reason}" for o in failed) or None,
            finished_at=datetime.now(UTC),
        )

    def shutdown(self) -> None:
        """Stop taking jobs; wait for the running one to end."""
        self._executor.shutdown(wait=True, cancel_futures=True)
