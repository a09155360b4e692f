"""The API docs at /docs: Swagger UI served from the installed ``swagger-ui-bundle-v2`` package,
never from a CDN, so they work offline and fetch nothing at run time. (/redoc is off: no
package ships ReDoc, and one docs page is enough.)"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.openapi.docs import get_swagger_ui_html
from swagger_ui_bundle import swagger_ui_path

from serving.routes.page import LONG_CACHE, MEDIA_TYPES, Asset, answer_asset, file_asset

router = APIRouter(include_in_schema=False)

#: Swagger UI's release (e.g. ``swagger-ui-5.31.0``) is part of its files' URLs, so they may be
#: cached for a year without going stale.
RELEASE = swagger_ui_path.name
_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
#: Everything comes from this server. Swagger UI's page has one inline script, allowed by its
#: hash alone (``_content_security_policy``): no other inline script runs.
_POLICY = (
    "default-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'self'",
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


@cache
def _content_security_policy(page: bytes) -> str:
    """The policy for a docs page: scripts from this server, and its own inline ones by hash."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page)
    ]
    return "; ".join([*_POLICY, " ".join(["script-src 'self'", *hashes])])


@cache
def _swagger_asset(name: str) -> Asset:
    # Read on first request, not at import: the script is 1.5 MB.
    body = (swagger_ui_path / name).read_bytes()
    return file_asset(body, MEDIA_TYPES[name[name.rindex(".") :]], compress=True)


@router.get("/docs")
def swagger_ui(request: Request) -> Response:
    """Swagger UI for this API, its script and style from this server."""
    openapi_url = request.app.openapi_url or "/openapi.json"
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=f"/docs/{RELEASE}/swagger-ui-bundle.js",
        swagger_css_url=f"/docs/{RELEASE}/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        oauth2_redirect_url=None,
        # Swagger UI would otherwise load a badge from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    page.headers["Content-Security-Policy"] = _content_security_policy(bytes(page.body))
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


@router.get("/docs/{release}/{name}")
def swagger_ui_file(release: str, name: str, request: Request) -> Response:
    """Swagger UI's script and style from the installed package, cached for a year."""
    if release != RELEASE or name not in _FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no docs file {name!r}")
    return answer_asset(request, _swagger_asset(name), LONG_CACHE)
