"""Prometheus metrics: request counts and latencies per route, as a small ASGI middleware."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Key of the ASGI scope under which a request answered before routing (refused for its token,
#: or with no slot free) names the route it was for, so that it is counted under that route.
ROUTE_TEMPLATE = "fraudcast.route_template"


class ServiceMetrics:
    """The metrics of one app, in a registry of its own (so many apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fraudcast_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fraudcast_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.champions = Gauge(
            "fraudcast_champions_loaded", "Champions currently served", registry=self.registry
        )
        #: set at each scrape: an alert on outcome="failed" > 0 finds a series whose
        #: retrain keeps failing (the scheduler retries it with backoff)
        self.last_retrain = Gauge(
            "fraudcast_series_last_retrain",
            "Series by how their last retrain ended",
            ["outcome"],
            registry=self.registry,
        )
        self.jobs_unfinished = Gauge(
            "fraudcast_retrain_jobs_unfinished",
            "Retrain jobs queued or running",
            registry=self.registry,
        )


class MetricsMiddleware:
    """Counts every HTTP request by its route template, so ids don't explode the label set."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500}

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or scope.get(ROUTE_TEMPLATE, "unmatched")
            self.metrics.requests.labels(
                scope["method"], template, str(status_holder["status"])
            ).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
