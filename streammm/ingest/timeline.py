"""Where a live stream's media time starts: after its stored clips, so a restarted ingest never overwrites
its history."""

from __future__ import annotations

import logging
import math

from streammm.store.base import ClipStore

log = logging.getLogger(__name__)


def resume_point(store: ClipStore, stream_id: str, stride_s: float) -> float:
    """The first window start (on the `stride_s` grid) after every stored clip of `stream_id`; 0 for a new
    stream. The gap between the last stored clip and it is media that was never received."""
    known = [s for s in store.streams() if s.stream_id == stream_id]
    if not known:
        return 0.0
    resume = math.ceil(round(known[0].end_s / stride_s, 6)) * stride_s
    log.info("stream %s: its stored clips end at %.1f s; the live timeline continues at %.1f s", stream_id, known[0].end_s, resume)
    return resume
