"""The same forecasts on a Dask cluster as in one process, and a clear error without one."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.support import said
from training.distributed import (
    CHUNKS_PER_WORKER,
    LOCAL_DASHBOARD,
    SERIES_PER_TASK,
    SchedulerUnreachable,
    chunk_bounds,
    compute_backend,
    worker_environment,
)
from training.parallel import forecast_long


def synthetic_long(n_series: int, seed: int = 7) -> pd.DataFrame:
    """Yearly series of 8–30 years: trends, growth, noise and a few level shifts."""
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(n_series):
        length = int(rng.integers(8, 31))
        years = np.arange(2025 - length, 2025)
        trend = rng.normal(0, 40) * np.arange(length)
        growth = np.exp(rng.normal(0.03, 0.05) * np.arange(length))
        values = np.maximum(1000 * growth + trend + rng.normal(0, 60, length), 0)
        frames.append(pd.DataFrame({"unique_id": f"s{index:03d}", "ds": years, "y": values}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """A two-process local Dask cluster, closed after the module."""
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=LOCAL_DASHBOARD
    ) as cluster:
        yield cluster.scheduler_address


def test_forecasts_on_dask_equal_single_process(dask_scheduler: str) -> None:
    frame = synthetic_long(20)
    alone, alone_failures = forecast_long(frame, horizon=5, levels=(80, 95), jobs=1)

    with compute_backend("dask", dask_scheduler) as where:
        on_cluster, cluster_failures = forecast_long(frame, horizon=5, levels=(80, 95), jobs=1)

    assert where == f"dask scheduler {dask_scheduler}"
    assert alone["unique_id"].nunique() == 20 and not alone_failures and not cluster_failures
    pd.testing.assert_frame_equal(on_cluster, alone, check_exact=True)


def test_work_really_runs_on_the_cluster_workers(dask_scheduler: str) -> None:
    from dask.distributed import Client
    from joblib import Parallel, delayed

    with compute_backend("dask", dask_scheduler):
        pids = set(Parallel(n_jobs=1)(delayed(_worker_pid)(i) for i in range(8)))

    with Client(dask_scheduler, timeout=10) as client:
        workers = set(client.run(os.getpid).values())
    assert pids <= workers and len(workers) == 2 and os.getpid() not in pids


def test_a_local_cluster_runs_without_the_workers_sampling_profiler_on_loopback() -> None:
    """Dask's per-worker stack sampler costs a quarter of the workers' CPU on these tasks."""
    from dask.distributed import get_client

    with compute_backend("dask"):
        forecast_long(synthetic_long(4), horizon=3, levels=(80,), jobs=1)
        client = get_client()
        assert len(client.scheduler_info()["workers"]) >= 1
        assert client.profile()["count"] == 0  # no stack was sampled while the work ran
        # its dashboard is reachable from this machine only, on a port no other cluster holds
        assert client.dashboard_link.startswith("http://127.0.0.1:")
        assert ":8787/" not in client.dashboard_link


def test_the_readme_starts_workers_with_the_same_configuration() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index(".venv/bin/dask worker")
    line_above = readme[:start].splitlines()[-1]  # the worker command's environment
    for name, value in worker_environment().items():
        assert f"{name}={value}" in line_above


def _worker_pid(_: int) -> int:
    time.sleep(0.05)
    return os.getpid()


def test_series_travel_in_chunked_tasks_not_one_scatter_each(
    dask_scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """joblib's Dask backend scatters every pandas argument of a task with a round trip of its
    own, which cost more than fitting a short series: series must go inside chunked tasks."""
    from dask.distributed import Client, get_task_stream

    scattered: list[str] = []
    scatter = Client.scatter

    def counting_scatter(self: Client, data: object, *args: object, **kwargs: object) -> object:
        scattered.append(type(data).__name__)
        return scatter(self, data, *args, **kwargs)

    monkeypatch.setattr(Client, "scatter", counting_scatter)
    frame = synthetic_long(40)
    with compute_backend("dask", dask_scheduler), get_task_stream() as stream:
        forecasts, _ = forecast_long(frame, horizon=3, levels=(80,), jobs=1)

    assert forecasts["unique_id"].nunique() == 40
    assert scattered == []
    # the evidence's backtests and the forecasts: CHUNKS_PER_WORKER tasks a worker each at most
    assert len(stream.data) <= 2 * 2 * CHUNKS_PER_WORKER


@pytest.mark.parametrize(("count", "workers"), [(1, 2), (40, 2), (1000, 2), (10_000, 8)])
def test_chunks_cover_every_item_once_and_shrink_towards_the_end(count: int, workers: int) -> None:
    bounds = list(chunk_bounds(count, workers))
    # every item once, in order
    assert [start for start, _ in bounds] == [0] + [end for _, end in bounds[:-1]]
    assert bounds[-1][1] == count
    sizes = [end - start for start, end in bounds]
    assert min(sizes) >= 1 and max(sizes) <= SERIES_PER_TASK
    # no worker waits on another's last full chunk: a chunk is at most a share of what is left
    for start, end in bounds:
        assert end - start <= max(1, -(-(count - start) // (2 * workers)))
    if count >= 1000:
        assert sizes[-1] == 1 and max(sizes) == SERIES_PER_TASK


def test_unreachable_scheduler_fails_fast_and_says_where() -> None:
    started = time.monotonic()
    with (
        pytest.raises(SchedulerUnreachable, match=r"tcp://127\.0\.0\.1:9 within 1 s"),
        compute_backend("dask", "tcp://127.0.0.1:9", connect_timeout=1),
    ):
        pass
    assert time.monotonic() - started < 15


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="choose one of loky, dask"), compute_backend("ray"):
        pass


def test_forecast_file_on_a_scheduler_writes_the_same_csv(
    dask_scheduler: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from serving.cli import app

    source = tmp_path / "long.csv"
    synthetic_long(6, seed=3).to_csv(source, index=False)
    runner = CliRunner()
    outputs = {}
    for name, extra in {"alone": [], "dask": ["--scheduler", dask_scheduler]}.items():
        outputs[name] = tmp_path / f"{name}.csv"
        args = ["forecast-file", str(source), "--horizon", "3", "--output", str(outputs[name])]
        result = runner.invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
    assert outputs["dask"].read_bytes() == outputs["alone"].read_bytes()


def test_forecast_file_says_when_the_scheduler_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from serving.cli import app

    monkeypatch.setenv("FRAUDCAST_DASK_CONNECT_TIMEOUT", "1")
    source = tmp_path / "long.csv"
    synthetic_long(2).to_csv(source, index=False)
    output = tmp_path / "out.csv"
    args = ["forecast-file", str(source), "--horizon", "3", "--output", str(output)]
    result = CliRunner().invoke(
        app, [*args, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"]
    )

    assert result.exit_code == 2
    assert "no Dask scheduler answered at tcp://127.0.0.1:9 within 1 s" in result.output
    assert not output.exists()


def test_train_on_a_scheduler_promotes_and_an_unreachable_one_stops_it(
    dask_scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from serving.cli import app

    runner = CliRunner()
    monkeypatch.setenv("FRAUDCAST_DASK_CONNECT_TIMEOUT", "1")
    series = ["train", "--series", "jp_sns_romance_fraud_cases"]

    refused = runner.invoke(app, [*series, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    assert refused.exit_code == 2 and "no Dask scheduler answered" in refused.output

    trained = runner.invoke(app, [*series, "--scheduler", dask_scheduler])
    assert trained.exit_code == 0, trained.output
    assert "promoted" in trained.output


@pytest.mark.parametrize("address", ["htp://x:8786", "tcp://:8786", "http://host:8786"])
def test_a_mistyped_scheduler_address_is_refused_before_anything_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    address: str,
) -> None:
    """``--scheduler htp://x`` ended in a traceback ("ValueError: unknown address scheme")."""
    from typer.testing import CliRunner

    from serving.cli import app, main

    source = tmp_path / "long.csv"
    synthetic_long(2).to_csv(source, index=False)
    output = tmp_path / "out.csv"
    args = ["forecast-file", str(source), "--horizon", "3", "--output", str(output)]
    result = CliRunner().invoke(app, [*args, "--scheduler", address])
    assert result.exit_code == 2, result.output
    assert "e.g. tcp://host:8786" in said(result.output)
    assert not output.exists()

    monkeypatch.setenv("FRAUDCAST_DASK_SCHEDULER", address)
    monkeypatch.setattr("sys.argv", ["fraudcast", *args, "--backend", "dask"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2 and not output.exists()
    assert f"error: FRAUDCAST_DASK_SCHEDULER={address!r}:" in capsys.readouterr().err
