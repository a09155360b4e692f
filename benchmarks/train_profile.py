"""Where one series' `train` time goes: cProfile over a retrain of fresh synthetic series in one
process with the local SQLite MLflow store, grouped by what the time buys; optionally the same
for the code of a git commit, side by side. Writes its section of SCALING.md.

    .venv/bin/python benchmarks/train_profile.py --series 100 --baseline f2035ac

Each code runs in its own process (its tree on PYTHONPATH). The profiler slows Python-heavy
parts more than C-heavy ones, so the shares are a guide, not a stopwatch; the wall and CPU
seconds per series of an unprofiled run of the same series are reported beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from scaling import replace_section
from serving_load import environment, machine
from train_scaling import ROOT, _short, baseline_tree, prepare_store

SECTION = "train-profile"
#: What the time buys: label, and the calls (file suffix, function) whose cumulative time it is.
_CLIENT = "mlflow/tracking/client.py"
BUCKETS = (
    ("fitting and backtesting the candidates", [("training/population.py", "fit_many")]),
    (
        "the population's evidence (once per run)",
        [("training/population.py", "population_evidence")],
    ),
    (
        "held-out coverage of every candidate's calibrated intervals",
        [("training/promotion.py", "add_calibrated_coverage")],
    ),
    (
        "charts: drawing and PNG encoding",
        [("training/plots.py", "fan_png"), ("training/plots.py", "residual_png")],
    ),
    (
        "MLflow: the candidate runs' rows in one transaction",
        [("training/run_logging.py", "_insert_rows")],
    ),
    ("MLflow: creating runs", [(_CLIENT, "create_run")]),
    ("MLflow: params, metrics and tags (log_batch)", [(_CLIENT, "log_batch")]),
    ("MLflow: ending runs", [(_CLIENT, "set_terminated")]),
    (
        "MLflow: artifact uploads (CSVs, PNGs)",
        [(_CLIENT, "log_artifacts"), ("training/run_logging.py", "_upload")],
    ),
    (
        "MLflow: the champion's pyfunc, registration and alias",
        [("training/registry.py", "register_champion")],
    ),
    (
        "MLflow: last retrain, orphaned runs, experiment",
        [
            ("training/tracking.py", "last_retrain"),
            ("training/tracking.py", "close_orphaned_runs"),
            ("training/tracking.py", "ensure_experiment"),
        ],
    ),
    ("scoring the outgoing champion", [("training/pipeline.py", "_score_outgoing_champion")]),
)

#: Run in a fresh process with the code under test first on sys.path: train the series once
#: unprofiled and once profiled (fresh stores each), print the grouped times as JSON.
_CHILD = r"""
import cProfile, json, os, pstats, sys, time
from pathlib import Path
from sqlalchemy import event
from sqlalchemy.engine import Engine
statements = [0]
def count(*args, **kwargs):
    statements[0] += 1
event.listen(Engine, "before_cursor_execute", count)
from training.pipeline import retrain
roots = [Path(p) for p in sys.argv[1:3]]
ids, buckets = json.loads(sys.argv[3]), json.loads(sys.argv[4])
def run(root, profile):
    for key, value in json.loads(Path(root, "env.json").read_text()).items():
        os.environ[key] = value
    statements[0] = 0
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler: profiler.enable()
    outcomes = retrain(ids, jobs=1)
    if profiler: profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert all(o.status == "promoted" for o in outcomes), [o.reason for o in outcomes if o.failed]
    return wall, cpu, statements[0], profiler
wall, cpu, sql, _ = run(roots[0], False)
profiled_wall, _, _, profiler = run(roots[1], True)
stats = pstats.Stats(profiler).stats
grouped = {}
for label, functions in buckets:
    grouped[label] = sum(
        row[3] for (file, _, name), row in stats.items()
        if any(file.endswith(suffix) and name == wanted for suffix, wanted in functions)
    )
result = {"wall": wall, "cpu": cpu, "sql": sql, "profiled": profiled_wall, "buckets": grouped}
print(json.dumps(result))
"""


def profile(code_dir: Path, n_series: int, workdir: Path) -> dict:
    """Train ``n_series`` fresh series with the code in ``code_dir``, unprofiled and profiled."""
    roots = [workdir / "plain", workdir / "profiled"]
    ids: list[str] = []
    for root in roots:
        root.mkdir(parents=True)
        ids = prepare_store(root, n_series)
        (root / "env.json").write_text(json.dumps(environment(root)))
    command = [sys.executable, "-c", _CHILD, *map(str, roots), json.dumps(ids), json.dumps(BUCKETS)]
    env = {**os.environ, "PYTHONPATH": str(code_dir), "MPLBACKEND": "Agg"}
    done = subprocess.run(command, cwd=code_dir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"profiling {code_dir} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load": os.getloadavg()[0]}


def report(results: dict[str, dict], n_series: int) -> str:
    """The SCALING.md section: per series, each bucket's profiled seconds and share per code."""
    codes = list(results)
    lines = [
        "# Profile: where one series' `train` time goes",
        "",
        f"`fraudcast train` of {n_series} fresh synthetic series (as above) in one process with "
        "the local SQLite MLflow store, each code in its own process and stores, by "
        "`python benchmarks/train_profile.py` on "
        f"{machine()}. First an unprofiled run (wall and CPU seconds per series, SQL statements "
        "sent to the stores per series), then the same under cProfile, grouped by what the time "
        "buys (cumulative time of the named calls, per series; the profiler slows Python-heavy "
        "work more than C-heavy work such as PNG encoding, so the shares are a guide). What is "
        "left is the pipeline's own work: reading figures, calibration, tables and CSVs, "
        "temporary folders.",
        "",
        "| | " + " | ".join(codes) + " |",
        "|---|" + "---:|" * len(codes),
        "| wall time per series, unprofiled (s) | "
        + " | ".join(f"{results[c]['wall'] / n_series:.2f}" for c in codes)
        + " |",
        "| CPU time per series, unprofiled (s) | "
        + " | ".join(f"{results[c]['cpu'] / n_series:.2f}" for c in codes)
        + " |",
        "| SQL statements per series | "
        + " | ".join(f"{results[c]['sql'] / n_series:.0f}" for c in codes)
        + " |",
        "| load average after | " + " | ".join(f"{results[c]['load']:.1f}" for c in codes) + " |",
        "| profiled wall time per series (s) | "
        + " | ".join(f"{results[c]['profiled'] / n_series:.2f}" for c in codes)
        + " |",
    ]
    for label, _ in BUCKETS:
        cells = []
        for code in codes:
            seconds = results[code]["buckets"][label] / n_series
            cells.append(f"{seconds:.3f} ({seconds * n_series / results[code]['profiled']:.0%})")
        lines.append(f"| {label} (s, share) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--baseline", help="git commit profiled the same way, beside this tree")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "SCALING.md")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="fraudcast-train-profile-") as folder:
        trees = {}
        if args.baseline:
            trees[f"before ({_short(args.baseline)})"] = baseline_tree(
                args.baseline, Path(folder) / "baseline"
            )
        trees["this tree"] = ROOT
        for code, tree in trees.items():
            results[code] = profile(tree, args.series, Path(folder) / code.replace(" ", "-"))
            print(f"{code}: {json.dumps(results[code])}", flush=True)
            replace_section(args.output, SECTION, report(results, args.series))
    print(f"wrote the {SECTION} section of {args.output}")


if __name__ == "__main__":
    main()
