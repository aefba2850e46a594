"""Cut a media file or live source into ~2 s independently decodable segments.

The fast path remuxes: cuts fall on video keyframes (any audio packet for audio-only media) and each
segment is a small Matroska file whose timestamps start at its cut; `Segment.start_s` puts them back on
the stream's timeline. Codecs Matroska cannot carry go into NUT instead. Where neither works, or where the
video's keyframes are too far apart for ~`segment_s` cuts (long GOP), the input is re-encoded
(media/transcode.py): H.264 (MJPEG for odd sizes) and 16 kHz mono PCM, cut every `segment_s`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from streammm.errors import MediaError
from streammm.records import IngestRun, Segment

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


def plan_cuts(packets: Iterable[TimedPacket], segment_s: float, has_video: bool) -> Iterator[tuple[float, list[TimedPacket]]]:
    """Group packets into segments: yields (start_s, packets) in order; every packet lands in exactly one.

    A segment ends at the first keyframe at least `segment_s` after its start. Audio packets go by their
    own time, so audio that the demuxer interleaves late still joins the segment it belongs to.
    """
    start_s: float | None = None
    current: list[TimedPacket] = []
    pending_cut: float | None = None
    after_cut: list[TimedPacket] = []
    for item in packets:
        if start_s is None:
            start_s = item.time_s
        cuts_here = item.keyframe if has_video else item.kind == "audio"
        if (
            pending_cut is None
            and cuts_here
            and (item.kind == "video" or not has_video)
            and item.time_s - start_s >= segment_s - 1e-6
        ):
            pending_cut = item.time_s
        if pending_cut is None:
            current.append(item)
            continue
        if item.kind == "audio" and item.time_s < pending_cut:
            current.append(item)  # late audio of the segment being closed
        else:
            after_cut.append(item)
        audio_caught_up = not any(p.kind == "audio" for p in current + after_cut) or any(
            p.kind == "audio" and p.time_s >= pending_cut for p in after_cut
        )
        if audio_caught_up:
            yield start_s, current
            start_s, current, pending_cut, after_cut = pending_cut, after_cut, None, []
    if start_s is not None and (current or after_cut):
        if pending_cut is not None:
            yield start_s, current
            start_s, current = pending_cut, after_cut
        yield start_s, current


def iter_segments(
    path: str | Path,
    stream_id: str,
    segment_s: float = 2.0,
    *,
    max_keyframe_gap_s: float | None = 5.0,
    timeout_s: float | None = None,
) -> Iterator[Segment]:
    """The source's segments in order; the last has `last=True`.

    Keyframes further apart than `max_keyframe_gap_s` (None: never check; live sources are not checked)
    make the input re-encode. `timeout_s` bounds opening and each read (live sources).
    """
    from streammm.media.transcode import reencoded_segments

    container = open_input(path, timeout_s=timeout_s)
    with container:
        streams = [s for s in (container.streams.video[:1] + container.streams.audio[:1])]
        if not streams:
            raise MediaError(f"{path}: no audio or video stream")
        what = describe(streams)
        has_video = any(s.type == "video" for s in streams)
        run = IngestRun(has_video=has_video, has_audio=any(s.type == "audio" for s in streams))
        origin_s = (container.start_time or 0) / av.time_base
        duration_s = (container.duration or 0) / av.time_base
        why = None
        if has_video and max_keyframe_gap_s is not None:
            gap_s = longest_keyframe_gap_s(path)
            if gap_s > max_keyframe_gap_s:
                why = f"its video keyframes are up to {gap_s:.1f} s apart (media.max_keyframe_gap_s={max_keyframe_gap_s:g})"
        if why is None:
            packets = _timed_packets(container, streams, origin_s, path, live=timeout_s is not None)
            groups = _from_zero(plan_cuts(packets, segment_s, has_video))
            first = next(groups, None)
            if first is None:
                return
            fmt, data, why = choose_container(first, streams)
            if fmt is not None:
                if fmt != CONTAINER:
                    log.warning("%s: %s cannot go into %s segments; its segments are %s (remuxed, not re-encoded)", path, what, CONTAINER, fmt)
                yield from _remuxed(stream_id, first, data, groups, streams, fmt, duration_s, run)
                return
    log.warning("%s: %s; its segments are re-encoded (%s)", path, why, what)
    yield from reencoded_segments(path, stream_id, segment_s, timeout_s=timeout_s)


def _from_zero(groups: Iterator[tuple[float, list[TimedPacket]]]) -> Iterator[tuple[float, list[TimedPacket]]]:
    """No segment starts before 0 on the stream's timeline: what comes before (an audio codec's priming, frames
    an edit list hides) stays in the first segment at negative times, where decoders drop it."""
    for start_s, items in groups:
        yield max(0.0, start_s), items


def open_input(path: str | Path, *, timeout_s: float | None = None) -> av.container.InputContainer:
    try:
        if timeout_s is not None:
            return av.open(str(path), timeout=(timeout_s, timeout_s))
        return av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: not a readable media file ({_stalled(exc, timeout_s)})") from None


def _stalled(exc: BaseException, timeout_s: float | None = None) -> str:
    if isinstance(exc, av.error.ExitError):  # PyAV's timeout interrupts FFmpeg's I/O
        return f"nothing arrived for {timeout_s:g} s" if timeout_s else "nothing arrived within ingest.read_timeout_s"
    return _reason(exc)


def describe(streams: list[Any]) -> str:
    """`video h264 + audio aac`: what a stream list holds, for messages."""
    return " + ".join(f"{s.type} {s.codec_context.name}" for s in streams)


def longest_keyframe_gap_s(path: str | Path) -> float:
    """The longest stretch between video keyframes (or from the last one to the end), by demuxing only."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            times = []
            end_s = 0.0
            for packet in container.demux(stream):
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    continue
                t = float(ts * packet.time_base)
                end_s = max(end_s, t)
                if packet.is_keyframe:
                    times.append(t)
    except av.error.FFmpegError:
        return 0.0  # the real reading reports the damage
    if not times:
        return end_s
    times.sort()
    return max([b - a for a, b in zip(times, times[1:])] + [end_s - times[-1]])


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
            reasons.append(f"{fmt}: {_reason(exc)}")
    return None, b"", f"{describe(streams)} cannot be remuxed into segments ({'; '.join(reasons)})"


def check_decodable(data: bytes, kinds: set[str]) -> None:
    """MediaError unless `data` gives at least one decoded frame of each kind."""
    seen: set[str] = set()
    with av.open(io.BytesIO(data)) as container:
        streams = [s for s in container.streams if s.type in kinds]
        if {s.type for s in streams} != kinds:
            raise MediaError(f"the segment lost its {' and '.join(sorted(kinds - {s.type for s in streams}))} stream")
        for frame in container.decode(*streams):
            seen.add("video" if isinstance(frame, av.VideoFrame) else "audio")
            if seen >= kinds:
                return
    raise MediaError(f"no {' or '.join(sorted(kinds - seen))} frame decodes from the segment")


def _remuxed(stream_id, first, first_data, groups, streams, fmt, duration_s, run) -> Iterator[Segment]:  # type: ignore[no-untyped-def]
    previous, data = first, first_data
    seq = 0
    for group in groups:
        yield _segment(stream_id, seq, previous, group[0], data, fmt, streams, last=False, run=run)
        seq += 1
        previous, data = group, mux(group[1], streams, group[0], fmt=fmt)
    end_s = max(duration_s, max(p.time_s for p in previous[1]))
    yield _segment(stream_id, seq, previous, end_s, data, fmt, streams, last=True, run=run)


def _timed_packets(
    container: av.container.InputContainer, streams: list[Any], origin_s: float, path: str | Path = "", *, live: bool = False
) -> Iterator[TimedPacket]:
    """A file that breaks off ends where it breaks; a live source that stalls or drops raises MediaError
    (its caller reconnects)."""
    try:
        for packet in container.demux(streams):
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None or packet.size == 0:
                continue
            yield TimedPacket(
                packet.stream.type, float(ts * packet.time_base) - origin_s, bool(packet.is_keyframe), packet, packet.pts, packet.dts,
                packet.stream,
            )
    except av.error.FFmpegError as exc:
        if live:
            raise MediaError(f"{path}: reading stopped ({_stalled(exc)})") from None
        log.warning("%s: demuxing stopped early: %s", path, _reason(exc))


def _segment(
    stream_id: str, seq: int, group: tuple[float, list[TimedPacket]], end_s: float, data: bytes, fmt: str, streams: list[Any],
    *, last: bool, run: IngestRun,
) -> Segment:
    start_s = clock_start(fmt, *group)
    codecs = {s.type: s.codec_context.name for s in streams}
    return Segment(
        stream_id=stream_id,
        seq=seq,
        start_s=round(start_s, 4) + 0.0,
        duration_s=round(max(0.0, end_s - start_s), 4),
        container=fmt,
        data=data,
        last=last,
        run=run,
        video_codec=codecs.get("video", ""),
        audio_codec=codecs.get("audio", ""),
    )


def clock_start(fmt: str, start_s: float, items: list[TimedPacket]) -> float:
    """Where a segment's clock starts: at its cut in Matroska; at its earliest packet in formats that cannot
    hold negative times."""
    return start_s if fmt == CONTAINER else min([start_s, *(i.time_s for i in items)])


def mux(items: list[TimedPacket], streams: list[Any], start_s: float, *, fmt: str = CONTAINER) -> bytes:
    """Write packets into an in-memory `fmt` file whose clock starts at `start_s`.

    Packets before `start_s` keep their negative times (Matroska carries them): a muxer that shifted them
    to zero would move every frame of the segment off the timeline. A format that cannot (NUT) starts its
    clock at its earliest packet instead, and the segment's start moves there with it.
    """
    start_s = clock_start(fmt, start_s, items)
    buffer = io.BytesIO()
    options = {"avoid_negative_ts": "disabled"} if fmt == CONTAINER else {}
    with av.open(buffer, "w", format=fmt, options=options) as output:
        out_streams = {s.index: output.add_stream_from_template(s) for s in streams}
        shifts: dict[int, int] = {}
        for item in items:
            packet = item.packet
            in_stream = item.stream if item.stream is not None else packet.stream
            shift = shifts.get(in_stream.index)
            if shift is None:
                shift = shifts[in_stream.index] = _ticks(start_s + (in_stream.container.start_time or 0) / av.time_base, in_stream.time_base)
            packet.time_base = in_stream.time_base  # an earlier try rebased the packet onto its output stream
            packet.pts = None if item.pts is None else item.pts - shift
            packet.dts = None if item.dts is None else item.dts - shift
            packet.stream = out_streams[in_stream.index]
            output.mux(packet)
    return buffer.getvalue()


def _ticks(seconds: float, time_base: Fraction) -> int:
    return int(round(Fraction(seconds).limit_denominator(1_000_000) / time_base))


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return (str(text).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")[:200]
