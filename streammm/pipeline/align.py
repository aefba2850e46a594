"""The align worker: observations of all modalities in, clips stored (then completed), announced, committed."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from streammm.bus.codec import decode_observation, encode_clip_event
from streammm.bus.handling import InMessage, OutMessage
from streammm.bus.topics import Topics
from streammm.config import Settings
from streammm.models.registry import Embedder
from streammm.models.runtime import InferencePool
from streammm.stats import PipelineStats
from streammm.records import Clip, clip_id
from streammm.stages.align import AlignState, Update, observe, ready_windows, report_used
from streammm.stages.clips import build_clip
from streammm.store.base import ClipStore

log = logging.getLogger(__name__)
MAX_TIMED_WINDOWS = 10_000  # provisional windows whose time to completion is measured (for the stats only)


@dataclass
class _Held:
    offset: int
    stream_id: str
    modality: str
    until_s: float
    run: float
    last: bool


class AlignHandler:
    """Per-stream alignment state. Windows are written to the store before the state that produced them
    is kept, and an observation's offset is committed once every window using it holds its evidence, so a
    failed write is retried from the same record and a restart re-reads what was not written.

    Late evidence is merged into the stored clip (read back by its deterministic id): the store, not
    this process, holds what stored windows already have.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: ClipStore,
        topics: Topics,
        pool: InferencePool,
        *,
        thumbnails_dir: Path,
        stats: PipelineStats | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.topics = topics
        self.pool = pool
        self.thumbnails_dir = thumbnails_dir
        self.stats = stats or PipelineStats()
        self.clock = clock
        # One state per ingest run of a stream: a restarted live ingest is a new run whose clips follow the
        # older run's, and the older run's late evidence is still merged. A newer run of a file replaces
        # the older ones: their states go and their late reports are ignored.
        self.states: dict[tuple[str, float], AlignState] = {}
        self.replaced_before: dict[str, float] = {}  # stream id -> runs older than this are replaced
        self.partition_of: dict[str, int] = {}
        self.held: dict[tuple[str, int], list[_Held]] = {}
        self.finished: set[tuple[str, float]] = set()  # runs whose clips are all stored and complete
        self.first_stored: dict[tuple[str, float], float] = {}  # provisional window -> when it was first stored
        thumbnails_dir.mkdir(parents=True, exist_ok=True)

    async def handle(self, message: InMessage) -> list[OutMessage]:
        obs = decode_observation(message.value)  # a malformed message: the loop dead-letters it
        key = (obs.stream_id, obs.run.started_at)
        if key in self.finished or obs.run.started_at < self.replaced_before.get(obs.stream_id, -1.0):
            return []  # a re-report for a run whose clips are complete, or late evidence of a replaced run
        state = self.states.get(key)
        if state is None:
            state = AlignState(obs.stream_id, obs.run, created_at=self.clock())
            if not obs.run.live:
                self._replace_older_runs(obs.stream_id, obs.run.started_at)
        observed = observe(state, obs, self.settings.align)
        if obs.modality == "visual" and log.isEnabledFor(logging.DEBUG):
            log.debug(
                "stream %s: visual report %d (%.3f-%.3f s) with frames at %s; frames held now %s; next window %s",
                obs.stream_id, obs.seq, obs.start_s, obs.end_s, [f.t_s for f in obs.frames], [f[0].t_s for f in observed.frames],
                observed.next_start_s,
            )
        outputs = await self._advance(key, observed)  # raises before anything is kept if the write fails
        self.partition_of[obs.stream_id] = message.partition
        held = _Held(message.offset, obs.stream_id, obs.modality, obs.end_s, obs.run.started_at, obs.last)
        self.held.setdefault((message.topic, message.partition), []).append(held)
        return outputs

    async def tick(self) -> list[OutMessage]:
        outputs: list[OutMessage] = []
        for key in list(self.states):
            outputs += await self._advance(key, self.states[key])
        return outputs

    def _replace_older_runs(self, stream_id: str, run: float) -> None:
        older = [k for k in self.states if k[0] == stream_id and k[1] < run]
        if older:
            log.info("stream %s: a new ingest replaces the one in progress", stream_id)
        for key in older:
            del self.states[key]
        self.replaced_before[stream_id] = max(run, self.replaced_before.get(stream_id, -1.0))

    async def _advance(self, key: tuple[str, float], state: AlignState) -> list[OutMessage]:
        stream_id = key[0]
        state, updates = ready_windows(state, self.clock(), self.settings.align)
        clips = await self.pool.run(self._write, updates) if updates else []
        self.states[key] = state  # only now: the write it depends on is acknowledged
        stored_at = self.clock()
        for update, clip in zip(updates, clips):
            self._count(update, clip, stored_at)
        self.stats.progress(stream_id, stored_until_s=state.stored_until_s, pending=state.pending())
        if state.finished:
            await self._finish(key, state)
        return [OutMessage(self.topics.clips, c.stream_id, encode_clip_event(c, stored_at)) for c in clips]

    def _write(self, updates: list[Update]) -> list[Clip]:
        """Merge each update into its stored clip (same run) or a new one, then upsert them all."""
        profile = self.embedder.version
        stored = {c.clip_id: c for c in self.store.get([_id(u, profile) for u in updates])}
        clips: list[Clip] = []
        for update in updates:
            base = stored.get(_id(update, profile))
            if base is not None and base.run_started_at != update.run.started_at:
                base = None  # a clip of an earlier ingest of this stream: replaced, never mixed
            clip = build_clip(
                update.window, profile=profile, text_encoder=self.embedder.text, weights=self.settings.align.weights,
                modalities=update.modalities, run=update.run, base=base,
            )
            if "visual" in update.modalities and update.window.thumbnail and clip.thumbnail:
                _write_atomically(self.thumbnails_dir / clip.thumbnail, update.window.thumbnail)
            stored[clip.clip_id] = clip  # a later update of the same window in this batch builds on it
            clips.append(clip)
        self.store.upsert(clips)
        return clips

    def _count(self, update: Update, clip: Clip, stored_at: float) -> None:
        key = (clip.stream_id, clip.start_s)
        if "visual" in update.modalities and clip.sample_fps > 0:
            self.stats.sampled(clip.stream_id, clip.sample_fps, thinned=clip.sample_fps < self.settings.media.sample_fps)
        if update.new:
            published = update.window.published_at
            freshness = stored_at - published if published else None
            self.stats.stored(clip.stream_id, clip.start_s, clip.end_s, freshness, complete=clip.complete)
            if not clip.complete:
                self.first_stored[key] = stored_at
                if len(self.first_stored) > MAX_TIMED_WINDOWS:  # a modality gone for good: stop timing the oldest
                    del self.first_stored[next(iter(self.first_stored))]
        elif clip.complete:
            first = self.first_stored.pop(key, None)
            self.stats.completed(clip.stream_id, clip.start_s, stored_at - first if first is not None else None)

    async def _finish(self, key: tuple[str, float], state: AlignState) -> None:
        stream_id = key[0]
        if not state.run.live and state.end_s is not None:
            # A file ingested again replaces its stream as a whole: clips past its (new) end go.
            removed = await self.pool.run(self.store.delete_stream, stream_id, from_s=_past_last_window(state.end_s, self.settings))
            if removed:
                log.info("stream %s: removed %d clips past its end left by an earlier ingest", stream_id, removed)
        log.info("stream %s: all clips stored", stream_id)
        self.stats.finish(stream_id)
        del self.states[key]
        self.finished.add(key)
        for window in [w for w in self.first_stored if w[0] == stream_id]:
            del self.first_stored[window]

    def safe_offset(self, topic: str, partition: int, next_offset: int) -> int:
        held = self.held.get((topic, partition), [])
        while held and self._used(held[0]):
            held.pop(0)
        return held[0].offset if held else next_offset

    def _used(self, item: _Held) -> bool:
        state = self.states.get((item.stream_id, item.run))
        if state is None:
            return True  # finished, or replaced by a newer run
        return report_used(state, item.modality, item.until_s, last=item.last)

    def on_revoked(self, partitions: Sequence[tuple[str, int]]) -> None:
        revoked = {p for _, p in partitions}
        for stream_id in [s for s, p in self.partition_of.items() if p in revoked]:
            for key in [k for k in self.states if k[0] == stream_id]:
                del self.states[key]  # the new owner rebuilds it from the uncommitted reports
            self.partition_of.pop(stream_id, None)
        for key in [k for k in self.held if k[1] in revoked]:
            del self.held[key]

    def on_assigned(self, partitions: Sequence[tuple[str, int]]) -> None:
        pass


def _id(update: Update, profile: str) -> str:
    return clip_id(update.window.stream_id, update.window.start_s, profile)


def _past_last_window(end_s: float, settings: Settings) -> float:
    """Just past the start of the stream's last window (the first on the stride grid to reach `end_s`)."""
    window, stride = settings.align.window_s, settings.align.stride_s
    last_start = max(0.0, math.ceil(round((end_s - window) / stride, 6)) * stride)
    return last_start + 1e-3


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
