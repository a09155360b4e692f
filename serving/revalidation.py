"""ETag and Cache-Control on the API's GET answers and the page's files, and 304 Not Modified
for a client that has the answer already.

A client polling forecasts had no way to ask "has it changed?" but to fetch it whole, and
cache-busting query parameters are refused (422) by ``deps.known_query_only``. The tag is a
digest of the answer's own bytes: an answer depends on the champion, the stored figures, the
retrain jobs pending and the last retrains' outcomes, and a tag from any fewer of them would
answer 304 over a change (a ``retrain_pending`` turned true); hashing a few kilobytes costs
microseconds beside rendering them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, status
from fastapi.routing import APIRoute

#: Cache-Control of an answer that may change at any time: a cache may keep it, but asks
#: again (If-None-Match) before using it, so a new champion or figure is never hidden behind a
#: stale copy.
REVALIDATE = "no-cache"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

#: The headers a revalidated answer (200 or 304) carries, as OpenAPI describes them.
_TAGGED_HEADERS: dict[str, Any] = {
    "ETag": {
        "description": "A digest of the answer: send it back in If-None-Match",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": f"{REVALIDATE}: ask again (If-None-Match) before using a kept copy",
        "schema": {"type": "string"},
    },
}
#: The 304 every revalidated GET may answer: no body.
_NOT_MODIFIED: dict[str, Any] = {
    "description": "Not Modified: the answer is the one whose ETag was sent in If-None-Match; "
    "no body",
    "headers": _TAGGED_HEADERS,
}
#: The request header that asks for it.
_IF_NONE_MATCH: dict[str, Any] = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The ETag of an answer kept (or several, comma-separated, or *): 304 with "
    "no body if the answer is still that one, else the new answer with its new ETag",
    "schema": {"type": "string"},
}


def entity_tag(body: bytes) -> str:
    """The strong ETag of a body."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def not_modified(request: Request, tag: str) -> bool:
    """Whether the request's If-None-Match names ``tag`` (or ``*``), compared weakly as RFC
    9110 says for it: the client has this answer already."""
    asked = request.headers.get("if-none-match")
    if not asked:
        return False
    given = {part.strip().removeprefix("W/") for part in asked.split(",")}
    return "*" in given or tag in given


def revalidated(request: Request, response: Response) -> Response:
    """A 200 answer with its ETag and Cache-Control, or 304 when the client has it already."""
    tag = entity_tag(bytes(response.body))
    headers = {"ETag": tag, "Cache-Control": REVALIDATE}
    if not_modified(request, tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    response.headers.update(headers)
    return response


class RevalidatedRoute(APIRoute):
    """A route whose GET answers (and so HEAD's, ``serving.head``) carry an ETag and
    Cache-Control, and answer If-None-Match with 304: the API router's ``route_class``. A GET
    route's OpenAPI operation says so (the If-None-Match header, the 200's headers, the 304),
    here for every such route at once rather than in each route's ``responses``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if "GET" in {method.upper() for method in options.get("methods") or ["GET"]}:
            responses = dict(options.get("responses") or {})
            ok = responses.get(status.HTTP_200_OK, {})
            responses[status.HTTP_200_OK] = {
                **ok,
                "headers": {**ok.get("headers", {}), **_TAGGED_HEADERS},
            }
            responses[status.HTTP_304_NOT_MODIFIED] = _NOT_MODIFIED
            extra = dict(options.get("openapi_extra") or {})
            extra["parameters"] = [*extra.get("parameters", []), _IF_NONE_MATCH]
            options = {**options, "responses": responses, "openapi_extra": extra}
        super().__init__(path, endpoint, **options)

    def get_route_handler(self) -> Handler:
        answer = super().get_route_handler()
        if "GET" not in (self.methods or ()):
            return answer

        async def handler(request: Request) -> Response:
            response = await answer(request)
            if response.status_code != status.HTTP_200_OK or not hasattr(response, "body"):
                return response  # an error, or an answer streamed: nothing to tag
            return revalidated(request, response)

        return handler
