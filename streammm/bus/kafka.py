"""Everything that touches aiokafka: clients, topic creation and the consume-process-produce loop.

Works the same against Tansu and Apache Kafka: no idempotent or transactional producer (Tansu lacks
them); exactly-once comes from idempotent store writes and committing only after outputs are acked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from streammm.bus.codec import Heartbeat, encode_heartbeat
from streammm.bus.handling import (
    MB,
    Backoff,
    Handler,
    InMessage,
    OutMessage,
    Retry,
    dead_letter,
    handle_record,
    tick_safely,
)
from streammm.bus.topics import Topics
from streammm.config import KafkaConfig
from streammm.errors import StreammmError

log = logging.getLogger(__name__)
__all__ = ["BusError", "InMessage", "OutMessage", "Handler", "dead_letter", "run_worker", "send_all"]


class BusError(StreammmError):
    """The broker cannot be reached or refused an operation."""

    retriable = True


def client_options(config: KafkaConfig, bootstrap_servers: str) -> dict[str, Any]:
    options: dict[str, Any] = {"bootstrap_servers": bootstrap_servers, "security_protocol": config.security_protocol}
    if config.sasl_mechanism:
        options.update(
            sasl_mechanism=config.sasl_mechanism,
            sasl_plain_username=config.sasl_username,
            sasl_plain_password=config.sasl_password,
        )
    return options


async def ensure_topics(config: KafkaConfig, bootstrap_servers: str) -> Topics:
    """Create streammm's topics if missing (existing ones are left as they are)."""
    topics = Topics.from_config(config)
    admin = AIOKafkaAdminClient(**client_options(config, bootstrap_servers), request_timeout_ms=10_000)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        max_bytes = str(config.max_message_mb * MB + MB)
        wanted = [
            NewTopic(name, config.partitions, config.replication_factor, topic_configs={"max.message.bytes": max_bytes})
            for name in topics.all()
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them first
            log.info("created topics %s", ", ".join(t.name for t in wanted))
    except KafkaConnectionError as exc:
        raise BusError(f"cannot reach the Kafka broker at {bootstrap_servers}: {exc}") from None
    finally:
        await admin.close()
    return topics


def make_producer(config: KafkaConfig, bootstrap_servers: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_options(config, bootstrap_servers),
        acks="all",
        enable_idempotence=False,
        max_request_size=config.max_message_mb * MB + MB,
        linger_ms=2,
        request_timeout_ms=30_000,
    )


async def start_producer(config: KafkaConfig, bootstrap_servers: str) -> AIOKafkaProducer:
    producer = make_producer(config, bootstrap_servers)
    try:
        await producer.start()
    except KafkaConnectionError as exc:
        await producer.stop()
        raise BusError(f"cannot reach the Kafka broker at {bootstrap_servers}: {exc}") from None
    return producer


async def send_all(producer: AIOKafkaProducer, messages: Sequence[OutMessage]) -> None:
    """Send and wait until the broker acknowledged every message."""
    futures = [await producer.send(m.topic, m.value, key=m.key.encode()) for m in messages]
    if futures:
        await asyncio.gather(*futures)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            log.info("partitions revoked: %s", sorted((tp.topic, tp.partition) for tp in revoked))
            self.handler.on_revoked([(tp.topic, tp.partition) for tp in revoked])

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if assigned:
            log.info("partitions assigned: %s", sorted((tp.topic, tp.partition) for tp in assigned))
            self.handler.on_assigned([(tp.topic, tp.partition) for tp in assigned])


async def run_worker(
    *,
    config: KafkaConfig,
    bootstrap_servers: str,
    topics_in: Sequence[str],
    group_id: str,
    handler: Handler,
    dlq_topic: str,
    stop: asyncio.Event,
    name: str,
    heartbeat_topic: str | None = None,
    roles: Sequence[str] = (),
) -> None:
    """Consume `topics_in` as `group_id` until `stop` is set: handle, produce, then commit.

    A retriable failure pauses the record's partition and hands the same record in again after a backoff,
    for as long as the failure lasts; other partitions go on meanwhile. With `heartbeat_topic`, the worker
    announces itself there as each of `roles` every `config.worker_heartbeat_ms`, with its consumer lag.
    """
    consumer = AIOKafkaConsumer(
        **client_options(config, bootstrap_servers),
        group_id=group_id,
        client_id=f"streammm-{name}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=config.fetch_max_wait_ms,
        max_partition_fetch_bytes=config.max_message_mb * MB + MB,
        fetch_max_bytes=max(52_428_800, config.max_message_mb * MB + MB),
        session_timeout_ms=config.session_timeout_ms,
        heartbeat_interval_ms=max(1000, config.session_timeout_ms // 5),
        max_poll_interval_ms=600_000,
        # One stream's records share a partition number in every topic; ranges keep them on one worker.
        partition_assignment_strategy=(RangePartitionAssignor,),
    )
    consumer.subscribe(list(topics_in), listener=_Listener(handler))
    producer = make_producer(config, bootstrap_servers)
    try:
        await consumer.start()
        await producer.start()
    except KafkaConnectionError as exc:
        await consumer.stop()
        await producer.stop()
        raise BusError(f"{name}: cannot reach the Kafka broker at {bootstrap_servers}: {exc}") from None
    log.info("%s worker consuming %s as group %s", name, ", ".join(topics_in), group_id)
    loop = _Loop(consumer, producer, handler, config, dlq_topic, name, stop)
    beats = asyncio.create_task(_heartbeats(loop, config, heartbeat_topic, roles, name, stop)) if heartbeat_topic else None
    try:
        await loop.run()
    finally:
        if beats is not None:
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)
        await producer.stop()
        await consumer.stop()
        log.info("%s worker stopped", name)


class _Loop:
    """The consume-handle-produce-commit loop of one worker, with paused partitions awaiting a retry."""

    def __init__(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, handler: Handler, config: KafkaConfig,
                 dlq_topic: str, name: str, stop: asyncio.Event) -> None:
        self.consumer, self.producer, self.handler = consumer, producer, handler
        self.dlq_topic, self.name, self.stop = dlq_topic, name, stop
        self.backoff = Backoff(config.retry_backoff_ms / 1000, config.retry_backoff_max_ms / 1000)
        self.max_message_bytes = config.max_message_mb * MB + MB
        self.committed: dict[TopicPartition, int] = {}
        self.retry_at: dict[TopicPartition, float] = {}  # paused partitions: when to hand their record in again
        self.attempts: dict[TopicPartition, int] = {}
        self.tick_attempts = 0
        self.next_tick = 0.0
        self.in_hand = 0  # records fetched but not handled yet
        self.handled: dict[TopicPartition, int] = {}  # per partition: the offset after the last record handled

    async def lag(self) -> int:
        """Records this worker has not handled: fetched and in hand, plus what the broker holds beyond."""
        lag = self.in_hand
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is None:
                continue
            try:
                lag += max(0, high - await self.consumer.position(tp))
            except KafkaError:
                continue
        return lag

    async def run(self) -> None:
        clock = asyncio.get_running_loop().time
        while not self.stop.is_set():
            for tp, when in list(self.retry_at.items()):
                if clock() >= when:
                    del self.retry_at[tp]
                    if tp in self.consumer.assignment():
                        self.consumer.resume(tp)
            batch = await self.consumer.getmany(timeout_ms=200, max_records=16)
            self.in_hand = sum(len(records) for records in batch.values())
            for tp, records in batch.items():
                for record in records:
                    if self.stop.is_set() or not await self._one(tp, record, clock):
                        break
                    self.in_hand -= 1
            self.in_hand = 0
            if clock() >= self.next_tick:
                await self._tick(clock)

    async def _one(self, tp: TopicPartition, record: Any, clock: Any) -> bool:
        """Handle one record; False when its partition is paused for a retry (the rest of its batch waits)."""
        message = InMessage(tp.topic, tp.partition, record.offset, (record.key or b"").decode(errors="replace"), record.value or b"")
        attempt = self.attempts.get(tp, 0) + 1
        result = await handle_record(
            self.handler, message, dlq_topic=self.dlq_topic, name=self.name, attempt=attempt,
            backoff=self.backoff, max_message_bytes=self.max_message_bytes,
        )
        if isinstance(result, Retry):
            self.attempts[tp] = attempt
            self.consumer.seek(tp, record.offset)  # the same record comes again when the partition resumes
            self.consumer.pause(tp)
            self.retry_at[tp] = clock() + result.delay_s
            return False
        self.attempts.pop(tp, None)
        await self._send(result)
        self.handled[tp] = record.offset + 1
        await _commit(self.consumer, self.committed, tp, self.handler.safe_offset(tp.topic, tp.partition, record.offset + 1))
        return True

    async def _tick(self, clock: Any) -> None:
        result = await tick_safely(self.handler, name=self.name, attempt=self.tick_attempts + 1, backoff=self.backoff)
        if isinstance(result, Retry):
            self.tick_attempts += 1
            self.next_tick = clock() + result.delay_s
            return
        self.tick_attempts = 0
        await self._send(result)
        # What a tick stored (windows it closed) may free offsets of records handled before it.
        for tp, next_offset in list(self.handled.items()):
            if tp in self.consumer.assignment():
                await _commit(self.consumer, self.committed, tp, self.handler.safe_offset(tp.topic, tp.partition, next_offset))

    async def _send(self, messages: Sequence[OutMessage]) -> None:
        """Send and wait for acks; a broker that fails is retried with backoff until it answers (or stop)."""
        attempt = 0
        while True:
            try:
                await send_all(self.producer, messages)
                return
            except KafkaError as exc:
                attempt += 1
                if self.stop.is_set():
                    raise BusError(f"{self.name}: outputs not sent at shutdown: {exc}") from None
                delay = self.backoff.delay_s(attempt)
                log.warning("%s: sending %d outputs failed (attempt %d), retrying in %.1f s: %s",
                            self.name, len(messages), attempt, delay, exc)
                await asyncio.sleep(delay)


async def _heartbeats(loop: _Loop, config: KafkaConfig, topic: str, roles: Sequence[str], name: str, stop: asyncio.Event) -> None:
    """Announce this worker, as each of its roles, and its lag (records not handled yet) until stopped."""
    every_s = config.worker_heartbeat_ms / 1000
    while not stop.is_set():
        try:
            lag = await loop.lag()
            beats = [Heartbeat(role, name, time.time(), lag) for role in roles]
            await send_all(loop.producer, [OutMessage(topic, b.role, encode_heartbeat(b)) for b in beats])
        except KafkaError as exc:
            log.debug("%s: heartbeat not sent: %s", name, exc)
        await asyncio.sleep(every_s)


async def _commit(consumer: AIOKafkaConsumer, committed: dict[TopicPartition, int], tp: TopicPartition, offset: int) -> None:
    if offset <= committed.get(tp, -1):
        return
    try:
        await consumer.commit({tp: offset})
        committed[tp] = offset
    except CommitFailedError as exc:
        # The group rebalanced under us: the new owner re-reads from the last commit (outputs are idempotent).
        log.warning("commit of %s/%d@%d failed after a rebalance: %s", tp.topic, tp.partition, offset, exc)
    except KafkaError as exc:
        log.warning("commit of %s/%d@%d failed: %s", tp.topic, tp.partition, offset, exc)


async def read_topic(config: KafkaConfig, bootstrap_servers: str, topic: str, *, idle_s: float = 1.5) -> list[tuple[str, bytes]]:
    """Every (key, value) in `topic` from the start, read until nothing new arrives for `idle_s`.

    Idle-based on purpose: Tansu's end_offsets() answers the last batch's base offset + 1.
    """
    consumer = _reader(config, bootstrap_servers, topic, start="earliest")
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        await consumer.stop()
        raise BusError(f"cannot reach the Kafka broker at {bootstrap_servers}: {exc}") from None
    out: list[tuple[str, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        last_seen = loop.time()
        while loop.time() - last_seen < idle_s:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out += [((r.key or b"").decode(), r.value or b"") for r in records]
                last_seen = loop.time()
    finally:
        await consumer.stop()
    return out


async def follow_topic(
    config: KafkaConfig, bootstrap_servers: str, topic: str, stop: asyncio.Event, *, start: str = "latest"
) -> AsyncIterator[bytes]:
    """Each new value of `topic` from now on (or from its beginning, with start="earliest"; no consumer
    group: every follower sees every message), until `stop` is set. A broker that goes away is retried
    with backoff, not raised; after a reconnect, following goes on from the last value seen."""
    delay = 0.5
    position: dict[TopicPartition, int] = {}
    while not stop.is_set():
        consumer = _reader(config, bootstrap_servers, topic, start=start)
        try:
            await consumer.start()
            for tp, offset in position.items():
                consumer.seek(tp, offset)
            delay = 0.5
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                for tp, records in batch.items():
                    for record in records:
                        position[tp] = record.offset + 1
                        yield record.value or b""
        except KafkaError as exc:
            log.warning("following %s failed (%s); retrying in %.1f s", topic, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        finally:
            await consumer.stop()


def _reader(config: KafkaConfig, bootstrap_servers: str, topic: str, *, start: str) -> AIOKafkaConsumer:
    """A consumer of every partition of `topic`, outside any group, from the `start` ("earliest"/"latest")."""
    return AIOKafkaConsumer(
        topic,
        **client_options(config, bootstrap_servers),
        group_id=None,
        auto_offset_reset=start,
        enable_auto_commit=False,
        fetch_max_wait_ms=config.fetch_max_wait_ms,
        max_partition_fetch_bytes=config.max_message_mb * MB + MB,
    )
