"""Typed domain errors of the figure store, mapped to exit codes and HTTP statuses by callers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: At most this many characters of a file's own text are quoted in any message.
EXCERPT_CHARS = 40


def cut(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with "…" when something was cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A short, escaped quotation of untrusted text: cut to ``limit`` characters, then repr'd.

    Messages quote files this way, so a dropped secret or a control character never reaches
    an error report or a log line whole.
    """
    return repr(cut(text, limit))


class FraudcastDataError(Exception):
    """Base of every error the data package raises on purpose."""


class UnknownSeries(FraudcastDataError, LookupError):
    """A series id that the store does not know."""

    def __init__(self, series_id: str, known: Iterable[str] = ()) -> None:
        self.series_id = series_id
        self.known = tuple(sorted(known))
        hint = f" Known series: {', '.join(self.known)}." if self.known else ""
        super().__init__(f"unknown series {series_id!r}.{hint}")


class UnknownRevision(FraudcastDataError, LookupError):
    """A revision id that the store does not hold."""

    def __init__(self, revision_id: int) -> None:
        self.revision_id = revision_id
        super().__init__(f"unknown revision {revision_id}")


class StoreBusy(FraudcastDataError):
    """Another write held the store longer than a write waits; nothing was written.

    Transient: the same call may well succeed ``retry_after`` seconds later (an HTTP 503 with
    ``Retry-After``; the drop folder keeps the file for its next look).
    """

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            "the figure store is busy with another write; nothing was written. "
            f"Try again in {retry_after} s."
        )


class InvalidSeries(FraudcastDataError, ValueError):
    """Series metadata that cannot be stored (bad id, empty unit, clash with a stored series)."""


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with one cell of a figures file.

    ``line`` is the 1-based line number in the CSV file, the header being line 1. ``column``
    and ``value`` come from the file and are kept cut to ``EXCERPT_CHARS``; ``reason`` is
    written by fraudcast and quotes nothing from the file.
    """

    line: int
    column: str
    value: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "column", cut(self.column))
        object.__setattr__(self, "value", cut(self.value))

    def __str__(self) -> str:
        column = self.column if self.column.isidentifier() or not self.column else repr(self.column)
        shown = f" (value {self.value!r})" if self.value != "" else ""
        return f"line {self.line}, column {column or '-'}: {self.reason}{shown}"


class InvalidFigures(FraudcastDataError, ValueError):
    """A figures file or frame that was rejected whole; lists every problem found."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.column, p.reason))
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"figures rejected, nothing was written: {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head + ":", *(f"  {problem}" for problem in self.problems)])
