"""One retrain at a time: on every host that shares a PostgreSQL figure store, else on this one.

With the figure store on PostgreSQL (several hosts retraining against one store and one MLflow),
a retrain holds a session-level advisory lock there; a file lock beside the MLflow store keeps
retrains on one machine apart otherwise. Both are released when the retrain ends or its process
dies (the lock's connection or file handle closes with it), so a killed retrain blocks nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from data.schema import POSTGRES_RETRAIN_LOCK_KEY
from training.settings import TrainingSettings

log = logging.getLogger(__name__)

#: Seconds between attempts at a PostgreSQL lock another retrain holds.
POLL_INTERVAL = 0.5


def _waiting(where: str, timeout: float) -> None:
    """Say once that this retrain waits for another (it could otherwise sit silent for an
    hour)."""
    log.warning(
        "another retrain is running (it holds %s): waiting for it to finish, for up to %g s",
        where,
        timeout,
    )


class RetrainBusy(RuntimeError):
    """Another retrain held the lock for longer than allowed."""


@contextmanager
def retrain_lock(
    store_url: str, settings: TrainingSettings, *, wait: bool = True
) -> Iterator[None]:
    """Hold the retrain lock for the figure store at ``store_url``; raise ``RetrainBusy`` after
    ``settings.retrain_lock_timeout`` seconds of waiting for another retrain, or at once when
    ``wait`` is false (work that must not run beside a retrain, rather than after it)."""
    url = make_url(store_url)
    if url.get_backend_name() == "postgresql":
        with _advisory_lock(store_url, settings.retrain_lock_timeout, wait=wait):
            yield
        return
    settings.retrain_lock.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(settings.retrain_lock, timeout=settings.retrain_lock_timeout)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if not wait:
                busy = f"a retrain is running (it holds {settings.retrain_lock})"
                raise RetrainBusy(busy) from None
            _waiting(str(settings.retrain_lock), settings.retrain_lock_timeout)
            lock.acquire()
    except Timeout:
        raise RetrainBusy(
            f"another retrain held {settings.retrain_lock} for {settings.retrain_lock_timeout:g} s"
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _advisory_lock(store_url: str, timeout: float, *, wait: bool = True) -> Iterator[None]:
    """PostgreSQL's session advisory lock on its own autocommit connection (so no transaction
    stays open for the hours a retrain may take)."""
    engine = create_engine(store_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            deadline = time.monotonic() + timeout
            sql = f"SELECT pg_try_advisory_lock({POSTGRES_RETRAIN_LOCK_KEY})"
            where = make_url(store_url).render_as_string(hide_password=True)
            said = False
            while not connection.exec_driver_sql(sql).scalar():
                if not wait:
                    raise RetrainBusy(
                        f"a retrain is running (it holds the retrain lock on {where})"
                    )
                if not said:
                    _waiting(f"the retrain lock on {where}", timeout)
                    said = True
                if time.monotonic() >= deadline:
                    raise RetrainBusy(
                        f"another retrain held the retrain lock on {where} for {timeout:g} s"
                    )
                time.sleep(min(POLL_INTERVAL, max(deadline - time.monotonic(), 0.0)))
            try:
                yield
            finally:
                connection.exec_driver_sql(
                    f"SELECT pg_advisory_unlock({POSTGRES_RETRAIN_LOCK_KEY})"
                )
    finally:
        engine.dispose()
