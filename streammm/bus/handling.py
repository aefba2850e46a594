"""What a worker does with one record, whatever carries it: the Handler protocol, the messages, and the
error policy (retry what can succeed later, dead-letter what never can). The Kafka loop (bus/kafka.py)
and the in-memory driver (bus/memory.py) both run records through `handle_record`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from streammm.bus.codec import DeadLetter, encode_dead_letter
from streammm.errors import StreammmError

log = logging.getLogger(__name__)
MB = 1024 * 1024
_LETTER_HEADROOM = 64 * 1024  # the dead letter's own header (reason, where from) beside the payload


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
    """One stage's record logic; the loop owns the broker, the handler never sees it."""

    async def handle(self, message: InMessage) -> list[OutMessage]:
        """Outputs for one record. Raise a retriable StreammmError to have the same record handed in again
        later (state must not have advanced), a non-retriable one to dead-letter it."""
        ...

    def safe_offset(self, topic: str, partition: int, next_offset: int) -> int:
        """The offset it is safe to commit once every record before `next_offset` was handled."""
        ...

    async def tick(self) -> list[OutMessage]:
        """Called about every 200 ms: time-based outputs. Errors are treated as in `handle`."""
        ...

    def on_revoked(self, partitions: Sequence[tuple[str, int]]) -> None: ...

    def on_assigned(self, partitions: Sequence[tuple[str, int]]) -> None: ...


@dataclass(frozen=True)
class Retry:
    """The record could not be handled now but may be later: wait `delay_s`, then hand it in again."""

    delay_s: float
    reason: str


@dataclass(frozen=True)
class Backoff:
    """Exponential waits between retries of a failure that lasts: first_s, doubling, at most max_s."""

    first_s: float = 0.2
    max_s: float = 10.0

    def delay_s(self, attempt: int) -> float:
        return min(self.max_s, self.first_s * 2 ** max(0, attempt - 1))


async def handle_record(
    handler: Handler, message: InMessage, *, dlq_topic: str, name: str, attempt: int, backoff: Backoff, max_message_bytes: int
) -> list[OutMessage] | Retry:
    """The outputs of one record, a dead letter in their place, or a Retry: retriable errors (a store that
    is down, a timeout) are never dead-lettered, however long they last; `attempt` counts them (1 = first)."""
    try:
        return await handler.handle(message)
    except StreammmError as exc:
        if exc.retriable:
            delay = backoff.delay_s(attempt)
            log.warning("%s: %s/%d@%d failed (attempt %d), retrying in %.1f s: %s",
                        name, message.topic, message.partition, message.offset, attempt, delay, exc)
            return Retry(delay, str(exc))
        return [dead_letter(message, f"{name}: {exc}", dlq_topic, max_message_bytes)]
    except Exception as exc:  # a bug or a library failure on one record must not stop the stream
        log.exception("%s: unexpected error on %s/%d@%d", name, message.topic, message.partition, message.offset)
        return [dead_letter(message, f"{name}: unexpected {type(exc).__name__}: {exc}", dlq_topic, max_message_bytes)]


async def tick_safely(handler: Handler, *, name: str, attempt: int, backoff: Backoff) -> list[OutMessage] | Retry:
    """`handler.tick()`, with its failures handled like those of a record: a retriable one is retried after a
    backoff; any other is logged and the worker goes on (a tick has no record to dead-letter)."""
    try:
        return await handler.tick()
    except StreammmError as exc:
        delay = backoff.delay_s(attempt)
        level = logging.WARNING if exc.retriable else logging.ERROR
        log.log(level, "%s: tick failed (attempt %d), trying again in %.1f s: %s", name, attempt, delay, exc)
        return Retry(delay, str(exc))
    except Exception as exc:
        delay = backoff.delay_s(attempt)
        log.exception("%s: tick failed unexpectedly (attempt %d), trying again in %.1f s", name, attempt, delay)
        return Retry(delay, f"unexpected {type(exc).__name__}: {exc}")


def dead_letter(message: InMessage, reason: str, dlq_topic: str, max_message_bytes: int = 16 * MB) -> OutMessage:
    """The record as received, with the reason, for the dead-letter topic. The payload is kept whole unless
    it would not fit in one message of `max_message_bytes` beside the letter's header."""
    log.warning("dead-lettering %s/%d@%d (stream %s): %s", message.topic, message.partition, message.offset, message.key, reason)
    room = max(0, max_message_bytes - _LETTER_HEADROOM)
    letter = DeadLetter(reason, message.topic, message.partition, message.offset, message.key, message.value[:room])
    return OutMessage(dlq_topic, message.key, encode_dead_letter(letter))
