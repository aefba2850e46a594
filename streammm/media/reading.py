"""Reading an opened container: which of its streams are read, its packets and frames to the end of the
file and past damage, and timestamps mended where a format's clock may jump."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import numpy as np

log = logging.getLogger(__name__)

TS_DISCONT = 0x0200  # AVFMT_TS_DISCONT: a format whose timestamps may jump (MPEG-TS, HLS)
TIMESTAMP_JUMP_S = 10.0  # a larger step forward is a jump of the clock, not a gap (ffmpeg's dts_delta_threshold)
JITTER_S = 0.5  # a step back by less is a muxer's glitch, not a new piece of timeline


def video_stream(container: av.container.Container) -> av.video.stream.VideoStream | None:
    """The container's video: its first video stream that is not an attached picture (the cover art of an
    MP3 or M4A, a Matroska file's poster), which holds one image, not moving pictures; None if none."""
    return next((s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None)


def pixel_aspect(stream: Any) -> Fraction:
    """How much wider than tall a stored pixel of `stream` is shown (its sample aspect ratio): a DVD's
    720x480 at 32:27 shows as 853x480, an HDV broadcast's 1440x1080 at 4:3 as 1920x1080. The container's
    value, else the bitstream's; 1 where neither is set, where the value is absurd, and where it is within
    1 % of square (an encoder's rounding, such as 2706:2705: not worth scaling every frame for)."""
    for value in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if value and Fraction(1, 5) <= value <= 5:
            return Fraction(value) if abs(value - 1) > Fraction(1, 100) else Fraction(1)
    return Fraction(1)


def top_field(frame: Any, width: int, height: int) -> np.ndarray:
    """An interlaced frame's top field (its even lines) as RGB, scaled to `width` x `height`. Its two fields
    are 1/50 or 1/60 s apart, so anything that moves (a news ticker, scrolling credits, a passing car) is
    combed where both are shown at once, and OCR misreads combed text ("EREAKNG NENS" for "BREAKING
    NEWS"). One field is one moment; it has half the lines, which the text and picture models, reading at
    most 1280 px, do not miss."""
    import cv2

    lines = frame.to_ndarray(format="rgb24", width=width, height=frame.height)  # widths scaled only: lines kept
    field = lines[::2]
    return cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR if height > len(field) else cv2.INTER_AREA)


SIDE_TRACK = av.stream.Disposition.comment | av.stream.Disposition.descriptions | av.stream.Disposition.visual_impaired | av.stream.Disposition.karaoke


def audio_stream(container: av.container.Container) -> av.audio.stream.AudioStream | None:
    """The container's main audio, if any: of its tracks that are not a commentary, an audio description
    for the blind or karaoke (SIDE_TRACK), the one marked default, else the first; where all are such, the
    first. A film with a director's commentary as its first track was heard as the commentary."""
    tracks = list(container.streams.audio)
    main = [s for s in tracks if not s.disposition & SIDE_TRACK] or tracks
    return next((s for s in main if s.disposition & av.stream.Disposition.default), main[0] if main else None)


def demuxed(container: av.container.InputContainer, *streams: Any, name: str) -> Iterator[av.Packet]:
    """container.demux(*streams), to its end; `name` is what log lines call the input (a live source's URL
    with its password masked: never container.name). PyAV 18 raises IndexError after the last packet where the
    demuxer found a stream after the file was opened (an MPEG-TS programme whose subtitles start late, or a
    stream read from damaged bytes): its final flush counts the new stream but not its list of streams. By
    then every packet, and the flush packets of the streams asked for, have been given."""
    try:
        yield from container.demux(*streams)
    except IndexError:
        log.warning("%s: a stream appeared after the start; reading ended at the end of the file", name)


def decoded(container: av.container.InputContainer, *streams: Any, name: str) -> Iterator[av.frame.Frame]:
    """container.decode(*streams), to its end (see demuxed), past damage, on an unbroken clock. A packet the
    decoder refuses as invalid data (bit rot, a broken transmission) is skipped and decoding goes on with the
    next, as players do: it had ended the reading, losing every picture and word after the first bad packet.
    In formats whose clock may jump, frames are timed on the clock UnbrokenClock mends."""
    refused = 0
    clock = UnbrokenClock(name) if jumpy(container) else None
    for packet in demuxed(container, *streams, name=name):
        if clock is not None:
            clock.mend(packet)
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            refused += 1
            continue
        yield from frames
    if refused:
        log.warning("%s: skipped %d damaged packets the decoder refused", name, refused)


def jumpy(container: av.container.InputContainer) -> bool:
    """Whether the container's format allows its clock to jump (MPEG-TS, HLS)."""
    return bool(container.format.flags & TS_DISCONT)


class UnbrokenClock:
    """One unbroken timeline for a format whose clock may jump (MPEG-TS: two recordings joined into one
    file, a broadcast whose clock was reset, a damaged timestamp; HLS: a #EXT-X-DISCONTINUITY).

    A packet that decodes earlier than its stream's last one, or more than `jump_s` later than its next was
    due, starts a new piece of that stream: it and the stream's packets after it move to follow on from what
    came before (as ffmpeg's command line does for these formats). Each stream moves by its own jump, because
    the demuxer may still hand over one stream's last packets before the jump after another's first after
    it. A single packet with a wild timestamp is two jumps, there and back: it lands where it was due."""

    def __init__(self, name: str = "", *, jump_s: float = TIMESTAMP_JUMP_S, quiet: bool = False) -> None:
        self.name = name
        self.jump_s = jump_s
        self.quiet = quiet  # no warning per jump (a second reading of the same file)
        self._offsets: dict[int, float] = {}  # per stream: how far its packets move, in seconds
        self._due: dict[int, float] = {}  # per stream: when its next packet decodes, on the unbroken timeline

    def offset_s(self, stream: Any, raw_s: float, step_s: float = 0.0) -> float:
        """How far a packet of `stream` that decodes at `raw_s` (and lasts `step_s`) moves."""
        key = id(stream)
        offset_s = self._offsets.get(key, 0.0)
        expected = self._due.get(key)
        if expected is not None and not expected - JITTER_S <= raw_s + offset_s <= expected + self.jump_s:
            if not self.quiet:
                log.warning("%s: its %s clock jumps from %.2f to %.2f s; what follows is kept after %.2f s", self.name, stream.type, expected - offset_s, raw_s, expected
                )
            offset_s = self._offsets[key] = expected - raw_s
        self._due[key] = raw_s + offset_s + step_s
        return offset_s

    def sane_pts(self, pts: int | None, dts: int | None, tick: float) -> int | None:
        """`pts`, or `dts` where `pts` is more than `jump_s` after it or before it (damage: a frame shows
        within a few frames of when it decodes, never before)."""
        if pts is not None and dts is not None and not -JITTER_S <= (pts - dts) * tick <= self.jump_s:
            return dts
        return pts

    def mend(self, packet: av.Packet) -> None:
        """Move `packet`'s timestamps onto the unbroken timeline (packets without one stay as they are). A
        presentation time more than `jump_s` from the packet's decoding time is damage (frames show within
        a few frames of decoding): it is shown when it decodes."""
        tick = float(packet.time_base)
        packet.pts = self.sane_pts(packet.pts, packet.dts, tick)
        ticks_at = packet.dts if packet.dts is not None else packet.pts
        if ticks_at is None:
            return
        offset_s = self.offset_s(packet.stream, ticks_at * tick, float((packet.duration or 0) * tick))
        if offset_s:
            ticks = round(offset_s / tick)
            if packet.pts is not None:
                packet.pts += ticks
            if packet.dts is not None:
                packet.dts += ticks
