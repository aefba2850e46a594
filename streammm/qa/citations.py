"""How a citation reads in answer text, `[stream @ mm:ss–mm:ss]`, and where each one sits in a text."""

from __future__ import annotations

import math
from collections.abc import Sequence

# A tag as a model may write it: the same shape, any dash, loose spaces (groups: stream, start, end).
TAG_PATTERN = r"\[([^\[\]@]{1,200}?)\s*@\s*([\d:]+)\s*[–-]\s*([\d:]+)\]"


def tag_for(stream_id: str, start_s: float, end_s: float) -> str:
    """The citation tag: `[stream @ mm:ss–mm:ss]`, the end rounded up so the span is inside it."""
    return f"[{stream_id} @ {clock(start_s)}–{clock(end_s, up=True)}]"


def clock(seconds: float, *, up: bool = False) -> str:
    """mm:ss (h:mm:ss past an hour); `up` rounds to the next whole second so a span's end is inside its tag."""
    whole = math.ceil(seconds - 1e-6) if up else math.floor(seconds + 1e-6)
    whole = max(0, int(whole))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def seconds(text: str) -> float:
    """The seconds a `clock` reading (ss, mm:ss or h:mm:ss) stands for; ValueError when it is none."""
    parts = [int(p) for p in text.split(":")]
    if not 1 <= len(parts) <= 3:
        raise ValueError(text)
    total = 0
    for part in parts:
        total = total * 60 + part
    return float(total)


def spans(text: str, tags: Sequence[str]) -> list[tuple[int, int] | None]:
    """Where each of `tags` is in `text`, taken in order ([start, end) in code points); None for one not found.

    Citations are listed in the order their tags appear, so each tag is looked for after the previous one:
    two citations with the same tag get the two places it occurs.
    """
    found: list[tuple[int, int] | None] = []
    after = 0
    for wanted in tags:
        at = text.find(wanted, after)
        if at < 0:
            found.append(None)
            continue
        found.append((at, at + len(wanted)))
        after = at + len(wanted)
    return found
