"""Publish a source's segments to the segments topic, as fast as possible or at wall-clock pace."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from streammm.bus.codec import encode_segment
from streammm.bus.kafka import MB, OutMessage, send_all
from streammm.bus.topics import Topics
from streammm.config import Settings
from streammm.ingest.sources import file_segments, is_live, live_segments
from streammm.pipeline.stats import PipelineStats

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
) -> int:
    """Send every segment of `source` keyed by `stream_id`; returns how many were sent.

    With `realtime`, a segment is sent when its last instant has been "recorded" (wall clock since
    the first segment), as a live source would deliver it. Live URLs are always real time.
    """
    stop = stop or threading.Event()
    segment_s = settings.media.segment_s
    if is_live(source):
        segments = live_segments(source, stream_id, segment_s, stop)
    else:
        segments = file_segments(source, stream_id, segment_s, max_file_mb=settings.media.max_file_mb)
    limit = settings.kafka.max_message_mb * MB
    started = time.monotonic()
    sent = 0
    while not stop.is_set():
        segment = await asyncio.to_thread(next, segments, None)
        if segment is None:
            break
        if realtime and not is_live(source):
            delay = started + segment.end_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        value = encode_segment(segment, published_at=time.time())
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
    log.info("stream %s: published %d segments from %s", stream_id, sent, source)
    return sent
