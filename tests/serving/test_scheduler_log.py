"""What the scheduler logs about dropped files: once each, and no forged log lines."""

from __future__ import annotations

import logging

from serving.scheduler import RetrainScheduler


def test_a_rejected_file_is_logged_once_and_its_name_stays_on_its_line(state, caplog):
    """A rejection was logged twice (by the drop folder and by the scheduler); a newline in
    a file's name must not start a log line of its own."""
    state.incoming_dir.mkdir(parents=True, exist_ok=True)
    name = "x\nFORGED log line.csv"
    (state.incoming_dir / name).write_text("not,a,figures\nfile\n")
    state.service.settle_seconds = 0
    with caplog.at_level(logging.INFO):
        [outcome] = RetrainScheduler(state).watch_incoming()
    assert not outcome.accepted
    messages = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(messages) == 1, messages
    assert not [line for line in messages[0].splitlines() if line.startswith("FORGED")], messages
    assert repr(name) in messages[0]


def test_a_store_outage_logs_one_line_a_try_with_a_growing_wait_and_one_on_recovery(
    state, caplog, monkeypatch
):
    """With PostgreSQL stopped, every 2 s tick had logged "scheduler tick failed; trying again
    next tick" and a 103-line traceback: 860 lines in 20 s."""
    from sqlalchemy.exc import OperationalError

    from serving import scheduler as scheduler_module

    clock = [1000.0]
    monkeypatch.setattr(scheduler_module.time, "monotonic", lambda: clock[0])
    scheduler = RetrainScheduler(state)
    revisions = state.store.revisions

    def down() -> None:
        raise OperationalError(
            "SELECT id FROM revisions", (), ConnectionRefusedError("connection refused")
        )

    monkeypatch.setattr(state.store, "revisions", down)
    with caplog.at_level(logging.INFO, logger="serving.scheduler"):
        for _ in range(20):  # 40 s of ticks every 2 s
            scheduler.tick()
            clock[0] += 2
        monkeypatch.setattr(state.store, "revisions", revisions)  # PostgreSQL is back
        for _ in range(20):
            scheduler.tick()
            clock[0] += 2
    lines = [r.getMessage() for r in caplog.records if r.name == "serving.scheduler"]
    assert not [r for r in caplog.records if r.exc_info], "no traceback for an outage"
    waits = [line.split("trying again in ")[1] for line in lines if "trying again" in line]
    assert waits == ["2 s", "4 s", "8 s", "16 s", "32 s"], lines  # tries at 0, 2, 6, 14, 30 s
    assert all("connection refused" in line for line in lines[:5]), lines
    assert lines[5:] == ["scheduler tick works again after 5 failed tries"], lines
