"""Bad media gives a one-line error (non-zero exit) or a valid timeline with empty parts, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from streammm.errors import MediaError

pytestmark = pytest.mark.integration


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streammm", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture
def bad_files(tmp_path: Path, media: Path) -> dict[str, Path]:
    random_bytes = tmp_path / "random.mp4"
    random_bytes.write_bytes(bytes(range(256)) * 400)
    text = tmp_path / "notes.webm"
    text.write_text("this is not a video\n" * 100)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((media / "video" / "movie-hello.mp4").read_bytes()[:300_000])
    return {"random": random_bytes, "text": text, "empty": empty, "truncated": truncated, "missing": tmp_path / "absent.mp4"}


@pytest.mark.parametrize("kind", ["random", "text", "empty", "missing"])
def test_unreadable_files_give_a_one_line_error_and_exit_non_zero(bad_files, kind):
    result = run_cli("inspect", str(bad_files[kind]), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("streammm: error:")]
    assert len(lines) == 1 and str(bad_files[kind].name) in lines[0]
    assert "Traceback" not in result.stderr


def test_truncated_mp4_gives_a_valid_partial_timeline(bad_files):
    result = run_cli("inspect", str(bad_files["truncated"]), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"media", "duration_s", "words", "ocr", "frames"}
    assert doc["frames"], "the frames before the damage are still read; stderr: " + result.stderr[-2000:]


def test_in_process_errors_are_media_errors(perceiver, bad_files):
    for kind in ("random", "text", "empty", "missing"):
        with pytest.raises(MediaError):
            perceiver.perceive_file(bad_files[kind])


def test_video_without_audio_track_via_cli(media):
    result = run_cli("inspect", str(media / "video" / "bikes.mp4"), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    doc = json.loads(result.stdout)
    assert doc["words"] == [] and len(doc["frames"]) >= 10
    assert doc["duration_s"] == pytest.approx(10.0, abs=0.1)
