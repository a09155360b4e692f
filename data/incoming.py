"""The drop folder for new figures files: each settled ``*.csv`` is added whole or rejected whole.

Writers should write ``name.csv.part`` (or any hidden or ``*.tmp`` name) and rename it to
``name.csv`` when done: a rename within one filesystem is atomic, so the file appears complete.
As a second guard a ``*.csv`` qualifies only once its mtime is ``settle_seconds`` old, and it is
skipped if its size or mtime change while it is being read.

After processing, a file is moved (``os.replace``, same filesystem) to
``processed/<UTC timestamp>-<name>`` or ``rejected/<UTC timestamp>-<name>``, the latter with
``<that name>.error.txt`` beside it listing every bad row. A file is rejected only for bad
content; when the store itself fails (locked, down) the file stays where it is for the next tick.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from data.errors import FraudcastDataError
from data.records import AddResult
from data.store import FigureStore
from data.validation import read_figures_csv

__all__ = ["PROCESSED", "REJECTED", "IncomingOutcome", "process_incoming", "ready_files"]

logger = logging.getLogger(__name__)

PROCESSED = "processed"
REJECTED = "rejected"
ERROR_SUFFIX = ".error.txt"


@dataclass(frozen=True)
class IncomingOutcome:
    """What happened to one dropped file."""

    name: str
    #: Final location, in ``processed/`` or ``rejected/``.
    moved_to: Path
    accepted: bool
    #: When accepted (``result.no_op`` if the store already held every figure as given).
    result: AddResult | None
    #: When rejected: the full readable reason, every bad row.
    error: str | None


def _ensure_folders(folder: Path) -> None:
    for path in (folder, folder / PROCESSED, folder / REJECTED):
        path.mkdir(parents=True, exist_ok=True)


def _is_candidate(path: Path) -> bool:
    # "name.csv.part" and "name.tmp" end otherwise, so the suffix test leaves them out.
    return not path.name.startswith(".") and path.suffix.lower() == ".csv" and path.is_file()


def ready_files(folder: Path, *, settle_seconds: float = 1.0) -> list[Path]:
    """The ``*.csv`` files directly in ``folder`` untouched for ``settle_seconds``, oldest first.

    Creates ``folder`` and its ``processed/`` and ``rejected/`` subfolders if missing. Hidden
    files, ``*.part``, ``*.tmp`` and anything else are ignored.
    """
    _ensure_folders(folder)
    now = time.time()
    ready: list[tuple[int, str, Path]] = []
    for path in folder.iterdir():
        if not _is_candidate(path):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # renamed or taken by another watcher meanwhile
            continue
        if now - stat.st_mtime >= settle_seconds:
            ready.append((stat.st_mtime_ns, path.name, path))
    return [path for _, _, path in sorted(ready)]


def _stamped_target(folder: Path, name: str) -> Path:
    """A free ``<UTC timestamp with microseconds>-<name>`` path in ``folder``."""
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        target = folder / f"{stamp}-{name}"
        if not target.exists() and not target.with_name(target.name + ERROR_SUFFIX).exists():
            return target


def _write_text_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _reject(path: Path, folder: Path, error: Exception) -> IncomingOutcome:
    target = _stamped_target(folder / REJECTED, path.name)
    reason = str(error)
    header = f"{path.name} was rejected at {datetime.now(UTC).isoformat()}; nothing was added.\n\n"
    # Reasons first: if we die before the move, the file is simply retried on the next tick.
    _write_text_atomically(target.with_name(target.name + ERROR_SUFFIX), header + reason + "\n")
    os.replace(path, target)
    logger.warning("rejected %s -> %s:\n%s", path.name, target, reason)
    return IncomingOutcome(path.name, target, accepted=False, result=None, error=reason)


def _accept(path: Path, folder: Path, result: AddResult) -> IncomingOutcome:
    target = _stamped_target(folder / PROCESSED, path.name)
    os.replace(path, target)
    logger.info("added %s -> %s: %s", path.name, target, result.summary())
    for warning in result.warnings:
        logger.warning("%s: %s", path.name, warning)
    return IncomingOutcome(path.name, target, accepted=True, result=result, error=None)


def _process_one(store: FigureStore, folder: Path, path: Path) -> IncomingOutcome | None:
    """Add one file or reject it; None when it must stay in place for the next tick."""
    before = path.stat()
    try:
        frame = read_figures_csv(path)
    except FraudcastDataError as error:
        return _reject(path, folder, error)
    after = path.stat()
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        logger.info("%s changed while being read; retrying on the next tick", path.name)
        return None
    try:
        result = store.add_figures(
            frame, source=f"incoming/{path.name}", message=f"dropped into {folder}"
        )
    except FraudcastDataError as error:  # InvalidFigures, UnknownSeries, ...: bad content
        return _reject(path, folder, error)
    return _accept(path, folder, result)


def process_incoming(
    store: FigureStore, folder: Path, *, settle_seconds: float = 1.0
) -> list[IncomingOutcome]:
    """Add every settled file in ``folder`` to ``store``, all or nothing per file, oldest first.

    Never raises for one file: bad content is moved to ``rejected/`` with its reasons; any other
    failure (the store locked or down, an unreadable disk) is logged and the file left in place.
    Files left in place are not in the returned list.
    """
    outcomes = []
    for path in ready_files(folder, settle_seconds=settle_seconds):
        try:
            outcome = _process_one(store, folder, path)
        except FileNotFoundError:
            logger.info("%s vanished before it was processed (another watcher?)", path.name)
            continue
        except Exception:
            logger.exception("could not process %s; leaving it for the next tick", path.name)
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes
