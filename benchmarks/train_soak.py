"""Does `fraudcast train` keep its pace as the MLflow store fills? A run on many synthetic
series (10,000 by default), sampled at a set interval: series finished, the time per series in
that interval, and the memory of all its processes; if it has not finished within the time
limit, it is interrupted (Ctrl-C, as a user would). Then the store is checked. Writes its
section of SCALING.md.

    .venv/bin/python benchmarks/train_soak.py --series 10000 --jobs 2 --minutes 180 --every 300

``train_scaling.py`` measures whole runs of up to 1,000 series; this one shows whether the cost
per series drifts as thousands of experiments, runs and registered models accumulate.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from scaling import replace_section, tree_rss
from serving_load import machine
from train_scaling import ROOT, prepare_store, train_command

SECTION = "train-soak"
_MB = 2**20
#: Seconds an interrupted run gets to stop before it is killed.
_GRACE = 120
#: Finished retrain runs: each is one series trained to the end (promotion decided, logged).
_FINISHED = (
    "SELECT COUNT(*) FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid "
    "WHERE tags.key = 'fraudcast.role' AND tags.value = 'retrain' AND runs.status = ?"
)


@dataclass
class Sample:
    """The run at one moment: series finished so far and the memory of its processes."""

    seconds: float
    finished: int
    tree_mb: float
    largest_mb: float


def count_retrains(database: Path, status: str = "FINISHED") -> int:
    """Retrain runs with ``status`` in the SQLite tracking store (0 before it exists)."""
    if not database.exists():
        return 0
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return int(connection.execute(_FINISHED, (status,)).fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        connection.close()


def _interruptible() -> None:
    """Let the run take Ctrl-C (SIGINT) as a user's terminal would deliver it, even when this
    benchmark was itself started in the background: a non-interactive shell starts background
    jobs with SIGINT ignored, children inherit that, and the run would then ignore the
    interruption and go on training until killed."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def soak(root: Path, n_series: int, jobs: int, minutes: float, every: float) -> tuple[list, dict]:
    """Train ``n_series`` fresh series, sampling every ``every`` seconds, and interrupt the run
    if it is not done after ``minutes``; the samples, and what the run left behind."""
    ids = prepare_store(root, n_series)
    command, env = train_command(root, ids, jobs, ROOT)
    database = root / "mlflow.db"
    samples: list[Sample] = []
    started = time.monotonic()
    with (root / "stderr.txt").open("wb") as errors:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors,
            start_new_session=True, preexec_fn=_interruptible,
        )  # fmt: skip
    tree = psutil.Process(process.pid)
    peak_tree, peak_process, next_sample = 0, 0, every
    while process.poll() is None and time.monotonic() - started < minutes * 60:
        sizes = tree_rss(tree)
        peak_tree, peak_process = max(peak_tree, sum(sizes)), max(peak_process, *sizes, 0)
        elapsed = time.monotonic() - started
        if elapsed >= next_sample:
            samples.append(
                Sample(elapsed, count_retrains(database), peak_tree / _MB, peak_process / _MB)
            )
            print(f"{elapsed / 60:5.1f} min: {samples[-1].finished:,} series", flush=True)
            peak_tree, peak_process, next_sample = 0, 0, next_sample + every
        time.sleep(1.0)
    interrupted = time.monotonic()
    completed = process.poll() is not None
    if completed:  # the last interval ends with the run
        samples.append(
            Sample(
                interrupted - started, count_retrains(database), peak_tree / _MB, peak_process / _MB
            )
        )
    else:
        os.killpg(process.pid, signal.SIGINT)
    killed = False
    try:
        code = process.wait(timeout=_GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        code, killed = process.wait(), True
    after = {
        "killed": killed,
        "completed": completed,
        "minutes": (interrupted - started) / 60,
        "exit code": code,
        "seconds to stop": time.monotonic() - interrupted,
        "finished": count_retrains(database),
        "left running": count_retrains(database, "RUNNING"),
        "store MB": sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / _MB,
    }
    return samples, after


def report(samples: list[Sample], after: dict, n_series: int, jobs: int, minutes: float) -> str:
    """The SCALING.md section: progress minute by minute, and the pace early and late."""
    lines = [
        "# Benchmark: `fraudcast train` as the MLflow store fills",
        "",
        f"`fraudcast train --jobs {jobs}` on {n_series:,} synthetic yearly series (as above, "
        f"each trained from scratch into a throwaway figure store and SQLite MLflow store), "
        f"run by `python benchmarks/train_soak.py` on {machine()} with a limit of {minutes:g} "
        "minutes, after which it is interrupted with Ctrl-C (SIGINT). Each row is one sampling "
        "interval (the last one ends when the run does): series whose retrain finished by then "
        "(counted in the MLflow store), the wall time per series within the interval, and the "
        "peak memory of all the run's processes within it.",
        "",
        "| minutes | series finished | in this interval | s per series (interval) "
        "| peak memory, all processes (MB) | largest process (MB) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    previous = Sample(0.0, 0, 0.0, 0.0)
    for sample in samples:
        done = sample.finished - previous.finished
        pace = f"{(sample.seconds - previous.seconds) / done:.2f}" if done else "–"
        lines.append(
            f"| {sample.seconds / 60:.1f} | {sample.finished:,} | {done:,} | {pace} | "
            f"{sample.tree_mb:.0f} | {sample.largest_mb:.0f} |"
        )
        previous = sample
    lines += ["", *_pace(samples)]
    lines.append(_ending(after, n_series))
    return "\n".join(lines) + "\n"


def _ending(after: dict, n_series: int) -> str:
    """How the run ended: on its own with every series done, on its own before that (stopped
    from outside the benchmark, or failed), or interrupted at the time limit."""
    if after["completed"] and (after["exit code"] != 0 or after["finished"] < n_series):
        return (
            f"Ended before the limit, unfinished: `train` exited with code {after['exit code']} "
            f"after {after['minutes']:.1f} minutes, interrupted from outside the benchmark or "
            f"failed, with {after['finished']:,} of {n_series:,} series finished and "
            f"{after['left running']} retrain run(s) left RUNNING; the stores took "
            f"{after['store MB']:,.0f} MB."
        )
    if after["completed"]:
        return (
            f"Completed: `train` trained all {n_series:,} series in {after['minutes']:.1f} "
            f"minutes ({after['minutes'] * 60 / max(after['finished'], 1):.2f} s per series) and "
            f"exited with code {after['exit code']}; {after['finished']:,} retrain runs "
            f"finished, {after['left running']} left RUNNING; the stores took "
            f"{after['store MB']:,.0f} MB."
        )
    stopped = (
        f"did not stop within {_GRACE} s of Ctrl-C and was killed"
        if after["killed"]
        else f"exited with code {after['exit code']} {after['seconds to stop']:.0f} s after Ctrl-C"
    )
    return (
        f"Interrupted after {after['minutes']:.0f} minutes: `train` {stopped}; "
        f"{after['finished']:,} series finished, {after['left running']} retrain run(s) left "
        f"RUNNING by the interruption (the next `train` passes over them and retrains those "
        f"series); the stores took {after['store MB']:,.0f} MB."
    )


def _pace(samples: list[Sample]) -> list[str]:
    """Seconds per series over the first and the last third of the run, and their ratio."""
    if len(samples) < 6:
        return []
    third = len(samples) // 3
    early, late = samples[third - 1], samples[-1]
    first = early.seconds / max(early.finished, 1)
    last_done = late.finished - samples[-third - 1].finished
    last = (late.seconds - samples[-third - 1].seconds) / max(last_done, 1)
    return [
        f"Pace: {first:.2f} s per series over the first third (start-up included), {last:.2f} s "
        f"over the last third, with {late.finished:,} series in the store by the end "
        f"({last / first:.2f}x).",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "SCALING.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fraudcast-train-soak-") as folder:
        samples, after = soak(Path(folder), args.series, args.jobs, args.minutes, args.every)
    text = report(samples, after, args.series, args.jobs, args.minutes)
    replace_section(args.output, SECTION, text)
    print(text)
    print(f"wrote the {SECTION} section of {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
