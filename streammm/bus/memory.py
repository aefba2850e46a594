"""A broker-free bus for driving stage handlers in tests and tools: topics as in-memory logs, workers that
run records through the same error policy as the Kafka loop, and committed offsets per consumer group.

A `MemoryWorker` handles the records of its topics in the order they were produced, sends its outputs
back into the bus, and commits what its handler's `safe_offset` allows. `restart()` forgets everything
but the committed offsets, as a killed worker's replacement would.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from streammm.bus.handling import Backoff, Handler, InMessage, OutMessage, Retry, handle_record, tick_safely

MB = 1024 * 1024


@dataclass
class MemoryBus:
    """Keyed messages in partitioned topics; a key always lands on the same partition."""

    partitions: int = 1
    logs: dict[tuple[str, int], list[InMessage]] = field(default_factory=dict)
    order: list[InMessage] = field(default_factory=list)  # every message, in the order it was produced

    def produce(self, topic: str, key: str, value: bytes) -> InMessage:
        partition = zlib.crc32(key.encode()) % self.partitions
        log = self.logs.setdefault((topic, partition), [])
        message = InMessage(topic, partition, len(log), key, value)
        log.append(message)
        self.order.append(message)
        return message

    def send(self, messages: Sequence[OutMessage]) -> None:
        for m in messages:
            self.produce(m.topic, m.key, m.value)

    def messages(self, topic: str) -> list[InMessage]:
        return [m for m in self.order if m.topic == topic]


@dataclass
class MemoryWorker:
    """One worker of a consumer group over `topics`, handling records with `handler`."""

    bus: MemoryBus
    handler: Handler
    topics: tuple[str, ...]
    name: str = "worker"
    dlq_topic: str = "streammm.dlq.v1"
    backoff: Backoff = Backoff(0.0, 0.0)
    max_attempts: int = 10_000  # a guard for tests: a failure that never ends raises instead of spinning
    committed: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset to read, per partition
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    retries: int = 0
    sleep: Callable[[float], object] | None = None  # e.g. asyncio.sleep, to honour the backoff

    async def poll(self, limit: int | None = None) -> int:
        """Handle every record not handled yet (at most `limit`), in production order; returns how many."""
        handled = 0
        for message in list(self.bus.order):
            if limit is not None and handled >= limit:
                break
            where = (message.topic, message.partition)
            if message.topic not in self.topics or message.offset < self._position(where):
                continue
            await self._one(message)
            self.positions[where] = message.offset + 1
            handled += 1
        return handled

    async def tick(self) -> None:
        for attempt in range(1, self.max_attempts + 1):
            result = await tick_safely(self.handler, name=self.name, attempt=attempt, backoff=self.backoff)
            if not isinstance(result, Retry):
                self.bus.send(result)
                for where, position in self.positions.items():  # what the tick stored may free offsets
                    self._commit(where, self.handler.safe_offset(where[0], where[1], position))
                return
            self.retries += 1
            await self._wait(result.delay_s)
        raise RuntimeError(f"{self.name}: tick still failing after {self.max_attempts} attempts")

    def restart(self, handler: Handler) -> None:
        """A new handler that starts from the committed offsets (what a killed worker leaves behind)."""
        self.handler = handler
        self.positions = dict(self.committed)

    def dead_letters(self) -> list[InMessage]:
        return self.bus.messages(self.dlq_topic)

    def _position(self, where: tuple[str, int]) -> int:
        return self.positions.get(where, self.committed.get(where, 0))

    async def _one(self, message: InMessage) -> None:
        for attempt in range(1, self.max_attempts + 1):
            result = await handle_record(
                self.handler, message, dlq_topic=self.dlq_topic, name=self.name, attempt=attempt,
                backoff=self.backoff, max_message_bytes=16 * MB,
            )
            if not isinstance(result, Retry):
                self.bus.send(result)
                self._commit((message.topic, message.partition), self.handler.safe_offset(message.topic, message.partition, message.offset + 1))
                return
            self.retries += 1
            await self._wait(result.delay_s)
        raise RuntimeError(f"{self.name}: {message.topic}/{message.partition}@{message.offset} still failing after {self.max_attempts} attempts")

    def _commit(self, where: tuple[str, int], offset: int) -> None:
        self.committed[where] = max(self.committed.get(where, 0), offset)

    async def _wait(self, delay_s: float) -> None:
        if self.sleep is not None:
            await asyncio.sleep(delay_s)
