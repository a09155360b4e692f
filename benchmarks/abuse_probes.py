"""The probes of issue #19, one function per item, each judged by what it got against what the
issue expects (run by ``abuse.py``, which reads the figures before and after each)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import select
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abuse import Live

#: One figure as the probes compare them: (series, year, value, note).
Figure = tuple[str, int, float, str]
COLUMNS = (
    *("series_id", "year", "value", "unit", "source_publisher", "source_title"),
    *("source_url", "accessed_via", "note"),
)
TRAINED = "jp_cybercrime_cleared"
MB = 1024 * 1024


@dataclass
class Outcome:
    """One row of the table."""

    item: str
    probe: str
    expected: str
    got: str
    passed: bool
    may_add: set[Figure] = field(default_factory=set)


def figure(series_id: str, year: object, value: object, **changes: object) -> dict[str, Any]:
    """A figure in the file's columns (a count series, from this bench)."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    row.update(series_id=series_id, year=year, value=value, unit="count")
    row.update(source_publisher="abuse bench", source_title="probe", accessed_via="primary")
    row.update(changes)
    return row


def csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def stored(live: Live, series_id: str) -> dict[int, float]:
    answer = live.http("GET", f"/v1/series/{series_id}/figures").json()
    return {int(item["year"]): float(item["value"]) for item in answer}


def symlinks(live: Live) -> list[Outcome]:
    """1: links into the drop folder"""
    mark = len(live.log())
    elsewhere = live.root / "elsewhere.csv"
    elsewhere.write_text(csv_text([figure("jp_special_fraud_cases", 2026, 30000)]))
    (live.incoming / "tok.csv").symlink_to(live.env["FRAUDCAST_TOKEN_FILE"])
    (live.incoming / "elsewhere.csv").symlink_to(elsewhere)
    ends = {name: live.taken(name) for name in ("tok.csv", "elsewhere.csv")}
    leaks = [
        path.name
        for path in live.incoming.rglob("*")
        if path.is_file() and not path.is_symlink() and live.token in path.read_text("latin-1")
    ]
    in_log = live.token in live.log()[mark:]
    ingested = 2026 in stored(live, "jp_special_fraud_cases")
    got = f"token link {ends['tok.csv']}, CSV link {ends['elsewhere.csv']}; token in "
    got += f"{len(leaks)} file(s), {'in' if in_log else 'not in'} the log; linked CSV "
    got += "ingested" if ingested else "not ingested"
    expected = "links refused, no content quoted; token nowhere; nothing ingested"
    passed = not leaks and not in_log and not ingested
    return [Outcome("1", "symlink to the token file and to a CSV", expected, got, passed)]


def busy_store(live: Live) -> list[Outcome]:
    """2: an API write while `figures add` validates a 1,000,000-row file"""
    big = live.root / "big.csv"
    row = f"{TRAINED},2018,9040,count,abuse bench,big file,,primary,\n"
    big.write_text(",".join(COLUMNS) + "\n" + row * 1_000_000)
    same = next(f for f in live.http("GET", f"/v1/series/{TRAINED}/figures").json())
    as_stored = figure(TRAINED, same["year"], same["value"], **_provenance(same))
    adding = live.start_cli("figures", "add", str(big))
    held = _wait_for_writer(live, adding)
    started = time.monotonic()
    answer = live.http("POST", "/v1/figures", json={"figures": [as_stored]}, headers=live.auth)
    took = time.monotonic() - started
    _stop(adding)
    retry = answer.headers.get("retry-after")
    got = f"{answer.status_code} after {took:.0f} s" + (f", Retry-After {retry}" if retry else "")
    got += f" (the CLI {'held' if held else 'never took'} the write lock)"
    passed = answer.status_code in {200, 201} or (answer.status_code == 503 and bool(retry))
    expected = "201 (a no-op write), or 503 with Retry-After; never 500"
    probe = "POST /v1/figures while `figures add` of 1M rows writes"
    return [Outcome("2", probe, expected, got, passed)]


def _wait_for_writer(live: Live, process: Any, timeout: float = 180) -> bool:
    """Wait until ``process`` holds the SQLite store's write lock (True) or has ended."""
    database = live.env["FRAUDCAST_DATABASE_URL"].removeprefix("sqlite:///")
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        probe = sqlite3.connect(database, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError:  # "database is locked": the writer has it
            return True
        finally:
            probe.close()
        time.sleep(0.2)
    return False


def _provenance(item: dict[str, Any]) -> dict[str, str]:
    source = item["source"]
    return {
        "unit": "count",
        "source_publisher": source["publisher"],
        "source_title": source["title"],
        "source_url": source["url"] or "",
        "accessed_via": source["accessed_via"],
        "note": source["note"] or "",
    }


def _stop(process: Any) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def levels(live: Live) -> list[Outcome]:
    """3: levels next to 0 or 100, and repeated"""
    outcomes = []
    base = f"/v1/series/{TRAINED}/forecast"
    for level in ("99.99999999", "1e-300"):
        codes = [
            live.http("GET", base + suffix, params={"levels": level}).status_code
            for suffix in ("", ".csv", ".png")
        ]
        batch = {"requests": [{"series_id": TRAINED, "levels": [float(level)]}]}
        codes.append(live.http("POST", "/v1/forecasts", json=batch).status_code)
        got = " ".join(map(str, codes))
        probe = f"levels={level} on forecast, .csv, .png, POST /v1/forecasts"
        outcomes.append(Outcome("3", probe, "422 422 422 422", got, set(codes) == {422}))
    answer = live.http("GET", base, params=[("levels", "80"), ("levels", "95")])
    served = answer.json().get("levels") if answer.status_code == 200 else answer.status_code
    expected = "both served ([80.0, 95.0]), or 422"
    passed = served in ([80.0, 95.0], 422)
    outcomes.append(Outcome("3", "levels=80&levels=95", expected, str(served), passed))
    return outcomes


def digits(live: Live) -> list[Outcome]:
    """4: years in non-ASCII digits"""
    series = "jp_sns_investment_fraud_cases"
    mixed = csv_text([figure(series, "2026", 9900), figure(series, "２０２６", 9901)])
    live.drop("digits.csv", mixed)
    live.drop("arabic.csv", csv_text([figure("jp_sns_romance_fraud_cases", "٢٠٢٦", 4000)]))
    ends = {name: live.taken(name) for name in ("digits.csv", "arabic.csv")}
    cli_file = live.root / "digits-cli.csv"
    cli_file.write_text(mixed, encoding="utf-8")
    added = live.cli("figures", "add", str(cli_file))
    raw = "IntegrityError" in added.stderr or "Traceback" in added.stderr
    got = f"folder: 2026+２０２６ {ends['digits.csv']}, ٢٠٢٦ {ends['arabic.csv']}; "
    got += f"CLI exit {added.returncode}{', raw database error' if raw else ''}"
    passed = set(ends.values()) == {"rejected"} and added.returncode == 1 and not raw
    expected = "refused: both files to rejected/, CLI exit 1 naming the row"
    return [Outcome("4", "2026 and ２０２６ in one file; ٢٠٢٦", expected, got, passed)]


def slow_writer(live: Live) -> list[Outcome]:
    """5: a slow writer in the drop folder"""
    series = "jp_unauthorized_access_cleared"
    rows = [figure(series, 2023, 600), figure(series, 2024, 650)]
    text = csv_text(rows).splitlines(keepends=True)
    with open(live.incoming / "slow.csv", "w", encoding="utf-8") as out:
        out.writelines(text[:2])
        out.flush()
        time.sleep(4.5)
        out.write(text[2])
    where = live.taken("slow.csv")
    time.sleep(3)  # let the store write land
    moved = [p for p in (live.incoming / "processed").glob("*slow.csv")]
    in_file = {(series, int(r["year"]), float(r["value"]), "") for r in _rows(moved)}
    have = stored(live, series)
    in_store = {(series, y, v, "") for y, v in have.items() if y in (2023, 2024)}
    got = f"{where}; processed/ holds {len(in_file)} row(s), the store {len(in_store)}"
    passed = in_file == in_store if where == "processed" else not in_store
    expected = "stored rows = rows of the file in processed/ (or refused whole)"
    return [Outcome("5", "header + 1 row, 4.5 s, 1 more row", expected, got, passed, in_file)]


def _rows(paths: list[Any]) -> list[dict[str, str]]:
    return [row for path in paths for row in csv.DictReader(io.StringIO(path.read_text()))]


def _send_big(live: Live, headers: dict[str, str], chunked: bool) -> tuple[str, int, float]:
    """POST 100 MB to /v1/figures on a raw socket, stopping once the server answers; returns
    the status line and detail, the bytes sent, and the server's RSS growth in MB."""
    total, piece = 100 * MB, b"x" * (64 * 1024)
    host, port = live.url.removeprefix("http://").split(":")
    lines = ["POST /v1/figures HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    lines += ["Transfer-Encoding: chunked"] if chunked else [f"Content-Length: {total}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    before, peak = live.rss_mb(), [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], live.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    sent = 0
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
                sock.sendall(frame)
                sent += len(piece)
            if chunked and sent >= total:
                sock.sendall(b"0\r\n\r\n")
            answer = _read_answer(sock)
        except OSError as error:
            answer = f"connection error: {error}"
    time.sleep(0.5)
    done.set()
    sampler.join()
    status = answer.split(" ", 2)[1] if answer.startswith("HTTP/") else answer
    detail = re.search(r'"detail":"([^"]*)"', answer)
    return f"{status} {detail.group(1) if detail else ''}".strip(), sent, peak[0] - before


def _read_answer(sock: socket.socket) -> str:
    """An HTTP response read whole: its head, then as much body as Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    while length and len(body) < int(length.group(1)) and (chunk := sock.recv(65536)):
        body += chunk
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def body_size(live: Live) -> list[Outcome]:
    """6: 100 MB bodies"""
    outcomes = []
    cases = [
        ("without a token", {}, False, "401", "401 before the body is read"),
        ("with the token", live.auth, False, "413", "413 naming the limit, body not read"),
        ("with the token, chunked", live.auth, True, "413", "413 naming the limit"),
    ]
    for name, headers, chunked, code, expected in cases:
        answer, sent, grew = _send_big(live, headers, chunked)
        shown = answer.split(" (")[0].split(": send")[0]  # the status and what it says first
        got = f"{shown}; {sent / MB:.0f} MB sent, server RSS {grew:+.0f} MB"
        limit_named = code == "401" or "bytes" in answer
        passed = answer.startswith(code) and limit_named and sent <= 16 * MB and grew < 50
        probe = f"POST /v1/figures, 100 MB, {name}"
        outcomes.append(Outcome("6", probe, f"{expected}; RSS +< 50 MB", got, passed))
    return outcomes


def orphans(live: Live) -> list[Outcome]:
    """7: kill -9 of `train`"""
    from mlflow.tracking import MlflowClient

    series = "jp_ib_transfer_cases"
    client = MlflowClient(tracking_uri=live.env["FRAUDCAST_MLFLOW_TRACKING_URI"])
    training = live.start_cli("train", "--series", series, "--force")
    running: list[Any] = []
    experiment = None
    deadline = time.monotonic() + 300
    while not running and training.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        experiment = client.get_experiment_by_name(f"fraudcast/{series}")
        if experiment is not None:
            running = client.search_runs(
                [experiment.experiment_id], "attributes.status = 'RUNNING'"
            )
    _stop(training)
    if experiment is None:
        return [Outcome("7", "kill -9 of `train`", "", "train logged no run", False)]
    left = len(client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'"))
    again = live.cli("train", "--series", series)
    runs = client.search_runs([experiment.experiment_id])
    still = [r for r in runs if r.info.status == "RUNNING"]
    note = "process ended without finishing"
    closed = [r for r in runs if r.data.tags.get("mlflow.note.content", "").startswith(note)]
    got = f"kill -9 left {left} RUNNING; after the next train (exit {again.returncode}): "
    got += f"{len(still)} RUNNING, {len(closed)} FAILED with the reason"
    passed = left > 0 and not still and len(closed) >= left
    expected = "the next train marks them FAILED with the reason"
    return [Outcome("7", "kill -9 of `train` while it logs", expected, got, passed)]


def bad_rows(live: Live) -> list[Outcome]:
    """8: 200,000 bad rows into the drop folder"""
    log_before = len(live.log())
    row = "no_such_series,2020,-1,count,abuse bench,bad rows,,primary,\n"
    started = time.monotonic()
    live.drop("bad.csv", ",".join(COLUMNS) + "\n" + row * 200_000)
    where = live.taken("bad.csv", timeout=600)
    took = time.monotonic() - started
    report = [p for p in (live.incoming / "rejected").glob("*bad.csv.error.txt")]
    report_mb = sum(p.stat().st_size for p in report) / MB
    log_mb = (len(live.log()) - log_before) / MB
    got = f"{where} after {took:.0f} s; error file {report_mb:.1f} MB, log +{log_mb:.1f} MB"
    passed = where == "rejected" and took < 60 and report_mb < 1 and log_mb < 1
    expected = "rejected within 60 s; error file and log each < 1 MB"
    return [Outcome("8", "200,000 bad rows", expected, got, passed)]


def types(live: Live) -> list[Outcome]:
    """9: booleans as numbers, wrong field counts"""
    outcomes = []
    for name in ("value", "year"):
        row = figure("jp_special_fraud_losses_jpy", 2026, 1, unit="JPY")
        row[name] = True
        body = {"figures": [row]}
        answer = live.http("POST", "/v1/figures", json=body, headers=live.auth)
        where = [p.get("where") for p in answer.json().get("problems") or []]
        got = f"{answer.status_code} {', '.join(map(str, where))}"
        passed = answer.status_code == 422 and where == [f"body.figures.0.{name}"]
        expected = f"422 naming body.figures.0.{name}"
        outcomes.append(Outcome("9", f'"{name}": true via the API', expected, got, passed))
    lines = csv_text([figure(TRAINED, 2026, 1)] * 3).splitlines()
    lines[1] += ",extra"  # line 2: one field too many
    lines[2] = lines[2].replace(",1,", ",-5,")  # line 3: a negative value
    lines[3] = lines[3].rsplit(",", 2)[0]  # line 4: two fields short
    path = live.root / "fields.csv"
    path.write_text("\n".join(lines) + "\n")
    added = live.cli("figures", "add", str(path))
    named = sorted({int(n) for n in re.findall(r"line (\d+)", added.stderr)})
    got = f"exit {added.returncode}, lines named: {named}"
    passed = added.returncode == 1 and named == [2, 3, 4]
    expected = "exit 1 naming lines 2, 3 and 4"
    outcomes.append(Outcome("9", "wrong field counts on lines 2 and 4", expected, got, passed))
    return outcomes


def smaller(live: Live) -> list[Outcome]:
    """10: export, docs, token in a query string, a newline in a file name"""
    exported = live.cli("figures", "export").stdout
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    risky = [cell for cell in cells if cell[:1] in {"=", "+", "-", "@"}]
    got = f"{len(risky)} cell(s) start with = + - @" + (
        f", e.g. {risky[0][:30]!r}" if risky else ""
    )
    outcomes = [Outcome("10", "`figures export` of formula-like cells", "none", got, not risky)]
    docs = live.http("GET", "/docs")
    outside = re.findall(r"https?://[^\"' )]+", docs.text)
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', docs.text)
    codes = [live.http("GET", asset).status_code for asset in assets]
    got = f"{docs.status_code}; {len(outside)} outside URL(s); assets {codes}"
    passed = docs.status_code == 200 and not outside and bool(codes) and set(codes) == {200}
    expected = "no outside URL; every asset 200 from the server"
    outcomes.append(Outcome("10", "/docs offline", expected, got, passed))
    mark = len(live.log())
    refused = live.http("POST", f"/v1/figures?token={live.token}", json={"figures": []})
    time.sleep(1)
    logged = live.token in live.log()[mark:]
    got = f"{refused.status_code}; token {'in' if logged else 'not in'} the access log"
    passed = refused.status_code == 401 and not logged
    expected = "401; token not in the access log"
    outcomes.append(Outcome("10", "bearer token in the query string", expected, got, passed))
    mark = len(live.log())
    live.drop("x\nFORGED log line.csv", "not,a,figures\nfile\n")
    live.taken("x\nFORGED log line.csv")
    forged = [line for line in live.log()[mark:].splitlines() if line.startswith("FORGED")]
    got = f"{len(forged)} log line(s) start with the injected text"
    outcomes.append(Outcome("10", "drop-folder file name with a newline", "none", got, not forged))
    return outcomes


PROBES: list[Callable[[Live], list[Outcome]]] = [
    symlinks,
    busy_store,
    levels,
    digits,
    slow_writer,
    body_size,
    orphans,
    bad_rows,
    types,
    smaller,
]
