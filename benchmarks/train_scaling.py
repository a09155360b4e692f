"""How `fraudcast train` scales: wall time, seconds per series and peak memory for 100 and 1,000
synthetic yearly series with 1 and 2 workers, each into a throwaway figure store and MLflow
store; also a second, idempotent run (nothing changed). Writes its section of SCALING.md.

    .venv/bin/python benchmarks/train_scaling.py --sizes 100,1000 --jobs 1,2 \
        --baseline 58700dc --baseline-sizes 100

``--baseline REF`` measures the code of a git commit the same way in the same run (from
``git archive REF``, run with the current virtualenv), so before and after sit side by side;
``--code REF`` measures a commit instead of the working tree. Sizes predicted to take longer
than ``--budget`` are skipped, and ``--extrapolate`` sizes are predicted from the measured ones.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scaling import SEED, replace_section, run_sampled, synthetic_long
from serving_load import environment, machine

ROOT = Path(__file__).resolve().parent.parent
SECTION = "train"
_MB = 2**20


@dataclass
class TrainRun:
    """One measured `fraudcast train` of ``series`` fresh series, and its unchanged re-run."""

    code: str  # "this tree" or the baseline commit
    series: int
    jobs: int
    wall: float
    peak_tree_mb: float
    peak_process_mb: float
    champions: int
    rerun_wall: float | None
    load: float
    stored_mb: float  # MLflow's database and artifacts after the first run

    @property
    def seconds_per_series(self) -> float:
        return self.wall / self.series


def figures_frame(long: pd.DataFrame) -> pd.DataFrame:
    """The synthetic long table in the columns of a figures file."""
    return pd.DataFrame(
        {
            "series_id": long["unique_id"],
            "year": long["ds"].astype(int),
            "value": long["y"].astype(float),
            "unit": "count",
            "source_publisher": "fraudcast benchmark",
            "source_title": "synthetic yearly series",
            "source_url": "",
            "accessed_via": "primary",
            "note": "",
        }
    )


def prepare_store(root: Path, n_series: int) -> list[str]:
    """A figure store under ``root`` with the bundled series and ``n_series`` synthetic ones."""
    from data.records import SeriesInfo
    from data.store import FigureStore

    long = synthetic_long(n_series)
    long["unique_id"] = "b" + long["unique_id"].astype(str)  # ids must start with a letter
    store = FigureStore(environment(root)["FRAUDCAST_DATABASE_URL"])
    store.ensure_seeded()
    ids = list(dict.fromkeys(long["unique_id"]))
    for series_id in ids:
        store.add_series(SeriesInfo(id=series_id, title=f"Synthetic {series_id}", unit="count"))
    store.add_figures(figures_frame(long), source="benchmark", message="synthetic series")
    store.close()
    return ids


def train_command(
    root: Path, ids: list[str], jobs: int, code_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """The `fraudcast train` command for ``ids`` with the code in ``code_dir``, and its
    environment (the stores under ``root``)."""
    command = [sys.executable, "-m", "serving.cli", "train", "--jobs", str(jobs)]
    for series_id in ids:
        command += ["--series", series_id]
    return command, {**os.environ, **environment(root), "PYTHONPATH": str(code_dir)}


def run_train(root: Path, ids: list[str], jobs: int, code_dir: Path) -> tuple[float, int, int]:
    """Run `fraudcast train` for ``ids`` from ``code_dir``; wall time and sampled peak RSS."""
    command, env = train_command(root, ids, jobs, code_dir)
    errors = root / "stderr.txt"
    wall, peak_tree, peak_process, code, _ = run_sampled(command, errors, cwd=code_dir, env=env)
    if code != 0:
        raise RuntimeError(f"train failed ({code_dir}):\n{errors.read_text()[-3000:]}")
    return wall, peak_tree, peak_process


def champions(root: Path) -> int:
    """How many series have a registered champion in the store under ``root``."""
    from training import registry, tracking
    from training.settings import TrainingSettings

    uri = environment(root)["FRAUDCAST_MLFLOW_TRACKING_URI"]
    settings = TrainingSettings(mlflow_tracking_uri=uri)
    return len(registry.champion_versions(client=tracking.connect(settings)))


def measure(code: str, code_dir: Path, n_series: int, jobs: int, rerun: bool) -> TrainRun:
    """Train ``n_series`` fresh series with ``jobs`` workers, then (optionally) once more."""
    with tempfile.TemporaryDirectory(prefix="fraudcast-train-scaling-") as folder:
        root = Path(folder)
        ids = prepare_store(root, n_series)
        load = os.getloadavg()[0]
        wall, peak_tree, peak_process = run_train(root, ids, jobs, code_dir)
        stored = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
        stored -= (root / "figures.db").stat().st_size
        rerun_wall = run_train(root, ids, jobs, code_dir)[0] if rerun else None
        return TrainRun(
            code, n_series, jobs, wall, peak_tree / _MB, peak_process / _MB,
            champions(root), rerun_wall, load, stored / _MB,
        )  # fmt: skip


def report(runs: list[TrainRun], skipped: list[str], predicted: list[str]) -> str:
    """The SCALING.md section: every run, then the per-series cost before and after."""
    lines = [
        "# Benchmark: scaling of `fraudcast train`",
        "",
        f"Synthetic yearly series (lengths 8–30, seed {SEED}, as above), each trained from scratch "
        "into a throwaway figure store and SQLite MLflow store by `fraudcast train --series … "
        "--jobs N` (every default candidate backtested, one parent and one child run per "
        "candidate with params, metrics, tags, backtest and forecast CSVs, and a fan chart and "
        "residual plot for the candidates the code charts: every one before 4ac1870, the best "
        "three since; promotion gates; the champion logged as a pyfunc and registered). Run by "
        f"`make bench-train-scaling` (`python benchmarks/train_scaling.py`) on {machine()}. Wall "
        "time is the whole command, start-up included; the re-run is the same command again "
        "with nothing changed (every series `unchanged`). The MLflow store is its SQLite file "
        "and artifacts (charts, CSVs, pickled champions) after the first run. Peak memory as "
        "above: all processes together, and the largest one. The load average shows other work "
        "on the machine.",
        "",
        "| code | series | workers | wall time (s) | s per series | peak memory, all processes "
        "(MB) | largest process (MB) | champions registered | MLflow store per series (MB) "
        "| unchanged re-run (s) | load average at start |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        rerun = f"{run.rerun_wall:.1f}" if run.rerun_wall is not None else "–"
        lines.append(
            f"| {run.code} | {run.series:,} | {run.jobs} | {run.wall:.1f} | "
            f"{run.seconds_per_series:.2f} | {run.peak_tree_mb:.0f} | {run.peak_process_mb:.0f} "
            f"| {run.champions:,} | {run.stored_mb / run.series:.2f} | {rerun} | {run.load:.1f} |"
        )
    lines += _comparisons(runs)
    if skipped:
        lines += ["", "Not measured (over the time budget): " + "; ".join(skipped) + "."]
    if predicted:
        lines += [
            "",
            "Extrapolated, not measured (the largest measured wall time plus the marginal cost "
            "per series between the two largest measured sizes, same workers): "
            + "; ".join(predicted)
            + ".",
        ]
    return "\n".join(lines) + "\n"


def _comparisons(runs: list[TrainRun]) -> list[str]:
    """Time per series after / before at each size both measured, and 1 → 2 workers."""
    by_key = {(run.code, run.series, run.jobs): run for run in runs}
    codes = list(dict.fromkeys(run.code for run in runs))
    lines = []
    if len(codes) == 2:
        before, after = codes
        for (code, size, jobs), run in by_key.items():
            base = by_key.get((before, size, jobs))
            if code == after and base is not None:
                lines.append(
                    f"- {size:,} series, {jobs} worker(s): {run.seconds_per_series:.2f} s per "
                    f"series against {base.seconds_per_series:.2f} s before "
                    f"({base.seconds_per_series / run.seconds_per_series:.1f}x faster)"
                )
    for (code, size, jobs), run in by_key.items():
        one = by_key.get((code, size, 1))
        if jobs == 2 and one is not None:
            lines.append(
                f"- {code}, {size:,} series: two workers {one.wall / run.wall:.2f}x as fast as one"
            )
    return ["", *lines] if lines else []


def _predicted_seconds(runs: list[TrainRun], code: str, size: int, jobs: int) -> float | None:
    """Wall time at ``size`` series: the marginal cost per series between the two largest
    measured sizes (start-up excluded), or the average cost when only one size was measured."""
    same = sorted(
        (run for run in runs if run.code == code and run.jobs == jobs), key=lambda r: r.series
    )
    if not same:
        return None
    largest = same[-1]
    if len(same) == 1:
        return largest.seconds_per_series * size
    smaller = same[-2]
    marginal = (largest.wall - smaller.wall) / (largest.series - smaller.series)
    return largest.wall + marginal * (size - largest.series)


def _short(ref: str) -> str:
    command = ["git", "-C", str(ROOT), "rev-parse", "--short", ref]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def baseline_tree(ref: str, into: Path) -> Path:
    """The sources of commit ``ref``, unpacked under ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("--baseline", help="git commit whose `train` is measured alongside")
    parser.add_argument(
        "--code", help="git commit to measure instead of the working tree (others' edits)"
    )
    parser.add_argument("--baseline-sizes", default="100")
    parser.add_argument("--extrapolate", default="10000", help="sizes to predict, not run")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "SCALING.md")
    parser.add_argument(
        "--budget", type=float, default=4 * 3600.0, help="skip runs predicted past this (s)"
    )
    args = parser.parse_args()
    jobs = [int(job) for job in args.jobs.split(",")]
    sizes = sorted(int(s) for s in args.sizes.split(","))
    runs: list[TrainRun] = []
    skipped: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fraudcast-code-") as folder:
        trees: dict[str, Path] = {}
        plan: list[tuple[str, int]] = []
        if args.baseline:
            baseline = f"before ({_short(args.baseline)})"
            trees[baseline] = baseline_tree(args.baseline, Path(folder) / "baseline")
            plan += [(baseline, int(s)) for s in args.baseline_sizes.split(",")]
        if args.code:
            current = f"after ({_short(args.code)})"
            trees[current] = baseline_tree(args.code, Path(folder) / "current")
        else:
            current = "this tree"
            trees[current] = ROOT
        plan += [(current, size) for size in sizes]
        for code, size in plan:
            where = trees[code]
            for job in jobs:
                guess = _predicted_seconds(runs, code, size, job)
                if guess is not None and time.monotonic() - started + 2 * guess > args.budget:
                    skipped.append(f"{code}, {size:,} series, {job} worker(s) (~{guess:.0f} s)")
                    continue
                run = measure(code, where, size, job, rerun=True)
                runs.append(run)
                print(
                    f"{code}: {size:>6} series, {job} worker(s): {run.wall:8.1f} s, "
                    f"{run.seconds_per_series:5.2f} s/series, peak {run.peak_tree_mb:.0f} MB, "
                    f"{run.champions} champions, re-run {run.rerun_wall or 0:.1f} s",
                    flush=True,
                )
                replace_section(args.output, SECTION, report(runs, skipped, []))
    predicted = []
    for size in (int(s) for s in args.extrapolate.split(",") if s):
        for job in jobs:
            guess = _predicted_seconds(runs, current, size, job)
            if guess is not None and not any(r.series == size and r.jobs == job for r in runs):
                predicted.append(
                    f"{size:,} series with {job} worker(s) ≈ {guess / 3600:.1f} h"
                    f" ({guess / size:.2f} s per series)"
                )
    replace_section(args.output, SECTION, report(runs, skipped, predicted))
    print(f"wrote the train section of {args.output}")


if __name__ == "__main__":
    main()
