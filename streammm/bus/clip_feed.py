"""New clips as the align workers announce them on the clips topic: the feed the server's watches follow."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from streammm.bus.codec import CodecError, decode_clip_event
from streammm.bus.kafka import follow_topic
from streammm.config import KafkaConfig
from streammm.records import Clip

log = logging.getLogger(__name__)


def kafka_clip_feed(config: KafkaConfig, bootstrap_servers: str, topic: str) -> Callable[[asyncio.Event], AsyncIterator[tuple[Clip, float]]]:
    """A feed of (clip, stored_at) from `topic`, from now on, until the event given to it is set."""

    async def feed(stop: asyncio.Event) -> AsyncIterator[tuple[Clip, float]]:
        async for value in follow_topic(config, bootstrap_servers, topic, stop):
            try:
                yield decode_clip_event(value)
            except CodecError as exc:
                log.warning("skipping a malformed clip event: %s", exc)

    return feed
