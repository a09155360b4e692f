"""The FastAPI application: API, operations endpoints and the planner page, from one factory."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from serving.access_log import redact_access_log
from serving.errors import install_error_handlers
from serving.guard import RequestGuard
from serving.head import HeadAsGet
from serving.metrics import MetricsMiddleware, ServiceMetrics
from serving.routes import api, docs, ops, page
from serving.scheduler import RetrainScheduler
from serving.settings import ServiceSettings
from serving.state import ServiceState

log = logging.getLogger(__name__)
_STATUS_INTERVAL_S = 60.0


async def _watch_champions(state: ServiceState) -> None:
    """Pick up champions promoted by other processes (CLI, other workers); retrain statuses
    are re-read every minute (and whenever a champion changes or a job here ends)."""
    every = max(1, round(_STATUS_INTERVAL_S / state.service.reload_interval))
    for tick in itertools.count(1):
        await asyncio.sleep(state.service.reload_interval)
        await asyncio.to_thread(partial(state.board.refresh, statuses=tick % every == 0))


def create_app(state: ServiceState | None = None) -> FastAPI:
    """Build the app; champions load at start-up (lifespan), never at import."""
    service = state.service if state is not None else ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = app.state.fraudcast = state or ServiceState.from_settings(service)
        await asyncio.to_thread(current.store.ensure_seeded)
        await asyncio.to_thread(current.board.refresh)
        watcher = asyncio.create_task(_watch_champions(current))
        scheduler = RetrainScheduler(current)
        if current.service.scheduler_enabled:
            scheduler.start()
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await asyncio.to_thread(scheduler.shutdown)
            await asyncio.to_thread(current.jobs.shutdown)

    app = FastAPI(
        title="fraudcast",
        version="1",
        description="Projections of yearly fraud and cybercrime figures with calibrated intervals.",
        lifespan=lifespan,
        # Served by serving/routes/docs.py from installed files, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.metrics = ServiceMetrics()
    app.add_middleware(HeadAsGet)  # innermost: routes see a GET, the rest a HEAD
    app.add_middleware(RequestGuard)  # inside the metrics, so its refusals are counted
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    if service.cors_origins:  # unset: no CORS headers, and browsers keep other origins out
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(service.cors_origins),
            allow_methods=["GET", "HEAD"],  # reading only: a write's preflight is refused
            allow_headers=["If-None-Match"],
            expose_headers=["ETag", "Retry-After", "Content-Disposition"],
        )
    install_error_handlers(app)
    redact_access_log()
    app.include_router(api.router)
    app.include_router(ops.router)
    app.include_router(page.router)
    app.include_router(docs.router)
    return app
