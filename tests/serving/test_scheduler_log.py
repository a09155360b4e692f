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
