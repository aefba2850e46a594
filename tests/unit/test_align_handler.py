"""The align worker's handler driven through the in-memory bus (no broker, no models: a tiny text encoder
stands in for MiniLM; the store is a real LanceDB store in a temporary directory).

Every scenario must end with exactly the clips of an undisturbed run: late modalities merged, store
faults retried, restarts resumed from the committed offsets, nothing dead-lettered.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from streammm.bus.codec import encode_observation
from streammm.bus.handling import Backoff
from streammm.bus.memory import MemoryBus, MemoryWorker
from streammm.bus.topics import Topics
from streammm.config import load_settings
from streammm.errors import StoreError
from streammm.models.runtime import InferencePool
from streammm.pipeline.align import AlignHandler
from streammm.records import ClipFilter, FrameObservation, IngestRun, Observation, OcrLine, Word
from streammm.store.embedded import LanceDbClipStore

DIM = 8
SETTINGS = load_settings(env={}, overrides={"align.provisional_after_s": 5.0})
TOPICS = Topics.from_config(SETTINGS.kafka)
MODALITY_TOPIC = {"visual": TOPICS.vision, "speech": TOPICS.speech, "ocr": TOPICS.ocr}


class HashText:
    """A deterministic stand-in for the text encoder: unit vectors from a hash of the text."""

    dim = DIM

    def encode(self, texts):
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:DIM], dtype=np.uint8).astype(np.float32) + 1 for t in texts]
        matrix = np.array(rows, dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@dataclass
class Embedder:
    profile: str = "test"
    version: str = "test-v1"
    text: HashText = HashText()
    image: object = None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FaultyStore:
    """A real store whose next `fail_upserts` upserts fail with a retriable error (as a lost connection or a
    LanceDB commit conflict would)."""

    def __init__(self, store: LanceDbClipStore) -> None:
        self.store, self.fail_upserts, self.failed = store, 0, 0

    def upsert(self, clips):
        if self.fail_upserts:
            self.fail_upserts -= 1
            self.failed += 1
            raise StoreError("clip store: commit conflict (injected)", retriable=True)
        self.store.upsert(clips)

    def __getattr__(self, name):
        return getattr(self.store, name)


# --- a synthetic 11 s stream: frames every second, words, a caption that changes at 5 s ----------------

DURATION = 11.0
SEGMENTS = [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 8.0), (8.0, 10.0), (10.0, DURATION)]
WORDS = [(0.5, 0.9, "the"), (2.2, 2.6, "quick"), (4.9, 5.3, "brown"), (7.1, 7.5, "fox"), (9.8, 10.4, "jumps")]


def observations(modality: str, run: IngestRun, segments=SEGMENTS, stream_id: str = "cam") -> list[Observation]:
    out = []
    for seq, (start, end) in enumerate(segments):
        last = seq == len(segments) - 1
        common = dict(modality=modality, stream_id=stream_id, seq=seq, start_s=start, end_s=end, last=last, published_at=1.0, run=run)
        if modality == "visual":
            frames = tuple(FrameObservation(float(t), (f"tag{int(t) // 4}",), np.eye(DIM, dtype=np.float32)[int(t) % DIM]) for t in range(int(start), int(np.ceil(end))))
            out.append(Observation(**common, frames=frames))
        elif modality == "speech":
            out.append(Observation(**common, words=tuple(Word(a, b, w) for a, b, w in WORDS if start <= (a + b) / 2 < end)))
        else:
            captions = [(0.0, 5.0, "SLIDE 1 of 2"), (5.0, DURATION, "SLIDE 2 of 2")]
            lines = tuple(OcrLine(max(a, start), min(b, end), text, 0.9, 0.5, 0.9) for a, b, text in captions if a < end and b > start)
            out.append(Observation(**common, ocr=lines))
    return out


def publish(bus: MemoryBus, observations_: list[Observation]) -> None:
    for obs in observations_:
        bus.produce(MODALITY_TOPIC[obs.modality], obs.stream_id, encode_observation(obs))


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.store = FaultyStore(LanceDbClipStore(tmp_path / "clips", DIM))
        self.clock = Clock()
        self.bus = MemoryBus(partitions=2)
        self.pool = InferencePool(1)
        self.worker = MemoryWorker(self.bus, self.handler(), (TOPICS.vision, TOPICS.speech, TOPICS.ocr), name="align-0")

    def handler(self) -> AlignHandler:
        return AlignHandler(SETTINGS, Embedder(), self.store, TOPICS, self.pool, thumbnails_dir=self.root / "thumbnails", clock=self.clock)

    def drive(self, *, ticks: int = 0, advance_s: float = 0.0) -> None:
        async def go():
            await self.worker.poll()
            for _ in range(ticks):
                self.clock.now += advance_s
                await self.worker.tick()
        asyncio.run(go())

    def clips(self, stream_id: str = "cam") -> dict[float, tuple]:
        rows = self.store.store.get([c for c in _ids(self.store.store, stream_id)])
        return {c.start_s: (c.end_s, c.transcript, c.ocr_text, c.frame_times, c.tags, c.pending, sorted(c.vectors)) for c in rows}

    def close(self) -> None:
        self.pool.close()
        self.store.store.close()


def _ids(store: LanceDbClipStore, stream_id: str) -> list[str]:
    from streammm.records import clip_id

    return [clip_id(stream_id, 2.0 * i, "test-v1") for i in range(20)]


RUN = IngestRun(started_at=500.0)


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path)
    yield rig
    rig.close()


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory) -> dict[float, tuple]:
    rig = Rig(tmp_path_factory.mktemp("undisturbed"))
    try:
        for seq in range(len(SEGMENTS)):  # the three modalities report each segment in turn
            publish(rig.bus, [observations(m, RUN)[seq] for m in ("visual", "speech", "ocr")])
        rig.drive()
        return rig.clips()
    finally:
        rig.close()


def test_the_undisturbed_run_stores_every_window_complete(undisturbed):
    assert sorted(undisturbed) == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert all(row[5] == () for row in undisturbed.values()), "no clip is left pending"
    assert undisturbed[4.0][1] == "brown fox" and "SLIDE 1 of 2" in undisturbed[4.0][2] and "SLIDE 2 of 2" in undisturbed[4.0][2]
    assert undisturbed[8.0][0] == DURATION and undisturbed[8.0][3] == (8.0, 9.0, 10.0)


def test_a_modality_far_behind_is_stored_provisionally_then_merged_under_the_same_ids(rig, undisturbed):
    publish(rig.bus, observations("visual", RUN) + observations("speech", RUN))
    rig.drive(ticks=2, advance_s=10.0)  # far past provisional_after_s: windows go out without OCR
    early = rig.clips()
    assert sorted(early) == sorted(undisturbed)
    assert all(row[5] == ("ocr",) and row[2] == "" for row in early.values())
    ocr_topic = (TOPICS.ocr, rig.bus.messages(TOPICS.vision)[0].partition)
    assert rig.worker.committed.get(ocr_topic, 0) == 0
    rig.clock.now += 3600.0  # an hour later: no lateness limit
    publish(rig.bus, observations("ocr", RUN))
    rig.drive()
    assert rig.clips() == undisturbed
    assert rig.worker.dead_letters() == []
    assert rig.store.count(ClipFilter(incomplete=True)) == 0


@pytest.mark.parametrize("failures", [1, 5, 50])
def test_failed_upserts_are_retried_until_they_succeed_and_nothing_is_dead_lettered(rig, undisturbed, failures):
    rig.worker.backoff = Backoff(0.0, 0.0)
    rig.store.fail_upserts = failures
    for seq in range(len(SEGMENTS)):
        publish(rig.bus, [observations(m, RUN)[seq] for m in ("visual", "speech", "ocr")])
    rig.drive()
    assert rig.store.failed == failures and rig.worker.retries == failures
    assert rig.clips() == undisturbed
    assert rig.worker.dead_letters() == []


def test_a_store_failure_in_tick_is_retried_and_loses_nothing(rig, undisturbed):
    publish(rig.bus, observations("visual", RUN) + observations("speech", RUN))
    rig.drive()
    rig.store.fail_upserts = 3
    rig.drive(ticks=1, advance_s=10.0)  # the provisional windows' first writes fail three times
    assert rig.store.failed == 3 and rig.worker.retries == 3
    publish(rig.bus, observations("ocr", RUN))
    rig.drive()
    assert rig.clips() == undisturbed and rig.worker.dead_letters() == []


def test_an_aligner_restarted_while_clips_are_provisional_completes_them(rig, undisturbed):
    publish(rig.bus, observations("visual", RUN) + observations("speech", RUN))
    rig.drive(ticks=1, advance_s=10.0)
    publish(rig.bus, observations("ocr", RUN)[:2])  # OCR starts to catch up ...
    rig.drive()
    rig.worker.restart(rig.handler())  # ... and the aligner is killed: a new one reads from the commits
    publish(rig.bus, observations("ocr", RUN)[2:])
    rig.drive(ticks=2, advance_s=10.0)
    assert rig.clips() == undisturbed
    assert rig.worker.dead_letters() == []
    # Vision and speech had nothing left to re-report but their last reports: the new aligner still knows
    # the run is finished (it announces it, keeps no state, and commits every report).
    handler = rig.worker.handler
    assert handler.finished == {("cam", RUN.started_at)} and handler.states == {}
    assert set(rig.worker.committed.values()) == {len(SEGMENTS)}


def test_a_file_ingested_again_shorter_replaces_its_clips_as_a_whole(rig):
    publish(rig.bus, [o for m in ("visual", "speech", "ocr") for o in observations(m, RUN)])
    rig.drive()
    assert sorted(rig.clips()) == [0.0, 2.0, 4.0, 6.0, 8.0]
    shorter = [(0.0, 2.0), (2.0, 4.0), (4.0, 5.5)]
    again = IngestRun(started_at=900.0)
    publish(rig.bus, [o for m in ("visual", "speech", "ocr") for o in observations(m, again, shorter)])
    rig.drive()
    clips = rig.clips()
    assert sorted(clips) == [0.0, 2.0], "the old tail is gone"
    assert clips[2.0][0] == 5.5 and clips[2.0][1] == "quick brown"
    stored = rig.store.store.get([c for c in _ids(rig.store.store, "cam")])
    assert {c.run_started_at for c in stored} == {900.0}, "no clip of the old run is left or mixed in"


def test_late_reports_of_a_replaced_run_are_ignored(rig):
    old, new = IngestRun(started_at=500.0), IngestRun(started_at=900.0)
    publish(rig.bus, observations("visual", new) + observations("speech", new) + observations("ocr", new))
    publish(rig.bus, observations("ocr", old))  # a slow OCR worker's reports of the earlier ingest
    rig.drive()
    stored = rig.store.store.get([c for c in _ids(rig.store.store, "cam")])
    assert stored and {c.run_started_at for c in stored} == {900.0} and all(c.complete for c in stored)


def test_a_silent_video_expects_no_speech(rig):
    silent = IngestRun(started_at=500.0, has_audio=False)
    publish(rig.bus, observations("visual", silent) + observations("ocr", silent))
    rig.drive()
    stored = rig.store.store.get([c for c in _ids(rig.store.store, "cam")])
    assert len(stored) == 5 and all(c.complete and c.expected == ("visual", "ocr") for c in stored)


def test_a_live_stream_restarted_while_a_modality_lags_keeps_both_runs_and_merges_the_older_ones_late_evidence(rig):
    first, second = IngestRun(started_at=500.0, live=True), IngestRun(started_at=900.0, live=True)
    later = [(12.0 + a, 12.0 + b) for a, b in SEGMENTS]  # the restarted ingest continues the timeline at 12 s
    publish(rig.bus, observations("visual", first) + observations("speech", first))
    rig.drive(ticks=1, advance_s=10.0)  # run 1 stored without OCR, which lags ...
    publish(rig.bus, [o for m in ("visual", "speech", "ocr") for o in observations(m, second, later)])
    publish(rig.bus, observations("ocr", first))  # ... and catches up after the restart
    rig.drive()
    stored = {c.start_s: c for c in rig.store.store.get(_ids(rig.store.store, "cam"))}
    assert sorted(stored) == [0.0, 2.0, 4.0, 6.0, 8.0, 12.0, 14.0, 16.0, 18.0, 20.0]
    assert all(c.complete for c in stored.values()), [s for s, c in stored.items() if not c.complete]
    assert "SLIDE 1 of 2" in stored[0.0].ocr_text and {stored[0.0].run_started_at, stored[12.0].run_started_at} == {500.0, 900.0}


def test_safe_offset_holds_back_exactly_the_reports_whose_evidence_is_not_stored(rig):
    publish(rig.bus, observations("visual", RUN) + observations("speech", RUN))
    rig.drive(ticks=1, advance_s=10.0)
    partition = rig.bus.messages(TOPICS.vision)[0].partition  # one stream: one partition in every topic
    where = {topic: (topic, partition) for topic in MODALITY_TOPIC.values()}
    # Every visual report is in stored clips, but the last one is held until the run is finished.
    assert rig.worker.committed[where[TOPICS.vision]] == len(SEGMENTS) - 1
    assert rig.worker.committed[where[TOPICS.speech]] == len(SEGMENTS) - 1
    publish(rig.bus, observations("ocr", RUN)[:3])  # OCR for [0, 6): windows [0,4) and [2,6) complete
    rig.drive()
    # The report [4,6) is still needed by [4,8), which waits for OCR's [6,8): commit stops before it.
    assert rig.worker.committed[where[TOPICS.ocr]] == 2
    handler = rig.worker.handler
    assert handler.safe_offset(TOPICS.ocr, where[TOPICS.ocr][1], 3) == 2


def test_a_revoked_partition_is_forgotten_and_its_new_owner_completes_it_from_the_commits(rig, undisturbed):
    publish(rig.bus, observations("visual", RUN) + observations("speech", RUN) + observations("ocr", RUN)[:2])
    rig.drive(ticks=1, advance_s=10.0)
    partition = rig.bus.messages(TOPICS.vision)[0].partition
    handler = rig.worker.handler
    handler.on_revoked([(TOPICS.vision, partition), (TOPICS.speech, partition), (TOPICS.ocr, partition)])
    assert handler.states == {} and handler.held == {}
    rig.worker.restart(rig.handler())  # the partition's new owner
    publish(rig.bus, observations("ocr", RUN)[2:])
    rig.drive(ticks=1, advance_s=10.0)
    assert rig.clips() == undisturbed
