"""Whether a fraudcast process is using this clone's stores (``data/`` and ``mlruns/``).

Every ``fraudcast`` command holds a shared lock on ``data/.in-use`` while it runs: the service
for as long as it serves, a retrain, ``watch``. ``make clean-data`` deletes the stores only
under the exclusive lock, taken without waiting: with the service running it had deleted the
SQLite file under it, and figures the service had just acknowledged were lost with it.

Run as a script (standard library only, so it works before the venv exists):
``python data/in_use.py COMMAND ...`` runs COMMAND under the exclusive lock, or exits 1 naming
why it did not.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no flock, no guard
    fcntl = None  # type: ignore[assignment]

#: The lock file every fraudcast command holds a shared lock on.
IN_USE = Path(__file__).resolve().parent / ".in-use"


def _open() -> IO[str] | None:
    try:
        return IN_USE.open("a")
    except OSError:  # a read-only install: nothing to guard there
        return None


@contextmanager
def in_use() -> Iterator[None]:
    """Hold the shared lock for the block: other fraudcast commands go on, ``clean-data`` waits
    for none of them and refuses instead."""
    handle = _open() if fcntl is not None else None
    if handle is None:
        yield
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:  # clean-data is deleting right now: wait the moment it takes
            fcntl.flock(handle, fcntl.LOCK_SH)
        yield


def run_exclusive(command: list[str]) -> int:
    """Run ``command`` holding the exclusive lock; 1 without running it if a fraudcast process
    holds the shared one."""
    handle = _open() if fcntl is not None else None
    if handle is None:
        return subprocess.call(command)
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(
                "a fraudcast process is running from this clone and using it (the service, "
                "a retrain, `fraudcast watch`, or another command): stop it first; nothing "
                "was deleted",
                file=sys.stderr,
            )
            return 1
        return subprocess.call(command)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(f"usage: python {sys.argv[0]} COMMAND [ARGUMENT ...]")
    sys.exit(run_exclusive(sys.argv[1:]))
