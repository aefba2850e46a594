"""Cut a media file or live source into ~2 s independently decodable segments.

The fast path remuxes: cuts fall on video keyframes (any audio packet for audio-only media) and each
segment is a small Matroska file whose timestamps start at its cut; `Segment.start_s` puts them back on
the stream's timeline. Codecs Matroska cannot carry go into NUT instead. Where neither works, or where the
video's keyframes are too far apart for ~`segment_s` cuts (long GOP), the input is re-encoded
(media/transcode.py): H.264 (MJPEG for odd sizes) and 16 kHz mono PCM, cut every `segment_s`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av

from streammm.errors import MediaError
from streammm.media.muxing import CONTAINER, TimedPacket, choose_container, clock_start, describe, failure_reason, mux
from streammm.media.reading import UnbrokenClock, audio_stream, demuxed, jumpy, video_stream
from streammm.media.urls import mask_url
from streammm.records import IngestRun, Segment

log = logging.getLogger(__name__)
@dataclass
class LiveRead:
    """How one connection to a live source went, filled in while its segments are read.

    A live connection never raises for a read that fails: its segments so far (the partial last one
    included) are all given out, the last marked `last`, and `error` says why it stopped."""

    options: dict[str, str] = field(default_factory=dict)  # FFmpeg options for opening (rtsp_transport, ...)
    format_name: str = ""
    advertised_s: float = 0.0  # the duration the source claims (never used as its end)
    first_packet_at: float | None = None  # time.monotonic() of the first packet
    last_packet_at: float | None = None  # time.monotonic() of the newest packet
    error: str | None = None  # why reading stopped; None: the source ended it (EOF) or `stop` was set
    untimed_packets: int = 0  # dropped: no timestamp, or before the first keyframe
    skipped_segments: int = 0  # could not be muxed (logged)


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
    live: LiveRead | None = None,
    stop: threading.Event | None = None,
) -> Iterator[Segment]:
    """The source's segments in order; the last has `last=True`.

    Keyframes further apart than `max_keyframe_gap_s` (None: never check; live sources are not checked)
    make the input re-encode. `timeout_s` bounds opening and each read (live sources).

    With `live`, the input is one connection to a live source: its clock starts at its first keyframe
    (nothing before it is kept; a keyframe that comes without a timestamp gets one from the frames after it),
    packets without a timestamp are dropped, the source's advertised duration is ignored, and a read that
    fails or `stop` ends the connection's segments cleanly (see LiveRead).
    """
    from streammm.media.transcode import reencoded_segments

    name = mask_url(str(path))
    container = open_input(path, timeout_s=timeout_s, options=live.options if live is not None else None)
    with container:
        streams = [s for s in (video_stream(container), audio_stream(container)) if s is not None]
        if not streams:
            raise MediaError(f"{name}: no audio or video stream")
        what = describe(streams)
        has_video = any(s.type == "video" for s in streams)
        run = IngestRun(has_video=has_video, has_audio=any(s.type == "audio" for s in streams))
        origin_s = (container.start_time or 0) / av.time_base
        duration_s = (container.duration or 0) / av.time_base if live is None else 0.0  # a live source's is not its end
        if live is not None:
            live.format_name = container.format.name
            live.advertised_s = (container.duration or 0) / av.time_base
            max_keyframe_gap_s = None
        why = None
        if has_video and max_keyframe_gap_s is not None:
            gap_s = longest_keyframe_gap_s(path)
            if gap_s > max_keyframe_gap_s:
                why = f"its video keyframes are up to {gap_s:.1f} s apart (media.max_keyframe_gap_s={max_keyframe_gap_s:g})"
        if why is None:
            if live is not None:
                packets = _live_packets(container, streams, name, live, stop)
            else:
                packets = _timed_packets(container, streams, origin_s, name, live=timeout_s is not None)
            if jumpy(container):
                packets = continuous_times(packets, name)
            groups = _from_zero(plan_cuts(packets, segment_s, has_video))
            first = next(groups, None)
            if first is None:
                return
            fmt, data, why = choose_container(first, streams)
            if fmt is not None:
                if fmt != CONTAINER:
                    log.warning("%s: %s cannot go into %s segments; its segments are %s (remuxed, not re-encoded)", name, what, CONTAINER, fmt)
                yield from _remuxed(stream_id, first, data, groups, streams, fmt, duration_s, run, live=live, name=name)
                return
    log.warning("%s: %s; its segments are re-encoded (%s)", name, why, what)
    yield from reencoded_segments(path, stream_id, segment_s, timeout_s=timeout_s)


def _from_zero(groups: Iterator[tuple[float, list[TimedPacket]]]) -> Iterator[tuple[float, list[TimedPacket]]]:
    """No segment starts before 0 on the stream's timeline: what comes before (an audio codec's priming, frames
    an edit list hides) stays in the first segment at negative times, where decoders drop it."""
    for start_s, items in groups:
        yield max(0.0, start_s), items


def open_input(path: str | Path, *, timeout_s: float | None = None, options: dict[str, str] | None = None) -> av.container.InputContainer:
    try:
        if timeout_s is not None:
            return av.open(str(path), timeout=(timeout_s, timeout_s), options=options or {})
        return av.open(str(path), options=options or {})
    except av.error.FFmpegError as exc:
        raise MediaError(f"{mask_url(str(path))}: not a readable media file ({_stalled(exc, timeout_s)})") from None


def _stalled(exc: BaseException, timeout_s: float | None = None) -> str:
    if isinstance(exc, av.error.ExitError):  # PyAV's timeout interrupts FFmpeg's I/O
        return f"nothing arrived for {timeout_s:g} s" if timeout_s else "nothing arrived within ingest.read_timeout_s"
    return failure_reason(exc)


def longest_keyframe_gap_s(path: str | Path) -> float:
    """The longest stretch between video keyframes (or from the last one to the end), by demuxing only."""
    try:
        with av.open(str(path)) as container:
            stream = video_stream(container)
            if stream is None:
                return 0.0
            times = []
            end_s = 0.0
            clock = UnbrokenClock(quiet=True) if jumpy(container) else None  # the segments' reading logs the jumps
            for packet in demuxed(container, stream, name=mask_url(str(path))):
                if clock is not None:
                    clock.mend(packet)
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


def _remuxed(stream_id, first, first_data, groups, streams, fmt, duration_s, run, *, live=None, name="") -> Iterator[Segment]:  # type: ignore[no-untyped-def]
    previous, data = first, first_data
    seq = 0
    for group in groups:
        muxed = _mux_or_skip(group, streams, fmt, live, name)
        if muxed is None:
            continue  # the segment before it spans the hole, so the last one is always marked
        yield _segment(stream_id, seq, previous, group[0], data, fmt, streams, last=False, run=run)
        seq += 1
        previous, data = group, muxed
    end_s = max(duration_s, max(p.time_s + p.duration_s for p in previous[1]))
    yield _segment(stream_id, seq, previous, end_s, data, fmt, streams, last=True, run=run)


def _mux_or_skip(group: tuple[float, list[TimedPacket]], streams: list[Any], fmt: str, live: LiveRead | None, name: str) -> bytes | None:
    """A segment, or None (logged) where these packets cannot be muxed (a live source's glitch, a file's
    damaged bytes): one bad segment is a 2 s hole, never the end of the stream (a file's had ended its
    reading, and its publisher's retries failed at the same place)."""
    try:
        return mux(group[1], streams, group[0], fmt=fmt)
    except (av.error.FFmpegError, MediaError, ValueError, KeyError, IndexError, TypeError) as exc:
        if live is not None:
            live.skipped_segments += 1
        log.warning("%s: the segment at %.1f s could not be muxed (%s); skipped", name, group[0], failure_reason(exc))
        return None


def _live_packets(
    container: av.container.InputContainer, streams: list[Any], name: str, live: LiveRead, stop: threading.Event | None
) -> Iterator[TimedPacket]:
    """One live connection's packets on a clock that starts at its first keyframe (first audio packet
    without video). Untimed packets are dropped; a keyframe without a timestamp gets the one its following
    frames imply. Ends (never raises) when reading fails or `stop` is set; `live.error` says why."""
    has_video = any(s.type == "video" for s in streams)
    origin: float | None = None
    held: list[Any] = []  # from a first keyframe that came without a timestamp, until one can be inferred
    early: list[Any] = []  # audio demuxed before the first keyframe (it may belong after it)
    try:
        for packet in demuxed(container, *streams, name=name):
            live.last_packet_at = time.monotonic()
            if live.first_packet_at is None:
                live.first_packet_at = live.last_packet_at
            if stop is not None and stop.is_set():
                return
            if packet.size == 0:
                continue
            kind = packet.stream.type
            if origin is None:
                starts = (packet.is_keyframe and kind == "video") if has_video else kind == "audio"
                if starts and _time_of(packet) is not None:
                    origin = float(_time_of(packet) * packet.time_base)
                    live.untimed_packets += len(held)
                    waiting, held, early = early, [], []
                    for item in filter(None, (_live_item(p, origin) for p in waiting)):
                        if item.time_s >= -1e-6:
                            yield item
                elif starts:
                    held = [packet]
                    continue
                elif held:
                    held.append(packet)
                    inferred = _infer_keyframe_time(held)
                    if inferred is None:
                        if len(held) > 300:
                            live.untimed_packets += len(held)
                            held = []
                        continue
                    origin = inferred
                    first, *rest = held
                    held = []
                    yield _live_item(first, origin, pts=int(round(origin / first.time_base)))  # type: ignore[misc]
                    for waiting_packet in early + rest:
                        item = _live_item(waiting_packet, origin)
                        if item is None or item.time_s < -1e-6:
                            live.untimed_packets += 1
                        else:
                            yield item
                    early = []
                    continue
                elif kind == "audio":
                    early = (early + [packet])[-200:]
                    continue
                else:
                    live.untimed_packets += 1  # video before the first keyframe: nothing decodes from it
                    continue
            item = _live_item(packet, origin)
            if item is None or item.time_s < -1e-6:
                live.untimed_packets += 1
                continue
            yield item
    except av.error.FFmpegError as exc:
        live.error = f"reading stopped ({_stalled(exc)})"


def _time_of(packet: Any) -> int | None:
    return packet.pts if packet.pts is not None else packet.dts


def _live_item(packet: Any, origin_s: float, *, pts: int | None = None) -> TimedPacket | None:
    ts = pts if pts is not None else _time_of(packet)
    if ts is None:
        return None
    duration = float(packet.duration * packet.time_base) if packet.duration else 0.0
    return TimedPacket(
        packet.stream.type, float(ts * packet.time_base) - origin_s, bool(packet.is_keyframe), packet, ts, None, packet.stream,
        origin_s=origin_s, duration_s=duration,
    )


def _infer_keyframe_time(held: list[Any]) -> float | None:
    """The time of a keyframe that came without one (held[0]), from the video frames after it: one frame
    step before the earliest of them (frames that follow a keyframe in decoding order show after it)."""
    keyframe = held[0]
    times = sorted(p.pts for p in held[1:] if p.stream is keyframe.stream and p.pts is not None)
    if len(times) < 4:
        return None
    steps = [b - a for a, b in zip(times, times[1:]) if b > a]
    if not steps:
        return None
    return float(max(0, times[0] - min(steps)) * keyframe.time_base)


def _timed_packets(
    container: av.container.InputContainer, streams: list[Any], origin_s: float, path: str | Path = "", *, live: bool = False
) -> Iterator[TimedPacket]:
    """A file that breaks off ends where it breaks; a live source that stalls or drops raises MediaError
    (its caller reconnects)."""
    try:
        for packet in demuxed(container, *streams, name=str(path)):
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
        log.warning("%s: demuxing stopped early: %s", path, failure_reason(exc))


def continuous_times(items: Iterable[TimedPacket], name: str = "") -> Iterator[TimedPacket]:
    """`items` on one unbroken timeline (see UnbrokenClock): without this, everything after an MPEG-TS or
    HLS clock reset landed on the seconds before it and was lost."""
    clock = UnbrokenClock(name)
    for item in items:
        tick = float(item.stream.time_base)
        raw_s = (item.dts if item.dts is not None else item.pts) * tick  # type: ignore[operator]
        step_s = item.duration_s or (float(item.packet.duration * tick) if item.packet is not None and item.packet.duration else 0.0)
        offset_s = clock.offset_s(item.stream, raw_s, step_s)
        pts = clock.sane_pts(item.pts, item.dts, tick)
        if offset_s or pts != item.pts:
            ticks = round(offset_s / tick)
            mended_s = (pts - item.pts) * tick if pts is not None and item.pts is not None else 0.0  # time_s is from the pts
            item = replace(
                item,
                time_s=item.time_s + offset_s + mended_s,
                pts=None if pts is None else pts + ticks,
                dts=None if item.dts is None else item.dts + ticks,
            )
        yield item


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
