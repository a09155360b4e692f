"""Cron expressions as cron reads them, for APScheduler.

APScheduler's ``CronTrigger.from_crontab`` numbers weekdays from 0 = Monday, where cron numbers
them from 0 = Sunday (7 too): the default ``0 3 * * 1``, "Mondays at 03:00" in cron, fired on
Tuesdays, and ``1-5`` meant Tuesday to Saturday. The weekday field is read here as cron reads
it and handed to APScheduler by name.
"""

from __future__ import annotations

import re

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

#: Weekday names by cron's numbers (0 and 7 are Sunday), as APScheduler spells them.
_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_PART = re.compile(r"^(?:(\*)|([0-7a-z]+)(?:-([0-7a-z]+))?)(?:/(\d+))?$")


def cron_trigger(expression: str) -> BaseTrigger:
    """The trigger of a five-field cron expression (minute hour day month weekday) in UTC,
    weekdays as cron numbers them, and, as in cron, a day of the month and a weekday both
    given fire on either ("0 3 15 * 1": the 15th and every Monday; APScheduler alone would
    wait for a Monday the 15th). Raises ``ValueError`` saying what is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    days = _weekdays(weekday)

    def trigger(day: str, days: str) -> CronTrigger:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=days, timezone="UTC"
        )

    if day != "*" and weekday != "*":
        return OrTrigger([trigger(day, "*"), trigger("*", days)])
    return trigger(day, days)


def _weekdays(field: str) -> str:
    """Cron's weekday field as APScheduler's: the days it names, by name ("mon,tue")."""
    days: set[int] = set()
    for part in field.lower().split(","):
        match = _PART.match(part)
        if match is None:
            raise ValueError(f"weekday {part!r} is not a day, a range or a step of them")
        every, first, last, step = match.groups()
        start = 0 if every else _day(first)
        end = 6 if every else _day(last) if last else start
        if last and end == 0 and start > 0:
            end = 7  # "5-7" or "fri-sun": Friday to Sunday
        if end < start:
            raise ValueError(f"weekday range {part!r} runs backwards")
        stride = int(step) if step else 1
        if stride < 1:
            raise ValueError(f"weekday step in {part!r} must be at least 1")
        if step and not every and not last:
            end = 6  # "1/2": every second day from Monday
        days.update(day % 7 for day in range(start, end + 1, stride))
    if len(days) == 7:
        return "*"
    return ",".join(_NAMES[day] for day in sorted(days))


def _day(text: str) -> int:
    """A cron weekday: 0-7 (0 and 7 are Sunday) or a name (sun, mon, ...)."""
    if text.isdigit():
        number = int(text)
        if number > 7:
            raise ValueError(f"weekday {number} is not 0-7 (0 and 7 are Sunday)")
        return number % 7
    name = text[:3]
    if name not in _NAMES or len(text) != 3:
        raise ValueError(f"weekday {text!r} is not 0-7 or sun-sat")
    return _NAMES.index(name)
