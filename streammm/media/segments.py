"""Remux a media file into ~2 s independently decodable segments, without re-encoding.

Cuts fall on video keyframes (any audio packet for audio-only media). Each segment is a small Matroska
file whose timestamps start at its cut; `Segment.start_s` puts them back on the stream's timeline.
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


@dataclass(frozen=True)
class TimedPacket:
    """A demuxed packet with what cutting needs to know about it."""

    kind: str  # "video" or "audio"
    time_s: float
    keyframe: bool
    packet: Any = None


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


def iter_segments(path: str | Path, stream_id: str, segment_s: float = 2.0) -> Iterator[Segment]:
    """The file's segments in order; the last has `last=True`."""
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: not a readable media file ({exc})") from None
    with container:
        streams = [s for s in (container.streams.video[:1] + container.streams.audio[:1])]
        if not streams:
            raise MediaError(f"{path}: no audio or video stream")
        has_video = any(s.type == "video" for s in streams)
        run = IngestRun(has_video=has_video, has_audio=any(s.type == "audio" for s in streams))
        origin_s = (container.start_time or 0) / av.time_base
        duration_s = (container.duration or 0) / av.time_base
        groups = plan_cuts(_timed_packets(container, streams, origin_s), segment_s, has_video)
        previous: tuple[float, list[TimedPacket]] | None = None
        seq = 0
        for group in groups:
            if previous is not None:
                yield _segment(stream_id, seq, previous, group[0], streams, last=False, run=run)
                seq += 1
            previous = group
        if previous is not None:
            end_s = max(duration_s, max(p.time_s for p in previous[1]))
            yield _segment(stream_id, seq, previous, end_s, streams, last=True, run=run)


def _timed_packets(container: av.container.InputContainer, streams: list[Any], origin_s: float) -> Iterator[TimedPacket]:
    try:
        for packet in container.demux(streams):
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None or packet.size == 0:
                continue
            yield TimedPacket(packet.stream.type, float(ts * packet.time_base) - origin_s, bool(packet.is_keyframe), packet)
    except av.error.FFmpegError as exc:
        log.warning("demuxing stopped early: %s", exc)


def _segment(
    stream_id: str, seq: int, group: tuple[float, list[TimedPacket]], end_s: float, streams: list[Any], *, last: bool, run: IngestRun
) -> Segment:
    start_s, items = group
    return Segment(
        stream_id=stream_id,
        seq=seq,
        start_s=round(start_s, 4) + 0.0,
        duration_s=round(max(0.0, end_s - start_s), 4),
        container=CONTAINER,
        data=mux(items, streams, start_s),
        last=last,
        run=run,
    )


def mux(items: list[TimedPacket], streams: list[Any], start_s: float) -> bytes:
    """Write packets into an in-memory Matroska file whose clock starts at `start_s`."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=CONTAINER) as output:
        out_streams = {s.index: output.add_stream_from_template(s) for s in streams}
        for item in items:
            packet = item.packet
            in_stream = packet.stream
            shift = _ticks(start_s + (in_stream.container.start_time or 0) / av.time_base, in_stream.time_base)
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = out_streams[in_stream.index]
            output.mux(packet)
    return buffer.getvalue()


def _ticks(seconds: float, time_base: Fraction) -> int:
    return int(round(Fraction(seconds).limit_denominator(1_000_000) / time_base))
