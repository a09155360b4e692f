"""The soak benchmark's account of how a run ended."""

from __future__ import annotations

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _after(**changes: object) -> dict:
    after = {
        "killed": False,
        "completed": True,
        "minutes": 15.5,
        "exit code": 0,
        "seconds to stop": 0.0,
        "finished": 10_000,
        "left running": 0,
        "store MB": 3_755.0,
    }
    return after | changes


def test_a_run_stopped_from_outside_is_not_reported_as_having_trained_every_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a Ctrl-C to `train` itself (not the benchmark's, at its time limit) ends the run before
    # the limit: it had been reported as "trained all 10,000 series" with 1,363 finished
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import train_soak

    stopped = train_soak._ending(
        _after(**{"exit code": 130, "finished": 1_363, "left running": 2}), 10_000
    )
    assert "trained all" not in stopped
    assert "exited with code 130" in stopped and "1,363 of 10,000 series finished" in stopped
    done = train_soak._ending(_after(), 10_000)
    assert done.startswith("Completed: `train` trained all 10,000 series in 15.5 minutes")
    limit = train_soak._ending(_after(completed=False, **{"exit code": 130}), 10_000)
    assert limit.startswith("Interrupted after 16 minutes")
