"""The planner web page at /, served from files shipped in the package (works offline).

The page is static HTML, CSS and JavaScript under ``serving/static`` that reads the JSON API.
Plotly's JavaScript is served from the installed ``plotly`` Python package, never from a CDN.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import plotly
from fastapi import APIRouter, HTTPException, Request, Response, status

from serving import report
from serving.revalidation import REVALIDATE, entity_tag, not_modified

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"

# Plotly's URL carries its version, so the file may be cached for a year without going stale;
# our own files are small and change with each release: they are revalidated by ETag.
LONG_CACHE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything the page needs comes from this server; the browser refuses anything else.
_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # plotly sets inline styles on its SVG
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'self'",
    ]
)


@dataclass(frozen=True)
class Asset:
    """A file held in memory with its ETag and, for big text files, a gzipped copy."""

    body: bytes
    media_type: str
    etag: str
    gzipped: bytes | None = None


def file_asset(body: bytes, media_type: str, compress: bool = False) -> Asset:
    """A file's bytes ready to serve: its ETag, and a gzipped copy when ``compress``."""
    return Asset(body, media_type, entity_tag(body), gzip.compress(body, 6) if compress else None)


def plotly_version() -> str:
    """Version of the installed plotly package (part of the script URL, for cache busting)."""
    return metadata.version("plotly")


@cache
def _plotly_asset() -> Asset:
    # Read on first request, not at import: the file is several megabytes.
    return file_asset(PLOTLY_JS.read_bytes(), MEDIA_TYPES[".js"], compress=True)


@cache
def _static_asset(name: str) -> Asset:
    path = STATIC_DIR / name
    body = path.read_bytes()
    if path.suffix == ".html":
        body = body.replace(b"{{plotly_version}}", plotly_version().encode())
        body = body.replace(b"{{report_max_series}}", str(report.MAX_SERIES).encode())
    return file_asset(body, MEDIA_TYPES[path.suffix])


def _static_names() -> set[str]:
    """Files the page may fetch: only ones shipped directly in the static folder."""
    return {p.name for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in MEDIA_TYPES} - {
        "index.html"
    }


def answer_asset(request: Request, asset: Asset, cache_control: str) -> Response:
    """The asset, gzipped when the client takes it, or 304 when its ETag is unchanged."""
    headers = {"Cache-Control": cache_control, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if not_modified(request, asset.etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.media_type, headers=headers)


@router.get("/")
def planner_page(request: Request) -> Response:
    """The planner page: fan charts, model cards, downloads and figures with provenance."""
    response = answer_asset(request, _static_asset("index.html"), REVALIDATE)
    response.headers["Content-Security-Policy"] = _CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/static/plotly.min.js")
def plotly_js(request: Request) -> Response:
    """Plotly's JavaScript from the installed plotly package, cached for a year."""
    return answer_asset(request, _plotly_asset(), LONG_CACHE)


@router.get("/static/{name}")
def static_file(name: str, request: Request) -> Response:
    """The page's own CSS, JavaScript and icon."""
    if name not in _static_names():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no static file {name!r}")
    return answer_asset(
        request, _static_asset(name), REVALIDATE
    )  # small, and changed by each release
