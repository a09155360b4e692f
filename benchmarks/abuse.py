"""Abuse benchmark: every probe of issue #19 (hardening) against a live server, figures checked.

Trains jp_cybercrime_cleared into a temp dir, serves it with one uvicorn worker (scheduler and
drop folder on, access log on, the bearer token generated into its token file), then runs each
probe of ``abuse_probes.PROBES`` through the API, the CLI and the server's drop folder. The
figures are read before and after each probe: "data intact" means nothing was lost or changed
and nothing was added but what the probe may add (a slow writer's rows, when the file that
reached ``processed/`` holds them). Prints the table and writes it to ``benchmarks/ABUSE.md``.

    .venv/bin/python benchmarks/abuse.py [--output benchmarks/ABUSE.md] [--keep] [--only 3,6]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from abuse_probes import PROBES, Figure, Outcome
from serving_load import Server, machine, start_fraudcast, train

#: Seconds the drop folder may take to take a file (it looks every 2 s; files settle for 1 s).
FOLDER_TIMEOUT = 30.0


@dataclass
class Live:
    """The server under test and the ways in: HTTP, the CLI, the drop folder."""

    root: Path
    env: dict[str, str]
    url: str
    server: Server
    token: str

    @property
    def incoming(self) -> Path:
        return Path(self.env["FRAUDCAST_INCOMING_DIR"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def http(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, timeout=300, **kwargs)

    def figures(self) -> set[Figure]:
        """Every current figure as (series, year, value, note), read through the API."""
        found: set[Figure] = set()
        for series in self.http("GET", "/v1/series").json():
            for item in self.http("GET", f"/v1/series/{series['id']}/figures").json():
                note = item["source"]["note"] or ""
                found.add((series["id"], int(item["year"]), float(item["value"]), note))
        return found

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """A ``fraudcast`` command against the server's stores; output captured."""
        command = [sys.executable, "-m", "serving.cli", *args]
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def start_cli(self, *args: str) -> subprocess.Popen[bytes]:
        """A ``fraudcast`` command in its own process group, its output discarded."""
        return subprocess.Popen(
            [sys.executable, "-m", "serving.cli", *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.server.log.read_text(errors="replace")

    def rss_mb(self) -> float:
        """Resident memory of the server process, MB."""
        status = Path(f"/proc/{self.server.process.pid}/status").read_text()
        kilobytes = next(line for line in status.splitlines() if line.startswith("VmRSS"))
        return int(kilobytes.split()[1]) / 1024

    def drop(self, name: str, content: str) -> None:
        """A file in the drop folder, written as ``.part`` and renamed, as writers should."""
        part = self.incoming / f"{name}.part"
        part.write_text(content, encoding="utf-8")
        os.replace(part, self.incoming / name)

    def taken(self, name: str, timeout: float = FOLDER_TIMEOUT) -> str:
        """Where the drop folder put ``name``: processed, rejected, or still in the folder."""
        deadline = time.monotonic() + timeout
        while os.path.lexists(self.incoming / name) and time.monotonic() < deadline:
            time.sleep(0.2)
        if os.path.lexists(self.incoming / name):
            return "still in the folder"
        time.sleep(1.0)  # the move comes before the store write is logged
        for place in ("processed", "rejected"):
            if [p for p in (self.incoming / place).glob(f"*{name}") if ".error" not in p.name]:
                return place
        return "gone"


def run_probes(live: Live, items: set[str] | None = None) -> list[tuple[Outcome, bool]]:
    """Each probe (of the issue's ``items``, all by default) with the figures read before and
    after it."""
    rows: list[tuple[Outcome, bool]] = []
    for probe in PROBES:
        if items and (probe.__doc__ or "").split(":")[0] not in items:
            continue
        print(f"probe: {probe.__doc__ or probe.__name__}", flush=True)
        before = live.figures()
        try:
            outcomes = probe(live)
        except Exception as error:  # a probe that breaks is a finding, not the end of the run
            name = (probe.__doc__ or probe.__name__).split(":")
            crash = f"probe crashed: {type(error).__name__}: {error}"[:200]
            outcomes = [Outcome(name[0], name[-1].strip(), "", crash, False)]
        after = live.figures()
        for outcome in outcomes:
            intact = before <= after and after - before <= outcome.may_add
            rows.append((outcome, intact))
            verdict = "ok" if outcome.passed and intact else "FAIL"
            print(f"  {verdict}  {outcome.probe}: {outcome.got}", flush=True)
    return rows


def write_report(
    output: Path, rows: list[tuple[Outcome, bool]], seconds: float, items: set[str]
) -> str:
    commit = subprocess.run(
        ["git", "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=False
    ).stdout.strip()
    passed = sum(outcome.passed and intact for outcome, intact in rows)
    lines = [
        "# Abuse benchmark (issue #19)",
        "",
        "Written by `benchmarks/abuse.py` (`make bench-abuse`); do not edit by hand.",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {seconds / 60:.1f} minutes",
        f"- Code: `{commit[:100]}`",
        f"- Machine: {machine()}",
        "- A live server (one uvicorn worker, scheduler and drop folder on, access log on, token",
        "  generated into its token file) on a temp store with jp_cybercrime_cleared trained;",
        "  probes through the API, the `fraudcast` CLI and the server's drop folder.",
        "- *Data intact*: the figures read through the API after the probe are those before it,",
        "  plus only what the probe may add. *Verdict*: got what was expected, data intact.",
        "",
        f"**{passed} of {len(rows)} probes pass**"
        + (f" (items {', '.join(sorted(items, key=int))} only)." if items else "."),
        "",
        "| item | probe | expected | got | data intact | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for outcome, intact in rows:
        verdict = "pass" if outcome.passed and intact else "**FAIL**"
        cells = [outcome.item, outcome.probe, outcome.expected, outcome.got]
        cells = [cell.replace("|", "\\|").replace("\n", " ") for cell in cells]
        lines.append(f"| {' | '.join(cells)} | {'yes' if intact else '**no**'} | {verdict} |")
    text = "\n".join(lines) + "\n"
    output.write_text(text)
    return text


def start(root: Path) -> Live:
    """Train, then serve with the scheduler on and the token generated into its file."""
    print(f"training into {root} ...", flush=True)
    env = {**os.environ, **train(root), "FRAUDCAST_SCHEDULER_ENABLED": "true"}
    env.pop("FRAUDCAST_API_TOKEN")  # generated into FRAUDCAST_TOKEN_FILE, as `make run` does
    server, url = start_fraudcast(env, root, access_log=True)
    server.wait_until_up(f"{url}/readyz")
    token = Path(env["FRAUDCAST_TOKEN_FILE"]).read_text().strip()
    Path(env["FRAUDCAST_INCOMING_DIR"]).mkdir(parents=True, exist_ok=True)
    return Live(root, env, url, server, token)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("benchmarks/ABUSE.md"))
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, folders)")
    parser.add_argument("--only", default="", help="items to probe, e.g. 3,6 (default: all)")
    args = parser.parse_args()
    items = {item.strip() for item in args.only.split(",") if item.strip()}
    root = Path(tempfile.mkdtemp(prefix="fraudcast-abuse-"))
    started = time.monotonic()
    live: Live | None = None
    try:
        live = start(root)
        rows = run_probes(live, items)
    finally:
        if live is not None:
            live.server.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(write_report(args.output, rows, time.monotonic() - started, items))


if __name__ == "__main__":
    main()
