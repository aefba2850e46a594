"""Bearer tokens, each allowed a set of streams (or all); every query is filtered by the caller's access."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streammm.config import AuthConfig
from streammm.errors import ConfigError

log = logging.getLogger(__name__)


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
    def __init__(self, config: AuthConfig, host: str, *, insecure: bool = False) -> None:
        self.enabled = config.enabled if config.enabled is not None else not is_loopback(host)
        if self.enabled and not config.tokens:
            raise ConfigError(
                "auth is on (the server listens beyond loopback, or auth.enabled is true) but auth.tokens is empty; "
                "add a token or set auth.enabled: false"
            )
        check_exposure(config, host, insecure=insecure)
        if not self.enabled and not is_loopback(host):
            log.warning("auth is off on %s, beyond loopback (--insecure): anyone who can reach the server reads every stream", host)
        self._tokens = [
            (t.token.encode(), Access(t.name or f"token-{i}", None if t.streams is None else frozenset(t.streams)))
            for i, t in enumerate(config.tokens, start=1)
        ]
        self._metrics_token = config.metrics_token.encode() if config.metrics_token else None

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

    def may_read_metrics(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        """With auth on, /metrics (stream ids, lag) needs any valid token or `auth.metrics_token`."""
        if not self.enabled or self.access(headers, query) is not None:
            return True
        token = bearer(headers.get("authorization", "")) or query.get("token", "")
        return bool(token) and self._metrics_token is not None and hmac.compare_digest(self._metrics_token, token.encode())


def check_exposure(config: AuthConfig, host: str, *, insecure: bool) -> None:
    """Refuse to serve every stream to anyone who can reach a non-loopback address, unless told to."""
    if config.enabled is False and not is_loopback(host) and not insecure:
        raise ConfigError(
            f"auth.enabled is false but the server would listen on {host}, beyond loopback: anyone who can reach it "
            "could read every stream. Add auth.tokens, listen on 127.0.0.1, or pass --insecure to run it anyway"
        )


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
