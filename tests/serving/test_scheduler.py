"""What the scheduler retrains while the service runs, decided from the store and the runs."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from serving.cron import cron_trigger
from serving.scheduler import RetrainScheduler
from serving.settings import ServiceSettings
from serving.state import ServiceState
from tests.support import TRAINED, yen_figure

_, YEN, _ = TRAINED


@pytest.fixture
def queued(state: ServiceState, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The series of every retrain the scheduler queues (none is run)."""
    calls: list[list[str]] = []

    def record(series: list[str] | None, **_: Any) -> None:
        calls.append(list(series or []))

    monkeypatch.setattr(state.jobs, "submit", record)
    state.board.refresh()
    return calls


def test_a_break_declared_while_serving_retrains_that_series_only(
    state: ServiceState, queued: list[list[str]]
) -> None:
    scheduler = RetrainScheduler(state)
    assert scheduler.retrain_stale() == []  # its first look: every champion is current
    years = state.store.values(YEN).index
    state.store.set_breaks(YEN, [int(years[len(years) // 2])])
    assert scheduler.retrain_stale() == [YEN]  # not the other trained series
    assert queued == [[YEN]]
    assert scheduler.retrain_stale() == []  # nothing changed since its last look


def test_a_skipped_look_is_not_logged_and_the_schedulers_lines_carry_a_time(
    state: ServiceState, caplog: pytest.LogCaptureFixture
) -> None:
    """APScheduler logged 'skipped: maximum number of running instances reached', without a
    time, every two seconds while a big dropped file was read."""
    scheduler = RetrainScheduler(state)
    logger = scheduler._scheduler._logger
    assert logger.name.startswith("serving.")  # fraudcast's log format: time and level
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
            "watch",
            1,
        )
        logger.warning("another warning")
    assert [record.getMessage() for record in caplog.records] == ["another warning"]


def _next(expression: str, after: datetime) -> datetime:
    fire = cron_trigger(expression).get_next_fire_time(None, after)
    assert fire is not None
    return fire


def test_weekdays_are_numbered_as_cron_numbers_them() -> None:
    """APScheduler numbers weekdays from 0 = Monday: the default "0 3 * * 1", Mondays at 03:00
    as the README says, had fired on Tuesdays, and "1-5" meant Tuesday to Saturday."""
    friday = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert f"{_next('0 3 * * 1', friday):%A %H:%M}" == "Monday 03:00"
    assert f"{_next(ServiceSettings().retrain_cron, friday):%A %d}" == "Monday 07"
    for sunday in ("0", "7", "sun", "SUN"):
        assert f"{_next(f'0 3 * * {sunday}', friday):%A}" == "Sunday"
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert f"{_next('0 3 * * 1-5', saturday):%A}" == "Monday"
    assert f"{_next('0 3 * * 5-7', saturday):%A}" == "Sunday"
    assert f"{_next('0 3 * * */2', saturday):%A}" == "Sunday"  # 0, 2, 4, 6: Sun Tue Thu Sat
    # a day of the month and a weekday: either, as in cron (not a Monday the 15th)
    assert f"{_next('0 3 15 * 1', friday):%A %d}" == "Monday 07"
    assert f"{_next('0 3 5 * 1', friday):%A %d}" == "Saturday 05"
    for wrong, words in [
        ("0 3 * * 8", "weekday '8'"),
        ("0 3 * * 5-1", "runs backwards"),
        ("0 3 * *", "expected 5"),
    ]:
        with pytest.raises(ValueError, match=words):
            cron_trigger(wrong)


def test_the_service_logs_when_the_next_full_retrain_runs(
    state: ServiceState, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = RetrainScheduler(state)
    with caplog.at_level(logging.INFO, logger="serving.scheduler"):
        scheduler.start()
        scheduler.shutdown()
    said = [r.getMessage() for r in caplog.records if "full retrain on cron" in r.getMessage()]
    assert len(said) == 1 and re.search(r"next on Monday \d\d \w+ \d{4} at 03:00 UTC", said[0])


def test_series_of_a_retrain_that_failed_as_a_whole_are_retrained_after_a_backoff(
    state: ServiceState, queued: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retrain that raised (MLflow's store locked) recorded no series' outcome: neither a
    new revision nor a failed status brought its series back, and a projection for a year
    already published was served until the next figures, a restart or Monday's retrain."""
    import pandas as pd

    from serving import scheduler as scheduler_module

    clock = [1000.0]
    monkeypatch.setattr(scheduler_module.time, "monotonic", lambda: clock[0])
    scheduler = RetrainScheduler(state)
    assert scheduler.retrain_stale() == []
    last = int(state.store.values(YEN).index[-1])
    state.store.add_figures(pd.DataFrame([yen_figure(last + 1, 5.0e9)]), source="new.csv")
    assert scheduler.retrain_stale() == [YEN]
    state.jobs._crashed += 1  # that job raised: nothing was recorded
    assert scheduler.retrain_stale() == []  # not at once: the store may still be locked
    clock[0] += state.service.retry_base_seconds
    assert scheduler.retrain_stale() == [YEN]
    state.jobs._crashed += 1  # failed again: the wait doubles
    assert scheduler.retrain_stale() == []
    clock[0] += state.service.retry_base_seconds
    assert scheduler.retrain_stale() == []
    clock[0] += state.service.retry_base_seconds
    assert scheduler.retrain_stale() == [YEN]
    # that one ran without failing (the status it records is current): no further looks
    assert scheduler.retrain_stale() == []
    clock[0] += state.service.retry_max_seconds
    assert scheduler.retrain_stale() == []
    assert queued == [[YEN], [YEN], [YEN]]
