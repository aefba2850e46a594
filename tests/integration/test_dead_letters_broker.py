"""Dead letters with the real Tansu broker: archived as received, listed, replayed byte-identical."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from streammm.bus.broker import EmbeddedBroker, advertise_broker
from streammm.bus.codec import DeadLetter
from streammm.bus.kafka import InMessage, dead_letter, ensure_topics, read_topic, send_all, start_producer
from streammm.bus.topics import Topics
from streammm.config import Settings
from streammm.pipeline.dead_letters import archive_dead_letters, archive_folder, archived_dead_letters

pytestmark = pytest.mark.integration

PAYLOAD_A = b"\xff\x00 segment of cam-a \x80" + bytes(range(256)) * 40  # not UTF-8, ~10 KB
PAYLOAD_B = b"SMM\x01 observation of cam-b"


@dataclass(frozen=True)
class Archived:
    broker: EmbeddedBroker
    topics: Topics
    data_dir: Path
    letters: tuple[DeadLetter, ...]


@pytest.fixture(scope="module")
def archived(settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    """Two dead letters on the DLQ topic of a real broker, archived by `archive_dead_letters`."""
    root = tmp_path_factory.mktemp("dead-letters")
    broker = EmbeddedBroker(log_file=root / "tansu.log").start()
    try:
        topics, letters = asyncio.run(_dead_letter_two(settings, broker.bootstrap_servers, archive_folder(root / "data")))
        yield Archived(broker, topics, root / "data", letters)
    finally:
        broker.stop()


async def _dead_letter_two(settings: Settings, bootstrap: str, folder: Path) -> tuple[Topics, tuple[DeadLetter, ...]]:
    topics = await ensure_topics(settings.kafka, bootstrap)
    failed = (InMessage(topics.segments, 4, 17, "cam-a", PAYLOAD_A), InMessage(topics.vision, 1, 3, "cam-b", PAYLOAD_B))
    outputs = [dead_letter(message, f"test: cannot handle {message.key}", topics.dlq) for message in failed]
    files = [folder / f"{m.topic}-{m.partition}-{m.offset}.dead" for m in failed]
    stop = asyncio.Event()
    archiver = asyncio.create_task(archive_dead_letters(settings.kafka, bootstrap, topics.dlq, folder, stop))
    producer = await start_producer(settings.kafka, bootstrap)
    try:
        deadline = time.monotonic() + 20
        # The archiver follows from the latest offset, which it learns at its first fetch: until the files
        # show, send again (a letter archived twice is still one file).
        while not all(f.exists() for f in files):
            assert time.monotonic() < deadline, f"not archived within 20 s: {[f.name for f in files if not f.exists()]}"
            assert not archiver.done(), archiver
            await send_all(producer, outputs)
            for _ in range(10):
                await asyncio.sleep(0.1)
                if all(f.exists() for f in files):
                    break
    finally:
        await producer.stop()
        stop.set()
        await asyncio.wait_for(archiver, timeout=10)
    letters = tuple(DeadLetter(f"test: cannot handle {m.key}", m.topic, m.partition, m.offset, m.key, m.value) for m in failed)
    return topics, letters


def run_cli(*args: str, bootstrap: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMMM_")}
    if bootstrap:
        env["STREAMMM_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    done = subprocess.run([sys.executable, "-m", "streammm", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"streammm {' '.join(args)} exited {done.returncode}\n{done.stderr}"
    return done


def test_the_archive_holds_each_dead_letter_once_as_received(archived: Archived):
    folder = archive_folder(archived.data_dir)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{x.source_topic}-{x.partition}-{x.offset}.dead" for x in archived.letters)
    assert archived_dead_letters(folder) == sorted(archived.letters, key=lambda x: (x.source_topic, x.partition, x.offset))


def test_dlq_list_reads_the_broker_topic_once_per_dead_record(archived: Archived, tmp_path: Path):
    shown = run_cli("dlq", "list", "--json", "--data-dir", str(tmp_path), bootstrap=archived.broker.bootstrap_servers)
    assert archived.topics.dlq in shown.stderr
    rows = json.loads(shown.stdout)  # the archiver may have made us send a letter twice: listed once
    assert rows == [
        {
            "source_topic": x.source_topic, "partition": x.partition, "offset": x.offset,
            "stream_id": x.stream_id, "reason": x.reason, "payload_bytes": len(x.payload),
        }
        for x in sorted(archived.letters, key=lambda x: (x.source_topic, x.partition, x.offset))
    ]


def test_dlq_replay_republishes_payload_and_key_byte_identical(archived: Archived, settings: Settings, tmp_path: Path):
    bootstrap = archived.broker.bootstrap_servers
    folder = archive_folder(archived.data_dir)

    # From the archive, with the broker configured: cam-a's segment goes back to the segments topic.
    done = run_cli("dlq", "replay", "--stream", "cam-a", "--data-dir", str(archived.data_dir), bootstrap=bootstrap)
    assert "re-published 1 dead letters from the archive" in done.stdout
    assert asyncio.run(read_topic(settings.kafka, bootstrap, archived.topics.segments)) == [("cam-a", PAYLOAD_A)]
    assert [x.stream_id for x in archived_dead_letters(folder)] == ["cam-b"]
    assert [p.name for p in (folder / "replayed").iterdir()] == [f"{archived.topics.segments}-4-17.dead"]

    # No archive, no configured broker: a running `up` advertised on the data dir, and the DLQ topic is read.
    advertise_broker(tmp_path, bootstrap)
    done = run_cli("dlq", "replay", "--offset", f"{archived.topics.vision}:1:3", "--data-dir", str(tmp_path))
    assert f"re-published 1 dead letters from topic {archived.topics.dlq}" in done.stdout
    assert asyncio.run(read_topic(settings.kafka, bootstrap, archived.topics.vision)) == [("cam-b", PAYLOAD_B)]
