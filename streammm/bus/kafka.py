"""Everything that touches aiokafka: clients, topic creation and the consume-process-produce loop.

Works the same against Tansu and Apache Kafka: no idempotent or transactional producer (Tansu lacks
them); exactly-once comes from idempotent store writes and committing only after outputs are acked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from streammm.bus.codec import DeadLetter, encode_dead_letter
from streammm.bus.topics import Topics
from streammm.config import KafkaConfig
from streammm.errors import StreammmError

log = logging.getLogger(__name__)
MB = 1024 * 1024


class BusError(StreammmError):
    """The broker cannot be reached or refused an operation."""

    retriable = True


@dataclass(frozen=True)
class InMessage:
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes


@dataclass(frozen=True)
class OutMessage:
    topic: str
    key: str
    value: bytes


class Handler(Protocol):
    """One stage's record logic; the loop owns Kafka, the handler never sees it."""

    async def handle(self, message: InMessage) -> list[OutMessage]:
        """Outputs for one record. Raise a non-retriable StreammmError to dead-letter it."""
        ...

    def safe_offset(self, topic: str, partition: int, next_offset: int) -> int:
        """The offset it is safe to commit once every record before `next_offset` was handled."""
        ...

    async def tick(self) -> list[OutMessage]:
        """Called about every 200 ms: time-based outputs (timeouts)."""
        ...

    def on_revoked(self, partitions: Sequence[tuple[str, int]]) -> None: ...

    def on_assigned(self, partitions: Sequence[tuple[str, int]]) -> None: ...


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
) -> None:
    """Consume `topics_in` as `group_id` until `stop` is set: handle, produce, then commit."""
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
    committed: dict[TopicPartition, int] = {}
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=16)
            for tp, records in batch.items():
                for record in records:
                    if stop.is_set():
                        break
                    message = InMessage(tp.topic, tp.partition, record.offset, (record.key or b"").decode(errors="replace"), record.value or b"")
                    outputs = await _handle(handler, message, dlq_topic, name)
                    await send_all(producer, outputs)
                    await _commit(consumer, committed, tp, handler.safe_offset(tp.topic, tp.partition, record.offset + 1))
            await send_all(producer, await handler.tick())
    finally:
        await producer.stop()
        await consumer.stop()
        log.info("%s worker stopped", name)


async def _handle(handler: Handler, message: InMessage, dlq_topic: str, name: str) -> list[OutMessage]:
    attempt = 0
    while True:
        try:
            return await handler.handle(message)
        except StreammmError as exc:
            if exc.retriable and attempt < 5:
                attempt += 1
                log.warning("%s: retrying %s/%d@%d after: %s", name, message.topic, message.partition, message.offset, exc)
                await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
                continue
            return [dead_letter(message, f"{name}: {exc}", dlq_topic)]
        except Exception as exc:  # a bug or a library failure on one record must not stop the stream
            log.exception("%s: unexpected error on %s/%d@%d", name, message.topic, message.partition, message.offset)
            return [dead_letter(message, f"{name}: unexpected {type(exc).__name__}: {exc}", dlq_topic)]


def dead_letter(message: InMessage, reason: str, dlq_topic: str) -> OutMessage:
    log.warning("dead-lettering %s/%d@%d (stream %s): %s", message.topic, message.partition, message.offset, message.key, reason)
    letter = DeadLetter(reason, message.topic, message.partition, message.offset, message.key, message.value[: 1024 * 1024])
    return OutMessage(dlq_topic, message.key, encode_dead_letter(letter))


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
    await consumer.start()
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


async def follow_topic(config: KafkaConfig, bootstrap_servers: str, topic: str, stop: asyncio.Event) -> AsyncIterator[bytes]:
    """Each new value of `topic` from now on (no consumer group: every follower sees every message),
    until `stop` is set. A broker that goes away is retried with backoff, not raised."""
    delay = 0.5
    while not stop.is_set():
        consumer = _reader(config, bootstrap_servers, topic, start="latest")
        try:
            await consumer.start()
            delay = 0.5
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
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
