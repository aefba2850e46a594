"""Standing queries on live streams: every stored clip is scored against the watches of its stream.

A clip matches a watch when every word of the query is in what was said or shown in it (`text`), or
when one of its vectors is at least the watch's threshold in cosine to the query (`vector`). A clip
stored provisionally is announced again when a late modality completes it; a watch gets one match
per clip, when the match first holds.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from streammm.qa.moments import Moment
from streammm.records import VECTOR_NAMES, Clip
from streammm.server.auth import Access
from streammm.server.protocol import moment_json

log = logging.getLogger(__name__)
Send = Callable[[dict], Awaitable[None]]
SEND_TIMEOUT_S = 5.0
REMEMBERED_MATCHES = 4096  # clip ids a watch remembers having matched (a completed clip comes back soon after)


@dataclass(frozen=True, eq=False)
class Watch:
    owner: object  # the connection that set it
    id: str
    query: str
    vector: np.ndarray
    streams: tuple[str, ...] | None  # None: every stream `access` allows
    access: Access
    threshold: float
    send: Send

    def wants(self, stream_id: str) -> bool:
        return self.access.allows(stream_id) and (self.streams is None or stream_id in self.streams)


def query_words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def match(watch: Watch, clip: Clip) -> tuple[float, str] | None:
    """(score, matched_by) when `clip` matches `watch`, else None. Pure."""
    cosines = [float(clip.vectors[name] @ watch.vector) for name in VECTOR_NAMES if name in clip.vectors]
    best = max(cosines, default=-1.0)
    wanted = query_words(watch.query)
    if wanted and wanted <= query_words(f"{clip.transcript}\n{clip.ocr_text}"):
        return max(best, 0.0), "text"
    if best >= watch.threshold:
        return best, "vector"
    return None


class WatchRegistry:
    def __init__(self) -> None:
        self._watches: dict[tuple[int, str], Watch] = {}
        self._matched: dict[tuple[int, str], OrderedDict[str, None]] = {}
        self.matches_sent = 0

    def add(self, watch: Watch) -> None:
        key = (id(watch.owner), watch.id)
        self._watches[key] = watch
        self._matched[key] = OrderedDict()

    def remove(self, owner: object, watch_id: str) -> bool:
        self._matched.pop((id(owner), watch_id), None)
        return self._watches.pop((id(owner), watch_id), None) is not None

    def remove_owner(self, owner: object) -> None:
        for key in [k for k, w in self._watches.items() if w.owner is owner]:
            del self._watches[key]
            self._matched.pop(key, None)

    def count(self, owner: object | None = None) -> int:
        return sum(1 for w in self._watches.values() if owner is None or w.owner is owner)

    def has(self, owner: object, watch_id: str) -> bool:
        return (id(owner), watch_id) in self._watches

    async def on_clip(self, clip: Clip, stored_at: float) -> int:
        """Push a `match` to every watch `clip` matches; returns how many were sent."""
        sends = []
        for key, watch in list(self._watches.items()):
            if not watch.wants(clip.stream_id):
                continue
            matched = self._matched.setdefault(key, OrderedDict())
            if clip.clip_id in matched:
                continue  # this clip already matched this watch (it is being completed, not new)
            found = match(watch, clip)
            if found is None:
                continue
            matched[clip.clip_id] = None
            if len(matched) > REMEMBERED_MATCHES:
                matched.popitem(last=False)
            score, matched_by = found
            moment = Moment(clip.stream_id, clip.start_s, clip.end_s, score, (clip,))
            event = {"type": "match", "id": watch.id, "moment": moment_json(moment), "score": round(score, 6),
                     "matched_by": matched_by, "stored_at": stored_at}
            sends.append(asyncio.wait_for(watch.send(event), SEND_TIMEOUT_S))
        results = await asyncio.gather(*sends, return_exceptions=True)
        sent = sum(1 for r in results if not isinstance(r, BaseException))
        for result in results:
            if isinstance(result, BaseException):
                log.info("a watch match could not be delivered: %r", result)
        self.matches_sent += sent
        return sent
