"""One retrain at a time: a second one waits, then gives up with a clear message, having
changed nothing."""

from __future__ import annotations

import time

import pytest
from filelock import FileLock
from typer.testing import CliRunner

from training import pipeline, registry, tracking
from training.locking import RetrainBusy, retrain_lock
from training.settings import TrainingSettings

SERIES = "jp_cybercrime_cleared"


def test_a_retrain_waits_for_the_running_one_then_gives_up_having_changed_nothing(seeded_store):
    settings = TrainingSettings(retrain_lock_timeout=0.5)
    figures = seeded_store.figures()
    busy = pytest.raises(RetrainBusy, match=r"another retrain held .*retrain\.lock for 0\.5 s")
    with FileLock(settings.retrain_lock), busy:  # another process's retrain is running
        pipeline.retrain([SERIES], store=seeded_store, settings=settings, candidates=["naive"])
    client = tracking.connect(settings)
    assert client.get_experiment_by_name(tracking.experiment_name(SERIES)) is None
    assert registry.champion_version(SERIES, client=client) is None
    assert seeded_store.figures().equals(figures)
    # once it has finished, the lock is free again
    [outcome] = pipeline.retrain(
        [SERIES], store=seeded_store, settings=settings, candidates=["naive"]
    )
    assert outcome.status == "promoted", outcome.reason


def test_a_retrain_that_has_to_wait_says_so_once(seeded_store, caplog):
    """A `train` started while another ran sat silent for up to an hour."""
    settings = TrainingSettings(retrain_lock_timeout=0.3)
    held = FileLock(settings.retrain_lock)
    with held, pytest.raises(RetrainBusy), retrain_lock(seeded_store.url, settings):
        pass
    waiting = [r.getMessage() for r in caplog.records if "waiting for it to finish" in r.message]
    assert waiting == [
        f"another retrain is running (it holds {settings.retrain_lock}): waiting for it to "
        "finish, for up to 0.3 s"
    ]
    caplog.clear()
    with retrain_lock(seeded_store.url, settings):  # a free lock is taken without a word
        pass
    assert not [r for r in caplog.records if "waiting" in r.getMessage()]


def test_work_that_must_not_run_beside_a_retrain_is_refused_at_once(seeded_store, caplog):
    """``wait=False`` (``runs prune``) does not sit out the hour a retrain may take."""
    settings = TrainingSettings(retrain_lock_timeout=30)
    started = time.monotonic()
    busy = pytest.raises(RetrainBusy, match=r"^a retrain is running \(it holds .*\.lock\)$")
    held = FileLock(settings.retrain_lock)  # another process's retrain is running
    with held, busy, retrain_lock(seeded_store.url, settings, wait=False):
        pytest.fail("the lock was taken while held")
    assert time.monotonic() - started < 5
    assert not [r for r in caplog.records if "waiting" in r.getMessage()]
    with retrain_lock(seeded_store.url, settings, wait=False):  # free: taken as ever
        pass


def test_the_lock_is_released_when_the_retrain_raises(seeded_store):
    settings = TrainingSettings(retrain_lock_timeout=0.0)
    with pytest.raises(ZeroDivisionError), retrain_lock(seeded_store.url, settings):
        raise ZeroDivisionError
    with retrain_lock(seeded_store.url, settings):
        pass


def test_train_command_says_another_retrain_is_running_and_exits_75(
    seeded_store, monkeypatch: pytest.MonkeyPatch
):
    from serving.cli import app

    monkeypatch.setenv("FRAUDCAST_RETRAIN_LOCK_TIMEOUT", "0.2")
    with FileLock(TrainingSettings().retrain_lock):
        result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["train", "--series", SERIES])
    assert result.exit_code == 75, result.output
    assert "another retrain held" in result.output
    assert "nothing was trained" in result.output
    assert "Traceback" not in result.output
