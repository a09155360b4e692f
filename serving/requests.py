"""What a user asks for, checked the same way by the API and every command: interval levels
and horizons. Light to import: the command line checks its options before loading models."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache

from serving import schemas

_LEVEL_TEXT = re.compile(schemas.LEVEL_TEXT)


class InvalidRequest(ValueError):
    """A request parameter outside what is allowed; the message says what is."""


def parse_levels(text: str | Sequence[float]) -> tuple[float, ...]:
    """Interval levels from ``80,95`` (or a list), sorted and de-duplicated; each strictly
    between 0 and 100 with at most 4 decimal places (``schemas.LEVEL_RULE``), at most 10."""
    if isinstance(text, str):
        return _parse_level_text(text)
    return _checked_levels([_level_number(level) for level in text])


@lru_cache(maxsize=1024)
def _parse_level_text(text: str) -> tuple[float, ...]:
    """Query strings repeat, so each is parsed once (errors are not cached: they raise)."""
    return _checked_levels([_level_text(item) for item in text.split(",")])


def _level_text(item: str) -> float:
    """One level as typed in a query: exactly what ``schemas.LEVELS_PATTERN`` accepts."""
    if _LEVEL_TEXT.fullmatch(item.strip()) is None:
        raise InvalidRequest(f"{schemas.LEVEL_RULE}, separated by commas; got {item[:20]!r}")
    return float(item)


def _level_number(level: float) -> float:
    """One level given as a number: in range, and exact at ``schemas.LEVEL_DECIMALS``."""
    value = float(level)
    in_range = math.isfinite(value) and schemas.LEVEL_MIN <= value <= schemas.LEVEL_MAX
    if not in_range or round(value, schemas.LEVEL_DECIMALS) != value:
        raise InvalidRequest(f"{schemas.LEVEL_RULE}; got {level!r}")
    return value


def _checked_levels(levels: Sequence[float]) -> tuple[float, ...]:
    if not levels:
        raise InvalidRequest("give at least one interval level, e.g. levels=80,95")
    if len(levels) > schemas.MAX_LEVELS:
        raise InvalidRequest(f"at most {schemas.MAX_LEVELS} interval levels per request")
    return tuple(sorted(set(levels)))


def fraction_note(levels: Sequence[float]) -> str | None:
    """A warning for a command whose levels are all 1 or less: probabilities typed for
    percentages (0.8 asks for a 0.8% interval, one that hugs the projection)."""
    if not levels or max(levels) > 1:
        return None
    shown = ", ".join(f"{level:g}" for level in levels)
    meant = ",".join(f"{level * 100:g}" for level in levels)
    return (
        f"warning: levels are percentages: {shown} asks for {shown}% intervals, which hug the "
        f"projection; for {meant}% give --levels {meant}"
    )


def check_horizon(horizon: int, max_horizon: int) -> int:
    """The horizon if it lies in 1..max_horizon, else InvalidRequest."""
    if not 1 <= horizon <= max_horizon:
        raise InvalidRequest(f"horizon must be between 1 and {max_horizon} years, got {horizon}")
    return horizon
