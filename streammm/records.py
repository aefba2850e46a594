"""The records that flow between stages: frozen dataclasses with media-time stamps in seconds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

CLIP_NAMESPACE = uuid.UUID("5b1f3c52-8f0e-4d3a-9d43-6a8e2f0c9b17")


def clip_id(stream_id: str, start_s: float, profile: str) -> str:
    """The same window of the same stream under the same embedding profile always gets the same id."""
    return str(uuid.uuid5(CLIP_NAMESPACE, f"{stream_id}|{start_s:.3f}|{profile}"))


def stream_id_problem(stream_id: str) -> str | None:
    """Why `stream_id` cannot name a stream, or None. An id also names the stream's folders on disk (its
    spooled media), so it is never empty and never only dots ("." and ".." name the folders around it)."""
    if not stream_id.strip():
        return "a stream id cannot be empty"
    if not stream_id.strip("."):
        return f"{stream_id!r} cannot be a stream id (it names a folder: use letters or digits)"
    return None


@dataclass(frozen=True)
class Word:
    """A spoken word, with its media-time span."""

    start_s: float
    end_s: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class OcrLine:
    """A line of on-screen text, visible from `start_s` until `end_s`.

    `x`, `y` place the line's centre as fractions of the frame's width and height (-1: unknown): the
    same words in two places on screen are two lines. `pressed`: each time its row darkened or lit up for a
    moment while its text stayed, a click on a button or a check box, as the (start_s, end_s) of the step that
    made it: from where the screen last changed other than by the mouse pointer (at most 3 s before) to the
    press's end (stages/line_presses.py).
    """

    start_s: float
    end_s: float
    text: str
    score: float = 1.0
    x: float = -1.0
    y: float = -1.0
    pressed: tuple[tuple[float, float], ...] = ()

    def pressed_with(self, other: OcrLine) -> tuple[tuple[float, float], ...]:
        """The presses of this line and of `other` (the same line, reported twice), each once, in time order."""
        return tuple(sorted(set(self.pressed) | set(other.pressed)))

    def same_place(self, other: OcrLine, *, dx: float = 0.08, dy: float = 0.05) -> bool:
        if min(self.x, self.y, other.x, other.y) < 0:
            return True
        return abs(self.x - other.x) <= dx and abs(self.y - other.y) <= dy


@dataclass(frozen=True, eq=False)
class Frame:
    """A decoded RGB frame (H x W x 3, uint8) at media time `t_s`.

    `strip`, when the decoder was asked for it: (t_s, grey picture) of this frame and of each frame after
    it that was not sampled, until the next sampled one (for the first frame of a decode, also those
    before it), smaller than the image (media/frames.py strip_picture). It tells to the frame when
    something between two samples changed.

    `cut_s`, at a shot change found where the decoded frames in between were seen: when the new shot
    started (the first frame of it, at or before `t_s`; shots are probed a few times a second). None: at
    `t_s`, as far as is known."""

    t_s: float
    image: np.ndarray
    shot_change: bool = False
    strip: tuple[tuple[float, np.ndarray], ...] = ()
    cut_s: float | None = None


@dataclass(frozen=True, eq=False)
class FrameObservation:
    """What the vision encoder saw in a frame: tags and a unit vector in the joint space.

    `sample_fps` is the rate the frame was sampled at (0: not recorded, older builds); below
    media.sample_fps when an overloaded worker thinned a paced stream's frames (stages/pace.py). At a
    shot change, `cut_s` is when the new shot started (Frame.cut_s; None: at `t_s`)."""

    t_s: float
    tags: tuple[str, ...]
    vector: np.ndarray
    shot_change: bool = False
    sample_fps: float = 0.0
    cut_s: float | None = None

    @property
    def shot_start_s(self) -> float | None:
        """When the shot this frame starts began; None where it starts none."""
        if not self.shot_change:
            return None
        return self.t_s if self.cut_s is None else self.cut_s


@dataclass(frozen=True, eq=False)
class AudioChunk:
    """Mono 16 kHz float32 samples starting at media time `start_s`."""

    start_s: float
    samples: np.ndarray
    sample_rate: int = 16_000

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class MediaInfo:
    """What a probe of a media file found."""

    path: str
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_codec: str = ""
    audio_codec: str = ""
    container: str = ""


@dataclass(frozen=True)
class IngestRun:
    """One publishing of a stream, carried by its segments and by every observation made of them.

    `started_at` (wall-clock UNIX seconds when the publisher started) identifies the run and orders it
    against other runs of the same stream id: a file ingested again is a newer run that replaces the
    older one. `has_video` / `has_audio` say which modalities the stream's clips can expect. A `paced`
    run's evidence is worth most while fresh: an overloaded frame worker may thin its frames rather than
    fall behind (a batch of files is never thinned).
    """

    started_at: float = 0.0
    live: bool = False
    has_video: bool = True
    has_audio: bool = True
    paced: bool = False  # published at wall-clock pace (a live source, or a file with --realtime)
    has_captions: bool = False  # its segments carry subtitle cues (Segment.captions): text, even without video

    @property
    def expected(self) -> frozenset[str]:
        """The modalities this run's media can give: a silent video expects no speech; an audio file with
        subtitles (a podcast's transcript) expects their text."""
        kinds: set[str] = set()
        if self.has_video:
            kinds |= {"visual", "ocr"}
        if self.has_captions:
            kinds.add("ocr")
        if self.has_audio:
            kinds.add("speech")
        return frozenset(kinds)


@dataclass(frozen=True, eq=False)
class Segment:
    """A short, independently decodable piece of a stream: encoded bytes, remuxed (or re-encoded where the
    source cannot be cut or carried as it is).

    Timestamps inside `data` start near zero; `start_s` places them on the stream's media timeline.
    `container` is the FFmpeg format of `data` (matroska, nut); `video_codec` / `audio_codec` name what it
    carries ("" for none, or unknown in records from older publishers); `reencoded` says the codecs are
    the publisher's, not the source's. `captions` are the cues of the source's text subtitle track shown
    during the segment (media/captions.py), whole, on the stream's timeline: a cue that spans a cut is in
    both segments.
    """

    stream_id: str
    seq: int
    start_s: float
    duration_s: float
    container: str
    data: bytes
    last: bool = False
    run: IngestRun = IngestRun()
    video_codec: str = ""
    audio_codec: str = ""
    reencoded: bool = False
    captions: tuple[OcrLine, ...] = ()

    @property
    def carries(self) -> str:
        """`matroska: video h264 + audio aac`, for messages."""
        codecs = [f"{k} {c}" for k, c in (("video", self.video_codec), ("audio", self.audio_codec)) if c]
        return f"{self.container}{' (re-encoded)' if self.reencoded else ''}: {' + '.join(codecs) or 'codecs not recorded'}"

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Timeline:
    """Everything perception found in one media file."""

    media: str
    duration_s: float
    words: tuple[Word, ...] = ()
    ocr: tuple[OcrLine, ...] = ()
    frames: tuple[FrameObservation, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "media": self.media,
            "duration_s": round(self.duration_s, 3),
            "words": [_span(w.start_s, w.end_s, w.text) for w in self.words],
            "ocr": [_span(o.start_s, o.end_s, o.text) | ({"pressed": [[round(a, 3), round(b, 3)] for a, b in o.pressed]} if o.pressed else {}) for o in self.ocr],
            "frames": [{"t_s": round(f.t_s, 3), "tags": list(f.tags)} for f in self.frames],
        }


def _span(start_s: float, end_s: float, text: str) -> dict[str, object]:
    return {"start_s": round(start_s, 3), "end_s": round(end_s, 3), "text": text}


MODALITIES = ("visual", "speech", "ocr")


def modality_order(modalities: object) -> tuple[str, ...]:
    """A set of modality names in the canonical order of MODALITIES."""
    return tuple(m for m in MODALITIES if m in modalities)  # type: ignore[operator]
VECTOR_NAMES = (*MODALITIES, "joint")


@dataclass(frozen=True, eq=False)
class Clip:
    """One aligned window of a stream: what was seen, said and written, and its named vectors.

    `vectors` maps a name in VECTOR_NAMES to a unit vector; a modality with no evidence in the window
    (no speech, no text) is absent from the map and from `modalities`.

    `expected` are the modalities the stream's media can give (a silent video expects no speech);
    `pending` are those of them whose evidence has not been merged yet: a clip with pending modalities is
    provisional and is completed, under the same id, when they report. `run_started_at` is the ingest run
    (IngestRun.started_at) that wrote it. An empty `expected` means "not recorded" (older stores).
    `sample_fps` below media.sample_fps records that an overloaded pipeline thinned this window's frames.
    `frame_vectors` holds each sampled frame's visual vector (a row per `frame_times` entry; None: not
    kept, older stores) and `shot_times` the frame times where a new shot starts: a visual moment is fitted
    to the frames that match, cut at shot changes (qa/visual_fit.py).
    """

    clip_id: str
    stream_id: str
    start_s: float
    end_s: float
    profile: str
    transcript: str = ""
    ocr_text: str = ""
    tags: tuple[str, ...] = ()
    words: tuple[Word, ...] = ()
    ocr_lines: tuple[OcrLine, ...] = ()
    frame_times: tuple[float, ...] = ()
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    thumbnail: str = ""  # file name under the data dir's thumbnails/, "" when none
    expected: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    run_started_at: float = 0.0
    sample_fps: float = 0.0  # the lowest rate its frames were sampled at; 0: not recorded (older stores)
    frame_vectors: np.ndarray | None = None  # (len(frame_times), dim) unit vectors
    shot_times: tuple[float, ...] = ()

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m in MODALITIES if m in self.vectors)

    @property
    def complete(self) -> bool:
        return not self.pending


@dataclass(frozen=True)
class ClipFilter:
    """Restricts a query: to some streams, and/or to clips overlapping [start_s, end_s], and/or to clips
    that still have pending modalities (`incomplete=True`)."""

    stream_ids: tuple[str, ...] | None = None
    start_s: float | None = None
    end_s: float | None = None
    incomplete: bool = False


@dataclass(frozen=True, eq=False)
class ScoredClip:
    """A clip found by a query; higher scores are better, comparable only within one query."""

    clip: Clip
    score: float


@dataclass(frozen=True)
class StreamInfo:
    stream_id: str
    clips: int
    start_s: float
    end_s: float


@dataclass(frozen=True, eq=False)
class Observation:
    """What one modality's stage reported for a stream: final for media time up to `end_s`.

    `start_s`..`end_s` is the range this report covers; a later report for an overlapping range
    (after a worker restart) replaces what an earlier one said about it.
    """

    modality: str  # "visual" | "speech" | "ocr"
    stream_id: str
    seq: int
    start_s: float
    end_s: float
    last: bool = False
    frames: tuple[FrameObservation, ...] = ()
    thumbnails: tuple[bytes, ...] = ()  # a JPEG per frame, same order as `frames`
    words: tuple[Word, ...] = ()
    ocr: tuple[OcrLine, ...] = ()
    published_at: float = 0.0  # wall-clock UNIX time the source segment was published
    run: IngestRun = IngestRun()
