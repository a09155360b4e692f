"""`--backend` and `--scheduler`: the options that move per-series work onto a Dask cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from training.distributed import (
    BACKENDS,
    SchedulerUnreachable,
    compute_backend,
    scheduler_address_problem,
)
from training.settings import TrainingSettings

#: ``--backend`` (default: FRAUDCAST_BACKEND, else loky).
BACKEND_OPTION: Any = typer.Option(
    None,
    "--backend",
    metavar="[loky|dask]",
    help="where series are fitted: loky (this machine, --jobs workers) or dask (every worker "
    "of a Dask cluster)  [default: FRAUDCAST_BACKEND, else loky]",
    show_default=False,
)


def _check_scheduler(address: str | None) -> str | None:
    """``--scheduler``: refused before anything runs when it cannot be a scheduler's address."""
    problem = scheduler_address_problem(address) if address else None
    if problem:
        raise typer.BadParameter(f"{address!r}: {problem}")
    return address


#: ``--scheduler`` (default: FRAUDCAST_DASK_SCHEDULER).
SCHEDULER_OPTION: Any = typer.Option(
    None,
    "--scheduler",
    metavar="ADDRESS",
    callback=_check_scheduler,
    help="Dask scheduler, e.g. tcp://host:8786 (implies --backend dask)  [default: "
    "FRAUDCAST_DASK_SCHEDULER, else a local Dask cluster of this machine's cores]",
    show_default=False,
)


@contextmanager
def cli_backend(
    backend: str | None, scheduler: str | None, settings: TrainingSettings | None = None
) -> Iterator[str]:
    """``compute_backend`` for a command: options over settings; a clear exit (code 2) when
    the choice is invalid or the scheduler does not answer."""
    settings = settings or TrainingSettings()
    chosen = backend or ("dask" if scheduler else settings.backend)
    if chosen not in BACKENDS:
        raise typer.BadParameter(
            f"{chosen!r} is not one of {', '.join(BACKENDS)}", param_hint="--backend"
        )
    if scheduler and chosen != "dask":
        raise typer.BadParameter("--scheduler needs --backend dask", param_hint="--scheduler")
    address = (scheduler or settings.dask_scheduler) if chosen == "dask" else None
    try:
        with compute_backend(
            chosen, address, connect_timeout=settings.dask_connect_timeout
        ) as where:
            yield where
    except SchedulerUnreachable as error:  # raised on entry, before any work
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
