"""Typed domain errors of the figure store, mapped to exit codes and HTTP statuses by callers."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: At most this many characters of a file's own text are quoted in any message.
EXCERPT_CHARS = 40
#: A report lists this many problems of each kind, then only counts the rest.
PROBLEMS_PER_KIND = 50


def cut(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with "…" when something was cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def plain_reason(message: str) -> str:
    """A pydantic validation message without the "Value error, " its custom checks get, so
    a reason reads the same from the API and the command line."""
    return message.removeprefix("Value error, ")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A short, escaped quotation of untrusted text: cut to ``limit`` characters, then repr'd.

    Messages quote files this way, so a dropped secret or a control character never reaches
    an error report or a log line whole.
    """
    return repr(cut(text, limit))


def driver_words(error: BaseException) -> str:
    """What a store error says in the database driver's own words (SQLAlchemy keeps them as
    ``orig``), never SQLAlchemy's own text, which quotes the statement and its rows (figures,
    notes, sources); the error's type when it says nothing."""
    said = str(getattr(error, "orig", None) or error).strip()
    return said or type(error).__name__


def one_line(error: BaseException, limit: int = 200) -> str:
    """An error as one short line: its type and the first line of ``driver_words``, without
    a statement quoted after it (MLflow's errors carry SQLAlchemy's "[SQL: INSERT ...]")."""
    said = driver_words(error).splitlines()[0].split(" [SQL:")[0].strip()
    return f"{type(error).__name__}: {cut(said, limit)}"


class FraudcastDataError(Exception):
    """Base of every error the data package raises on purpose."""


def closest_series(series_id: str, known: Iterable[str]) -> str | None:
    """The known series id ``series_id`` was most likely a typo of, if one is close."""
    known = list(known)
    lower = {name.lower(): name for name in known}
    if series_id.lower() in lower:  # JP_SPECIAL_FRAUD_CASES
        return lower[series_id.lower()]
    found = difflib.get_close_matches(series_id.lower(), known, n=1, cutoff=0.85)
    return found[0] if found else None


#: An unknown id's message lists this many known series at most: a store of thousands would
#: have answered every 404 with all of their ids.
KNOWN_LISTED = 20


#: An id is this many characters at most: a longer one is quoted only as far as that.
ID_QUOTED = 100


def quoted_id(given: str) -> str:
    """An id as a message quotes it: whole up to ``ID_QUOTED`` characters, cut there with
    "…" beyond (an id of 20,000 characters had been echoed whole in its 404)."""
    return repr(given) if len(given) <= ID_QUOTED else f"{given[:ID_QUOTED]!r}…"


class UnknownSeries(FraudcastDataError, LookupError):
    """A series id that the store does not know."""

    def __init__(self, series_id: str, known: Iterable[str] = ()) -> None:
        self.series_id = series_id
        self.known = tuple(sorted(known))
        listed = ", ".join(self.known[:KNOWN_LISTED])
        more = len(self.known) - KNOWN_LISTED
        listed += (
            f" and {more} more (GET /v1/series, or `fraudcast series list`)" if more > 0 else ""
        )
        hint = f" Known series: {listed}." if self.known else ""
        close = closest_series(series_id[:ID_QUOTED], self.known)
        meant = f" (did you mean {close!r}?)" if close else ""
        super().__init__(f"unknown series {quoted_id(series_id)}{meant}.{hint}")


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

    #: what happened, without when to try again (the drop folder says its own wait)
    SITUATION = "the figure store is busy with another write; nothing was written"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"{self.SITUATION}. Try again in {retry_after} s.")


class InvalidSeries(FraudcastDataError, ValueError):
    """Series metadata that cannot be stored (bad id, empty unit, clash with a stored series)."""


class InvalidWithdrawal(FraudcastDataError, ValueError):
    """Figures that cannot be withdrawn (none stored for a year, every figure of the series, no
    reason given); nothing was withdrawn."""


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with one cell of a figures file.

    ``line`` is the 1-based line number in the CSV file, the header being line 1. ``column``
    and ``value`` come from the file and are kept cut to ``EXCERPT_CHARS``; ``reason`` is
    written by fraudcast and quotes nothing from the file. ``kind`` groups problems for the
    counts of a long report; it defaults to the reason. ``earlier`` is the line of the row this
    one repeats (a duplicate figure), said in the file's terms ("first on line 2") or, through
    ``said_as``, in another's (the API's "first as item 0").
    """

    line: int
    column: str
    value: str
    reason: str
    kind: str = ""
    earlier: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "column", cut(self.column))
        object.__setattr__(self, "value", cut(self.value))
        object.__setattr__(self, "kind", self.kind or self.reason)

    def __str__(self) -> str:
        column = self.column if self.column.isidentifier() or not self.column else repr(self.column)
        shown = f" (value {self.value!r})" if self.value != "" else ""
        return f"line {self.line}, column {column or '-'}: {self.said}{shown}"

    @property
    def said(self) -> str:
        """The reason as a file's reader is told it, with the line a duplicate repeats."""
        return self.said_as(lambda line: f"on line {line}")

    def said_as(self, place: Callable[[int], str]) -> str:
        """The reason with the row a duplicate repeats named by ``place`` (given its line):
        "on line 2" in a file, "as item 0" in a request body."""
        return self.reason + (f", first {place(self.earlier)}" if self.earlier is not None else "")


class ProblemReport:
    """Problems as they are found: all counted by kind, only the first ``per_kind`` of each kept.

    So a file of a million bad rows costs the memory of a few hundred problems.
    """

    def __init__(self, problems: Iterable[RowProblem] = (), per_kind: int = PROBLEMS_PER_KIND):
        self.per_kind = per_kind
        self.shown: list[RowProblem] = []
        self.counts: Counter[str] = Counter()
        self.extend(problems)

    def add(self, problem: RowProblem) -> None:
        """Count ``problem`` and keep it if fewer than ``per_kind`` of its kind are kept."""
        self.counts[problem.kind] += 1
        if self.counts[problem.kind] <= self.per_kind:
            self.shown.append(problem)

    def extend(self, problems: Iterable[RowProblem]) -> None:
        """Add each of ``problems``."""
        for problem in problems:
            self.add(problem)

    def merge(self, other: ProblemReport) -> None:
        """Take in another report's problems and counts."""
        self.extend(other.shown)
        for kind, count in other.counts.items():
            self.counts[kind] += count - min(count, other.per_kind)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def raise_if_any(self) -> None:
        """Raise ``InvalidFigures`` with this report unless it is empty."""
        if self:
            raise InvalidFigures(self)


class InvalidFigures(FraudcastDataError, ValueError):
    """A figures file or frame that was rejected whole.

    ``problems`` lists the first ``PROBLEMS_PER_KIND`` problems of each kind by line, and
    ``counts`` how many of each kind there were in all, so a report stays short however long
    the file.
    """

    def __init__(self, problems: Iterable[RowProblem] | ProblemReport) -> None:
        report = problems if isinstance(problems, ProblemReport) else ProblemReport(problems)
        self.problems = sorted(report.shown, key=lambda p: (p.line, p.column, p.reason))
        self.counts: dict[str, int] = dict(report.counts)
        super().__init__(str(self))

    @property
    def total(self) -> int:
        """How many problems were found, shown or not."""
        return sum(self.counts.values())

    def omitted(self) -> dict[str, int]:
        """Per kind, how many problems were counted but not listed (kinds in order of line)."""
        listed = Counter(problem.kind for problem in self.problems)
        kinds = dict.fromkeys(problem.kind for problem in self.problems)
        return {
            kind: self.counts[kind] - listed[kind]
            for kind in kinds
            if self.counts[kind] > listed[kind]
        }

    def omitted_lines(self) -> list[str]:
        """One line per kind with problems not listed: "… and 1,234 more rows: <kind>"."""
        return [
            f"… and {count:,} more {'row' if count == 1 else 'rows'}: {kind}"
            for kind, count in self.omitted().items()
        ]

    def __str__(self) -> str:
        total = self.total
        head = (
            f"figures rejected, nothing was written: {total:,} problem{'s' if total != 1 else ''}"
        )
        lines = [f"  {problem}" for problem in self.problems] + [
            f"  {line}" for line in self.omitted_lines()
        ]
        return "\n".join([head + ":", *lines])


class FileTooLarge(FraudcastDataError, ValueError):
    """A figures file over the size limit, refused before it is read."""

    def __init__(self, limit: int, size: int | None = None) -> None:
        self.limit = limit
        self.size = size
        what = f"{size:,} bytes, " if size is not None else ""
        super().__init__(
            f"the file is {what}over the limit of {limit:,} bytes for a figures file "
            "(FRAUDCAST_MAX_FIGURES_FILE_BYTES); nothing was read or written"
        )


class SchemaUpgradeFailed(FraudcastDataError):
    """The store's tables could not be brought to this release's schema; nothing was changed."""

    def __init__(self, reason: str, *, attempted: bool = True) -> None:
        self.reason = reason
        after = (
            "The upgrade was rolled back; the store is as it was."
            if attempted
            else "Nothing was tried; the store is as it was."
        )
        super().__init__(f"could not upgrade the figure store's tables: {reason}. {after}")
