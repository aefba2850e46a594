"""Per-stream progress counters shared by the publisher, the aligner and the status display."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class StreamProgress:
    media_s_published: float = 0.0
    segments_published: int = 0
    clips_stored: int = 0
    stored_until_s: float = 0.0
    last_freshness_s: float | None = None
    finished: bool = False


@dataclass
class PipelineStats:
    streams: dict[str, StreamProgress] = field(default_factory=dict)
    freshness_s: list[float] = field(default_factory=list)
    dead_letters: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def published(self, stream_id: str, until_s: float) -> None:
        with self._lock:
            s = self.streams.setdefault(stream_id, StreamProgress())
            s.media_s_published = max(s.media_s_published, until_s)
            s.segments_published += 1

    def stored(self, stream_id: str, until_s: float, freshness_s: float | None, finished: bool) -> None:
        with self._lock:
            s = self.streams.setdefault(stream_id, StreamProgress())
            s.clips_stored += 1
            s.stored_until_s = max(s.stored_until_s, until_s)
            s.finished = s.finished or finished
            if freshness_s is not None:
                s.last_freshness_s = freshness_s
                self.freshness_s.append(freshness_s)

    def finish(self, stream_id: str) -> None:
        with self._lock:
            self.streams.setdefault(stream_id, StreamProgress()).finished = True

    def snapshot(self) -> list[tuple[str, float, float | None]]:
        """(stream id, lag in media seconds, last freshness) for every stream."""
        with self._lock:
            return [
                (sid, max(0.0, p.media_s_published - p.stored_until_s), p.last_freshness_s)
                for sid, p in sorted(self.streams.items())
            ]

    def lines(self) -> list[str]:
        with self._lock:
            return [
                f"{sid}: {p.media_s_published:.1f} s ingested, {p.clips_stored} clips stored up to {p.stored_until_s:.1f} s, "
                f"lag {max(0.0, p.media_s_published - p.stored_until_s):.1f} s"
                + (f", freshness {p.last_freshness_s:.1f} s" if p.last_freshness_s is not None else "")
                + (" (done)" if p.finished else "")
                for sid, p in sorted(self.streams.items())
            ]
