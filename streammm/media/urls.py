"""Source URLs in logs and messages: credentials masked, and put into or taken out of a URL.

Pure functions; no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

_USERINFO = re.compile(r"(?i)^([a-z][a-z0-9+.-]*://)([^/@?#]*)@")


def mask_url(url: str) -> str:
    """The URL with its password hidden (`rtsp://admin:***@cam/...`), for logs and API answers."""
    def hide(match: re.Match[str]) -> str:
        user, sep, _ = match.group(2).partition(":")
        return f"{match.group(1)}{user}{':***' if sep else ''}@"

    return _USERINFO.sub(hide, str(url))


def with_credentials(url: str, username: object, password: object) -> str:
    """`url` with `username:password@` in it (percent-encoded): FFmpeg answers basic and digest auth from it."""
    if not isinstance(username, str) or not username:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = quote(username, safe="") + (":" + quote(password, safe="") if isinstance(password, str) and password else "")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """`url` without its `username:password@`, and the two (unquoted; None where absent): with_credentials undone."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None, None
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, unquote(parts.username), unquote(parts.password) if parts.password is not None else None
