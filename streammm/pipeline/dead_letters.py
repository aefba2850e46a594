"""The dead-letter archive (one file per letter) and listing and replaying dead letters after a fix."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from streammm.bus.broker import running_broker
from streammm.bus.codec import CodecError, DeadLetter, decode_dead_letter
from streammm.bus.kafka import OutMessage, follow_topic, read_topic, send_all, start_producer
from streammm.config import KafkaConfig, Settings

log = logging.getLogger(__name__)

ARCHIVE_DIR = "dead-letters"
REPLAYED_DIR = "replayed"
SUFFIX = ".dead"


def archive_folder(data_dir: Path) -> Path:
    """Where `streammm up` on `data_dir` archives its dead letters."""
    return data_dir / ARCHIVE_DIR


def find_broker(settings: Settings) -> tuple[Path, str | None]:
    """The data dir of `settings`, and the broker holding its dead letters: `kafka.bootstrap_servers` if
    set, else the one a running `streammm up` on that data dir advertises, else None."""
    data_dir = Path(settings.store.data_dir).expanduser()  # not store.factory.data_dir: a look creates no folder
    return data_dir, settings.kafka.bootstrap_servers or running_broker(data_dir)


def letter_key(letter: DeadLetter) -> tuple[str, int, int]:
    """Where the record was: (source topic, partition, offset); one letter per key."""
    return letter.source_topic, letter.partition, letter.offset


def letter_file_name(letter: DeadLetter) -> str:
    topic = re.sub(r"[^A-Za-z0-9._-]", "_", letter.source_topic)  # a topic from the wire never picks a path
    return f"{topic}-{letter.partition}-{letter.offset}{SUFFIX}"


def decode_letter(value: bytes) -> DeadLetter:
    """`decode_dead_letter` that raises only CodecError, also for a header with missing or mistyped fields."""
    try:
        letter = decode_dead_letter(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"malformed dead letter: {exc!r}") from None
    if not all(isinstance(text, str) for text in (letter.reason, letter.source_topic, letter.stream_id)):
        raise CodecError("malformed dead letter: reason, source_topic and stream_id must be strings")
    return letter


def archive_dead_letter(folder: Path, value: bytes) -> Path:
    """Write one encoded dead letter, as received, to `folder/<source_topic>-<partition>-<offset>.dead`.

    Atomic (a `.partial` file, then a rename) and idempotent: the same letter twice is one file.
    Raises CodecError when `value` is not a dead letter.
    """
    path = folder / letter_file_name(decode_letter(value))
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        out.write(value)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    return path


async def archive_dead_letters(config: KafkaConfig, bootstrap_servers: str, dlq_topic: str, folder: Path, stop: asyncio.Event) -> None:
    """Archive every dead letter published to `dlq_topic` from now on into `folder` until `stop` is set,
    so that they outlive an in-memory broker. A malformed value or a failed write is logged, never raised."""
    log.info("archiving dead letters from %s into %s", dlq_topic, folder)
    async for value in follow_topic(config, bootstrap_servers, dlq_topic, stop, start="earliest"):
        try:
            path = await asyncio.to_thread(archive_dead_letter, folder, value)
        except CodecError as exc:
            log.warning("skipping a malformed message on %s: %s", dlq_topic, exc)
        except OSError as exc:
            log.error("cannot archive a dead letter into %s: %s", folder, exc)
        else:
            log.info("archived dead letter %s", path.name)


def archived_dead_letters(folder: Path, stream_id: str | None = None) -> list[DeadLetter]:
    """The letters archived in `folder` (not those already replayed), of `stream_id` if given,
    sorted by (source_topic, partition, offset). Unreadable files are logged and skipped."""
    letters: list[DeadLetter] = []
    for path in folder.glob(f"*{SUFFIX}") if folder.is_dir() else ():
        try:
            letter = decode_letter(path.read_bytes())
        except (CodecError, OSError) as exc:
            log.warning("skipping dead-letter file %s: %s", path, exc)
            continue
        if stream_id is None or letter.stream_id == stream_id:
            letters.append(letter)
    return sorted(letters, key=letter_key)


async def broker_dead_letters(
    config: KafkaConfig, bootstrap_servers: str, dlq_topic: str, stream_id: str | None = None
) -> list[DeadLetter]:
    """The letters on `dlq_topic` (of `stream_id` if given), one per source record (the last one wins),
    sorted by (source_topic, partition, offset)."""
    letters: dict[tuple[str, int, int], DeadLetter] = {}
    for _, value in await read_topic(config, bootstrap_servers, dlq_topic):
        try:
            letter = decode_letter(value)
        except CodecError as exc:
            log.warning("skipping a malformed message on %s: %s", dlq_topic, exc)
            continue
        if stream_id is None or letter.stream_id == stream_id:
            letters[letter_key(letter)] = letter
    return [letters[key] for key in sorted(letters)]


async def replay(letters: Sequence[DeadLetter], config: KafkaConfig, bootstrap_servers: str) -> int:
    """Re-publish each letter's payload to its source topic, keyed by its stream id, and wait until the
    broker acknowledged all of them; returns how many. Archived letters: call `mark_replayed` next."""
    if not letters:
        return 0
    producer = await start_producer(config, bootstrap_servers)
    try:
        await send_all(producer, [OutMessage(letter.source_topic, letter.stream_id, letter.payload) for letter in letters])
    finally:
        await producer.stop()
    log.info("re-published %d dead letters", len(letters))
    return len(letters)


def mark_replayed(folder: Path, letters: Iterable[DeadLetter]) -> int:
    """Move these letters' archive files to `folder/replayed/`, so a later replay skips them; returns how
    many moved. A letter that fails again after its replay comes back under its new offset."""
    moved = 0
    for letter in letters:
        path = folder / letter_file_name(letter)
        if path.exists():
            (folder / REPLAYED_DIR).mkdir(exist_ok=True)
            os.replace(path, folder / REPLAYED_DIR / path.name)
            moved += 1
    return moved
