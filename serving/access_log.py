"""uvicorn's access log without secrets: the value of any query parameter named like a
credential is redacted, and so is the whole query of a request refused for its token."""

from __future__ import annotations

import logging
from urllib.parse import unquote_plus

REDACTED = "[redacted]"
#: A query parameter whose name holds any of these (in lower case) carries a credential:
#: ``token``, ``access_token``, ``refresh_token``, ``api_key``, ``client_secret``, ``password``,
#: ``X-Amz-Signature``, ``sessionid``, ``jwt``...
SECRET_PARTS = (
    "token",
    "key",
    "secret",
    "pass",
    "auth",
    "bearer",
    "credential",
    "sig",
    "session",
    "jwt",
    "cookie",
)
#: Statuses of a request refused for its credentials: its query may hold one under any name.
_REFUSED = frozenset({401, 403})


def redact(path: str, status: int) -> str:
    """``path?query`` as it may be logged: secrets out, the rest as it came."""
    route, separator, query = path.partition("?")
    if not separator:
        return path
    if status in _REFUSED:
        return f"{route}?{REDACTED}"
    pairs = []
    for pair in query.split("&"):
        name, equals, _value = pair.partition("=")
        lowered = unquote_plus(name).strip().lower()
        secret = equals and any(part in lowered for part in SECRET_PARTS)
        pairs.append(f"{name}={REDACTED}" if secret else pair)
    return f"{route}?{'&'.join(pairs)}"


class RedactSecrets(logging.Filter):
    """Rewrites the path of uvicorn's access records (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            if isinstance(path, str) and isinstance(status, int):
                record.args = (client, method, redact(path, status), version, status)
        return True


def redact_access_log() -> None:
    """Put the filter on uvicorn's access logger, once per process (it outlives its apps)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactSecrets) for existing in access.filters):
        access.addFilter(RedactSecrets())
