"""The drop folder takes regular files only, and its reports leak nothing they should not."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

import data.incoming
from data.incoming import ERROR_SUFFIX, IncomingOutcome
from data.store import FigureStore
from tests.data.conftest import WriteFigures, age, process, row

TOKEN = "fc-secret-token-0123456789abcdefghijklmnopqrstuvwxyz"


def error_file(outcome: IncomingOutcome) -> Path:
    return outcome.moved_to.with_name(outcome.moved_to.name + ERROR_SUFFIX)


def error_text(outcome: IncomingOutcome) -> str:
    return error_file(outcome).read_text("utf-8")


def test_links_are_refused_without_reading_what_they_point_to(
    seeded_store: FigureStore,
    incoming: Path,
    write_figures: WriteFigures,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = tmp_path / "api-token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    good_elsewhere = age(write_figures([row()], name="elsewhere.csv"))
    age(secret)
    (incoming / "tok.csv").symlink_to(secret)
    (incoming / "figures.csv").symlink_to(good_elsewhere)
    (incoming / "environ.csv").symlink_to("/proc/self/environ")
    for name in ("tok.csv", "figures.csv", "environ.csv"):
        age(incoming / name)

    with caplog.at_level(logging.INFO):
        outcomes = process(seeded_store, incoming)

    assert sorted(o.name for o in outcomes) == ["environ.csv", "figures.csv", "tok.csv"]
    assert len(seeded_store.revisions()) == 1  # the valid CSV behind the link was not ingested
    for outcome in outcomes:
        assert not outcome.accepted and outcome.error is not None
        assert "not a regular file" in outcome.error
        assert outcome.moved_to.parent == incoming / "rejected"
        assert outcome.moved_to.is_symlink()  # the link itself moved, its target untouched
        assert not (incoming / outcome.name).exists()
        assert TOKEN[:8] not in error_text(outcome)
        assert "PATH=" not in error_text(outcome)
    assert TOKEN[:8] not in caplog.text and "PATH=" not in caplog.text
    assert secret.read_text(encoding="utf-8") == TOKEN + "\n"
    assert good_elsewhere.exists()


def test_other_non_regular_files_are_refused_not_left_forever(
    seeded_store: FigureStore, incoming: Path
) -> None:
    os.mkfifo(incoming / "pipe.csv")
    age(incoming / "pipe.csv")

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    assert "not a regular file" in outcome.error
    assert stat.S_ISFIFO(outcome.moved_to.lstat().st_mode)
    assert not (incoming / "pipe.csv").exists()


def test_error_reports_are_readable_by_their_owner_only(
    seeded_store: FigureStore, incoming: Path, drop: WriteFigures
) -> None:
    drop([row(value="-1")])

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted
    assert stat.S_IMODE(error_file(outcome).stat().st_mode) & 0o077 == 0


def test_a_secret_dropped_as_a_header_is_quoted_only_as_a_short_escaped_excerpt(
    seeded_store: FigureStore, incoming: Path, caplog: pytest.LogCaptureFixture
) -> None:
    long_secret = TOKEN * 20
    dropped = incoming / "copied-token.csv"
    dropped.write_text(f"{long_secret}\n{long_secret}\x1b[2J\n", encoding="utf-8")
    age(dropped)

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    for text in (outcome.error, error_text(outcome), caplog.text):
        assert long_secret[:41] not in text
        assert "\x1b" not in text
    assert f"{long_secret[:40]}…" in outcome.error


def test_a_hard_link_to_another_file_is_refused(
    seeded_store: FigureStore, incoming: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "api-token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    os.link(secret, incoming / "tok.csv")
    age(incoming / "tok.csv")

    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    assert "other hard links" in outcome.error
    assert TOKEN[:8] not in error_text(outcome)
    assert secret.read_text(encoding="utf-8") == TOKEN + "\n"


def test_a_link_swapped_in_after_the_check_is_still_refused(
    seeded_store: FigureStore,
    incoming: Path,
    drop: WriteFigures,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = tmp_path / "api-token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    dropped = drop([row()])
    checked = data.incoming._not_regular

    def check_then_swap(status: os.stat_result) -> str | None:
        verdict = checked(status)
        if dropped.exists() and not dropped.is_symlink():  # the attacker wins the race
            dropped.unlink()
            dropped.symlink_to(secret)
        return verdict

    monkeypatch.setattr(data.incoming, "_not_regular", check_then_swap)
    [outcome] = process(seeded_store, incoming)

    assert not outcome.accepted and outcome.error is not None
    assert "not a regular file (a symbolic link)" in outcome.error
    assert TOKEN[:8] not in error_text(outcome)
    assert len(seeded_store.revisions()) == 1
