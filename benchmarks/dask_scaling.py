"""Dask measured as Dask: `fraudcast forecast-file` and `fraudcast train` on a real scheduler and
N worker processes started here (127.0.0.1 only, as the README shows them), beside one process
and `--jobs N`, at each size; every output is checked against one process'. Writes its section
of benchmarks/SCALING.md.

    .venv/bin/python benchmarks/dask_scaling.py --sizes 100,1000 --workers 2

The cluster is started once and warmed up (one small forecast and one small train, timed and
reported) before anything is measured, as a cluster that stays up would be; it is stopped when
the script ends, however it ends (an error, Ctrl-C or SIGTERM). Results are rewritten after
every run, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
from scaling import HORIZON, SEED, replace_section, run_sampled, synthetic_long
from serving_load import environment, machine
from train_scaling import ROOT, prepare_store, train_command

from training.distributed import worker_environment

SECTION = "dask"
DASK = Path(sys.executable).parent / "dask"
FRAUDCAST = Path(sys.executable).parent / "fraudcast"
COMMANDS = ("forecast-file", "train")


@dataclass
class Measured:
    """One measured command: how it ran, its wall and CPU time, and whether its output is
    the same as one process'."""

    command: str
    series: int
    how: str  # "one process", "--jobs N" or "Dask, N workers"
    wall: float
    cpu: float  # the command's processes, and on Dask the cluster's during the run
    same_output: bool | None  # None for the one-process run itself
    load: float  # 1-minute load average when the run started


@dataclass
class Cluster:
    """A running Dask scheduler and its workers."""

    address: str
    processes: list[psutil.Process]

    def cpu_seconds(self) -> float:
        """User and system CPU of every cluster process and its children so far."""
        total = 0.0
        for process in self.processes:
            try:
                family = [process, *process.children(recursive=True)]
            except psutil.Error:
                continue
            for member in family:
                try:
                    times = member.cpu_times()
                except psutil.Error:
                    continue
                total += times.user + times.system
        return total


@contextmanager
def dask_cluster(workers: int, folder: Path) -> Iterator[Cluster]:
    """A scheduler and ``workers`` single-thread workers, each listening on 127.0.0.1 only
    (dashboards too) and spilling under ``folder``; all stopped on exit."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    loopback = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
    commands = [[str(DASK), "scheduler", "--port", str(port), *loopback]]
    for index in range(workers):
        spill = folder / f"worker-{index}"
        commands.append(
            [str(DASK), "worker", address, "--nthreads", "1", "--name", f"bench-{index}",
             "--local-directory", str(spill), *loopback]
        )  # fmt: skip
    started: list[subprocess.Popen[bytes]] = []
    try:
        for index, command in enumerate(commands):
            with (folder / f"dask-{index}.log").open("wb") as log:
                started.append(
                    subprocess.Popen(
                        command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                        env={**os.environ, "PYTHONPATH": str(ROOT), **worker_environment()},
                        start_new_session=True,
                    )
                )  # fmt: skip
            if index == 0:
                _wait_for_port(port, started[0], timeout=60)
        _wait_for_workers(address, workers, timeout=120)
        yield Cluster(address, [psutil.Process(process.pid) for process in started])
    finally:
        for process in reversed(started):
            _stop(process)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Dask scheduler exited with code {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the Dask scheduler did not listen on port {port} within {timeout} s")


def _wait_for_workers(address: str, workers: int, timeout: float) -> None:
    from dask.distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(workers, timeout=timeout)


def _stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM to the process' group (a worker's nanny and the worker it spawned), then
    SIGKILL whatever is left after ``grace`` seconds."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group, if any
    process.wait()


#: The ways a command can be run (``--ways``), in the order they are measured by default.
WAYS = ("one", "jobs", "dask")


def _ways(
    workers: int, cluster: Cluster, chosen: Sequence[str] = WAYS
) -> list[tuple[str, int, list[str]]]:
    """How each command is run, in the ``chosen`` order: its label, ``--jobs`` and the options
    that choose Dask (which uses every worker of the cluster, whatever ``--jobs`` says)."""
    dask = ["--backend", "dask", "--scheduler", cluster.address]
    every = {
        "one": ("one process", 1, []),
        "jobs": (f"--jobs {workers}", workers, []),
        "dask": (f"Dask, {workers} workers", 1, dask),
    }
    return [every[name] for name in chosen]


def _run(
    command: list[str], errors: Path, cluster: Cluster, **popen: object
) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the command's, and the cluster's meanwhile) of a run."""
    before = cluster.cpu_seconds()
    sampled = run_sampled(command, errors, **popen)
    if sampled.exit_code != 0:
        raise RuntimeError(f"{' '.join(command[:4])} … failed:\n{errors.read_text()[-3000:]}")
    return sampled.wall, sampled.cpu + cluster.cpu_seconds() - before


def measure_forecast_file(
    n_series: int, workers: int, cluster: Cluster, workdir: Path, ways: Sequence[str] = WAYS
) -> list[Measured]:
    """`forecast-file` on ``n_series`` synthetic series each way; outputs compared byte for
    byte with the first way's (one process', by default)."""
    source = workdir / f"series-{n_series}.csv"
    synthetic_long(n_series).to_csv(source, index=False)
    runs: list[Measured] = []
    outputs: list[bytes] = []
    for how, jobs, options in _ways(workers, cluster, ways):
        output = workdir / f"forecast-{n_series}-{len(outputs)}.csv"
        command = [str(FRAUDCAST), "forecast-file", str(source), "--horizon", str(HORIZON),
                   "--output", str(output), "--jobs", str(jobs), *options]  # fmt: skip
        load = os.getloadavg()[0]
        wall, cpu = _run(command, workdir / "stderr.txt", cluster)
        outputs.append(output.read_bytes())
        same = outputs[-1] == outputs[0] if len(outputs) > 1 else None
        runs.append(Measured("forecast-file", n_series, how, wall, cpu, same, load))
        _print(runs[-1])
    return runs


def measure_train(
    n_series: int, workers: int, cluster: Cluster, workdir: Path, ways: Sequence[str] = WAYS
) -> list[Measured]:
    """`train` of ``n_series`` fresh synthetic series each way, each into its own new figure
    store and MLflow store; every series' champion (model and backtest metrics) compared with
    the first way's (one process', by default)."""
    runs, champions = [], []
    for index, (how, jobs, options) in enumerate(_ways(workers, cluster, ways)):
        root = workdir / f"train-{n_series}-{index}"
        root.mkdir()
        command, env = train_command(root, prepare_store(root, n_series), jobs, ROOT)
        load = os.getloadavg()[0]
        wall, cpu = _run([*command, *options], root / "stderr.txt", cluster, cwd=ROOT, env=env)
        champions.append(champion_cards(root))
        if len(champions[-1]) != n_series:
            raise RuntimeError(f"{how}: {len(champions[-1])} champions for {n_series} series")
        same = champions[-1] == champions[0] if len(champions) > 1 else None
        runs.append(Measured("train", n_series, how, wall, cpu, same, load))
        _print(runs[-1])
    return runs


def champion_cards(root: Path) -> dict[str, dict[str, str]]:
    """Series id → its champion's model name and backtest metrics, as registered in the MLflow
    store under ``root``."""
    from training import registry, tracking
    from training.settings import TrainingSettings

    uri = environment(root)["FRAUDCAST_MLFLOW_TRACKING_URI"]
    client = tracking.connect(TrainingSettings(mlflow_tracking_uri=uri))
    cards = {}
    for series_id, version in registry.champion_versions(client=client).items():
        tags = registry.get_version(series_id, version, client=client).tags
        cards[series_id] = {
            key: value
            for key, value in tags.items()
            if key == "model_name" or key.startswith("metric.")
        }
    return cards


def warm_up(cluster: Cluster, workdir: Path) -> tuple[float, float]:
    """A small forecast and a small train on the fresh cluster (its workers import fraudcast,
    MLflow and the reference corpus once); their wall seconds."""
    folder = workdir / "warm-up"
    folder.mkdir()
    source = folder / "series.csv"
    synthetic_long(20, seed=SEED + 1).to_csv(source, index=False)
    dask = ["--backend", "dask", "--scheduler", cluster.address]
    forecast = [str(FRAUDCAST), "forecast-file", str(source), "--horizon", str(HORIZON),
                "--output", str(folder / "out.csv"), *dask]  # fmt: skip
    forecast_wall = _run(forecast, folder / "stderr.txt", cluster)[0]
    ids = prepare_store(folder, 4)
    command, env = train_command(folder, ids, 1, ROOT)
    train_wall = _run([*command, *dask], folder / "stderr.txt", cluster, cwd=ROOT, env=env)[0]
    return forecast_wall, train_wall


def _print(run: Measured) -> None:
    same = {None: "", True: ", same output", False: ", OUTPUT DIFFERS"}[run.same_output]
    print(
        f"{run.command:>13} {run.series:>6} series, {run.how:<16}: {run.wall:8.1f} s, "
        f"{run.cpu:8.1f} CPU s, load {run.load:.1f}{same}",
        flush=True,
    )


def report(runs: list[Measured], workers: int, warm: tuple[float, float], notes: list[str]) -> str:
    """The SCALING.md section: every run beside one process' at the same size."""
    lines = [
        "# Benchmark: `forecast-file` and `train` on a Dask cluster",
        "",
        f"A Dask scheduler and {workers} `dask worker` processes (`--nthreads 1`, listening on "
        "127.0.0.1, dashboards on 127.0.0.1, spilling into a temporary folder, Dask's sampling "
        "profiler off as the README starts them: "
        f"`{' '.join(f'{k}={v}' for k, v in worker_environment().items())}`), started by "
        "`make bench-dask` (`python benchmarks/dask_scaling.py`) and stopped at its end, run "
        "each command with `--backend dask --scheduler tcp://127.0.0.1:PORT`; beside it the same "
        f"command in one process and with `--jobs {workers}` (joblib's process pool on this "
        "machine, started by each command). Synthetic yearly series as above (lengths 8–30, "
        f"seed {SEED}); `forecast-file` with horizon {HORIZON}; `train` of fresh series, each "
        "way into its own new figure store and SQLite MLflow store (the Dask workers share this "
        f"machine, so they reach the same files). On {machine()}. Before the first measurement "
        f"the fresh cluster ran a 20-series `forecast-file` ({warm[0]:.1f} s) and a 4-series "
        f"`train` ({warm[1]:.1f} s), so its workers had imported fraudcast, as on a cluster "
        "that stays up; `--jobs` starts its workers anew in every command. Wall time is the "
        "whole command, start-up included. CPU is the user and system time of the command's "
        "processes and, on Dask, of the scheduler and workers meanwhile (an idle cluster "
        "also spends some); it changes less than wall time with other work on the machine. "
        "Same output: `forecast-file`'s CSV byte for byte, `train`'s champion per series (model "
        "and every backtest metric) equal to the first run's at that size (one process', "
        "unless `--ways` leaves it out).",
        "",
        "| command | series | run | wall time (s) | vs one process | CPU (s) | same output "
        "| load average at start |",
        "|---|---:|---|---:|---:|---:|---|---:|",
    ]
    alone = {(run.command, run.series): run for run in runs if run.how == "one process"}
    for run in runs:
        base = alone.get((run.command, run.series))
        ratio = f"{base.wall / run.wall:.2f}x" if base else "–"
        same = {None: "–", True: "yes", False: "**no**"}[run.same_output]
        lines.append(
            f"| `{run.command}` | {run.series:,} | {run.how} | {run.wall:.1f} | {ratio} | "
            f"{run.cpu:.0f} | {same} | {run.load:.1f} |"
        )
    lines += ["", "vs one process: one process' wall time divided by this run's (2.00x is "
              f"perfect for {workers} workers)."]  # fmt: skip
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "SCALING.md")
    parser.add_argument("--note", action="append", default=[], help="a line for the report")
    parser.add_argument(
        "--ways",
        default=",".join(WAYS),
        help="which runs, in this order: one (process), jobs (--jobs N), dask (N workers); "
        "outputs are compared with the first",
    )
    args = parser.parse_args()
    commands = [name for name in args.commands.split(",") if name]
    unknown = set(commands) - set(COMMANDS)
    if unknown:
        parser.error(f"unknown command(s): {', '.join(sorted(unknown))}")
    ways = [name for name in args.ways.split(",") if name]
    if not ways or set(ways) - set(WAYS):
        parser.error(f"--ways takes some of {', '.join(WAYS)}, got {args.ways!r}")
    # SIGTERM ends the script like Ctrl-C, so the cluster is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    runs: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="fraudcast-dask-") as folder:
        workdir = Path(folder)
        with dask_cluster(args.workers, workdir) as cluster:
            print(f"Dask scheduler at {cluster.address} with {args.workers} workers", flush=True)
            warm = warm_up(cluster, workdir)
            for size in sorted(int(size) for size in args.sizes.split(",")):
                for name in commands:
                    measure = measure_forecast_file if name == "forecast-file" else measure_train
                    runs += measure(size, args.workers, cluster, workdir, ways)
                    text = report(runs, args.workers, warm, args.note)
                    replace_section(args.output, SECTION, text)
    print(f"wrote the {SECTION} section of {args.output}")


if __name__ == "__main__":
    main()
