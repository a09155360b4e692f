"""The drop folder for new figures files: each settled ``*.csv`` is added whole or rejected whole.

File names are quoted with ``repr`` in log lines and reports, so a name holding a newline or
a control character cannot forge or garble a line.

Writers should write ``name.csv.part`` (or any hidden or ``*.tmp`` name) and rename it to
``name.csv`` when done: a rename within one filesystem is atomic, so the file appears complete.
As a second guard a ``*.csv`` qualifies only once its mtime is ``settle_seconds`` old, and it is
skipped if its size or mtime change while it is being read.

Only regular files are read. A ``*.csv`` that is a symbolic link, a pipe, a socket, a device or
a file with other hard links is refused unread: it is never opened through a link (``O_NOFOLLOW``,
then ``fstat`` of what was opened), and the entry itself is moved to ``rejected/``.

A file is read once, and what is added is what was read: ``processed/<UTC timestamp>-<name>``
is written from exactly those bytes, and the drop removed. If the file changed after it was read
(a writer still at work past the settle time) it is moved, as it is now, to ``rejected/`` saying
that only the part read was added; a writer that appends after that writes to a removed file, so
writers should rename. A rejected file is moved (``os.replace``, same filesystem) to
``rejected/<UTC timestamp>-<name>`` with ``<that name>.error.txt`` (readable by its owner only)
beside it giving the reason; a file added with warnings (a sharp jump against a neighbouring
year) has ``<its processed name>.warnings.txt`` beside it. A file is rejected for what it is or
holds; when the store itself fails (busy, down) the file stays where it is for the next tick.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import OperationalError

try:
    import fcntl
except ImportError:  # Windows: no claim lock; one watcher per folder there
    fcntl = None  # type: ignore[assignment]

from data.errors import FraudcastDataError, StoreBusy, one_line
from data.records import AddResult
from data.store import FigureStore
from data.validation import read_bounded, read_figures_csv

__all__ = [
    "PROCESSED",
    "REJECTED",
    "TRANSIENT_ERRORS",
    "IncomingOutcome",
    "process_incoming",
    "ready_files",
    "retry_wait",
]

logger = logging.getLogger(__name__)

PROCESSED = "processed"
REJECTED = "rejected"
ERROR_SUFFIX = ".error.txt"
#: Beside a processed file whose figures were added with warnings (a sharp jump), saying which.
WARNINGS_SUFFIX = ".warnings.txt"
#: Failures of the store or the disk rather than of a file: the file waits for the next tick.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (StoreBusy, OperationalError, OSError)


@dataclass(frozen=True)
class IncomingOutcome:
    """What happened to one dropped file."""

    name: str
    #: Final location: in ``processed/`` (the bytes that were added) or ``rejected/``.
    moved_to: Path
    accepted: bool
    #: When accepted (``result.no_op`` if the store already held every figure as given).
    result: AddResult | None
    #: When rejected: the full readable reason, every bad row.
    error: str | None


def _ensure_folders(folder: Path) -> None:
    for path in (folder, folder / PROCESSED, folder / REJECTED):
        path.mkdir(parents=True, exist_ok=True)


#: Files a spreadsheet writes that are not CSV, by extension: refused with what to do rather
#: than left in the folder without a word.
NOT_CSV_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods", ".numbers", ".tsv"})


def _is_candidate(path: Path) -> bool:
    # "name.csv.part" and "name.tmp" end otherwise, so the suffix test leaves them out.
    suffix = path.suffix.lower()
    return not path.name.startswith(".") and (suffix == ".csv" or suffix in NOT_CSV_SUFFIXES)


def _not_regular(status: os.stat_result) -> str | None:
    """What a ``*.csv`` entry is when it is not a plain regular file; None when it is one."""
    mode = status.st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if not stat.S_ISREG(mode):
        return "a pipe, socket or device"
    if status.st_nlink > 1:
        return "a regular file with other hard links"
    return None


def ready_files(folder: Path, *, settle_seconds: float = 1.0) -> list[Path]:
    """The ``*.csv`` entries directly in ``folder`` untouched for ``settle_seconds``, oldest first.

    Creates ``folder`` and its ``processed/`` and ``rejected/`` subfolders if missing. A
    spreadsheet's other formats (``NOT_CSV_SUFFIXES``) are listed too, to be refused. Hidden
    files, ``*.part``, ``*.tmp``, folders and anything else are ignored. Links are not followed:
    a link is listed by its own mtime (and refused when processed), as are pipes and devices.
    """
    _ensure_folders(folder)
    now = time.time()
    ready: list[tuple[int, str, Path]] = []
    for path in folder.iterdir():
        if not _is_candidate(path):
            continue
        try:
            status = path.lstat()
        except FileNotFoundError:  # renamed or taken by another watcher meanwhile
            continue
        if stat.S_ISDIR(status.st_mode):
            continue
        if now - status.st_mtime >= settle_seconds:
            ready.append((status.st_mtime_ns, path.name, path))
    return [path for _, _, path in sorted(ready)]


def _stamped_target(folder: Path, name: str) -> Path:
    """A free ``<UTC timestamp with microseconds>-<name>`` path in ``folder``."""
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        target = folder / f"{stamp}-{name}"
        if not target.exists() and not target.with_name(target.name + ERROR_SUFFIX).exists():
            return target


def _write_atomically(path: Path, content: bytes, mode: int = 0o600) -> None:
    """Write ``content`` to ``path`` through a hidden partial file, with permissions ``mode``."""
    partial = path.with_name(f".{path.name}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    descriptor = os.open(partial, flags, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # also when a stale partial file was there already
        handle.write(content)
    os.replace(partial, path)


def _reject(path: Path, folder: Path, error: Exception | str) -> IncomingOutcome:
    target = _stamped_target(folder / REJECTED, path.name)
    reason = str(error)
    when = datetime.now(UTC).isoformat()
    header = f"{path.name!r} was rejected at {when}; nothing was added."
    # The move first: when another process took the file meanwhile, it raises and nothing is
    # written here (the report had been written first, and stayed beside no file).
    os.replace(path, target)
    report = f"{header}\n\n{reason}\n".encode()
    _write_atomically(target.with_name(target.name + ERROR_SUFFIX), report)
    logger.warning("rejected %r -> %s/%r:\n%s", path.name, REJECTED, target.name, reason)
    return IncomingOutcome(path.name, target, accepted=False, result=None, error=reason)


def _changed(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns)


def _still_there(path: Path, read: os.stat_result) -> os.stat_result | None:
    """``path``'s status now if it still names the file that was read (not a new drop)."""
    try:
        now = path.lstat()
    except FileNotFoundError:
        return None
    return now if (now.st_dev, now.st_ino) == (read.st_dev, read.st_ino) else None


def _accept(
    path: Path, folder: Path, result: AddResult, content: bytes, read: os.stat_result
) -> IncomingOutcome:
    """Keep exactly the bytes that were added in ``processed/``, then clear the drop.

    A writer that went on writing after the file was read has its file, as it is now, moved to
    ``rejected/`` saying that only the part read was added; a file renamed over the drop
    meanwhile is a new drop and stays for the next tick.
    """
    target = _stamped_target(folder / PROCESSED, path.name)
    _write_atomically(target, content, stat.S_IMODE(read.st_mode) & 0o666)
    os.utime(target, ns=(read.st_atime_ns, read.st_mtime_ns))
    logger.info("added %r -> %s/%r: %s", path.name, PROCESSED, target.name, result.summary())
    for warning in result.warnings:
        logger.warning("%r: %s", path.name, warning)
    if result.warnings:  # beside the copy, where whoever dropped the file looks, not only the log
        when = datetime.now(UTC).isoformat()
        header = f"{path.name!r} was added at {when}: {result.summary()} Check these figures:"
        report = "\n".join([header, "", *result.warnings, ""]).encode()
        _write_atomically(target.with_name(target.name + WARNINGS_SUFFIX), report)
    now = _still_there(path, read)
    if now is not None and _changed(read, now):
        logger.warning("%r changed after it was read; only what was read was added", path.name)
        _reject(path, folder, _late_writes(path, target, len(content)))
    elif now is not None:
        path.unlink(missing_ok=True)
    return IncomingOutcome(path.name, target, accepted=True, result=result, error=None)


def _late_writes(path: Path, processed: Path, size: int) -> str:
    return (
        f"{path.name!r} changed after it was read: its first {size:,} bytes were added and are "
        f"kept as processed/{processed.name}; what was written to it later was not added. "
        "Write the file as name.csv.part and rename it to name.csv when it is complete."
    )


def _refusal(path: Path, what: str) -> str:
    return (
        f"{path.name!r} is not a regular file ({what}): the drop folder takes regular files "
        "only and read nothing from it; copy the file itself into the folder"
    )


def _open_regular(path: Path) -> int | str:
    """An open read-only descriptor of ``path`` if it is a regular file, else why it is refused.

    ``O_NOFOLLOW`` refuses a link swapped in after ``lstat``; ``O_NONBLOCK`` keeps a pipe from
    blocking the open; ``fstat`` checks what was actually opened.
    """
    what = _not_regular(path.lstat())
    if what is not None:
        return _refusal(path, what)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return _refusal(path, "a symbolic link")
        raise
    what = _not_regular(os.fstat(descriptor))
    if what is not None:
        os.close(descriptor)
        return _refusal(path, what)
    return descriptor


def _process_one(store: FigureStore, folder: Path, path: Path) -> IncomingOutcome | None:
    """Add one file or reject it; None when it must stay in place for the next tick."""
    if path.suffix.lower() in NOT_CSV_SUFFIXES:
        return _reject(
            path,
            folder,
            f"{path.name!r} is not a .csv file: the drop folder reads CSV only and read "
            "nothing from it; save it from the spreadsheet as 'CSV UTF-8 (comma delimited)' "
            "and drop that",
        )
    try:
        opened = _open_regular(path)
    except PermissionError:
        return _reject(path, folder, f"{path.name!r} cannot be read: permission denied")
    if isinstance(opened, str):
        return _reject(path, folder, opened)
    # Held open, and claimed, until the file is moved: another service watching the same
    # folder skips it meanwhile (each had kept a copy in processed/ of the same file).
    with os.fdopen(opened, "rb") as handle:
        read = os.fstat(handle.fileno())
        if not _claim(handle.fileno()) or _still_there(path, read) is None:
            logger.debug("%r is being taken by another watcher; leaving it to that one", path.name)
            return None
        try:
            content = read_bounded(handle)
            frame = read_figures_csv(content)
        except FraudcastDataError as error:
            return _reject(path, folder, error)
        if _changed(read, os.fstat(handle.fileno())):
            logger.info("%r changed while being read; retrying on the next tick", path.name)
            return None
        try:
            result = store.add_figures(
                frame, source=f"{DROPPED_SOURCE}{path.name}", message=dropped_message(path.name)
            )
        except StoreBusy:
            raise  # a FraudcastDataError, but about the store, not the file: see TRANSIENT_ERRORS
        except FraudcastDataError as error:  # InvalidFigures, UnknownSeries, ...: bad content
            return _reject(path, folder, error)
        return _accept(path, folder, result, content, read)


def _claim(descriptor: int) -> bool:
    """Whether this process holds the dropped file open on ``descriptor`` alone (an exclusive
    ``flock``, released when it is closed); True where there is no ``flock``."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


#: How a revision's source names a file from the drop folder: "incoming/npa-2024.csv".
DROPPED_SOURCE = "incoming/"


def dropped_message(file_name: str) -> str:
    """A dropped file's revision message: its name and where it came, not the server's path
    to the folder ("dropped into /tmp/walk62/data/incoming" went out in forwarded briefs)."""
    return f"{file_name}, dropped into the drop folder"


def _give_up(path: Path, folder: Path, error: Exception) -> IncomingOutcome | None:
    """Reject a file that failed in a way retrying will not mend (a bug, not an outage)."""
    logger.exception("could not process %r; rejecting it", path.name)
    reason = f"{path.name!r} could not be processed ({one_line(error)}); nothing was added"
    try:
        return _reject(path, folder, reason)
    except OSError as failure:
        logger.warning("could not reject %r either (%s)", path.name, one_line(failure))
        return None


def process_incoming(
    store: FigureStore, folder: Path, *, settle_seconds: float = 1.0
) -> list[IncomingOutcome]:
    """Add every settled file in ``folder`` to ``store``, all or nothing per file, oldest first.

    Never raises for one file. A file that is refused or fails for any reason of its own is
    moved to ``rejected/`` with the reason, once; only an outage (the store locked, down or
    out of disk, the folder not writable) leaves it in place, tried again after a wait that
    doubles with each failure (``RETRY_FIRST_S`` up to ``RETRY_LONGEST_S``), with one log line
    a try: a full disk had logged a warning every 2 s per file. Files left in place are not in
    the returned list.
    """
    outcomes = []
    now = time.monotonic()
    listed = {_retry_key(path): path for path in ready_files(folder, settle_seconds=settle_seconds)}
    for gone in [key for key in _RETRIES if key[0].startswith(f"{folder}{os.sep}")]:
        if gone not in listed:  # removed or written anew while it waited: forget its failures
            del _RETRIES[gone]
    for key, path in listed.items():
        waiting = _RETRIES.get(key)
        if waiting is not None and now < waiting[1]:
            continue  # failed for an outage not long ago: its next try is not due
        try:
            outcome = _process_one(store, folder, path)
        except FileNotFoundError:
            logger.info("%r vanished before it was processed (another watcher?)", path.name)
            continue
        except TRANSIENT_ERRORS as error:
            wait = retry_wait(waiting[0] if waiting else 0)
            _RETRIES[key] = ((waiting[0] if waiting else 0) + 1, now + wait)
            # a busy store's own "Try again in 5 s" beside this wait had read as a contradiction
            said = StoreBusy.SITUATION if isinstance(error, StoreBusy) else one_line(error)
            logger.warning(
                "could not process %r now (%s); trying it again in %.0f s", path.name, said, wait
            )
            continue
        except Exception as error:
            outcome = _give_up(path, folder, error)
        _RETRIES.pop(key, None)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


#: Seconds before a file that failed for an outage is tried again, doubling with each failure,
#: at most RETRY_LONGEST_S (one look in five minutes; a changed file is tried at once).
RETRY_FIRST_S = 2.0
RETRY_LONGEST_S = 300.0


def retry_wait(failures: int) -> float:
    """Seconds to wait before trying again what failed for an outage ``failures`` times in a
    row before this failure: ``RETRY_FIRST_S``, doubling, at most ``RETRY_LONGEST_S``."""
    return min(RETRY_LONGEST_S, RETRY_FIRST_S * 2**failures)


#: Files waiting to be tried again, by ``_retry_key``: (failures so far, when the next try is
#: due on ``time.monotonic``).
_RETRIES: dict[tuple[str, int, int], tuple[int, float]] = {}


def _retry_key(path: Path) -> tuple[str, int, int]:
    """A dropped file as it stands: its path, size and modification time (a file written
    anew is a new file, tried at once)."""
    try:
        found = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), found.st_size, found.st_mtime_ns)
