"""Bearer tokens, each allowed a set of streams (or all); every query is filtered by the caller's access."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streammm.config import AuthConfig
from streammm.errors import ConfigError


@dataclass(frozen=True)
class Access:
    """What one caller may see: `streams` None means every stream."""

    name: str
    streams: frozenset[str] | None = None

    def allows(self, stream_id: str) -> bool:
        return self.streams is None or stream_id in self.streams

    def restrict(self, requested: Iterable[str] | None) -> tuple[str, ...] | None:
        """The streams a query may search: the requested ones (all must be allowed; the caller checks),
        else every allowed stream (None when that is all)."""
        if requested is not None:
            return tuple(dict.fromkeys(requested))
        return None if self.streams is None else tuple(sorted(self.streams))


EVERYTHING = Access("anonymous")


class Authenticator:
    def __init__(self, config: AuthConfig, host: str) -> None:
        self.enabled = config.enabled if config.enabled is not None else not is_loopback(host)
        if self.enabled and not config.tokens:
            raise ConfigError(
                "auth is on (the server listens beyond loopback, or auth.enabled is true) but auth.tokens is empty; "
                "add a token or set auth.enabled: false"
            )
        self._tokens = [
            (t.token.encode(), Access(t.name or f"token-{i}", None if t.streams is None else frozenset(t.streams)))
            for i, t in enumerate(config.tokens, start=1)
        ]

    def access(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Access | None:
        """The caller's access, or None when auth is on and no valid token came with the request."""
        if not self.enabled:
            return EVERYTHING
        token = bearer(headers.get("authorization", "")) or query.get("token", "")
        if not token:
            return None
        given = token.encode()
        found = None
        for secret, access in self._tokens:  # compare with every token: the time taken says nothing
            if hmac.compare_digest(secret, given):
                found = access
        return found


def bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
