"""What the scheduler retrains while the service runs, decided from the store and the runs."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from serving.scheduler import RetrainScheduler
from serving.state import ServiceState
from tests.support import TRAINED

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
