"""FastAPI dependencies: the service state, and the bearer token that guards writes."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from data.store import FigureStore
from serving.champions import ChampionBoard
from serving.state import ServiceState

_bearer = HTTPBearer(auto_error=False, description="The token from FRAUDCAST_API_TOKEN.")


async def get_state(request: Request) -> ServiceState:
    """The state of the app serving this request (async: no thread hand-off per request)."""
    state: ServiceState = request.app.state.fraudcast
    return state


async def get_store(state: ServiceState = Depends(get_state)) -> FigureStore:
    """The figure store."""
    return state.store


async def get_board(state: ServiceState = Depends(get_state)) -> ChampionBoard:
    """The champions being served."""
    return state.board


async def require_token(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    state: ServiceState = Depends(get_state),
) -> None:
    """401 without a bearer token, 403 with a wrong one (compared in constant time)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="this endpoint changes state: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(credentials.credentials.encode(), state.token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the bearer token is not valid")
