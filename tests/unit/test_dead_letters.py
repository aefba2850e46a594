"""The dead-letter archive, broker discovery and `streammm dlq` argument errors (no broker needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streammm.bus.broker import advertise_broker, running_broker
from streammm.bus.codec import CodecError, DeadLetter, encode_dead_letter
from streammm.pipeline.dead_letters import archive_dead_letter, archive_folder, archived_dead_letters, mark_replayed

SEGMENTS = "streammm.segments.v1"
VISION = "streammm.obs.vision.v1"
LETTERS = (
    DeadLetter("vision-0: bad magic", SEGMENTS, 3, 120, "cam-b", b"\xff\x00 not a segment"),
    DeadLetter("align-0: unexpected KeyError: 'x'", VISION, 0, 7, "cam-a", b"SMM\x01 obs"),
    DeadLetter("speech-1: cannot decode", SEGMENTS, 3, 9, "cam-a", bytes(range(256)) * 8),
    DeadLetter("ocr-0: cannot decode", SEGMENTS, 1, 500, "cam-b", b""),
)


def archive(folder: Path, letters: tuple[DeadLetter, ...] = LETTERS) -> list[Path]:
    return [archive_dead_letter(folder, encode_dead_letter(letter)) for letter in letters]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m streammm ARGS` with none of the caller's STREAMMM_ settings (so no configured broker)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMMM_")}
    return subprocess.run(
        [sys.executable, "-m", "streammm", *args], env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60
    )


def test_an_archived_letter_is_one_file_holding_the_bytes_as_received(tmp_path: Path):
    paths = archive(tmp_path)
    assert [p.name for p in paths] == [f"{SEGMENTS}-3-120.dead", f"{VISION}-0-7.dead", f"{SEGMENTS}-3-9.dead", f"{SEGMENTS}-1-500.dead"]
    assert paths[2].read_bytes() == encode_dead_letter(LETTERS[2])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no .partial left behind
    archive(tmp_path, LETTERS[:1])  # the same letter again is the same file
    assert len(list(tmp_path.iterdir())) == len(LETTERS)


def test_archived_letters_round_trip_sorted_by_topic_partition_offset_and_filtered_by_stream(tmp_path: Path):
    archive(tmp_path)
    letters = archived_dead_letters(tmp_path)
    assert [(x.source_topic, x.partition, x.offset) for x in letters] == [(VISION, 0, 7), (SEGMENTS, 1, 500), (SEGMENTS, 3, 9), (SEGMENTS, 3, 120)]
    assert set(letters) == set(LETTERS)  # reason, stream id and payload survive byte for byte
    assert [x.offset for x in archived_dead_letters(tmp_path, "cam-a")] == [7, 9]
    assert archived_dead_letters(tmp_path, "nobody") == []
    assert archived_dead_letters(tmp_path / "missing") == []


def test_malformed_values_are_refused_and_malformed_files_skipped(tmp_path: Path):
    with pytest.raises(CodecError):
        archive_dead_letter(tmp_path, b"not a streammm message")
    archive(tmp_path, LETTERS[:1])
    (tmp_path / "junk-0-1.dead").write_bytes(b"garbage")
    assert archived_dead_letters(tmp_path) == [LETTERS[0]]


def test_replayed_letters_move_to_replayed_and_are_not_listed_again(tmp_path: Path):
    archive(tmp_path)
    cam_a = archived_dead_letters(tmp_path, "cam-a")
    assert mark_replayed(tmp_path, cam_a) == 2
    assert mark_replayed(tmp_path, cam_a) == 0  # already moved
    assert {x.stream_id for x in archived_dead_letters(tmp_path)} == {"cam-b"}
    assert sorted(p.name for p in (tmp_path / "replayed").iterdir()) == [f"{VISION}-0-7.dead", f"{SEGMENTS}-3-9.dead"]


def test_a_broker_is_found_only_while_the_process_that_advertised_it_lives(tmp_path: Path):
    assert running_broker(tmp_path) is None
    path = advertise_broker(tmp_path, "127.0.0.1:9092")
    assert json.loads(path.read_text()) == {"bootstrap_servers": "127.0.0.1:9092", "pid": os.getpid()}
    assert running_broker(tmp_path) == "127.0.0.1:9092"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path.write_text(json.dumps({"bootstrap_servers": "127.0.0.1:9092", "pid": gone.pid}))
    assert running_broker(tmp_path) is None
    for bad in ("{", "[]", '{"bootstrap_servers": "x", "pid": 0}', '{"bootstrap_servers": "x", "pid": "1"}'):
        path.write_text(bad)
        assert running_broker(tmp_path) is None


def test_dlq_list_without_a_broker_reads_the_archive(tmp_path: Path):
    archive(archive_folder(tmp_path))
    shown = run_cli("dlq", "list", "--data-dir", str(tmp_path), "--stream", "cam-a")
    assert shown.returncode == 0, shown.stderr
    assert "archive" in shown.stderr and str(archive_folder(tmp_path)) in shown.stderr
    assert shown.stdout.splitlines() == [
        f"{VISION}:0:7  stream cam-a  0.0 KB  align-0: unexpected KeyError: 'x'",
        f"{SEGMENTS}:3:9  stream cam-a  2.0 KB  speech-1: cannot decode",
    ]
    rows = json.loads(run_cli("dlq", "list", "--data-dir", str(tmp_path), "--json").stdout)
    assert rows[1] == {
        "source_topic": SEGMENTS, "partition": 1, "offset": 500, "stream_id": "cam-b", "reason": "ocr-0: cannot decode", "payload_bytes": 0,
    }
    assert len(rows) == len(LETTERS)
    empty = run_cli("dlq", "list", "--data-dir", str(tmp_path / "nothing"))
    assert (empty.returncode, empty.stdout) == (0, "no dead letters\n")
    assert not (tmp_path / "nothing").exists()  # looking creates no folder


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["dlq", "replay", "--stream", "cam-a"], "start `streammm up --data-dir"),
        (["dlq", "replay"], "only with --all"),
        (["dlq", "replay", "--offset", "streammm.segments.v1:x:3"], "expected TOPIC:PARTITION:OFFSET"),
    ],
)
def test_dlq_replay_argument_errors_exit_2_with_one_error_line(tmp_path: Path, args: list[str], says: str):
    archive(archive_folder(tmp_path))
    refused = run_cli(*args, "--data-dir", str(tmp_path))
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert line.startswith("streammm: error: ") and says in line
    assert len(archived_dead_letters(archive_folder(tmp_path))) == len(LETTERS)  # nothing moved
