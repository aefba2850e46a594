"""Where segments come from: a file, or a live URL (RTSP, HLS) that is reopened when it drops."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from streammm.errors import MediaError
from streammm.media.probe import check_file
from streammm.media.segments import iter_segments
from streammm.records import Segment

log = logging.getLogger(__name__)
LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "srt://", "udp://")


def is_live(source: str) -> bool:
    return source.lower().startswith(LIVE_SCHEMES)


def stream_id_for(source: str) -> tuple[str, str]:
    """`PATH=ID` names the stream; otherwise a file's name without its extension (or the URL's last part)."""
    head, sep, tail = source.rpartition("=")
    if sep and head and re.fullmatch(r"[\w.-]+", tail) and "?" not in source:
        return head, tail
    if is_live(source):
        last = source.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        return source, re.sub(r"\.(m3u8|sdp)$", "", last) or "live"
    return source, Path(source).stem


def file_segments(
    path: str, stream_id: str, segment_s: float, *, max_file_mb: int | None = None, max_keyframe_gap_s: float | None = 5.0
) -> Iterator[Segment]:
    check_file(path, max_file_mb=max_file_mb)
    yield from iter_segments(path, stream_id, segment_s, max_keyframe_gap_s=max_keyframe_gap_s)


def live_segments(
    url: str,
    stream_id: str,
    segment_s: float,
    stop: threading.Event,
    *,
    max_backoff_s: float = 30.0,
    start_s: float = 0.0,
    read_timeout_s: float = 15.0,
) -> Iterator[Segment]:
    """Segments of a live source until it ends or `stop` is set; on a drop, reconnect with exponential backoff.

    Each connection's clock starts again at zero, so segments are shifted to continue the stream's
    timeline where the last connection ended; the first starts at `start_s`. A source that ends cleanly (an HLS playlist with an end,
    an RTSP session the server closed) ends the stream: its last segment is marked `last`. A source that
    accepts the connection but sends nothing for `read_timeout_s` (while opening or reading) counts as a drop.
    """
    seq, base_s, backoff_s = 0, start_s, 1.0
    held: Segment | None = None  # one segment of look-ahead, so the last one can be marked
    while not stop.is_set():
        connection_end_s = base_s
        try:
            for segment in iter_segments(url, stream_id, segment_s, max_keyframe_gap_s=None, timeout_s=read_timeout_s):
                if stop.is_set():
                    return
                shifted = replace(segment, seq=seq, start_s=round(base_s + segment.start_s, 4), last=False)
                connection_end_s = shifted.end_s
                seq += 1
                backoff_s = 1.0
                if held is not None:
                    yield held
                held = shifted
            if held is not None:
                log.info("live source %s ended", url)
                yield replace(held, last=True)
                return
            log.warning("live source %s sent nothing; reconnecting in %.0f s", url, backoff_s)
        except MediaError as exc:
            log.warning("live source %s dropped (%s); reconnecting in %.0f s", url, exc, backoff_s)
        base_s = connection_end_s
        stop.wait(backoff_s)
        backoff_s = min(max_backoff_s, backoff_s * 2)
    if held is not None:
        yield held
