"""Segments in memory: packets muxed into a small Matroska (or NUT) file whose clock starts at the segment's
cut, and a check that the file gives back decoded frames.

Matroska carries negative times, so packets before the cut keep theirs; codecs Matroska cannot carry go into
NUT, which starts its clock at its earliest packet instead (clock_start).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from streammm.errors import MediaError
from streammm.media.reading import decoded

log = logging.getLogger(__name__)
CONTAINER = "matroska"
CONTAINERS = ("matroska", "nut")  # tried in order; NUT carries nearly every codec FFmpeg has


@dataclass(frozen=True)
class TimedPacket:
    """A demuxed packet with what cutting needs to know about it."""

    kind: str  # "video" or "audio"
    time_s: float
    keyframe: bool
    packet: Any = None
    pts: int | None = None  # as demuxed (muxing writes shifted copies, so a retry starts from these)
    dts: int | None = None
    stream: Any = None  # the input stream it came from
    origin_s: float | None = None  # what time_s is counted from (None: the container's start time)
    duration_s: float = 0.0


def describe(streams: list[Any]) -> str:
    """`video h264 + audio aac`: what a stream list holds, for messages."""
    return " + ".join(f"{s.type} {s.codec_context.name}" for s in streams)


def choose_container(group: tuple[float, list[TimedPacket]], streams: list[Any]) -> tuple[str | None, bytes, str]:
    """The first segment container that carries these streams *and* gives back decodable frames, with the
    first segment in it; or None and why none does."""
    start_s, items = group
    reasons = []
    for fmt in CONTAINERS:
        try:
            data = mux(items, streams, start_s, fmt=fmt)
            check_decodable(data, {s.type for s in streams if any(i.kind == s.type for i in items)})
            return fmt, data, ""
        except (av.error.FFmpegError, MediaError, ValueError, KeyError, IndexError, TypeError) as exc:
            reasons.append(f"{fmt}: {failure_reason(exc)}")
    return None, b"", f"{describe(streams)} cannot be remuxed into segments ({'; '.join(reasons)})"


def check_decodable(data: bytes, kinds: set[str]) -> None:
    """MediaError unless `data` gives at least one decoded frame of each kind."""
    seen: set[str] = set()
    with av.open(io.BytesIO(data)) as container:
        streams = [s for s in container.streams if s.type in kinds]
        if {s.type for s in streams} != kinds:
            raise MediaError(f"the segment lost its {' and '.join(sorted(kinds - {s.type for s in streams}))} stream")
        for frame in decoded(container, *streams, name="a segment"):
            seen.add("video" if isinstance(frame, av.VideoFrame) else "audio")
            if seen >= kinds:
                return
    raise MediaError(f"no {' or '.join(sorted(kinds - seen))} frame decodes from the segment")


def clock_start(fmt: str, start_s: float, items: list[TimedPacket]) -> float:
    """Where a segment's clock starts: at its cut in Matroska; at its earliest packet in formats that cannot
    hold negative times."""
    return start_s if fmt == CONTAINER else min([start_s, *(i.time_s for i in items)])


def output_stream(output: Any, template: Any) -> Any:
    """A stream of `output` that carries `template`'s packets as they are. PyAV looks up an encoder by the
    decoder's name, and some decoders have none of theirs (AV1 is read by libdav1d): those copy the decoder's
    parameters instead, which is all muxing needs."""
    try:
        return output.add_stream_from_template(template)
    except av.codec.codec.UnknownCodecError:
        return output.add_stream_from_template(template, opaque=True)


def mux(items: list[TimedPacket], streams: list[Any], start_s: float, *, fmt: str = CONTAINER) -> bytes:
    """Write packets into an in-memory `fmt` file whose clock starts at `start_s`.

    Packets before `start_s` keep their negative times (Matroska carries them): a muxer that shifted them
    to zero would move every frame of the segment off the timeline. A format that cannot (NUT) starts its
    clock at its earliest packet instead, and the segment's start moves there with it. A packet the muxer
    refuses (damaged bytes: an MPEG-TS AAC frame whose header was hit) is left out, logged: it had failed
    the segment and, in a file, the whole stream. MediaError when it refuses them all.
    """
    start_s = clock_start(fmt, start_s, items)
    buffer = io.BytesIO()
    options = {"avoid_negative_ts": "disabled"} if fmt == CONTAINER else {}
    with av.open(buffer, "w", format=fmt, options=options) as output:
        out_streams = {s.index: output_stream(output, s) for s in streams}
        shifts: dict[int, int] = {}
        dts = decoding_times(items)
        refused, why = 0, ""
        for item in items:
            packet = item.packet
            in_stream = item.stream if item.stream is not None else packet.stream
            shift = shifts.get(in_stream.index)
            if shift is None:
                origin_s = item.origin_s if item.origin_s is not None else (in_stream.container.start_time or 0) / av.time_base
                shift = shifts[in_stream.index] = _ticks(start_s + origin_s, in_stream.time_base)
            packet.time_base = in_stream.time_base  # an earlier try rebased the packet onto its output stream
            packet.pts = None if item.pts is None else item.pts - shift
            packet.dts = None if dts[id(item)] is None else dts[id(item)] - shift
            packet.stream = out_streams[in_stream.index]
            try:
                output.mux(packet)
            except av.error.FFmpegError as exc:
                refused += 1
                why = failure_reason(exc)
    if refused:
        if refused == len(items):
            raise MediaError(f"{fmt} refused every packet of the segment ({why})")
        log.warning("the segment at %.2f s left out %d damaged packets its muxer refused (%s)", start_s, refused, why)
    return buffer.getvalue()


def decoding_times(items: list[TimedPacket]) -> dict[int, int | None]:
    """Each item's DTS (by id): its own where its stream's are all there and in order; otherwise (live
    sources: RTP carries no DTS, and B-frames put presentation times out of order) the smallest PTS from it
    on, which never decreases and never passes the packet's own PTS: what a muxer needs."""
    by_stream: dict[int, list[TimedPacket]] = {}
    for item in items:
        by_stream.setdefault(id(item.stream if item.stream is not None else item.packet.stream), []).append(item)
    result: dict[int, int | None] = {}
    for packets in by_stream.values():
        given = [p.dts for p in packets]
        ordered = all(d is not None for d in given) and all(a <= b for a, b in zip(given, given[1:]))  # type: ignore[operator]
        if ordered and all(p.pts is None or p.dts <= p.pts for p in packets):  # type: ignore[operator]
            result.update((id(p), p.dts) for p in packets)
            continue
        smallest: int | None = None
        for p in reversed(packets):
            if p.pts is not None:
                smallest = p.pts if smallest is None else min(smallest, p.pts)
            result[id(p)] = smallest if p.pts is not None else None
    return result


def _ticks(seconds: float, time_base: Fraction) -> int:
    return int(round(Fraction(seconds).limit_denominator(1_000_000) / time_base))


def failure_reason(exc: BaseException) -> str:
    """The first line of what FFmpeg (or Python) said went wrong, for a message."""
    text = getattr(exc, "strerror", None) or str(exc)
    return (str(text).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")[:200]
