"""Publish a source's segments to the segments topic, as fast as possible or at wall-clock pace."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import replace

from streammm.bus.codec import encode_segment
from streammm.bus.kafka import MB, OutMessage, send_all
from streammm.bus.topics import Topics
from streammm.config import Settings
from streammm.ingest.sources import file_segments, is_live, live_segments
from streammm.ingest.spool import Spool
from streammm.media.urls import mask_url
from streammm.stats import PipelineStats

log = logging.getLogger(__name__)


async def publish(
    source: str,
    stream_id: str,
    *,
    producer: object,
    topics: Topics,
    settings: Settings,
    realtime: bool = False,
    stats: PipelineStats | None = None,
    stop: threading.Event | None = None,
    timeline_start_s: float = 0.0,
    backpressure: bool = False,
    spool: Spool | None = None,
) -> int:
    """Send every segment of `source` keyed by `stream_id`; returns how many were sent.

    With `realtime`, a segment is sent when its last instant has been "recorded" (wall clock since
    the first segment), as a live source would deliver it. Live URLs are always real time, and their
    media time starts at `timeline_start_s` (a restarted live ingest continues its stream's timeline).
    Every segment carries this publishing's IngestRun: a newer run of a file replaces the older one.

    With `backpressure` (and `stats` fed by an aligner in this process), a file is published at most
    `ingest.max_ahead_s` media seconds ahead of its stored clips, so a batch never floods the broker.
    With `spool`, the media bytes go to a file there and the message carries only its path (a claim check).
    """
    stop = stop or threading.Event()
    segment_s = settings.media.segment_s
    live = is_live(source)
    started_at = time.time()
    if live:
        ingest = settings.ingest

        def events(state: str, **info: object) -> None:
            if stats is not None:
                stats.source_state(stream_id, state, **info)  # type: ignore[arg-type]

        segments = live_segments(
            source, stream_id, segment_s, stop, start_s=timeline_start_s, read_timeout_s=ingest.read_timeout_s,
            rtsp_transport=ingest.rtsp_transport, max_reconnects=ingest.max_reconnects, max_backoff_s=ingest.max_backoff_s,
            events=events,
        )
    else:
        segments = file_segments(
            source, stream_id, segment_s, max_file_mb=settings.media.max_file_mb, max_keyframe_gap_s=settings.media.max_keyframe_gap_s
        )
    limit = settings.kafka.max_message_mb * MB
    started = time.monotonic()
    sent = 0
    while live or not stop.is_set():  # a live source gives out its buffered media after `stop`, then ends
        segment = await asyncio.to_thread(next, segments, None)
        if segment is None:
            break
        if realtime and not live:
            delay = started + segment.end_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        if backpressure and stats is not None and not live:
            await _until_caught_up(stats, stream_id, segment.start_s, settings.ingest.max_ahead_s, stop)
        if not live:  # a live source's every connection is a run of its own
            segment = replace(segment, run=replace(segment.run, started_at=started_at, live=False, paced=realtime))
        ref = str(await asyncio.to_thread(spool.write, segment)) if spool is not None else None
        value = encode_segment(segment, published_at=time.time(), ref=ref)
        if len(value) > limit:
            log.error(
                "stream %s: segment %d (%.1f-%.1f s) is %.1f MB, over kafka.max_message_mb=%d; skipped",
                stream_id, segment.seq, segment.start_s, segment.end_s, len(value) / MB, settings.kafka.max_message_mb,
            )
            continue
        await send_all(producer, [OutMessage(topics.segments, stream_id, value)])  # type: ignore[arg-type]
        sent += 1
        if stats is not None:
            stats.published(stream_id, segment.end_s)
    log.info("stream %s: published %d segments from %s", stream_id, sent, mask_url(source))
    return sent


async def _until_caught_up(stats: PipelineStats, stream_id: str, start_s: float, max_ahead_s: float, stop: threading.Event) -> None:
    """Wait while the stream's stored clips are more than `max_ahead_s` of media behind `start_s`."""
    while not stop.is_set():
        progress = stats.streams.get(stream_id)
        stored_until = progress.stored_until_s if progress is not None else 0.0
        if start_s - stored_until <= max_ahead_s:
            return
        await asyncio.sleep(0.1)
