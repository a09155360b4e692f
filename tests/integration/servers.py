"""Throwaway servers for integration tests: a PostgreSQL cluster, an MLflow tracking server
and fraudcast API processes, each bounded in time and torn down even when a test fails."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

#: Seconds any server may take to start.
START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_http(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = START_TIMEOUT
) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} server exited with {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout:g} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


@contextmanager
def background_process(
    command: list[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group, its output in ``log``; the whole group is
    terminated (then killed) on exit."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def postgres_bin() -> Path | None:
    """The directory of PostgreSQL's server binaries (Debian's or on PATH), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _postgres_user() -> str | None:
    """Who runs the server: root cannot, so the ``postgres`` account (or ``nobody``) does."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return None


@contextmanager
def postgres_cluster(databases: tuple[str, ...]) -> Iterator[str]:
    """A fresh PostgreSQL cluster on loopback with ``databases`` created; yields the base URL
    ``postgresql+psycopg://fraudcast@127.0.0.1:PORT`` (append ``/<database>``)."""
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (`make test` installs it when run as root)")
    user = _postgres_user()
    if os.geteuid() == 0 and (user is None or shutil.which("runuser") is None):
        pytest.skip("running as root without runuser or an unprivileged account for PostgreSQL")
    as_user = ["runuser", "-u", user, "--"] if user else []
    # Not under pytest's tmp dir: that one is private to root, and the server runs as `user`.
    root = Path(tempfile.mkdtemp(prefix="fraudcast-pg-"))
    data = root / "data"
    port = free_port()
    try:
        if user:
            shutil.chown(root, user=user)
        root.chmod(0o700)

        def run(*command: str) -> None:
            # cwd: the server's account may not be allowed into the caller's directory.
            subprocess.run(
                [*as_user, *command], check=True, capture_output=True, timeout=90, cwd=root
            )

        run(str(bindir / "initdb"), "-D", str(data), "-U", "fraudcast", "--auth=trust",
            "-E", "UTF8", "--no-locale")  # fmt: skip
        options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
            "-w", "-t", "60", "-o", options, "start")  # fmt: skip
        try:
            import psycopg

            with psycopg.connect(
                host="127.0.0.1", port=port, user="fraudcast", dbname="postgres", autocommit=True
            ) as connection:
                for database in databases:
                    connection.execute(f'CREATE DATABASE "{database}"')
            yield f"postgresql+psycopg://fraudcast@127.0.0.1:{port}"
        finally:
            subprocess.run(
                [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                 "-t", "30", "stop"],
                capture_output=True,
                timeout=60,
                cwd=root,
            )  # fmt: skip
    except subprocess.CalledProcessError as error:
        pytest.fail(f"PostgreSQL did not start: {error.stderr.decode(errors='replace')}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def mlflow_server(
    backend_store_uri: str, artifacts: Path, log: Path, timeout: float = START_TIMEOUT
) -> Iterator[str]:
    """``mlflow server`` on the backend store, proxying artifacts kept in ``artifacts``;
    yields its URL once it answers (within ``timeout`` seconds)."""
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(artifacts),
        "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    with background_process(command, log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/health", process, log, timeout)
        yield url
