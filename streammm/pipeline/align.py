"""The align worker: observations of all modalities in, clips stored, then announced and committed."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from streammm.bus.codec import decode_observation, encode_clip_event
from streammm.bus.kafka import InMessage, OutMessage
from streammm.bus.topics import Topics
from streammm.config import Settings
from streammm.models.registry import Embedder
from streammm.models.runtime import InferencePool
from streammm.pipeline.stats import PipelineStats
from streammm.records import Clip
from streammm.stages.align import AlignState, Window, observe, ready_windows
from streammm.stages.fuse import build_clip
from streammm.store.base import ClipStore

log = logging.getLogger(__name__)


@dataclass
class _Held:
    offset: int
    stream_id: str
    until_s: float


class AlignHandler:
    """Per-stream alignment state; an observation's offset is committed once every window using it is stored."""

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
        self.states: dict[str, AlignState] = {}
        self.partition_of: dict[str, int] = {}
        self.held: dict[tuple[str, int], list[_Held]] = {}
        self.finished: set[str] = set()
        self.last_heard: dict[str, float] = {}
        thumbnails_dir.mkdir(parents=True, exist_ok=True)

    async def handle(self, message: InMessage) -> list[OutMessage]:
        obs = decode_observation(message.value)  # a malformed message: the loop dead-letters it
        if obs.stream_id in self.finished:
            if obs.seq > 0:
                return []  # a late re-report (a restarted worker) for a stream whose clips are all stored
            self.finished.discard(obs.stream_id)  # the same stream ingested again from its start
        now = self.clock()
        state = self.states.get(obs.stream_id) or AlignState(obs.stream_id, created_at=now)
        self.states[obs.stream_id] = observe(state, obs, self.settings.align)
        self.last_heard[obs.modality] = now
        self.partition_of[obs.stream_id] = message.partition
        self.held.setdefault((message.topic, message.partition), []).append(_Held(message.offset, obs.stream_id, obs.end_s))
        return await self._emit(obs.stream_id)

    async def tick(self) -> list[OutMessage]:
        outputs: list[OutMessage] = []
        for stream_id in list(self.states):
            outputs += await self._emit(stream_id)
        return outputs

    async def _emit(self, stream_id: str) -> list[OutMessage]:
        state, windows = ready_windows(self.states[stream_id], self.clock(), self.settings.align, self.last_heard)
        self.states[stream_id] = state
        clips = await self.pool.run(self._clips, windows) if windows else []
        if clips:
            await self.pool.run(self.store.upsert, clips)  # durable before anything is announced or committed
        stored_at = self.clock()
        for window, clip in zip(windows, clips):
            freshness = stored_at - window.published_at if window.published_at else None
            self.stats.stored(stream_id, clip.end_s, freshness, finished=False)
        if state.finished:
            log.info("stream %s: all clips stored", stream_id)
            self.stats.finish(stream_id)
            del self.states[stream_id]
            self.finished.add(stream_id)
        return [OutMessage(self.topics.clips, c.stream_id, encode_clip_event(c, stored_at)) for c in clips]

    def _clips(self, windows: list[Window]) -> list[Clip]:
        clips = []
        for window in windows:
            clip = build_clip(window, profile=self.embedder.version, text_encoder=self.embedder.text, weights=self.settings.align.weights)
            if window.thumbnail and clip.thumbnail:
                _write_atomically(self.thumbnails_dir / clip.thumbnail, window.thumbnail)
            clips.append(clip)
        return clips

    def safe_offset(self, topic: str, partition: int, next_offset: int) -> int:
        held = self.held.get((topic, partition), [])
        while held and self._used(held[0]):
            held.pop(0)
        return held[0].offset if held else next_offset

    def _used(self, item: _Held) -> bool:
        state = self.states.get(item.stream_id)
        return state is None or state.next_start_s is None or state.next_start_s >= item.until_s

    def on_revoked(self, partitions: Sequence[tuple[str, int]]) -> None:
        revoked = {p for _, p in partitions}
        for stream_id in [s for s, p in self.partition_of.items() if p in revoked]:
            self.states.pop(stream_id, None)  # the new owner rebuilds it from the uncommitted reports
            self.partition_of.pop(stream_id, None)
        for key in [k for k in self.held if k[1] in revoked]:
            del self.held[key]

    def on_assigned(self, partitions: Sequence[tuple[str, int]]) -> None:
        pass


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
