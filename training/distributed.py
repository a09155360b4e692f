"""Where the per-series work runs: joblib's own worker processes, or a Dask cluster.

Backtests, selection and forecasts for many series go through ``joblib.Parallel`` (``fit_many``,
``forecast_long``); switching joblib's backend moves the same code onto a Dask cluster.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from dask.distributed import Client

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Series travel to the workers in chunks of at most this many, enough chunks to keep every
#: worker busy to the end (CHUNKS_PER_WORKER each). One task per series costs a scheduler round
#: trip each on Dask, and joblib's Dask backend scatters every pandas argument on its own: more
#: than fitting a short series takes.
SERIES_PER_TASK = 16
CHUNKS_PER_WORKER = 8


def map_in_chunks(
    function: Callable[[Item], Result], items: Sequence[Item], *, jobs: int
) -> Iterator[Result]:
    """``function`` of every item, yielded in input order, on joblib's active backend (``jobs``
    local workers, or every worker of a Dask cluster under ``compute_backend``). Each task takes
    a chunk of items, sent inside the task, and sends back only its results."""
    from joblib import Parallel, delayed, effective_n_jobs

    workers = max(1, effective_n_jobs(jobs))
    chunks = (tuple(items[start:end]) for start, end in chunk_bounds(len(items), workers))
    tasks = (delayed(_apply_to_chunk)(function, chunk) for chunk in chunks)
    for results in Parallel(n_jobs=jobs, return_as="generator")(tasks):
        yield from results


def chunk_bounds(count: int, workers: int) -> Iterator[tuple[int, int]]:
    """Where each chunk of ``count`` items starts and ends: at most SERIES_PER_TASK, enough
    chunks for CHUNKS_PER_WORKER a worker, and towards the end no more than a share of what is
    still to come (guided scheduling, as OpenMP's), so that no worker waits long on another's
    last full chunk: each phase of the work (the population's backtests, their check, the
    forecasts) ends with its last chunk."""
    size = max(1, min(SERIES_PER_TASK, math.ceil(count / (workers * CHUNKS_PER_WORKER))))
    start = 0
    while start < count:
        end = start + max(1, min(size, math.ceil((count - start) / (2 * workers))))
        yield start, end
        start = end


def _apply_to_chunk(function: Callable[[Item], Result], chunk: tuple[Item, ...]) -> list[Result]:
    return [function(item) for item in chunk]


#: Dask configuration for fraudcast's workers. A worker samples the stacks of its running tasks
#: 100 times a second for its dashboard's profile page; on these short, Python-heavy tasks that
#: cost a quarter of the workers' CPU (``benchmarks/SCALING.md``), so it is off. Workers started
#: by hand get it from the environment: ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False``.
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


def worker_environment() -> dict[str, str]:
    """``WORKER_CONFIG`` as the environment variables a ``dask worker`` command reads."""
    return {
        "DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
        for key, value in WORKER_CONFIG.items()
    }


#: Where a local cluster's dashboard listens: loopback only, on a free port.
LOCAL_DASHBOARD = "127.0.0.1:0"

#: The backends ``compute_backend`` accepts.
BACKENDS: tuple[str, ...] = ("loky", "dask")


#: The address schemes a Dask scheduler listens on (``distributed.comm.registry.backends``).
SCHEDULER_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def scheduler_address_problem(address: str) -> str | None:
    """Why ``address`` cannot be a Dask scheduler's (None when it can): a known scheme, if
    any (``tcp`` when left out, as Dask reads it), and a host."""
    scheme, found, rest = address.strip().partition("://")
    if not found:
        scheme, rest = "tcp", address.strip()
    if scheme not in SCHEDULER_SCHEMES:
        return (
            f"unknown address scheme {scheme!r}: use one of {', '.join(SCHEDULER_SCHEMES)}, "
            "e.g. tcp://host:8786"
        )
    if not rest or rest.startswith(":"):
        return "no host in the address, e.g. tcp://host:8786"
    return None


class SchedulerUnreachable(RuntimeError):
    """The Dask scheduler did not answer within the connect timeout."""


@contextmanager
def compute_backend(
    backend: str = "loky",
    scheduler: str | None = None,
    *,
    connect_timeout: float = 10.0,
) -> Iterator[str]:
    """Run joblib work inside this block on ``backend``; yields where it runs.

    ``"loky"`` changes nothing (joblib's worker processes on this machine, ``--jobs`` many).
    ``"dask"`` connects a ``dask.distributed.Client`` to ``scheduler`` (``tcp://host:8786``), or
    starts a ``LocalCluster`` of this machine's cores when no address is given, and routes
    joblib through it: every worker of the cluster is used, whatever ``--jobs`` says. The
    workers need fraudcast installed. An unreachable scheduler raises ``SchedulerUnreachable``
    after ``connect_timeout`` seconds; the client (and a local cluster) is closed on exit.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "loky":
        yield "local joblib workers"
        return
    from joblib import parallel_config

    with ExitStack() as stack:
        client = stack.enter_context(_dask_client(scheduler, connect_timeout))
        stack.enter_context(parallel_config(backend="dask"))
        yield f"dask scheduler {client.scheduler_info()['address']}"


@contextmanager
def _dask_client(scheduler: str | None, connect_timeout: float) -> Iterator[Client]:
    """A connected Dask client; a local cluster of processes when no address is given."""
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=connect_timeout, set_as_default=True)
        except (OSError, TimeoutError) as error:
            raise SchedulerUnreachable(
                f"no Dask scheduler answered at {scheduler} within {connect_timeout:g} s: {error}"
            ) from None
        with client:
            yield client
        return
    # One thread per worker: the models are NumPy-bound and hold the GIL between calls. The
    # dashboard listens on loopback at a free port (None would mean the fixed 8787, taken by
    # any other cluster on the machine).
    with (
        dask.config.set(WORKER_CONFIG),
        LocalCluster(
            processes=True, threads_per_worker=1, dashboard_address=LOCAL_DASHBOARD
        ) as cluster,
        Client(cluster, set_as_default=True) as client,
    ):
        log.info("started a local Dask cluster at %s", cluster.scheduler_address)
        yield client
