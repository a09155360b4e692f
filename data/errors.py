"""Typed domain errors of the figure store, mapped to exit codes and HTTP statuses by callers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


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
    """Another writer held the store for longer than a write may wait; nothing was written.

    ``retry_after`` is the number of seconds after which trying again makes sense.
    """

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class InvalidSeries(FraudcastDataError, ValueError):
    """Series metadata that cannot be stored (bad id, empty unit, clash with a stored series)."""


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with one cell of a figures file.

    ``line`` is the 1-based line number in the CSV file, the header being line 1.
    """

    line: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        shown = f" (value {self.value!r})" if self.value != "" else ""
        return f"line {self.line}, column {self.column or '-'}: {self.reason}{shown}"


class InvalidFigures(FraudcastDataError, ValueError):
    """A figures file or frame that was rejected whole; lists every problem found."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.column, p.reason))
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"figures rejected, nothing was written: {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head + ":", *(f"  {problem}" for problem in self.problems)])
