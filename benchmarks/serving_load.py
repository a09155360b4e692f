"""Load benchmark: fraudcast's forecast endpoint against `mlflow models serve`, same champion,
and fraudcast's what-if endpoint (a refit of the champion per request) beside them.

Trains jp_cybercrime_cleared into a temp dir, serves it with one uvicorn worker and with
``mlflow models serve --env-manager local``, checks both give the same forecast, then loads each
with Debian's ``wrk`` (16 connections, 2 threads), and fraudcast's ``POST …/scenario`` with 16
connections and with one, and writes ``benchmarks/SERVING.md``.

    .venv/bin/python benchmarks/serving_load.py [--duration 15] [--output benchmarks/SERVING.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import Request, urlopen

from models.base import bound_columns

SERIES_ID = "jp_cybercrime_cleared"
HORIZON = 5
LEVELS = (80.0, 95.0)
CONNECTIONS = 16
THREADS = 2
TOKEN = "bench-token-0123456789"
TARGET_RPS = 2500.0
TARGET_P99_MS = 10.0
TARGET_RATIO = 10.0
INVOCATION = {
    "dataframe_split": {
        "columns": ["horizon", "level"],
        "data": [[HORIZON, level] for level in LEVELS],
    }
}
#: What the what-if load asks: a figure 30% above the first projected year's mean, for it.
SCENARIO_RISE = 1.3
# wrk's summary line for its own latency distribution, printed by --latency.
_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class LoadResult:
    """What wrk measured against one server."""

    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(root: Path) -> dict[str, str]:
    """Settings that put the figure store, MLflow, the lock and the drop folder under ``root``."""
    return {
        "FRAUDCAST_DATABASE_URL": f"sqlite:///{root / 'figures.db'}",
        "FRAUDCAST_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "FRAUDCAST_MLFLOW_ARTIFACTS": str(root / "artifacts"),
        "FRAUDCAST_RETRAIN_LOCK": str(root / "retrain.lock"),
        "FRAUDCAST_INCOMING_DIR": str(root / "incoming"),
        "FRAUDCAST_TOKEN_FILE": str(root / "api-token"),
        "FRAUDCAST_API_TOKEN": TOKEN,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MPLBACKEND": "Agg",
        # mlflow models serve runs `uvicorn` by name: the venv's, like `fraudcast serve` does.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def train(root: Path) -> dict[str, str]:
    """Train the series into ``root`` by the real pipeline; returns the env that points at it."""
    from data.store import FigureStore
    from training.pipeline import retrain
    from training.settings import TrainingSettings

    env = {**environment(root), "FRAUDCAST_SCHEDULER_ENABLED": "false"}
    store = FigureStore(env["FRAUDCAST_DATABASE_URL"])
    store.ensure_seeded()
    settings = TrainingSettings(
        mlflow_tracking_uri=env["FRAUDCAST_MLFLOW_TRACKING_URI"],
        mlflow_artifacts=env["FRAUDCAST_MLFLOW_ARTIFACTS"],
        retrain_lock=Path(env["FRAUDCAST_RETRAIN_LOCK"]),
    )
    outcomes = retrain([SERIES_ID], store=store, settings=settings)
    store.close()
    if not all(o.status == "promoted" for o in outcomes):
        raise SystemExit(f"training did not promote a champion: {outcomes}")
    return env


class Server:
    """A server subprocess in its own process group, stopped within seconds."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                env={**os.environ, **env},
                cwd=log.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_up(self, url: str, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (URLError, OSError):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{self.name} did not come up:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=15)
                return
            except subprocess.TimeoutExpired:
                continue


def _get_json(url: str) -> object:
    with urlopen(url, timeout=30) as response:
        return json.load(response)


def _post_json(url: str, body: object) -> object:
    request = Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urlopen(request, timeout=60) as response:
        return json.load(response)


def check_agreement(fraudcast_answer: object, mlflow_answer: object) -> int:
    """Both servers give the same years, means and bounds; returns how many numbers agreed."""
    forecast = fraudcast_answer["forecast"]  # type: ignore[index]
    predictions = mlflow_answer["predictions"]  # type: ignore[index]
    by_year: dict[int, dict[str, float]] = {}
    for row in predictions:
        year = int(row["year"])
        entry = by_year.setdefault(year, {})
        for key, value in row.items():
            if key in {"mean"} or key.startswith(("lo-", "hi-")):
                entry[key] = float(value)
    compared = 0
    assert [p["year"] for p in forecast] == sorted(by_year), (forecast, sorted(by_year))
    for point in forecast:
        served = by_year[point["year"]]
        expected = {"mean": point["mean"]}
        for level in LEVELS:
            label = f"{level:g}"
            lo, hi = bound_columns(label)
            expected[lo], expected[hi] = point["lower"][label], point["upper"][label]
        for key, value in expected.items():
            other = _by_label(served, key)
            if abs(float(value) - other) > 1e-9 * max(1.0, abs(other)):
                raise SystemExit(f"answers differ for {point['year']} {key}: {value} vs {other}")
            compared += 1
    return compared


def _by_label(row: dict[str, float], key: str) -> float:
    """mlflow names levels as the model does (lo-80 or lo-80.0); accept either spelling."""
    if key in row:
        return row[key]
    side, level = key.split("-", 1)
    return row[f"{side}-{float(level)}"]


def run_wrk(
    name: str,
    url: str,
    duration_s: int,
    lua: Path | None,
    workdir: Path,
    connections: int = CONNECTIONS,
) -> LoadResult:
    """wrk with --latency against ``url``; parses requests/s and p50/p99."""
    command = [
        "wrk",
        f"-t{min(THREADS, connections)}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if lua is not None:
        command += ["-s", str(lua)]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=duration_s + 60
    ).stdout
    (workdir / f"wrk-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.txt").write_text(output)
    latency = {q: float(v) * _UNIT_MS[u] for q, v, u in _LATENCY.findall(output)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = sum(
        int(n)
        for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output)
        + re.findall(r"Non-2xx or 3xx responses: (\d+)", output)
    )
    return LoadResult(name, rps, latency["50"], latency["99"], total, errors)


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        cpu = found.group(1).strip() if found else cpu
    return f"{os.cpu_count()} CPUs (nproc), {cpu}; Python {platform.python_version()}"


def write_report(
    output: Path,
    results: tuple[LoadResult, LoadResult, LoadResult],
    duration_s: int,
    compared: LoadResult,
    load_before: float,
    scenario: dict[str, object],
    what_ifs: tuple[LoadResult, ...],
    champion: str,
) -> str:
    """The report: fraudcast's forecast, mlflow's and the bare app (``results``), fraudcast's
    what-if loads shown beside its forecast."""
    fraudcast, mlflow, bare = results
    ratio = fraudcast.requests_per_s / mlflow.requests_per_s
    met = {
        f"≥ {TARGET_RPS:,.0f} requests/s": fraudcast.requests_per_s >= TARGET_RPS,
        f"p99 < {TARGET_P99_MS:g} ms": fraudcast.p99_ms < TARGET_P99_MS,
        f"≥ {TARGET_RATIO:g} × mlflow models serve": ratio >= TARGET_RATIO,
    }
    rows = "\n".join(
        f"| {r.name} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
        f"| {r.requests:,} | {r.errors} |"
        for r in (fraudcast, *what_ifs, mlflow, bare)
    )
    targets = "\n".join(f"| {name} | {'met' if ok else 'not met'} |" for name, ok in met.items())
    text = f"""# Serving load benchmark

Written by `benchmarks/serving_load.py` (`make bench-serving`); do not edit by hand.

- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC
- Machine: {machine()}; 1-minute load average before the run {load_before:.2f}
  (other processes share the cores: the bare-FastAPI row is the ceiling under the same load)
- Load: `wrk -t{THREADS} -c{CONNECTIONS} -d{duration_s}s --latency` on loopback,
  one server at a time, same champion ({SERIES_ID}, trained by the real pipeline into a
  temp store).
- fraudcast: one uvicorn worker,
  `GET /v1/series/{SERIES_ID}/forecast?horizon={HORIZON}&levels=80,95`.
- mlflow: `mlflow models serve -m models:/fraudcast.{SERIES_ID}@champion --env-manager local`,
  `POST /invocations` with
  `{json.dumps(INVOCATION)}`.
- Both answers checked equal before loading ({compared.requests_per_s:.0f} numbers: mean and
  bounds per year).
- fraudcast what-if: `POST /v1/series/{SERIES_ID}/scenario` with `{json.dumps(scenario)}`:
  the champion's model ({champion}) refitted in memory per request (at most
  `FRAUDCAST_MAX_CONCURRENT_REFITS`, 2, at once in the worker; the others queue), with
  {CONNECTIONS} connections and with 1.

| server | requests/s | p50 ms | p99 ms | requests | errors |
|---|---:|---:|---:|---:|---:|
{rows}

Throughput ratio fraudcast / mlflow models serve: **{ratio:.1f} ×**

| target (issue 6) | |
|---|---|
{targets}
"""
    output.write_text(text)
    return text


def start_fraudcast(
    env: dict[str, str], workdir: Path, *, access_log: bool = False
) -> tuple[Server, str]:
    """fraudcast's app under one uvicorn worker, as `fraudcast serve` runs it (its log, with
    uvicorn's access log when ``access_log``, in ``workdir/fraudcast.log``)."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "info"] if access_log else ["--log-level", "warning"]
    command += [] if access_log else ["--no-access-log"]
    return Server("fraudcast", command, env, workdir / "fraudcast.log"), f"http://127.0.0.1:{port}"


def start_mlflow(env: dict[str, str], workdir: Path) -> tuple[Server, str]:
    """The same champion under `mlflow models serve --env-manager local`."""
    port = _free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve"]
    command += ["-m", f"models:/fraudcast.{SERIES_ID}@champion", "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    log = workdir / "mlflow-serve.log"
    return Server("mlflow models serve", command, env, log), f"http://127.0.0.1:{port}"


# A bare async endpoint returning cached bytes: the ceiling one uvicorn worker reaches on this
# machine as it is loaded right now (other processes share its cores).
_BARE_APP = """
from fastapi import FastAPI, Response
app = FastAPI()
BODY = open(__file__.replace("bare_app.py", "body.json"), "rb").read()
@app.get("/v1/series/{series_id}/forecast")
async def forecast(series_id: str, horizon: int = 5, levels: str = "80,95") -> Response:
    return Response(BODY, media_type="application/json")
"""


def measure_bare(workdir: Path, body: bytes, duration_s: int) -> LoadResult:
    """The same request against a bare FastAPI app returning the same bytes."""
    (workdir / "body.json").write_bytes(body)
    (workdir / "bare_app.py").write_text(_BARE_APP)
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(workdir)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    server = Server("bare FastAPI", command, {}, workdir / "bare.log")
    base = f"http://127.0.0.1:{port}/v1/series/{SERIES_ID}/forecast?horizon={HORIZON}&levels=80,95"
    try:
        server.wait_until_up(base)
        print(f"loading a bare async FastAPI endpoint for {duration_s} s ...", flush=True)
        return run_wrk("bare FastAPI, cached bytes (reference)", base, duration_s, None, workdir)
    finally:
        server.stop()


def measure(workdir: Path, env: dict[str, str], duration_s: int) -> dict[str, Any]:
    """Start both servers, check they agree, then load one after the other; then fraudcast's
    what-if endpoint, and a bare app. Returns what ``write_report`` needs of the measurements."""
    fraudcast_server, fraudcast_base = start_fraudcast(env, workdir)
    mlflow_server, mlflow_base = start_mlflow(env, workdir)
    try:
        fraudcast_server.wait_until_up(f"{fraudcast_base}/readyz")
        mlflow_server.wait_until_up(f"{mlflow_base}/ping")
        forecast_url = (
            f"{fraudcast_base}/v1/series/{SERIES_ID}/forecast?horizon={HORIZON}&levels=80,95"
        )
        with urlopen(forecast_url, timeout=30) as response:
            body = response.read()
        compared = check_agreement(
            json.loads(body), _post_json(f"{mlflow_base}/invocations", INVOCATION)
        )
        print(f"answers agree ({compared} numbers: mean and bounds)", flush=True)
        lua = _post_script(workdir / "invocations.lua", INVOCATION)
        print(f"loading fraudcast for {duration_s} s ...", flush=True)
        fraudcast = run_wrk("fraudcast", forecast_url, duration_s, None, workdir)
        print(f"loading mlflow models serve for {duration_s} s ...", flush=True)
        mlflow = run_wrk(
            "mlflow models serve", f"{mlflow_base}/invocations", duration_s, lua, workdir
        )
        mlflow_server.stop()
        scenario = what_if(json.loads(body))
        what_ifs = measure_what_if(fraudcast_base, scenario, workdir, duration_s)
    finally:
        fraudcast_server.stop()
        mlflow_server.stop()
    bare = measure_bare(workdir, body, duration_s)
    return {
        "results": (fraudcast, mlflow, bare),
        "compared": LoadResult("compared", compared, 0, 0, 0, 0),
        "scenario": scenario,
        "what_ifs": what_ifs,
        "champion": json.loads(body)["model"]["name"],
    }


def what_if(forecast: dict[str, Any]) -> dict[str, object]:
    """The what-if the load asks: the first projected year SCENARIO_RISE times its mean."""
    first = forecast["forecast"][0]
    figure = {"year": first["year"], "value": round(SCENARIO_RISE * first["mean"])}
    return {"figures": [figure], "horizon": HORIZON, "levels": list(LEVELS)}


def measure_what_if(
    base: str, scenario: dict[str, object], workdir: Path, duration_s: int
) -> tuple[LoadResult, LoadResult]:
    """``POST …/scenario`` on fraudcast's one worker, with CONNECTIONS connections and with one
    (the time of one refit, unqueued), once a first answer is checked to be a what-if."""
    url = f"{base}/v1/series/{SERIES_ID}/scenario"
    answer = _post_json(url, scenario)
    if not isinstance(answer, dict) or answer.get("hypothetical") is not True:
        raise SystemExit(f"the scenario endpoint did not answer a what-if: {answer}")
    lua = _post_script(workdir / "scenario.lua", scenario)
    loads = []
    for connections in (CONNECTIONS, 1):
        name = f"fraudcast what-if, {connections} connection{'s' if connections > 1 else ''}"
        print(f"loading {name} for {duration_s} s ...", flush=True)
        loads.append(run_wrk(name, url, duration_s, lua, workdir, connections=connections))
    return loads[0], loads[1]


def _post_script(path: Path, body: object) -> Path:
    """A wrk script that POSTs ``body`` as JSON."""
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per server")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/SERVING.md"))
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (wrk output, logs)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk): nothing measured")
    workdir = Path(tempfile.mkdtemp(prefix="fraudcast-serving-bench-"))
    try:
        print(f"training {SERIES_ID} into {workdir} ...", flush=True)
        env = train(workdir)
        load_before = os.getloadavg()[0]
        measured = measure(workdir, env, args.duration)
        report = write_report(
            args.output, duration_s=args.duration, load_before=load_before, **measured
        )
        print(report)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
