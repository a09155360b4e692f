"""What the scheduler logs about dropped files cannot forge log lines."""

from __future__ import annotations

import logging

from serving.scheduler import RetrainScheduler


def test_a_file_name_with_a_newline_stays_on_one_log_line(state, caplog):
    state.incoming_dir.mkdir(parents=True, exist_ok=True)
    name = "x\nFORGED log line.csv"
    (state.incoming_dir / name).write_text("not,a,figures\nfile\n")
    state.service.settle_seconds = 0
    with caplog.at_level(logging.INFO, logger="serving.scheduler"):
        [outcome] = RetrainScheduler(state).watch_incoming()
    assert not outcome.accepted
    messages = [r.getMessage() for r in caplog.records if r.name == "serving.scheduler"]
    assert messages, "the rejection is logged"
    assert not [m for m in messages if "\n" in m], messages
