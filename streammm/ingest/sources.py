"""Where segments come from: a file, or a live URL (RTSP, HLS, RTMP, SRT) that is reopened whenever it drops."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from streammm.errors import ConfigError, MediaError
from streammm.media.captions import overlapping, read_captions
from streammm.media.probe import check_file
from streammm.media.segments import LiveRead, iter_segments
from streammm.media.urls import mask_url, split_credentials
from streammm.records import Segment, stream_id_problem

log = logging.getLogger(__name__)
LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "srt://", "udp://")


def is_live(source: str) -> bool:
    return source.lower().startswith(LIVE_SCHEMES)


def stream_id_for(source: str) -> tuple[str, str]:
    """`PATH=ID` names the stream; otherwise a file's name without its extension (or the URL's last part).
    ConfigError for an id that cannot name a stream (records.stream_id_problem)."""
    head, sep, tail = source.rpartition("=")
    if sep and head and re.fullmatch(r"[\w.-]+", tail) and "?" not in source:
        return head, checked_stream_id(tail, source)
    if is_live(source):
        last = source.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        return source, checked_stream_id(re.sub(r"\.(m3u8|sdp)$", "", last) or "live", source)
    return source, checked_stream_id(Path(source).stem, source)


def checked_stream_id(stream_id: str, source: str) -> str:
    problem = stream_id_problem(stream_id)
    if problem is not None:
        raise ConfigError(f"{mask_url(source)}: {problem}")
    return stream_id


def file_segments(
    path: str, stream_id: str, segment_s: float, *, max_file_mb: int | None = None, max_keyframe_gap_s: float | None = 5.0
) -> Iterator[Segment]:
    """A file's segments, each with the cues of its subtitles shown during it (Segment.captions); every
    segment of a file with subtitles says so in its run (IngestRun.has_captions)."""
    check_file(path, max_file_mb=max_file_mb)
    cues = read_captions(path)
    for segment in iter_segments(path, stream_id, segment_s, max_keyframe_gap_s=max_keyframe_gap_s):
        if cues:
            shown = overlapping(cues, segment.start_s, segment.end_s, first=segment.seq == 0, last=segment.last)
            segment = replace(segment, captions=shown, run=replace(segment.run, has_captions=True))
        yield segment


SourceEvents = Callable[..., None]  # (state, *, error=None, gap_s=None, what=None): each state change


def rtsp_options(url: str, transport: str = "tcp") -> dict[str, str]:
    """FFmpeg's options for opening `url`: RTSP over interleaved TCP by default (UDP loses packets in any
    burst, e.g. a camera's catch-up after a stall)."""
    if url.lower().startswith(("rtsp://", "rtsps://")):
        return {"rtsp_transport": transport}
    return {}


def live_segments(
    url: str,
    stream_id: str,
    segment_s: float,
    stop: threading.Event,
    *,
    max_backoff_s: float = 5.0,
    start_s: float = 0.0,
    read_timeout_s: float = 15.0,
    rtsp_transport: str = "tcp",
    max_reconnects: int | None = None,
    events: SourceEvents | None = None,
) -> Iterator[Segment]:
    """Segments of a live source until it really ends or `stop` is set; a drop is never an end.

    Each connection is its own ingest run: its segments are numbered from 0, its last is marked `last`
    (so its windows and buffered speech are flushed), and it is placed on the stream's timeline by the wall
    clock: the seconds between the last packet of one connection and the first of the next are a gap
    (no media, so no clips), never squeezed out. The first connection starts at `start_s`.

    EOF, a read error, a stall of `read_timeout_s` or a refused connection: reconnect with exponential
    backoff (1 s doubling up to `max_backoff_s`), for ever unless `max_reconnects` attempts in a row fail
    (then MediaError). Only an HLS playlist that says it has ended (#EXT-X-ENDLIST) or `stop` ends it; on
    `stop` the connection's buffered media is still given out. Each state change is logged once, with the
    URL's password masked, and passed to `events`.
    """
    name = mask_url(url)
    report = events or (lambda state, **info: None)
    base_s, backoff_s, failures = start_s, 1.0, 0
    last_end_s: float | None = None  # the previous connection's end on the timeline
    last_media_at: float | None = None  # and when its last packet came (monotonic)
    log.info("stream %s: connecting to %s", stream_id, name)
    report("connecting")
    while not stop.is_set():
        live = LiveRead(options=rtsp_options(url, rtsp_transport))
        started_at = time.time()
        sent = 0
        reason = None
        try:
            for segment in iter_segments(url, stream_id, segment_s, max_keyframe_gap_s=None, timeout_s=read_timeout_s, live=live, stop=stop):
                if sent == 0:
                    gap_s = None
                    if last_end_s is not None and last_media_at is not None and live.first_packet_at is not None:
                        gap_s = max(0.0, live.first_packet_at - last_media_at)
                        base_s = round(last_end_s + gap_s, 3)
                    what = f"{segment.video_codec or 'no video'} + {segment.audio_codec or 'no audio'}"
                    if gap_s is None:
                        log.info("stream %s: live (%s, %s) from %.1f s on its timeline", stream_id, name, what, base_s)
                    else:
                        log.info("stream %s: live again after a gap of %.1f s (%s), at %.1f s on its timeline", stream_id, gap_s, what, base_s)
                    report("live", gap_s=gap_s, what=what)
                    failures, backoff_s = 0, 1.0
                sent += 1
                shifted = replace(
                    segment, start_s=round(base_s + segment.start_s, 4), run=replace(segment.run, started_at=started_at, live=True, paced=True)
                )
                last_end_s = shifted.end_s
                yield shifted
            if sent:
                last_media_at = live.last_packet_at
            if live.untimed_packets or live.skipped_segments:
                log.info(
                    "stream %s: %d packets without a timestamp (or before the first keyframe) dropped, %d segments skipped",
                    stream_id, live.untimed_packets, live.skipped_segments,
                )
            if stop.is_set():
                break
            if live.error is None and live.format_name == "hls" and sent and playlist_ended(url):
                log.info("stream %s: ended (the playlist says so)", stream_id)
                report("ended")
                return
            if live.error is None and sent and _is_file_over_http(url, live):
                log.info("stream %s: ended (a file over HTTP, read to its end)", stream_id)
                report("ended")
                return
            reason = live.error or ("the source closed the connection" if sent else "it sent no media")
        except MediaError as exc:
            reason = str(exc).replace(f"{name}: ", "", 1)
            if "Protocol not found" in reason:  # no reconnect can help: FFmpeg was built without it
                scheme = url.split("://", 1)[0]
                why = f"this FFmpeg (PyAV's) cannot read {scheme}:// URLs; relay the stream as RTSP, RTMP or HLS"
                log.error("stream %s: %s", stream_id, why)
                report("failed", error=why)
                raise MediaError(f"{name}: {why}") from None
        failures += 1
        if max_reconnects is not None and failures > max_reconnects:
            log.error("stream %s: gave up after %d reconnects in a row (%s)", stream_id, max_reconnects, reason)
            report("failed", error=reason)
            raise MediaError(f"{name}: gave up after {max_reconnects} reconnects in a row ({reason})", retriable=True)
        if sent:
            log.warning("stream %s: dropped (%s)", stream_id, reason)
            log.info("stream %s: reconnecting in %.0f s", stream_id, backoff_s)
        else:
            log.warning("stream %s: cannot connect (%s); reconnecting in %.0f s", stream_id, reason, backoff_s)
        report("reconnecting", error=reason, retry_in_s=backoff_s)
        stop.wait(backoff_s)
        backoff_s = min(max_backoff_s, backoff_s * 2)
    log.info("stream %s: stopped", stream_id)
    report("stopped")


def _is_file_over_http(url: str, live: LiveRead) -> bool:
    """A media file fetched over HTTP (not a playlist, not a stream): it has a length, and its end is one."""
    return url.lower().startswith(("http://", "https://")) and live.format_name not in ("hls", "mpegts", "flv") and live.advertised_s > 0


def playlist_ended(url: str, timeout_s: float = 5.0) -> bool:
    """Whether an HLS playlist (the first variant of a master playlist) carries #EXT-X-ENDLIST: the one
    explicit end a live source can give. Unreadable: not ended (a drop)."""
    import base64
    import urllib.parse
    import urllib.request

    try:
        url, user, password = split_credentials(url)  # urllib cannot take them from the URL
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"} if user is not None else {}
        for _ in range(2):
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=timeout_s) as reply:  # noqa: S310 (the source's own URL)
                text = reply.read(4_000_000).decode("utf-8", "replace")
            if "#EXT-X-ENDLIST" in text:
                return True
            lines = text.splitlines()
            variants = [lines[i + 1].strip() for i, line in enumerate(lines[:-1]) if line.startswith("#EXT-X-STREAM-INF")]
            if not variants:
                return False
            url = urllib.parse.urljoin(url, variants[0])
    except (OSError, ValueError):
        return False
    return False

