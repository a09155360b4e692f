"""FastAPI dependencies: the service state, and the bearer token that guards writes."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from data.store import FigureStore
from serving.champions import ChampionBoard
from serving.state import ServiceState

_bearer = HTTPBearer(
    auto_error=False,
    description="The token in FRAUDCAST_API_TOKEN or, when that is unset, the one `fraudcast "
    "serve` generates into FRAUDCAST_TOKEN_FILE (data/.api-token by default).",
)


async def get_state(request: Request) -> ServiceState:
    """The state of the app serving this request (async: no thread hand-off per request)."""
    state: ServiceState = request.app.state.fraudcast
    return state


#: A route's parameter typed ``State`` receives the app's ``ServiceState``.
State = Annotated[ServiceState, Depends(get_state)]


async def get_store(state: State) -> FigureStore:
    """The figure store."""
    return state.store


async def get_board(state: State) -> ChampionBoard:
    """The champions being served."""
    return state.board


#: Route parameters typed ``Store`` or ``Board`` receive the figure store or the champions.
Store = Annotated[FigureStore, Depends(get_store)]
Board = Annotated[ChampionBoard, Depends(get_board)]


def bearer_refusal(authorization: str | None, token: str) -> HTTPException | None:
    """Why a request may not change state, from its Authorization header alone: 401 without a
    bearer token, 403 with a wrong one (compared in constant time); None when it may."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if scheme.lower() != "bearer" or not credentials:
        return HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="this endpoint changes state: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(credentials.encode(), token.encode()):
        return HTTPException(status.HTTP_403_FORBIDDEN, detail="the bearer token is not valid")
    return None


async def require_token(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    state: State,
) -> None:
    """401 without a bearer token, 403 with a wrong one. ``serving.guard`` applies the same
    check from the headers of every route that declares this, before its body is read."""
    refusal = bearer_refusal(request.headers.get("authorization"), state.token)
    if refusal is not None:
        raise refusal


async def known_query_only(request: Request) -> None:
    """Refuse a query parameter the route does not take (422), naming the ones it does: a
    mistyped ``horizn=10`` would otherwise be ignored, and the default served as if asked."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    taken = _query_names(route)
    unknown = sorted(set(request.query_params) - set(taken))
    if unknown:
        offered = f"it takes {', '.join(taken)}" if taken else "it takes no query parameters"
        raise RequestValidationError(
            [
                {"loc": ("query", name), "msg": f"not a parameter of this endpoint: {offered}"}
                for name in unknown
            ]
        )


#: ``_query_names`` by route (routes are not hashable; their ``unique_id`` is): the forecast
#: endpoints answer thousands of requests a second, and a route's parameters never change.
_QUERY_NAMES: dict[str, tuple[str, ...]] = {}


def _query_names(route: APIRoute) -> tuple[str, ...]:
    """The query parameters ``route`` takes, its dependencies' included."""
    known = _QUERY_NAMES.get(route.unique_id)
    if known is None:
        known = _QUERY_NAMES[route.unique_id] = _walk_query_names(route)
    return known


def _walk_query_names(route: APIRoute) -> tuple[str, ...]:
    names: set[str] = set()
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(param.alias for param in dependant.query_params)
        pending.extend(dependant.dependencies)
    return tuple(sorted(names))
