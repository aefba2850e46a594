"""Who may reach the server from a browser: Host names (DNS rebinding) and websocket Origins (cross-site
websocket hijacking), checked before any route runs.

- With auth off (the loopback default) only loopback Host names are served (`localhost`, `127.0.0.1`,
  `[::1]`, plus `server.allowed_hosts`): a page that rebinds its own name to 127.0.0.1 is refused.
- A websocket handshake that carries an Origin is accepted only from the server's own origin (the Origin's
  host:port is the Host it asked for) or one in `server.allowed_origins`. Clients that are not browsers
  send no Origin and are not affected; they still need a token when auth is on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def host_name(host: str) -> str:
    """The name in a Host header, without its port, lower case (`[::1]:8000` -> `[::1]`)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, *, auth_enabled: bool, allowed_hosts: Iterable[str]) -> bool:
    if auth_enabled:
        return True  # every request needs a token: a rebinding page has none
    name = host_name(host)
    return name in LOOPBACK_NAMES or name in {h.lower() for h in allowed_hosts}


def origin_allowed(origin: str | None, host: str, allowed_origins: Iterable[str]) -> bool:
    if not origin:
        return True  # not a browser
    if origin.rstrip("/") in {o.rstrip("/") for o in allowed_origins}:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


class BrowserGuard:
    """ASGI middleware applying `host_allowed` to every HTTP request and websocket handshake, and
    `origin_allowed` to websocket handshakes."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, auth_enabled: bool, allowed_hosts: Iterable[str], allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.auth_enabled = auth_enabled
        self.allowed_hosts = tuple(allowed_hosts)
        self.allowed_origins = tuple(allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not host_allowed(host, auth_enabled=self.auth_enabled, allowed_hosts=self.allowed_hosts):
            log.warning("refused a request for host %r (not a loopback name; see server.allowed_hosts)", host)
            return await self._refuse(scope, send, 421, "host_not_allowed", f"host {host!r} is not served here (server.allowed_hosts)")
        if scope["type"] == "websocket" and not origin_allowed(headers.get("origin"), host, self.allowed_origins):
            log.warning("refused a websocket from origin %r (see server.allowed_origins)", headers.get("origin"))
            return await self._refuse(scope, send, 403, "origin_not_allowed", "origin not allowed (server.allowed_origins)")
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, status: int, code: str, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})  # refused before accept: HTTP 403
            return
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
