"""Per-stream progress and per-modality liveness, shared by the publisher, the aligner and the displays."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace

RATE_WINDOW_S = 60.0  # how far back the catch-up estimate looks


SOURCE_STATES = ("connecting", "live", "reconnecting", "ended", "stopped", "failed", "done")


@dataclass
class SourceStatus:
    """Where a source of this process stands: its state, why it last failed, how often it dropped.

    `source` is the URL or path with any password masked. `reconnects` counts drops and failed connection
    attempts; `gaps` counts the holes in the timeline they left (`gap_s` in total); `crashes` counts
    publisher failures that were not the source's (bugs), each retried."""

    source: str
    live: bool
    state: str = "connecting"
    last_error: str | None = None
    reconnects: int = 0
    gaps: int = 0
    gap_s: float = 0.0
    crashes: int = 0
    since: float = field(default_factory=time.time)  # wall time of the last state change

    def as_json(self) -> dict[str, object]:
        return {
            "source": self.source, "live": self.live, "state": self.state, "last_error": self.last_error,
            "reconnects": self.reconnects, "gaps": self.gaps, "gap_s": round(self.gap_s, 3), "crashes": self.crashes,
            "since": self.since,
        }


class SourceControl:
    """What a server may ask of the process that runs the sources (`streammm up`): add and stop them.
    `up` puts its own here (PipelineStats.control); a server without one answers that it cannot."""

    def add(self, source: str, stream_id: str) -> None:
        raise NotImplementedError

    def remove(self, stream_id: str) -> bool:
        raise NotImplementedError


@dataclass
class StreamProgress:
    media_s_published: float = 0.0
    segments_published: int = 0
    windows_stored: int = 0  # distinct windows (a window's first store; completing it later is not another)
    incomplete: set[float] = field(default_factory=set)  # stored windows with pending modalities
    stored_until_s: float = 0.0
    pending: dict[str, float] = field(default_factory=dict)  # modality -> start of the first window lacking it
    last_freshness_s: float | None = None
    finished: bool = False  # every window stored and complete
    samples: deque[tuple[float, float, float]] = field(default_factory=deque, repr=False)  # (monotonic s, stored until, published)
    source: SourceStatus | None = None  # a source this process publishes (None: fed by another publisher)
    sample_fps: float = 0.0  # the frame sample rate of its newest clip with frames (0: none yet)
    thinned: bool = False  # that rate is below media.sample_fps: the pipeline thinned its frames (behind)
    thinned_windows: int = 0  # clips written with thinned frames so far

    def sample(self, now: float) -> None:
        if not self.samples or now - self.samples[-1][0] >= 1.0:
            self.samples.append((now, self.stored_until_s, self.media_s_published))
        while len(self.samples) > 2 and now - self.samples[1][0] >= RATE_WINDOW_S:
            self.samples.popleft()

    def catch_up_s(self) -> float | None:
        """Wall seconds until stored clips reach the published media at the recent rates: inf when the lag
        is not shrinking, None until there are 10 s of history."""
        if len(self.samples) < 2 or self.lag_s <= 0:
            return None
        (t0, stored0, published0), (t1, stored1, published1) = self.samples[0], self.samples[-1]
        if t1 - t0 < 10.0:
            return None
        shrink_per_s = ((stored1 - stored0) - (published1 - published0)) / (t1 - t0)
        return self.lag_s / shrink_per_s if shrink_per_s > 0 else math.inf

    @property
    def clips_stored(self) -> int:
        return self.windows_stored

    @property
    def lag_s(self) -> float:
        return max(0.0, self.media_s_published - self.stored_until_s)


@dataclass(frozen=True)
class Heard:
    """The latest heartbeat of a role's workers: when, and how many records they had not handled."""

    at: float
    lag: int
    worker: str


@dataclass
class PipelineStats:
    streams: dict[str, StreamProgress] = field(default_factory=dict)
    freshness_s: list[float] = field(default_factory=list)  # per window, first store (provisional or not)
    completion_s: list[float] = field(default_factory=list)  # per provisional window: first store -> complete
    complete_at_first_store: int = 0
    provisional_at_first_store: int = 0
    heard: dict[str, Heard] = field(default_factory=dict)  # role (a modality, "align") -> latest heartbeat
    dead_letters: int = 0
    control: SourceControl | None = None  # set by `streammm up`: sources added and stopped at run time
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def source_added(self, stream_id: str, source: str, *, live: bool) -> None:
        with self._lock:
            s = self.streams.setdefault(stream_id, StreamProgress())
            s.source = SourceStatus(source, live)

    def source_state(
        self, stream_id: str, state: str, *, error: str | None = None, gap_s: float | None = None, crash: bool = False, **_: object
    ) -> None:
        """A source's state change (see SourceStatus); `error` becomes its last error, a `gap_s` counts a gap."""
        with self._lock:
            s = self.streams.setdefault(stream_id, StreamProgress())
            if s.source is None:
                s.source = SourceStatus("", live=True)
            src = s.source
            if state == "reconnecting":
                src.reconnects += 1
            if error is not None:
                src.last_error = error
            if crash:
                src.crashes += 1
            if gap_s is not None:
                src.gaps += 1
                src.gap_s += gap_s
            if state != src.state:
                src.state, src.since = state, time.time()

    def sources(self) -> dict[str, SourceStatus]:
        with self._lock:
            return {sid: replace(p.source) for sid, p in sorted(self.streams.items()) if p.source is not None}

    def published(self, stream_id: str, until_s: float) -> None:
        with self._lock:
            s = self.streams.setdefault(stream_id, StreamProgress())
            s.media_s_published = max(s.media_s_published, until_s)
            s.segments_published += 1
            s.finished = False  # more media: a stream ingested again is not finished until it is stored
            s.sample(time.monotonic())

    def stored(self, stream_id: str, start_s: float, end_s: float, freshness_s: float | None, *, complete: bool) -> None:
        """A window's first store: complete, or provisional (some modality still pending)."""
        with self._lock:
            s = self.streams.setdefault(stream_id, StreamProgress())
            s.windows_stored += 1
            s.stored_until_s = max(s.stored_until_s, end_s)
            if complete:
                s.incomplete.discard(start_s)
                self.complete_at_first_store += 1
            else:
                s.incomplete.add(start_s)
                self.provisional_at_first_store += 1
            if freshness_s is not None:
                s.last_freshness_s = freshness_s
                self.freshness_s.append(freshness_s)
            s.sample(time.monotonic())

    def sampled(self, stream_id: str, sample_fps: float, *, thinned: bool) -> None:
        """A clip's frames were written, sampled at `sample_fps` (`thinned`: below the configured rate)."""
        with self._lock:
            s = self.streams.setdefault(stream_id, StreamProgress())
            s.sample_fps, s.thinned = sample_fps, thinned
            s.thinned_windows += int(thinned)

    def completed(self, stream_id: str, start_s: float, after_s: float | None) -> None:
        """A provisional window got its last pending modality, `after_s` after its first store."""
        with self._lock:
            self.streams.setdefault(stream_id, StreamProgress()).incomplete.discard(start_s)
            if after_s is not None:
                self.completion_s.append(after_s)

    def progress(self, stream_id: str, *, stored_until_s: float, pending: dict[str, float]) -> None:
        with self._lock:
            s = self.streams.setdefault(stream_id, StreamProgress())
            s.stored_until_s = max(s.stored_until_s, stored_until_s)
            s.pending = dict(pending)
            s.sample(time.monotonic())

    def finish(self, stream_id: str) -> None:
        with self._lock:
            s = self.streams.setdefault(stream_id, StreamProgress())
            s.finished = True
            s.incomplete.clear()
            s.pending = {}

    def finished_streams(self) -> list[str]:
        with self._lock:
            return [sid for sid, p in sorted(self.streams.items()) if p.finished]

    def heartbeat(self, role: str, worker: str, at: float, lag: int) -> None:
        with self._lock:
            known = self.heard.get(role)
            if known is None or at >= known.at or worker == known.worker:
                self.heard[role] = Heard(at, lag, worker)

    def liveness(self, role: str, *, dead_after_s: float, now: float | None = None) -> str:
        """"dead" (no heartbeat for `dead_after_s`, or never), "behind" (records queued) or "idle"."""
        heard = self.heard.get(role)
        now = time.time() if now is None else now
        if heard is None or now - heard.at > dead_after_s:
            return "dead"
        return "behind" if heard.lag > 0 else "idle"

    def incomplete_clips(self) -> dict[str, int]:
        with self._lock:
            return {sid: len(p.incomplete) for sid, p in sorted(self.streams.items())}

    def sampling(self) -> dict[str, tuple[float, bool, int]]:
        """Per stream with frames stored: (sample rate of its newest clip, thinned now, clips thinned so far)."""
        with self._lock:
            return {sid: (p.sample_fps, p.thinned, p.thinned_windows) for sid, p in sorted(self.streams.items()) if p.sample_fps > 0}

    def snapshot(self) -> list[tuple[str, float, float | None]]:
        """(stream id, lag in media seconds, last freshness) for every stream."""
        with self._lock:
            return [(sid, p.lag_s, p.last_freshness_s) for sid, p in sorted(self.streams.items())]

    def lines(self, *, dead_after_s: float = 30.0, now: float | None = None) -> list[str]:
        with self._lock:
            streams = sorted(self.streams.items())
        return [self._line(sid, p, dead_after_s, now) for sid, p in streams]

    def _line(self, stream_id: str, p: StreamProgress, dead_after_s: float, now: float | None) -> str:
        src = p.source
        if src is None and p.segments_published == 0 and p.stored_until_s > 0:
            # fed by another publisher (`streammm publish` into this broker): what it sent is known here
            # only as far as the clips it became
            text = f"{stream_id} (another publisher): at least {p.stored_until_s:.1f} s ingested, {p.clips_stored} clips stored up to {p.stored_until_s:.1f} s"
        else:
            text = (
                f"{stream_id}: {p.media_s_published:.1f} s ingested, {p.clips_stored} clips stored up to "
                f"{p.stored_until_s:.1f} s"
            )
        if src is not None and (src.live or src.state == "failed" or src.crashes):
            text = f"{stream_id} [{src.state}]" + text[len(stream_id):]
            if src.reconnects or src.gaps:
                text += f", {src.reconnects} reconnects, {src.gaps} gaps ({src.gap_s:.0f} s)"
            if src.state in ("reconnecting", "failed") and src.last_error:
                text += f", last error: {src.last_error}"
        if p.incomplete or p.pending:
            waits = []
            for modality in sorted(p.pending) or ["?"]:
                state = self.liveness(modality, dead_after_s=dead_after_s, now=now)
                heard = self.heard.get(modality)
                why = {"behind": f"worker busy, {heard.lag if heard else 0} records queued", "idle": "worker idle",
                       "dead": "no worker heartbeat"}[state]
                waits.append(f"{modality} ({why})")
            text += f", {len(p.incomplete)} waiting for " + ", ".join(waits)
        if p.lag_s >= 10.0 and not p.finished:
            text += f", behind by {_duration(p.lag_s)} of media"
            eta = p.catch_up_s()
            if eta is not None:
                text += ", not catching up" if math.isinf(eta) else f", caught up in about {_duration(eta)}"
        if p.thinned and not p.finished:
            text += f", frames thinned to {p.sample_fps:g} fps while behind"
        if p.last_freshness_s is not None:
            text += f", freshness {p.last_freshness_s:.1f} s"
        return text + (" (done)" if p.finished else "")


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
