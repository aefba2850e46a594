"""Vision, speech and OCR workers (and `perceive`, vision and OCR on one decode): a segment in, one
observation per modality out."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from streammm.bus.codec import decode_segment, encode_observation
from streammm.bus.handling import InMessage, OutMessage, dead_letter
from streammm.bus.topics import Topics
from streammm.config import Settings
from streammm.errors import MediaError
from streammm.media.audio import load_audio
from streammm.media.frames import FrameSampler
from streammm.media.shots import change_time, colour_histograms
from streammm.media.signature import check_container
from streammm.models.registry import Models
from streammm.models.runtime import InferencePool
from streammm.models.base import ImageEncoder
from streammm.records import Frame, IngestRun, Observation, OcrLine, Segment
from streammm.stages import ocr as ocr_stage
from streammm.stages import pace
from streammm.stages.speech import SpeechState, transcribe_step
from streammm.stages.vision import observe_frames

log = logging.getLogger(__name__)


VISION_PX = 640  # the longest side of the frames vision sees


def fit_within(image: np.ndarray, longest_px: int) -> np.ndarray:
    """`image` scaled down (never up) so its longest side is at most `longest_px`."""
    import cv2

    scale = longest_px / max(image.shape[:2])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image


def jpeg_thumbnail(image: np.ndarray, longest_px: int) -> bytes:
    import cv2

    small = fit_within(image, longest_px)
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(small[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes() if ok else b""


class SegmentHandler:
    """Shared plumbing: decode the segment, run `observe` in the inference pool, encode, dead-letter.

    Stateful stages keep per-stream state in `streams`, each entry tagged with its partition, so a
    revoked partition's streams are forgotten (the new owner re-reads them from the last commit), and
    with its run, so a stream published again starts afresh.
    """

    modalities: tuple[str, ...] = ()  # what it reports, one observation of each per segment

    def __init__(self, settings: Settings, models: Models, topics: Topics, pool: InferencePool) -> None:
        self.settings = settings
        self.models = models
        self.topics = topics
        self.pool = pool
        self.streams: dict[str, Any] = {}
        self.sampler = FrameSampler(settings.media)  # remembers, per stream, a decoder that failed
        self.thinned: dict[str, bool] = {}  # paced streams whose last segment's frames were thinned

    def uses(self, segment: Segment) -> bool:
        """Whether this handler reads the segment's media: the frame stages need video, speech needs audio."""
        return segment.run.has_audio if self.modalities == ("speech",) else segment.run.has_video

    async def handle(self, message: InMessage) -> list[OutMessage]:
        segment, published_at = decode_segment(message.value, load_media=False)  # malformed: the loop dead-letters it
        known = self.streams.get(segment.stream_id)
        if known is not None and known.run != segment.run:
            # The stream was published again before its last run ended (its last segment never came): the
            # new run starts afresh. The old run's held audio or open lines are not the new run's, and the
            # aligner replaces the old run's clips anyway.
            del self.streams[segment.stream_id]
        outputs: list[OutMessage] = []
        if not self.uses(segment):
            # Nothing to see (or hear): the stream's clips may be complete without this modality already,
            # and its spooled media removed, so the media is not even read.
            observations = self.empty(segment, published_at)
        else:
            segment, published_at = decode_segment(message.value)
            try:
                check_container(segment.data, segment.container)
                observations = await self.pool.run(self.observe, segment, published_at, message)
            except MediaError as exc:
                # The stream goes on: the range is reported (empty) so the aligner's watermark moves past it.
                reason = f"{'+'.join(self.modalities)}: stream {segment.stream_id} segment {segment.seq} ({segment.carries}): {exc}"
                outputs.append(dead_letter(message, reason, self.topics.dlq))
                observations = await self.pool.run(self.unreadable, segment, published_at)
        outputs += [OutMessage(self.topics.observation(o.modality), segment.stream_id, encode_observation(o)) for o in observations]
        return outputs

    def empty(self, segment: Segment, published_at: float) -> list[Observation]:
        """A report of nothing over the segment's range, so the aligner's watermark moves past it."""
        return [
            Observation(m, segment.stream_id, segment.seq, segment.start_s, segment.end_s, segment.last, published_at=published_at, run=segment.run)
            for m in self.modalities
        ]

    def unreadable(self, segment: Segment, published_at: float) -> list[Observation]:
        """The reports for a segment whose media cannot be read: by default, nothing over its range."""
        return self.empty(segment, published_at)

    def observe(self, segment: Segment, published_at: float, message: InMessage) -> list[Observation]:
        raise NotImplementedError

    def frames(self, segment: Segment, published_at: float, max_side_px: int, *, strip: bool = False) -> tuple[list[Frame], float]:
        """The segment's sampled frames and their rate: thinned while its paced stream is behind (stages/pace.py);
        with their strips (Frame.strip) when asked.
        A frame handler's stream record keeps `last_hist`, the colour histograms of the stream's last frame
        (see `last_hist`): a cut at the segment's first frame is seen (media/frames.py)."""
        previous_hist = getattr(self.streams.get(segment.stream_id), "last_hist", None)
        fps = pace.sample_fps(
            time.time() - published_at, thinned=self.thinned.get(segment.stream_id, False), paced=segment.run.paced,
            options=self.settings.media,
        )
        if fps < self.settings.media.sample_fps:
            if not self.thinned.get(segment.stream_id):
                log.warning("stream %s is behind: its frames are sampled at %g fps until it catches up", segment.stream_id, fps)
            self.thinned[segment.stream_id] = True
        elif self.thinned.pop(segment.stream_id, False):
            log.warning("stream %s caught up: its frames are sampled at %g fps again", segment.stream_id, fps)
        if segment.last:
            self.thinned.pop(segment.stream_id, None)
        frames = self.sampler.frames(
            segment.data, key=segment.stream_id, offset_s=segment.start_s, max_side_px=max_side_px, end_s=segment.end_s, sample_fps=fps,
            previous_hist=previous_hist, strip=strip,
        )
        sampled = list(frames)
        log.debug(
            "stream %s segment %d (%.3f s + %.3f s): frames at %s", segment.stream_id, segment.seq, segment.start_s,
            segment.duration_s, [f.t_s for f in sampled],
        )
        return sampled, fps

    def last_hist(self, frames: Sequence[Frame]) -> np.ndarray | None:
        """What a frame handler's stream record keeps as `last_hist` after `frames` (None: shot detection off)."""
        return colour_histograms(frames[-1].image) if frames and self.settings.media.shot_detect_fps > 0 else None

    def safe_offset(self, topic: str, partition: int, next_offset: int) -> int:
        return next_offset

    async def tick(self) -> list[OutMessage]:
        return []

    def on_revoked(self, partitions: Sequence[tuple[str, int]]) -> None:
        revoked = {p for _, p in partitions}
        for stream_id in [k for k, s in self.streams.items() if s.partition in revoked]:
            del self.streams[stream_id]

    def on_assigned(self, partitions: Sequence[tuple[str, int]]) -> None:
        pass


def visual_observation(
    segment: Segment, frames: list[Frame], fps: float, published_at: float, encoder: ImageEncoder, settings: Settings
) -> Observation:
    observed = [replace(f, sample_fps=fps) for f in observe_frames(frames, encoder, settings.media.same_frame_diff)]
    thumbnail_px = settings.align.thumbnail_px
    return Observation(
        "visual", segment.stream_id, segment.seq, segment.start_s, segment.end_s, segment.last,
        frames=tuple(observed), thumbnails=tuple(jpeg_thumbnail(f.image, thumbnail_px) for f in frames), published_at=published_at,
        run=segment.run,
    )


@dataclass
class _VisionStream:
    partition: int
    run: IngestRun
    last_hist: np.ndarray  # the colour histograms of the stream's last sampled frame


class VisionHandler(SegmentHandler):
    """Keeps each stream's last frame's colour histogram, so a cut at a segment's first frame is seen."""

    modalities = ("visual",)

    def observe(self, segment: Segment, published_at: float, message: InMessage) -> list[Observation]:
        frames, fps = self.frames(segment, published_at, VISION_PX)
        last_hist = self.last_hist(frames)
        if segment.last or last_hist is None:
            self.streams.pop(segment.stream_id, None)
        else:
            self.streams[segment.stream_id] = _VisionStream(message.partition, segment.run, last_hist)
        return [visual_observation(segment, frames, fps, published_at, self.models.embedder.image, self.settings)]


@dataclass
class _SpeechStream:
    state: SpeechState = field(default_factory=SpeechState)
    reported_until_s: float | None = None
    partition: int = -1
    segments: list[tuple[int, float]] = field(default_factory=list)  # (offset, start_s) still needed
    run: IngestRun | None = None


class SpeechHandler(SegmentHandler):
    """Keeps each stream's untranscribed audio; commits only past segments whose audio is transcribed."""

    modalities = ("speech",)

    def observe(self, segment: Segment, published_at: float, message: InMessage) -> list[Observation]:
        stream = self.streams.setdefault(segment.stream_id, _SpeechStream(run=segment.run))
        stream.partition = message.partition
        stream.segments.append((message.offset, segment.start_s))
        chunk = load_audio(segment.data, offset_s=segment.start_s)
        options = self.settings.models.speech
        start = stream.reported_until_s if stream.reported_until_s is not None else segment.start_s
        if chunk is None and stream.state.pending is None:
            words, until = [], segment.end_s  # no audio track: nothing to wait for
        else:
            stream.state, words = transcribe_step(stream.state, chunk, self.models.transcriber, options, final=segment.last)
            pending = stream.state.pending
            until = segment.end_s if pending is None or len(pending.samples) == 0 else pending.start_s
        until = max(until, start)
        stream.reported_until_s = until
        # The oldest segment still holding untranscribed audio must be read again after a crash.
        stream.segments = [s for i, s in enumerate(stream.segments) if i + 1 == len(stream.segments) or stream.segments[i + 1][1] > until]
        if segment.last:
            self.streams.pop(segment.stream_id, None)
        return [Observation(
            "speech", segment.stream_id, segment.seq, start, until, segment.last, words=tuple(words),
            published_at=published_at, run=segment.run,
        )]

    def unreadable(self, segment: Segment, published_at: float) -> list[Observation]:
        """The stream's audio breaks off here: the audio held before the segment is transcribed now, and the
        report covers it and the segment. (An empty report of the segment alone would move the aligner's
        watermark past the held audio, and its words, reported later, would come after their windows were
        stored: lost.) The next segment starts afresh, as after any gap."""
        stream = self.streams.pop(segment.stream_id, None)
        start, words = segment.start_s, []
        if stream is not None:
            start = min(start, stream.reported_until_s if stream.reported_until_s is not None else start)
            if stream.state.pending is not None:
                _, words = transcribe_step(stream.state, None, self.models.transcriber, self.settings.models.speech, final=True)
        return [Observation(
            "speech", segment.stream_id, segment.seq, start, segment.end_s, segment.last, words=tuple(words),
            published_at=published_at, run=segment.run,
        )]

    def safe_offset(self, topic: str, partition: int, next_offset: int) -> int:
        held = [s.segments[0][0] for s in self.streams.values() if s.partition == partition and s.segments and s.state.pending is not None]
        return min([next_offset, *held])


@dataclass
class _OcrStream:
    partition: int
    state: ocr_stage.OcrState
    read_until_s: float  # media time read up to
    run: IngestRun
    last_hist: np.ndarray | None  # the colour histograms of the stream's last sampled frame (None: shot detection off)

    @property
    def reported_until_s(self) -> float:
        """Media time the stream's reports so far cover (see `reported_until`)."""
        return reported_until(self.state, self.read_until_s)


def reported_until(state: ocr_stage.OcrState, read_until_s: float) -> float:
    """Media time an OCR report that has read up to `read_until_s` may claim. A line first seen on the next
    segment's first frame starts as early as the frame after the last one read, where the strips tell
    (stages/line_edges.py came_at), else halfway back to the frame read before it; either may be before
    `read_until_s`, and the aligner stores a window once every report covers it: a line reported after
    that would be lost."""
    if state.last_frame_s is None:
        return read_until_s
    after = [t_s for t_s, _ in state.strip if t_s > state.last_frame_s + 1e-3]
    if after:
        return min(read_until_s, after[0])
    return min(read_until_s, change_time(state.last_frame_s, read_until_s, cut=False))


class OcrHandler(SegmentHandler):
    """Keeps each stream's open lines, and its last frame's colour histogram (a cut at a segment's first
    frame is when a line there came or went)."""

    modalities = ("ocr",)

    def observe(self, segment: Segment, published_at: float, message: InMessage) -> list[Observation]:
        frames, fps = self.frames(segment, published_at, self.settings.models.ocr.max_side_px, strip=True)
        return [self.read(segment, frames, fps, published_at, message)]

    def read(self, segment: Segment, frames: list[Frame], fps: float, published_at: float, message: InMessage) -> Observation:
        """The segment's on-screen text (frames sampled at `fps`), continuing the stream's open lines."""
        options = self.settings.models.ocr
        # A line still showing when the segment ends lasts, for now, until the next frame that could have shown
        # it, so that a later report of it (the next segment's, or a restarted worker's, from that frame on) joins
        # it. Lines that go within a segment end halfway to the frame that no longer shows them (stages/ocr.py).
        hold_s = 1 / fps
        known = self.streams.get(segment.stream_id)
        state, read_until = (known.state, known.read_until_s) if known else (ocr_stage.OcrState(), segment.start_s)
        start = known.reported_until_s if known else segment.start_s
        lapsed: list[OcrLine] = []
        if segment.start_s - read_until > 1e-3:
            # Segments in between were lost (dead-lettered or never published): nobody saw the screen
            # then, so the open lines end where reading stopped instead of stretching over the gap.
            lapsed = ocr_stage.finish(state, read_until, hold_s)
            state = ocr_stage.OcrState()
        state, closed = ocr_stage.read_step(state, frames, self.models.ocr_engine, options)
        still_open = ocr_stage.finish(state, segment.end_s, hold_s)
        until = segment.end_s if segment.last else reported_until(state, segment.end_s)
        if segment.last:
            self.streams.pop(segment.stream_id, None)
        else:
            self.streams[segment.stream_id] = _OcrStream(message.partition, state, segment.end_s, segment.run, self.last_hist(frames))
        return Observation(
            "ocr", segment.stream_id, segment.seq, start, until, segment.last,
            ocr=tuple(lapsed) + tuple(closed) + tuple(still_open) + segment.captions, published_at=published_at, run=segment.run,
        )

    def empty(self, segment: Segment, published_at: float) -> list[Observation]:
        """Nothing read over the segment's range (no picture, or none that can be read), but its subtitles
        were shown."""
        return [replace(o, ocr=segment.captions) if o.modality == "ocr" else o for o in super().empty(segment, published_at)]


class PerceiveHandler(OcrHandler):
    """Vision and OCR on one decode of each segment (`streammm worker perceive`; opt-in, `up` runs the separate kinds)."""

    modalities = ("visual", "ocr")

    def observe(self, segment: Segment, published_at: float, message: InMessage) -> list[Observation]:
        frames, fps = self.frames(segment, published_at, max(VISION_PX, self.settings.models.ocr.max_side_px), strip=True)
        seen = [replace(f, image=fit_within(f.image, VISION_PX)) for f in frames]  # what the vision worker sees
        visual = visual_observation(segment, seen, fps, published_at, self.models.embedder.image, self.settings)
        return [visual, self.read(segment, frames, fps, published_at, message)]


HANDLERS = {"vision": VisionHandler, "speech": SpeechHandler, "ocr": OcrHandler, "perceive": PerceiveHandler}
