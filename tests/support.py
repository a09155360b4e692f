"""Helpers shared by tests that need trained champions or a running server."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Route, ViewportSize

from data.store import FigureStore
from serving.app import create_app
from serving.champions import ChampionBoard
from serving.settings import ServiceSettings
from serving.state import ServiceState
from training.pipeline import retrain
from training.settings import TrainingSettings

#: A quick but diverse set of candidates for tests of the pipeline, API and page: their
#: behaviour, not the catalog, is tested there (tests/models runs the contract suite over
#: every catalog entry).
QUICK_CANDIDATES = ("naive", "drift", "theta", "damped", "log_theta")
#: A count series with definition breaks and a yen series: two units, two kinds of axis; and
#: a yen series of three years, which borrows its intervals.
TRAINED = (
    "jp_cybercrime_cleared",
    "jp_ib_transfer_losses_jpy",
    "jp_sns_investment_fraud_losses_jpy",
)
TOKEN = "test-token-0123456789"

CHROMIUM = shutil.which("chromium")
#: Headless Chromium on a machine with no internet: no background traffic, a throwaway profile.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Marks of every browser test: they skip, saying why, where Debian's chromium is absent.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Debian's chromium is not installed (apt-get install chromium): browser tests skip",
    ),
]


def said(output: str) -> str:
    """A command's output with the console's line wrapping and error-box borders undone."""
    return " ".join(output.replace("│", " ").split())


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser build)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass
class PageWatch:
    """What a page did that a user would notice: console errors, crashes, outside requests."""

    errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    def clean(self) -> bool:
        return not self.errors and not self.outside_requests


def open_page(
    browser: Browser, base_url: str, viewport: ViewportSize = DESKTOP, *, javascript: bool = True
) -> tuple[Page, PageWatch]:
    """A new page that records console errors and refuses every request off the server
    (``javascript=False``: as a browser with scripts turned off shows it)."""
    context = browser.new_context(
        viewport=viewport, accept_downloads=True, java_script_enabled=javascript
    )
    page = context.new_page()
    watch = PageWatch()

    def on_console(message: ConsoleMessage) -> None:
        if message.type in {"error", "assert"}:
            watch.errors.append(f"console: {message.text}")

    def guard(route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(base_url).netloc:
            route.continue_()
        else:
            watch.outside_requests.append(route.request.url)
            route.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.errors.append(f"page error: {error}"))
    context.route("**/*", guard)
    return page, watch


def load_page(page: Page, url: str) -> None:
    """Go to ``url`` and wait until the page says it is ready."""
    page.goto(url)
    page.wait_for_selector("body[data-state=ready]", timeout=60_000)


def chart_traces(page: Page, series_id: str) -> dict[str, int]:
    """Trace name -> number of points, as Plotly holds them in the card's chart."""
    return dict(
        page.evaluate(
            """id => [...document.querySelector(`#series-${id} .chart`).data]
                .map(t => [t.name, t.x.length])""",
            series_id,
        )
    )


def get_json(url: str) -> Any:
    """The JSON answer of a GET on a running server."""
    from urllib.request import urlopen

    with urlopen(url, timeout=30) as response:
        return json.load(response)


def yen_figure(year: int, value: float, **changes: Any) -> dict[str, Any]:
    """One figure of the trained yen series, in the figures-file columns (API and CSV)."""
    figure: dict[str, Any] = {
        "series_id": TRAINED[1],
        "year": year,
        "value": value,
        "unit": "JPY",
        "source_publisher": "National Police Agency",
        "source_title": "test release",
        "source_url": "",
        "accessed_via": "primary",
        "note": "",
    }
    figure.update(changes)
    return figure


def environment(root: Path, **overrides: str) -> dict[str, str]:
    """The environment of a fraudcast process (CLI or server) using the stores ``make_state``
    puts under ``root``."""
    return {
        **os.environ,
        "FRAUDCAST_DATABASE_URL": f"sqlite:///{root / 'figures.db'}",
        "FRAUDCAST_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "FRAUDCAST_MLFLOW_ARTIFACTS": str(root / "artifacts"),
        "FRAUDCAST_RETRAIN_LOCK": str(root / "retrain.lock"),
        "FRAUDCAST_INCOMING_DIR": str(root / "incoming"),
        "FRAUDCAST_API_TOKEN": TOKEN,
        "FRAUDCAST_TOKEN_FILE": str(root / "token"),
        "MPLBACKEND": "Agg",
        **overrides,
    }


def make_state(root: Path, **service: Any) -> ServiceState:
    """A service whose figure store, MLflow store and token all live under ``root``."""
    training = TrainingSettings(
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        mlflow_artifacts=str(root / "artifacts"),
        retrain_lock=root / "retrain.lock",
    )
    # no scheduler unless a test asks for one: servers on the session's shared stores must
    # not retrain them behind the tests that read them
    settings = {
        "api_token": TOKEN,
        "token_file": root / "token",
        "reload_interval": 0.5,
        "scheduler_enabled": False,
    }
    settings.update(service)
    return ServiceState(
        service=ServiceSettings(**settings),
        training=training,
        store=FigureStore(f"sqlite:///{root / 'figures.db'}"),
        board=ChampionBoard(training),
        incoming_dir=root / "incoming",
    )


def train_into(root: Path, series: tuple[str, ...] = TRAINED) -> Path:
    """Seed the figures and train champions for ``series`` under ``root`` by the real pipeline."""
    state = make_state(root)
    state.store.ensure_seeded()
    outcomes = retrain(
        list(series), store=state.store, settings=state.training, candidates=QUICK_CANDIDATES
    )
    assert all(o.status == "promoted" for o in outcomes), outcomes
    state.store.close()
    return root


@contextmanager
def running_server(state: ServiceState, **config: Any) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, in a thread; yields its base URL.

    ``config`` goes to ``uvicorn.Config`` (e.g. ``log_level="info"`` for its access log).
    """
    settings = {"host": "127.0.0.1", "port": 0, "log_level": "warning", **config}
    server = uvicorn.Server(uvicorn.Config(create_app(state), **settings))
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the server stopped during start-up"
        assert time.monotonic() < deadline, "the server did not start within 60 s"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
