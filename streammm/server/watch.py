"""Standing queries on live streams: every stored clip is scored against the watches of its stream.

A clip matches a watch when every word of the query is in what was said or shown in it (`text`), or
when one of its vectors is at least the watch's threshold in cosine to the query (`vector`). A clip
stored provisionally is announced again when a late modality completes it; a watch gets one match
per clip, when the match first holds.

A clip is scored against every watch at once, off the event loop: one matrix product per named vector,
and an index from one word of each query to the watches that need it. Matches are handed to each
socket's outbox without waiting, so one slow socket never delays another's matches.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from streammm.qa.moments import Moment
from streammm.records import VECTOR_NAMES, Clip
from streammm.server.auth import Access
from streammm.server.protocol import moment_json

Deliver = Callable[[dict], bool]  # hands an event to the socket's outbox without waiting; False if it is gone
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
    deliver: Deliver
    words: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", frozenset(query_words(self.query)))

    def wants(self, stream_id: str) -> bool:
        return self.access.allows(stream_id) and (self.streams is None or stream_id in self.streams)


def query_words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def clip_words(clip: Clip) -> set[str]:
    return query_words(f"{clip.transcript}\n{clip.ocr_text}")


def match(watch: Watch, clip: Clip) -> tuple[float, str] | None:
    """(score, matched_by) when `clip` matches `watch`, else None. Pure: the registry's rule for one watch."""
    found = _Index(0, (watch,)).match(clip)
    return (found[0][1], found[0][2]) if found else None


class _Index:
    """Every watch at one moment, arranged to score a clip against all of them at once. Immutable."""

    def __init__(self, version: int, watches: tuple[Watch, ...]) -> None:
        self.version = version
        self.watches = watches
        dim = watches[0].vector.shape[0] if watches else 0
        self.vectors = np.stack([w.vector for w in watches]).astype(np.float32) if watches else np.zeros((0, dim), np.float32)
        self.thresholds = np.array([w.threshold for w in watches], np.float32)
        self.by_word: dict[str, list[int]] = {}
        for i, w in enumerate(watches):
            if w.words:  # a clip can match this watch by text only if it has the query's longest word
                self.by_word.setdefault(max(w.words, key=len), []).append(i)

    def match(self, clip: Clip) -> list[tuple[Watch, float, str]]:
        """(watch, score, matched_by) for every watch `clip` matches; the same answers as `match`. Pure."""
        if not self.watches:
            return []
        named = [np.asarray(clip.vectors[n], np.float32) for n in VECTOR_NAMES if n in clip.vectors and clip.vectors[n].shape[0] == self.vectors.shape[1]]
        if named:  # one pass over the watch vectors for all of the clip's vectors
            best = (self.vectors @ np.stack(named, axis=1)).max(axis=1)
        else:
            best = np.full(len(self.watches), -1.0, np.float32)
        by_text: set[int] = set()
        words = clip_words(clip)
        for word in words:
            by_text.update(i for i in self.by_word.get(word, ()) if self.watches[i].words <= words)
        found = []
        for i in sorted(by_text | set(np.flatnonzero(best >= self.thresholds).tolist())):
            watch = self.watches[i]
            if not watch.wants(clip.stream_id):
                continue
            if i in by_text:
                found.append((watch, max(float(best[i]), 0.0), "text"))
            else:
                found.append((watch, float(best[i]), "vector"))
        return found


class WatchRegistry:
    def __init__(self) -> None:
        self._watches: dict[tuple[int, str], Watch] = {}
        self._matched: dict[tuple[int, str], OrderedDict[str, None]] = {}
        self._version = 0  # bumped by every change to the watches
        self._snapshot: tuple[int, tuple[Watch, ...]] = (0, ())
        self._index = _Index(0, ())  # built off the event loop, for the snapshot's version
        self._index_lock = threading.Lock()
        self.matches_sent = 0

    def add(self, watch: Watch) -> None:
        key = (id(watch.owner), watch.id)
        self._watches[key] = watch
        self._matched[key] = OrderedDict()
        self._version += 1

    def remove(self, owner: object, watch_id: str) -> bool:
        self._matched.pop((id(owner), watch_id), None)
        removed = self._watches.pop((id(owner), watch_id), None) is not None
        self._version += 1
        return removed

    def remove_owner(self, owner: object) -> None:
        for key in [k for k, w in self._watches.items() if w.owner is owner]:
            del self._watches[key]
            self._matched.pop(key, None)
        self._version += 1

    def count(self, owner: object | None = None) -> int:
        if owner is None:
            return len(self._watches)
        return sum(1 for w in self._watches.values() if w.owner is owner)

    def has(self, owner: object, watch_id: str) -> bool:
        return (id(owner), watch_id) in self._watches

    def snapshot(self) -> tuple[int, tuple[Watch, ...]]:
        """The watches now, with their version (call on the event loop)."""
        if self._snapshot[0] != self._version:
            self._snapshot = (self._version, tuple(self._watches.values()))
        return self._snapshot

    def matching(self, clip: Clip, snapshot: tuple[int, tuple[Watch, ...]]) -> list[tuple[Watch, float, str]]:
        """Score `clip` against a snapshot's watches. Blocking (the index is rebuilt when they changed): run it in a thread."""
        version, watches = snapshot
        with self._index_lock:
            if self._index.version != version:
                self._index = _Index(version, watches)
            index = self._index
        return index.match(clip)

    async def on_clip(self, clip: Clip, stored_at: float) -> int:
        """Hand a `match` to every watch `clip` matches (never waiting on a socket); returns how many."""
        found = await asyncio.to_thread(self.matching, clip, self.snapshot())
        sent = 0
        for watch, score, matched_by in found:
            key = (id(watch.owner), watch.id)
            matched = self._matched.get(key)
            if matched is None or self._watches.get(key) is not watch:
                continue  # removed while the clip was being scored
            if clip.clip_id in matched:
                continue  # this clip already matched this watch (it is being completed, not new)
            matched[clip.clip_id] = None
            if len(matched) > REMEMBERED_MATCHES:
                matched.popitem(last=False)
            moment = Moment(clip.stream_id, clip.start_s, clip.end_s, score, (clip,))
            event = {"type": "match", "id": watch.id, "moment": moment_json(moment), "score": round(score, 6),
                     "matched_by": matched_by, "stored_at": stored_at}
            if watch.deliver(event):
                sent += 1
        self.matches_sent += sent
        return sent
