"""How `fraudcast forecast-file` scales: wall time and peak memory for 100, 1,000 and 10,000
synthetic yearly series with 1 and 2 workers; writes its section of benchmarks/SCALING.md.

    .venv/bin/python benchmarks/scaling.py --sizes 100,1000,10000 --jobs 1,2

Results are rewritten after every run, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parent.parent
FRAUDCAST = Path(sys.executable).parent / "fraudcast"
HORIZON = 6
SEED = 2026
SECTION = "forecast-file"


@dataclass
class Run:
    """One measured `forecast-file` run."""

    series: int
    jobs: int
    wall: float
    peak_tree_mb: float  # all processes of the run together, sampled
    peak_process_mb: float  # the largest single process, sampled likewise
    rows: int
    failures: int
    load: float  # 1-minute load average when the run started

    @property
    def ms_per_series(self) -> float:
        return 1000 * self.wall / self.series


def synthetic_long(n_series: int, seed: int = SEED) -> pd.DataFrame:
    """Yearly series of 8–30 years (seeded): level, trend, growth, noise and level shifts."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 31, n_series)
    frames = []
    for index, length in enumerate(lengths):
        steps = np.arange(length)
        level = rng.lognormal(7, 1.5)
        growth = np.exp(rng.normal(0.03, 0.08) * steps)
        shift = np.where(steps >= rng.integers(1, length), rng.normal(1, 0.2), 1.0)
        noise = rng.normal(1, rng.uniform(0.02, 0.2), length)
        values = np.maximum(level * growth * shift * noise, 0).round()
        years = np.arange(2025 - length + 1, 2026)
        frames.append(pd.DataFrame({"unique_id": f"s{index:05d}", "ds": years, "y": values}))
    return pd.concat(frames, ignore_index=True)


def measure(source: Path, n_series: int, jobs: int, workdir: Path) -> Run:
    """Run forecast-file once: wall time and sampled peak RSS (whole tree, largest process)."""
    output = workdir / f"out-{n_series}-{jobs}.csv"
    command = [str(FRAUDCAST), "forecast-file", str(source), "--horizon", str(HORIZON),
               "--output", str(output), "--jobs", str(jobs)]  # fmt: skip
    errors = workdir / "stderr.txt"
    load = os.getloadavg()[0]
    wall, peak_tree, peak_process, code, _ = run_sampled(command, errors)
    if code != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{errors.read_text()[-2000:]}")
    failures = errors.read_text().count(" not forecast: ")
    rows = sum(1 for _ in output.open()) - 1
    megabytes = 2**20
    return Run(
        n_series, jobs, wall, peak_tree / megabytes, peak_process / megabytes, rows, failures, load
    )


class Sampled(NamedTuple):
    """A command run to its end: wall seconds, peak resident memory of its whole process tree
    and of its largest process (bytes), its exit code, and the CPU seconds (user and system) of
    it and the worker processes it waited for."""

    wall: float
    peak_tree: int
    peak_process: int
    exit_code: int
    cpu: float


def run_sampled(command: list[str], errors: Path, **popen: Any) -> Sampled:
    """Run a command to its end, its stderr into ``errors``, sampling its memory."""
    started = time.perf_counter()
    with errors.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, **popen)
    root = psutil.Process(process.pid)
    peak_tree, peak_process = 0, 0
    while True:
        waited = os.wait4(process.pid, os.WNOHANG)
        if waited[0] != 0:
            break
        sizes = tree_rss(root)
        peak_tree = max(peak_tree, sum(sizes))
        peak_process = max(peak_process, *sizes, 0)
        # Fine sampling while workers start, then lighter: the sampler shares the cores.
        time.sleep(0.05 if time.perf_counter() - started < 5 else 0.25)
    wall = time.perf_counter() - started
    usage = waited[2]
    code = os.waitstatus_to_exitcode(waited[1])
    return Sampled(wall, peak_tree, peak_process, code, usage.ru_utime + usage.ru_stime)


def tree_rss(root: psutil.Process) -> list[int]:
    """Resident memory of the run's process and each of its descendants, in bytes."""
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    sizes = []
    for process in processes:
        try:
            sizes.append(process.memory_info().rss)
        except psutil.Error:
            continue
    return sizes


def report(runs: list[Run], sizes: list[int], jobs: list[int], skipped: list[str]) -> str:
    """SCALING.md: the runs, then time-per-series and two-worker scaling factors."""
    load = os.getloadavg()[0]
    lines = [
        "# Benchmark: scaling of `fraudcast forecast-file`",
        "",
        f"Synthetic yearly series (lengths 8–30, seed {SEED}), horizon {HORIZON}, levels 80 and "
        f"95, run by `make bench-scaling` (`python benchmarks/scaling.py`) on {os.cpu_count()} "
        f"cores ({platform.processor() or platform.machine()}), Python "
        f"{platform.python_version()}; 1-minute load average {load:.1f} when written: other "
        "work on the machine slows the runs. Wall time is the whole command (start-up, reading, "
        "backtests of every candidate, selection, calibration, writing). Peak memory: all "
        "processes of the run together (sampled every 50 ms for 5 s, then every 250 ms), and "
        "the largest single process.",
        "",
        "| series | workers | wall time (s) | ms per series | peak memory, all processes (MB) "
        "| largest process (MB) | rows written | series failed | load average at start |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run.series:,} | {run.jobs} | {run.wall:.1f} | {run.ms_per_series:.1f} | "
            f"{run.peak_tree_mb:.0f} | {run.peak_process_mb:.0f} | {run.rows:,} | "
            f"{run.failures} | {run.load:.1f} |"
        )
    lines += ["", "## Scaling factors", ""]
    by_key = {(run.series, run.jobs): run for run in runs}
    lines += [
        "Growth with the number of series: time per series divided by that of the next smaller "
        "size (1.00 is linear; below 1 means the fixed start-up cost, ~2–5 s, is being spread). "
        "Two workers: wall time with 1 worker divided by wall time with 2 (2.00 is perfect).",
        "",
        "| series | time/series vs previous size, 1 worker | … 2 workers "
        "| speed-up 1 → 2 workers |",
        "|---:|---:|---:|---:|",
    ]
    for previous, size in zip([None, *sizes], sizes, strict=False):
        cells = []
        for job in jobs[:2]:
            base, sized = by_key.get((previous or 0, job)), by_key.get((size, job))
            ratio = sized.ms_per_series / base.ms_per_series if base and sized else None
            cells.append(f"{ratio:.2f}" if ratio is not None else "–")
        one, two = by_key.get((size, 1)), by_key.get((size, 2))
        speedup = f"{one.wall / two.wall:.2f}" if one and two else "–"
        lines.append(f"| {size:,} | {' | '.join(cells)} | {speedup} |")
    if skipped:
        lines += ["", "Not measured: " + "; ".join(skipped) + "."]
    lines += ["", *MEMORY_NOTE]
    return "\n".join(lines) + "\n"


MEMORY_NOTE = (
    "## What stays in memory",
    "",
    "Work is per series, never one frame per model: each worker gets one series and sends back "
    "only its forecast rows, and joblib dispatches a few tasks ahead, so the workers' memory "
    "does not grow with the number of series. The main process appends each finished "
    "series' rows to a temporary file beside the output (renamed over it at the end), so the "
    "forecasts are not held either; what grows is the input: the whole CSV is read and kept "
    "as one pandas Series per id. That is harmless at 10,000 series; for millions, "
    "`forecast-file` would need to read the input in chunks of whole series (sorted by "
    "`unique_id`).",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "SCALING.md")
    parser.add_argument(
        "--budget", type=float, default=3600.0, help="skip sizes predicted to exceed this (s)"
    )
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    jobs = [int(job) for job in args.jobs.split(",")]
    runs: list[Run] = []
    skipped: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fraudcast-scaling-") as folder:
        workdir = Path(folder)
        for size in sizes:
            source = workdir / f"series-{size}.csv"
            synthetic_long(size).to_csv(source, index=False)
            for job in jobs:
                predicted = _predicted_seconds(runs, size, job)
                spent = time.monotonic() - started
                if predicted is not None and spent + predicted > args.budget:
                    skipped.append(
                        f"{size:,} series with {job} worker(s) (predicted {predicted:.0f} s, "
                        f"over the {args.budget:.0f} s budget)"
                    )
                    continue
                run = measure(source, size, job, workdir)
                runs.append(run)
                print(
                    f"{size:>6} series, {job} worker(s): {run.wall:7.1f} s, "
                    f"{run.ms_per_series:6.1f} ms/series, peak {run.peak_tree_mb:.0f} MB",
                    flush=True,
                )
                replace_section(args.output, SECTION, report(runs, sizes, jobs, skipped))
    replace_section(args.output, SECTION, report(runs, sizes, jobs, skipped))
    print(f"wrote {args.output}")


def replace_section(path: Path, name: str, text: str) -> None:
    """Write ``text`` as the section ``name`` of a results file, keeping the other sections
    (each benchmark of SCALING.md owns one, between HTML comment markers)."""
    start, end = f"<!-- section: {name} -->", f"<!-- end of section: {name} -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    current = path.read_text() if path.exists() else ""
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1]
        path.write_text(before + block + after)
    else:
        path.write_text((current.rstrip() + "\n\n" if current.strip() else "") + block + "\n")


def _predicted_seconds(runs: list[Run], size: int, job: int) -> float | None:
    """Linear extrapolation from the largest measured run with the same workers."""
    same = [run for run in runs if run.jobs == job]
    if not same:
        return None
    largest = max(same, key=lambda run: run.series)
    return largest.wall * size / largest.series


if __name__ == "__main__":
    main()
