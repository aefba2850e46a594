"""Any video in (issue 10): a matrix of containers, codecs and timestamp oddities, made here with PyAV's
encoders, each frame showing its own media time. One `streammm up --once` (real broker, models and store)
indexes them all; every case must tile its whole duration with clips, leave no dead letter, and every clip's
OCR'd timecodes must sit within 1 s of where the clip says they were seen. `inspect` (whole-file decoding)
must read the same timecodes at the same times, and a case's text subtitle track is on-screen text at its
cues' own seconds. Cases whose encoder this FFmpeg build lacks are skipped
(here: Theora, no libtheora encoder).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipeline_helpers import (
    assert_tiles,
    base_env,
    clip_rows,
    clips_of,
    run_cli,
    search,
    tail,
)

from streammm.media.captions import CAPTION_X, CAPTION_Y
from streammm.media.probe import probe
from streammm.media.synthetic import CAPTIONS, MATRIX, missing_encoders, srt_text, write_case
from streammm.pipeline.dead_letters import archive_folder, decode_letter

pytestmark = pytest.mark.integration
CASES = {case.name: case for case in MATRIX}
TOLERANCE_S = 1.0
TIMECODE = re.compile(r"(?<![\d.])(\d{1,2}\.\d)(?![\d.])")
INSPECTED = ("mp4_rotated_90", "ts_mpeg2_mp2", "avi_cinepak", "mp4_one_keyframe")
BROKEN = "not-a-video"
SIDECAR = ("mp3_audio_only",)  # cases indexed with CAPTIONS in a subtitle file beside them


@dataclass(frozen=True)
class Indexed:
    files: dict[str, Path]
    skipped: dict[str, str]
    data_dir: Path
    log: Path
    returncode: int
    seconds: float
    make_seconds: float


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Indexed:
    root = tmp_path_factory.mktemp("formats")
    began = time.monotonic()
    files, skipped = {}, {}
    for case in MATRIX:
        missing = missing_encoders(case)
        if missing:
            skipped[case.name] = f"this FFmpeg build has no {' or '.join(missing)} encoder to make the test file"
            continue
        files[case.name] = write_case(case, root)
        if case.name in SIDECAR:  # a subtitle file beside it, as a podcast's transcript is
            files[case.name].with_suffix(".srt").write_text(srt_text(list(CAPTIONS)), encoding="utf-8")
    made_s = time.monotonic() - began
    data_dir, log = root / "data", root / "up.log"
    began = time.monotonic()
    broken = root / "not-a-video.mp4"  # one input that cannot be read: the others must still be indexed
    broken.write_bytes(b"this is a text file with a video's name\n" * 200)
    inputs = [f"{path}={name}" for name, path in files.items()] + [f"{broken}={BROKEN}"]
    result = run_cli(["up", "--once", "--no-server", "--data-dir", str(data_dir), "--ingest", *inputs], env=base_env(), log=log, timeout_s=900)
    seconds = time.monotonic() - began
    print(f"\nformat matrix: {len(files)} files made in {made_s:.1f} s, indexed by one `up --once` in {seconds:.1f} s")
    return Indexed(files, skipped, data_dir, log, result.returncode, seconds, made_s)


@pytest.fixture(scope="module")
def store(indexed: Indexed):
    from streammm.store.embedded import LanceDbClipStore

    return LanceDbClipStore(indexed.data_dir / "clips", 384)


def case_file(indexed: Indexed, name: str) -> Path:
    if name in indexed.skipped:
        pytest.skip(indexed.skipped[name])
    return indexed.files[name]


def timecodes(text: str) -> list[float]:
    return [float(t) for t in TIMECODE.findall(text)]


def test_up_once_indexes_every_case_lists_only_the_unreadable_input_and_exits_one(indexed: Indexed):
    log = indexed.log.read_text()
    assert indexed.returncode == 1, f"up --once exited {indexed.returncode}\n{tail(indexed.log, 80)}"
    summary = log[log.rindex("inputs; not indexed:"):].splitlines()[1:]
    listed = [line.split(":", 1)[0].strip() for line in summary if line.startswith("  ")]
    assert listed == [BROKEN], f"only the broken input is listed as not indexed:\n{tail(indexed.log, 40)}"
    assert f"indexed {len(indexed.files)} of {len(indexed.files) + 1} inputs" in log
    letters = [decode_letter(p.read_bytes()) for p in sorted(archive_folder(indexed.data_dir).glob("*.dead"))]
    assert not letters, "dead letters: " + "; ".join(f"{d.stream_id}: {d.reason}" for d in letters)


@pytest.mark.parametrize("name", list(CASES))
def test_clips_tile_the_whole_duration(indexed: Indexed, name: str):
    path = case_file(indexed, name)
    rows = clip_rows(indexed.data_dir, name)
    assert rows, f"{name}: no clips stored\n{tail(indexed.log, 60)}"
    assert_tiles(rows, probe(path).duration_s, name)


@pytest.mark.parametrize("name", [c.name for c in MATRIX if c.video])
def test_every_clip_reads_its_own_timecode(indexed: Indexed, store, name: str):
    """Each clip shows timecodes (OCR of the burned-in media time); each reading is within 1 s of the time
    the clip says it was on screen, and inside the clip's window (±1 s)."""
    case_file(indexed, name)
    problems = []
    for clip in clips_of(store, indexed.data_dir, name):
        read = [(line.start_s, value) for line in clip.ocr_lines for value in timecodes(line.text)]
        if not read:
            problems.append(f"[{clip.start_s:g}-{clip.end_s:g}] no timecode read (OCR {[l.text for l in clip.ocr_lines]})")
        for seen_s, value in read:
            if abs(value - seen_s) > TOLERANCE_S or not clip.start_s - TOLERANCE_S <= value <= clip.end_s + TOLERANCE_S:
                problems.append(f"[{clip.start_s:g}-{clip.end_s:g}] timecode {value} seen at {seen_s:g} s")
        for t in clip.frame_times:
            if not clip.start_s - 1e-3 <= t <= clip.end_s + 1e-3:
                problems.append(f"[{clip.start_s:g}-{clip.end_s:g}] frame at {t} s")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", [c.name for c in MATRIX if not c.video])
def test_audio_only_inputs_index_speech_only_clips(indexed: Indexed, store, name: str):
    """Speech only; an audio file with a subtitle file beside it (a podcast's transcript) has their text too."""
    case_file(indexed, name)
    clips = clips_of(store, indexed.data_dir, name)
    expected = ("speech", "ocr") if name in SIDECAR else ("speech",)
    assert clips and all(c.expected == expected and not c.pending and not c.frame_times for c in clips), [
        (c.start_s, c.expected, c.pending) for c in clips
    ]


@pytest.mark.parametrize("name", INSPECTED)
def test_inspect_reads_the_same_timeline_as_the_pipeline(indexed: Indexed, store, perceiver, name: str):
    """Whole-file perception (what `streammm inspect` prints) OCRs the timecodes the pipeline's clips carry,
    at the same times (±1 s per span)."""
    path = case_file(indexed, name)
    timeline, _ = perceiver.perceive_file(path)
    spans = [(line.start_s, value) for line in timeline.ocr for value in timecodes(line.text)]
    assert spans, "inspect read no timecode"
    assert all(abs(value - start) <= TOLERANCE_S for start, value in spans), spans
    piped = {value: line.start_s for clip in clips_of(store, indexed.data_dir, name) for line in clip.ocr_lines for value in timecodes(line.text)}
    both = [(value, start, piped[value]) for start, value in spans if value in piped]
    assert len(both) >= len(spans) // 2, f"inspect read {sorted(v for _, v in spans)}, the pipeline {sorted(piped)}"
    assert all(abs(a - b) <= TOLERANCE_S for _, a, b in both), both


@pytest.mark.parametrize("name", [c.name for c in MATRIX if c.subtitles] + list(SIDECAR))
def test_subtitles_are_in_every_clip_they_were_shown_in_at_their_own_seconds(indexed: Indexed, store, name: str):
    """A text subtitle track (MP4 timed text, ASS, WebVTT, SRT), or a subtitle file beside an audio file, is
    on-screen text: each cue, its styling gone, is in every clip whose window it overlaps, over exactly its
    own seconds (a cue across a segment cut too)."""
    case_file(indexed, name)
    clips = clips_of(store, indexed.data_dir, name)
    assert clips
    for clip in clips:
        shown = {(a, b, words) for a, b, words in CAPTIONS if a < clip.end_s and b > clip.start_s}
        got = {(line.start_s, line.end_s, line.text) for line in clip.ocr_lines if (line.x, line.y) == (CAPTION_X, CAPTION_Y)}
        assert got == shown, (clip.start_s, clip.end_s)


def test_a_subtitles_words_find_the_moment_it_was_shown(indexed: Indexed, tmp_path: Path):
    """`streammm search` for a subtitle's words lands on its seconds (1.7-4.6 s), not the windows around it."""
    name = "mkv_vp9_opus"
    case_file(indexed, name)
    moments = search("the kite climbs over the windy harbour", indexed.data_dir, env=base_env(), log=tmp_path / "search.log")
    top = next(m for m in moments if m["stream_id"] == name)
    assert abs(top["start_s"] - 1.7) <= 0.1 and abs(top["end_s"] - 4.6) <= 0.1, top


def test_inspect_shows_a_files_subtitles_at_their_seconds(indexed: Indexed, perceiver):
    path = case_file(indexed, "mp4_h264_aac")
    timeline, _ = perceiver.perceive_file(path)
    assert {(line.start_s, line.end_s, line.text) for line in timeline.ocr if (line.x, line.y) == (CAPTION_X, CAPTION_Y)} == set(CAPTIONS)
