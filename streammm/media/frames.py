"""Frames out of a video: a regular grid in media time (default 1 fps) plus extra keyframes at shot changes."""

from __future__ import annotations

import bisect
import io
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from streammm.config import MediaConfig
from streammm.errors import MediaError
from streammm.media.decord_frames import decord_frames
from streammm.media.frame_grid import ON_INSTANT_S, even_px
from streammm.media.reading import decoded, pixel_aspect, top_field, video_stream
from streammm.media.shots import colour_histograms, is_cut
from streammm.records import Frame

log = logging.getLogger(__name__)
STRIP_PX = 640  # the long side of a strip picture (see strip_picture)
CUT_STRIP_PX = 96  # ... where strips only time the cuts (cut_in_strip): enough to see a shot change


DECODERS = ("auto", "pyav", "decord")


def sample_frames(
    source: str | Path | bytes,
    options: MediaConfig,
    *,
    offset_s: float = 0.0,
    max_side_px: int = 1280,
    decoder: str = "pyav",
    end_s: float | None = None,
    previous_hist: np.ndarray | None = None,
    strip: bool = False,
) -> Iterator[Frame]:
    """Frames in time order; times are `offset_s` + the frame's presentation time in `source`.

    Grid frames sit at multiples of 1/sample_fps on the *stream's* timeline, so the segments of one
    stream sample the same instants as the whole file would. A frame where the picture changes
    at once from the previous probe (a cut: media/shots.py) is added with `shot_change=True`.

    `decoder` is "pyav" (FFmpeg through PyAV: any codec, rotation applied) or "decord"; both give the same
    frames at the same times. A file's times count from its container's first timestamp (an MPEG-TS that
    starts at 1.4 s starts at 0); a segment's (bytes) from its own zero, which the publisher put at
    `offset_s`. Frames before 0 (hidden by an edit list) are not shown. With `end_s` (a segment's end on
    the stream's timeline), the last frame also stands for the sample instants up to it.

    `previous_hist` is the colour_histograms of the stream's frame just before `source` (a segment's
    predecessor): a cut at the segment's first frame is found too. Encoders put keyframes at cuts and
    segments start at keyframes, so without it most cuts of a segmented stream would go unseen.

    With `strip` (PyAV only), each frame carries the small grey pictures of every decoded frame it stands
    for (see Frame.strip): what tells the second a line of text came or went.
    """
    if decoder == "decord":
        yield from decord_frames(source, options, offset_s=offset_s, max_side_px=max_side_px, previous_hist=previous_hist)
    else:
        # Strips also tell when a cut happened between two probes (Frame.cut_s).
        with_strips = strip or options.shot_detect_fps > 0
        planned = pyav_planned_frames(
            source, options, offset_s=offset_s, max_side_px=max_side_px, end_s=end_s, strip=with_strips, strip_px=STRIP_PX if strip else CUT_STRIP_PX
        )
        yield from _with_cuts(planned, options, previous_hist, strips=strip)


class FrameSampler:
    """sample_frames with the configured decoder, chosen once per input.

    With `media.decoder: decord`, an input (a stream id, or a file) that decord cannot open is decoded by
    PyAV from then on: its other segments do not try decord again.
    """

    def __init__(self, options: MediaConfig, *, remember: int = 4096) -> None:
        self.options = options
        self.remember = remember
        self._pyav_only: dict[str, None] = {}  # insertion-ordered: the oldest is forgotten first

    def decoder_for(self, key: str) -> str:
        return "pyav" if self.options.decoder == "pyav" or key in self._pyav_only else "decord"

    def frames(
        self, source: str | Path | bytes, *, key: str, offset_s: float = 0.0, max_side_px: int = 1280, end_s: float | None = None,
        sample_fps: float | None = None, previous_hist: np.ndarray | None = None, strip: bool = False,
    ) -> Iterator[Frame]:
        """The sampled frames of `source`, at `sample_fps` when given (else media.sample_fps); with their
        strips (sample_frames) when asked and PyAV decodes them."""
        options = self.options if sample_fps is None else self.options.model_copy(update={"sample_fps": sample_fps})
        if self.decoder_for(key) == "decord":
            frames = sample_frames(source, options, offset_s=offset_s, max_side_px=max_side_px, decoder="decord", previous_hist=previous_hist)
            try:
                first = next(frames, None)  # decord fails, if it does, while opening: before the first frame
            except MediaError as exc:
                log.warning("%s: decord cannot decode it (%s); PyAV decodes it from now on", key, exc)
                self._pyav_only[key] = None
                while len(self._pyav_only) > self.remember:
                    del self._pyav_only[next(iter(self._pyav_only))]
            else:
                if first is not None:
                    yield first
                    yield from frames
                return
        yield from sample_frames(
            source, options, offset_s=offset_s, max_side_px=max_side_px, decoder="pyav", end_s=end_s, previous_hist=previous_hist,
            strip=strip,
        )


def _with_cuts(
    planned: Iterator[tuple[float, np.ndarray, str, tuple[tuple[float, np.ndarray], ...]]], options: MediaConfig,
    previous_hist: np.ndarray | None, *, strips: bool = True,
) -> Iterator[Frame]:
    """The grid frames and the probes at a cut; a probe left out hands its strip to the frame before it
    (which is therefore yielded only once the next one is known), or to the first frame when none was.
    Where the planned frames carry strips, a cut's frame says the decoded frame the new shot starts at
    (Frame.cut_s, cut_in_strip; at a decode's first sampled frame, the first decoded one); with `strips`
    False the frames are yielded without them."""
    held: Frame | None = None
    lead: tuple[tuple[float, np.ndarray], ...] = ()
    since: tuple[tuple[float, np.ndarray], ...] = ()  # the pictures from the last planned frame's own to this one
    for t_s, image, role, pictures in planned:
        hist = colour_histograms(image) if options.shot_detect_fps > 0 else None
        cut = is_cut(hist, previous_hist, options.shot_threshold)
        previous_hist = hist
        own = next((i for i, (t, _) in enumerate(pictures) if abs(t - t_s) < 1e-3), None)
        cut_s = None
        if cut and own is not None and since:
            cut_s = cut_in_strip(since + pictures[own : own + 1])
        elif cut and own:  # the decode's first sampled frame, against the stream's frame before it: the frames
            cut_s = pictures[0][0]  # before it are this segment's, which starts at a keyframe, as encoders put them at cuts
        since = pictures[own:] if own is not None else ()
        if not strips:
            pictures = ()
        if role == "grid" or cut:
            if held is not None:
                yield held
            held = Frame(t_s=round(t_s, 3) + 0.0, image=image, shot_change=cut, strip=lead + pictures, cut_s=cut_s)
            lead = ()
        elif held is not None and pictures:
            held = replace(held, strip=held.strip + pictures)
        else:
            lead += pictures
    if held is not None:
        yield held


def cut_in_strip(pictures: Sequence[tuple[float, np.ndarray]]) -> float | None:
    """When the new shot starts in `pictures` (the decoded frames from the probe before a cut to the probe
    that found it, in order): at the frame whose grey picture differs most from the one before it (a cut
    changes the picture at once; motion between two frames changes it a little). None where they cannot
    tell (fewer than two, or pictures of different sizes)."""
    if len(pictures) < 2 or len({p.shape for _, p in pictures}) > 1:
        return None
    step = max(1, max(pictures[0][1].shape) // CUT_STRIP_PX)
    small = [p[::step, ::step].astype(np.int16) for _, p in pictures]
    jumps = [float(np.abs(b - a).mean()) for a, b in zip(small, small[1:])]
    return round(pictures[1 + int(np.argmax(jumps))][0], 3) + 0.0


def pyav_planned_frames(
    source: str | Path | bytes, options: MediaConfig, *, offset_s: float = 0.0, max_side_px: int = 1280, end_s: float | None = None,
    strip: bool = False, strip_px: int = STRIP_PX,
) -> Iterator[tuple[float, np.ndarray, str, tuple[tuple[float, np.ndarray], ...]]]:
    """(t_s, RGB image, "grid" | "probe", strip) for the frames plan_frames would pick, decoded in one pass.

    Every frame is decoded (a decoder must), but only the picked ones are converted to RGB, scaled to
    square pixels (an anamorphic picture is widened as players show it) and turned upright (display-matrix
    rotation). With `strip`, a picked frame's strip holds the grey pictures
    (strip_picture) of it and of every frame after it until the next picked one, and the first's also those
    of the frames before it (a segment's first picture often comes before its first sample instant); else
    it is empty.
    """
    held: tuple[float, np.ndarray, str, list[tuple[float, np.ndarray]]] | None = None
    lead: list[tuple[float, np.ndarray]] = []
    shown: list[float] = []  # every frame's time, and the grid frames': to report a sample instant left without a frame
    grid: list[float] = []
    for t_s, frame, role, aspect in _decoded_frames(source, options, offset_s=offset_s, end_s=end_s):
        shown.append(t_s)
        picture = [(round(t_s, 3) + 0.0, strip_picture(frame, strip_px))] if strip else []
        if role is None:
            (held[3] if held is not None else lead).extend(picture)
            continue
        if role == "grid":
            grid.append(t_s)
        if held is not None:
            yield held[0], held[1], held[2], tuple(held[3])
        held = (t_s, _rgb(frame, max_side_px, aspect), role, lead + picture)
        lead = []
    if held is not None:
        yield held[0], held[1], held[2], tuple(held[3])
    _check_grid(shown, grid, options.sample_fps)


def _check_grid(shown: list[float], grid: list[float], rate: float) -> None:
    """Warn, with every frame's time, where the frame shown at a sample instant was not sampled (frames
    for every second are what the clips promise; a live test once found one missing). Every segment's
    times are at DEBUG: in the run where that test lost second 15, this check was silent (the frame shown
    at 15.0 s was sampled here), so the next such run's DEBUG log says what the decoder gave."""
    if not shown:
        return
    if log.isEnabledFor(logging.DEBUG):  # every segment: the lists only when they are written
        log.debug("video (frames): shown at %s; grid frames at %s", [round(t, 3) for t in shown[:200]], [round(t, 3) for t in grid])
    picked = set(grid)
    instants = [k / rate for k in range(math.ceil((shown[0] - ON_INSTANT_S) * rate), math.floor(shown[-1] * rate + 1e-6) + 1)]
    missed = [t for t in instants if shown[bisect.bisect_right(shown, t + ON_INSTANT_S) - 1] not in picked]
    if missed:
        log.warning(
            "video (sampling): the frames shown at %s s (%g fps) were not sampled; frames shown at %s; sampled at %s",
            [round(t, 3) for t in missed], rate, [round(t, 3) for t in shown[:200]], [round(t, 3) for t in grid],
        )


def _decoded_frames(
    source: str | Path | bytes, options: MediaConfig, *, offset_s: float, end_s: float | None
) -> Iterator[tuple[float, object, str | None, Fraction]]:
    """(t_s, PyAV frame, its role or None, its pixel aspect) for every frame shown, in one pass of the decoder."""
    import av

    try:
        container = av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"cannot open video: {_first_line(exc)}") from None
    with container:
        stream = video_stream(container)
        if stream is None:
            return
        stream.thread_type = "AUTO"
        origin_s = 0.0 if isinstance(source, bytes) else (container.start_time or 0) / av.time_base
        codec = stream.codec_context.name
        picker = _Picker(options)
        aspect = pixel_aspect(stream)
        previous: tuple[float, object] | None = None
        fallback_step = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
        behind: list[float] = []  # times of frames skipped for not coming after the last one shown
        try:
            for frame in decoded(container, stream, name=f"the segment at {offset_s:.2f} s" if isinstance(source, bytes) else str(source)):
                if frame.pts is None and previous is None:
                    t = offset_s
                elif frame.pts is None:
                    t = previous[0] + fallback_step  # no timestamp (some AVI): the next frame slot
                else:
                    t = offset_s + float(frame.pts * frame.time_base) - origin_s
                if t < -1e-3:
                    continue  # hidden by an edit list
                if previous is not None and t <= previous[0] + 1e-6:
                    behind.append(t)
                    continue  # a repeated (or earlier) timestamp: nothing to show after the last frame
                if previous is not None:
                    yield previous[0], previous[1], next(iter(picker.roles_until(previous[0], t)), None), aspect
                else:
                    # A segment's first picture stands in for the instants between the segment's start and
                    # itself (a live segment's first frame often arrives a little after the cut): nothing
                    # before the start shows them, so otherwise the grid instant at the start is lost.
                    late = t - offset_s >= 1 / options.sample_fps
                    if late and isinstance(source, bytes):  # a segment's sampled seconds before its first picture are lost
                        log.warning("video (%s): the segment at %.2f s shows no picture until %.2f s", codec, offset_s, t)
                    picker.start(t if late or t <= offset_s else offset_s)
                    log.debug("video (%s): the segment at %.3f s shows its first picture at %.3f s", codec, offset_s, t)
                previous = (t, frame)
        except av.error.FFmpegError as exc:
            if previous is None:  # nothing at all: an error (dead-lettered, replayable), never an empty result
                raise MediaError(f"cannot decode video ({codec}): {_first_line(exc)}") from None
            log.warning("video (%s) decoding stopped at %.2f s: %s", codec, previous[0], _first_line(exc))
        if previous is None:
            raise MediaError(f"cannot decode video ({codec}): no frame could be decoded (truncated or damaged)")
        if behind and isinstance(source, bytes):  # a live source's clock that went back: those pictures are not shown
            log.warning(
                "video (%s): the segment at %.2f s has %d frames whose times (%.2f-%.2f s) do not follow the one before",
                codec, offset_s, len(behind), min(behind), max(behind),
            )
        until = end_s if end_s is not None and end_s > previous[0] + ON_INSTANT_S else None
        yield previous[0], previous[1], next(iter(picker.roles_until(previous[0], until)), None), aspect


class _Picker:
    """plan_frames in one pass: which instants of the grid and the probe raster a frame is on screen for."""

    def __init__(self, options: MediaConfig) -> None:
        self.rates = [("grid", options.sample_fps)] + ([("probe", options.shot_detect_fps)] if options.shot_detect_fps > 0 else [])
        self.next_k: dict[str, int] = {}

    def start(self, first_s: float) -> None:
        self.next_k = {role: math.ceil((first_s - ON_INSTANT_S) * rate) for role, rate in self.rates}

    def roles_until(self, start_s: float, next_start_s: float | None) -> list[str]:
        """The roles of a frame shown from `start_s` until `next_start_s` (the last frame: None, or the end)."""
        roles = []
        for role, rate in self.rates:
            k = self.next_k[role]
            taken = False
            while (k / rate < next_start_s - ON_INSTANT_S) if next_start_s is not None else (k / rate <= start_s + 1e-6):
                taken, k = True, k + 1
            self.next_k[role] = k
            if taken:
                roles.append(role)
        return ["grid"] if "grid" in roles else roles[:1]


def _rgb(frame, max_side_px: int, aspect: Fraction = Fraction(1)) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The frame as players show it: one moment in time (an interlaced frame's top field), in square
    pixels (`aspect`: pixel_aspect), at most `max_side_px` a side, upright."""
    width, height = frame.width * float(aspect), frame.height
    scale = min(1.0, max_side_px / max(width, height, 1))
    if frame.interlaced_frame:
        image = top_field(frame, even_px(width * scale), even_px(height * scale))
    elif scale < 1.0 or aspect != 1:
        image = frame.to_ndarray(format="rgb24", width=even_px(width * scale), height=even_px(height * scale))
    else:
        image = frame.to_ndarray(format="rgb24")
    turns = int(round(getattr(frame, "rotation", 0) or 0)) // 90 % 4
    # FFmpeg's display rotation: turn the picture counter-clockwise by this many degrees to show it upright.
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


LUMA_FIRST = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuv411p", "yuv410p", "nv12", "nv21", "gray", "yuva420p"})


def strip_picture(frame, side_px: int = STRIP_PX) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A decoded frame in grey, upright, `side_px` to twice that a side (smaller frames whole): every
    second (or third...) pixel of the luma plane, read as it is (a fraction of a millisecond); other pixel
    formats are converted."""
    width, height = frame.width, frame.height
    step = max(1, max(width, height) // side_px)
    if frame.format.name in LUMA_FIRST:
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:height, :width]
    else:
        luma = frame.to_ndarray(format="gray")
    grey = np.ascontiguousarray(luma[::step, ::step])
    turns = int(round(getattr(frame, "rotation", 0) or 0)) // 90 % 4
    return np.ascontiguousarray(np.rot90(grey, k=turns)) if turns else grey


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def grey_thumbnail(image: np.ndarray, side: int) -> np.ndarray:
    """The image in grey, averaged down to `side` x `side` pixels (what change gates compare)."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)


