"""The speech worker's handler driven through the in-memory bus, on the real segments of a real video.

No broker and no model: `ScriptedSpeaker` stands in for Whisper (the real one runs in the integration
tests). It hears a speaker who says one word a second at fixed media times and pauses once, so the
stage has to hold audio across segments until that pause, and the words of a run are known exactly.
"""

from __future__ import annotations

import asyncio
import functools
import io
import os
import random
from dataclasses import replace

import av
import pytest

from streammm.bus.codec import decode_dead_letter, decode_observation, encode_segment
from streammm.bus.memory import MemoryBus, MemoryWorker
from streammm.bus.topics import Topics
from streammm.config import load_settings
from streammm.stages.align import AlignState, observe, ready_windows
from streammm.media.segments import iter_segments
from streammm.models.registry import Models
from streammm.models.runtime import InferencePool
from streammm.paths import shared_media
from streammm.pipeline.perceive import SpeechHandler
from streammm.records import AudioChunk, IngestRun, Segment, Word

SETTINGS = load_settings(env={})
TOPICS = Topics.from_config(SETTINGS.kafka)
VIDEO = shared_media() / "derived" / "narrated_slideshow.mp4"  # 24.7 s, cut into ~5 s segments
PAUSE_S = 12  # the speaker says nothing in the second from 12 s: the only pause
SCRIPT = tuple(Word(t + 0.1, t + 0.9, f"w{t}") for t in range(24) if t != PAUSE_S)  # the audio ends at 24.77 s


class ScriptedSpeaker:
    """A `Transcriber` standing in for Whisper: word `w{t}` is spoken over [t + 0.1, t + 0.9) s of media
    time, and a chunk of audio yields the words whose whole span it holds, at their media time (placed by
    the chunk's `start_s` and its samples). Between words there are 0.2 s, too short to cut at
    (speech.min_silence_ms is 300), so the only pause is the one around `PAUSE_S`."""

    def __init__(self) -> None:
        self.heard: list[tuple[float, float]] = []

    def transcribe(self, audio: AudioChunk) -> list[Word]:
        self.heard.append((audio.start_s, audio.end_s))
        return [w for w in SCRIPT if audio.start_s <= w.start_s and w.end_s <= audio.end_s]

    def speech_regions(self, audio: AudioChunk) -> list[tuple[float, float]]:
        regions: list[tuple[float, float]] = []
        for w in SCRIPT:
            start, end = max(w.start_s, audio.start_s), min(w.end_s, audio.end_s)
            if start >= end:
                continue
            if regions and start - regions[-1][1] < 0.25:  # VAD bridges the short gaps between words
                regions[-1] = (regions[-1][0], end)
            else:
                regions.append((start, end))
        return regions


@functools.cache
def segments(stream_id: str) -> tuple[Segment, ...]:
    return tuple(iter_segments(VIDEO, stream_id, 2.0))


class Rig:
    def __init__(self) -> None:
        self.bus = MemoryBus(partitions=2)
        self.pool = InferencePool(1)
        self.worker = MemoryWorker(self.bus, self.handler(), (TOPICS.segments,), name="speech-0", dlq_topic=TOPICS.dlq)

    def handler(self) -> SpeechHandler:
        models = Models(SETTINGS.models, transcriber=ScriptedSpeaker())
        return SpeechHandler(SETTINGS, models, TOPICS, self.pool)

    def publish(self, *stream_ids: str) -> None:
        """The streams' segments, taking turns (as live streams arrive side by side)."""
        for turn in zip(*(segments(stream_id) for stream_id in stream_ids)):
            for segment in turn:
                self.bus.produce(TOPICS.segments, segment.stream_id, encode_segment(segment, published_at=1000.0 + segment.seq))

    def publish_damaged(self, stream_id: str, damaged: int) -> Segment:
        """The stream's segments with segment `damaged` replaced by random bytes; returns that segment."""
        for segment in segments(stream_id):
            if segment.seq == damaged:
                segment = replace(segment, data=os.urandom(len(segment.data)))
            self.bus.produce(TOPICS.segments, segment.stream_id, encode_segment(segment, published_at=1000.0 + segment.seq))
        return segments(stream_id)[damaged]

    def poll(self, limit: int | None = None) -> int:
        return asyncio.run(self.worker.poll(limit))

    def partition(self, stream_id: str) -> int:
        return next(m.partition for m in self.bus.messages(TOPICS.segments) if m.key == stream_id)

    def committed(self, stream_id: str) -> int:
        return self.worker.committed.get((TOPICS.segments, self.partition(stream_id)), 0)

    def words(self, stream_id: str) -> list[Word]:
        """The stream's words as the aligner keeps them: a report for a media range replaces what earlier
        reports said about that range (a word belongs to the range its middle falls in)."""
        words: list[Word] = []
        for message in self.bus.messages(TOPICS.speech):
            obs = decode_observation(message.value)
            if obs.stream_id == stream_id:
                words = [w for w in words if not obs.start_s <= (w.start_s + w.end_s) / 2 < obs.end_s] + list(obs.words)
        return sorted(words, key=lambda w: w.start_s)

    def stored_words(self, stream_id: str) -> list[Word]:
        """The words the real align stage stores in the stream's clips, given the speech reports one at a
        time in the order they were produced (as the aligner takes them, storing what is ready after each)."""
        options = SETTINGS.align
        state = AlignState(stream_id, IngestRun(started_at=1.0, has_video=False), created_at=0.0)
        stored: dict[float, tuple[Word, ...]] = {}
        for message in self.bus.messages(TOPICS.speech):
            obs = decode_observation(message.value)
            if obs.stream_id != stream_id:
                continue
            state, updates = ready_windows(observe(state, replace(obs, run=state.run), options), now=0.0, options=options)
            for update in updates:
                stored[update.window.start_s] = update.window.words
        return sorted({w for words in stored.values() for w in words}, key=lambda w: w.start_s)


@pytest.fixture
def rig():
    rig = Rig()
    yield rig
    rig.pool.close()


def test_the_commit_waits_at_the_oldest_segment_whose_audio_is_not_transcribed(rig):
    rig.publish("lecture")
    spans = [(s.start_s, s.end_s) for s in segments("lecture")]
    assert len(spans) >= 4 and spans[1][1] < PAUSE_S < spans[-1][0], "the pause falls in a middle segment"
    commits, expected = [], []
    while rig.poll(limit=1):
        commits.append(rig.committed("lecture"))
        stream = rig.worker.handler.streams.get("lecture")
        if stream is None:  # the last segment flushed everything
            expected.append(len(commits))
        else:
            pending_from = stream.state.pending.start_s
            expected.append(next(i for i, (_, end) in enumerate(spans) if end > pending_from))
    assert commits == expected
    # Nothing is transcribed before the pause, so the first segment is held while the next one arrives;
    # the pause at 12 s frees every segment before the one it falls in, and the last one frees it.
    pause_segment = next(i for i, (start, end) in enumerate(spans) if start <= PAUSE_S < end)
    assert commits[:2] == [0, 0]
    assert commits[pause_segment] == pause_segment
    assert commits[-1] == len(spans)
    assert rig.words("lecture") == list(SCRIPT)


def test_a_revoked_partitions_streams_are_forgotten_and_others_kept(rig):
    rig.publish("lecture", "talk")
    assert rig.partition("lecture") != rig.partition("talk")
    assert rig.poll(limit=4) == 4  # two segments of each stream: both hold untranscribed audio
    handler = rig.worker.handler
    assert set(handler.streams) == {"lecture", "talk"}
    assert handler.safe_offset(TOPICS.segments, rig.partition("lecture"), 2) == 0
    handler.on_revoked([(TOPICS.segments, rig.partition("lecture"))])
    assert set(handler.streams) == {"talk"}
    assert handler.safe_offset(TOPICS.segments, rig.partition("lecture"), 2) == 2, "nothing held for a revoked partition"
    assert handler.safe_offset(TOPICS.segments, rig.partition("talk"), 2) == 0


@pytest.mark.parametrize("restart_after", [1, 2, 3, 4])
def test_a_restart_from_the_commits_reports_every_word_once(rig, restart_after):
    rig.publish("lecture")
    assert rig.poll(limit=restart_after) == restart_after
    reread = restart_after - rig.committed("lecture")
    assert reread > 0, "the restart reads some segments again"
    rig.worker.restart(rig.handler())  # a killed worker's replacement: a fresh handler, the commits
    assert rig.poll() == len(segments("lecture")) - restart_after + reread
    assert rig.words("lecture") == list(SCRIPT)
    assert rig.worker.dead_letters() == []


@pytest.mark.parametrize("damaged", [1, 3, 4])  # before the pause, after it, the last segment
def test_the_audio_held_before_an_unreadable_segment_is_transcribed_and_stored(rig, damaged):
    # Before the pause at 12 s nothing is transcribed: the audio of every segment before the damaged one
    # is held. The damaged segment's report must not move the aligner past that audio before its words
    # are reported (seen in a full run: the words just before a dead-lettered segment went missing).
    lost = rig.publish_damaged("lecture", damaged)
    assert rig.poll() == len(segments("lecture"))
    assert len(rig.worker.dead_letters()) == 1, "the damaged segment is dead-lettered"
    heard = [w for w in SCRIPT if w.end_s <= lost.start_s or w.start_s >= lost.end_s]
    assert rig.stored_words("lecture") == heard
    assert rig.words("lecture") == heard


def test_a_stream_published_again_before_its_last_run_ended_is_heard_whole(rig):
    # A publisher stopped mid-file (its last segment never came) and the file published again: a newer
    # run of the same stream id, from 0 s. The old run's held audio must not swallow the new run's.
    old, new = IngestRun(started_at=1.0), IngestRun(started_at=2.0)
    for segment in segments("lecture")[:2]:
        rig.bus.produce(TOPICS.segments, "lecture", encode_segment(replace(segment, run=old), published_at=1000.0))
    for segment in segments("lecture"):
        rig.bus.produce(TOPICS.segments, "lecture", encode_segment(replace(segment, run=new), published_at=2000.0 + segment.seq))
    assert rig.poll(limit=3) == 3
    held = rig.worker.handler.streams["lecture"].state.pending
    first = segments("lecture")[0]  # 5 s (its audio a few AAC frames more): the old run had held 10 s
    assert held.start_s == 0.0 and held.duration_s < first.end_s + 0.5, f"the new run holds only its own audio: {held.duration_s} s"
    assert rig.poll() == len(segments("lecture")) - 1
    reports = [decode_observation(m.value) for m in rig.bus.messages(TOPICS.speech)]
    newer = [r for r in reports if r.run.started_at == new.started_at]
    assert [(r.start_s, r.end_s) for r in newer][0][0] == 0.0, "the new run's reports start at its own beginning"
    assert all(a.end_s == b.start_s for a, b in zip(newer, newer[1:])), [(r.start_s, r.end_s) for r in newer]
    words = sorted((w for r in newer for w in r.words), key=lambda w: w.start_s)
    assert words == list(SCRIPT)
    assert rig.worker.handler.streams == {}, "nothing is held once the new run ended"
    assert rig.committed("lecture") == 2 + len(segments("lecture"))


def test_a_silent_run_after_an_unfinished_one_lets_the_commit_move_on(rig):
    # The old run's held audio kept its first segment uncommitted; a newer run without audio (never
    # transcribed, so it never flushes that audio) must not keep the partition's commit there for ever.
    old, silent = IngestRun(started_at=1.0), IngestRun(started_at=2.0, has_audio=False)
    for segment in segments("lecture")[:2]:
        rig.bus.produce(TOPICS.segments, "lecture", encode_segment(replace(segment, run=old), published_at=1000.0))
    assert rig.poll() == 2 and rig.committed("lecture") == 0, "the old run's audio is held"
    for segment in segments("lecture"):
        rig.bus.produce(TOPICS.segments, "lecture", encode_segment(replace(segment, run=silent), published_at=2000.0))
    assert rig.poll() == len(segments("lecture"))
    assert rig.worker.handler.streams == {}
    assert rig.committed("lecture") == 2 + len(segments("lecture"))
    reports = [decode_observation(m.value) for m in rig.bus.messages(TOPICS.speech)][2:]
    assert [(r.start_s, r.end_s, r.words) for r in reports] == [(s.start_s, s.end_s, ()) for s in segments("lecture")]


def test_bytes_that_ffmpeg_would_take_for_another_format_are_dead_lettered(rig):
    # Random bytes that FFmpeg's probing reads as an LRC subtitle file (about 1 in 100 random strings
    # probe as some format): decoded, they would be a segment without audio, and the damage would pass
    # unnoticed. The record says the segment is matroska, and these bytes are not.
    damaged = random.Random(131).randbytes(20_000)
    with av.open(io.BytesIO(damaged)) as probed:
        assert probed.format.name == "lrc"
    first, second = segments("lecture")[:2]
    rig.bus.produce(TOPICS.segments, "lecture", encode_segment(first, published_at=1000.0))
    rig.bus.produce(TOPICS.segments, "lecture", encode_segment(replace(second, data=damaged), published_at=1001.0))
    assert rig.poll() == 2
    (letter,) = [decode_dead_letter(m.value) for m in rig.worker.dead_letters()]
    assert letter.reason.startswith("speech: stream lecture segment 1") and "not matroska" in letter.reason, letter.reason
    assert rig.worker.handler.streams == {} and rig.words("lecture") == [w for w in SCRIPT if w.end_s <= second.start_s]
