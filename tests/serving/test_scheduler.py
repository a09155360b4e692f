"""What the scheduler retrains while the service runs, decided from the store and the runs."""

from __future__ import annotations

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
