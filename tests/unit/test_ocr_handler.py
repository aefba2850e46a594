"""The OCR worker's handler on the real segments of a real video: when a line came and went.

A line comes or goes between two sampled frames; its span's edge is put at the decoded frame in between
that first (or no longer) shows it (the frames' strips), else halfway between them, or at a cut where a
shot starts at the frame that first (or no longer) shows it. Segments start at keyframes, which
encoders put at cuts, so the handler keeps each stream's last frame's colour histogram: a cut at a
segment's first frame is seen. The real RapidOCR reads the frames.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from streammm.bus.codec import decode_observation, encode_segment
from streammm.bus.handling import InMessage
from streammm.bus.topics import Topics
from streammm.config import load_settings
from streammm.ingest.sources import file_segments
from streammm.media.captions import CAPTION_X, CAPTION_Y, read_captions
from streammm.media.frames import FrameSampler
from streammm.media.segments import iter_segments
from streammm.media.synthetic import with_subtitles
from streammm.media.text_heavy import write_text_heavy
from streammm.models.registry import Models
from streammm.models.runtime import InferencePool
from streammm.paths import shared_media
from streammm.pipeline.perceive import OcrHandler
from streammm.records import Observation, OcrLine, Segment
from streammm.stages.align import merge_spans
from streammm.stages.ocr import line_key

SETTINGS = load_settings(env={})
TOPICS = Topics.from_config(SETTINGS.kafka)
VIDEO = shared_media() / "derived" / "narrated_slideshow.mp4"  # five slides of 5 s, "slide N of 5" on each
SLIDES = {"slide 2 of 5": (5.0, 10.0), "slide 3 of 5": (10.0, 15.0), "slide 5 of 5": (20.0, 24.73)}  # changes at cuts it sees


@functools.cache
def segments() -> tuple[Segment, ...]:
    return tuple(iter_segments(VIDEO, "slides", 2.0))


def handler() -> OcrHandler:
    return OcrHandler(SETTINGS, Models(SETTINGS.models), TOPICS, InferencePool(1))


def reports(ocr: OcrHandler, stream: Sequence[Segment]) -> list[Observation]:
    """The handler's reports of `stream`, in order, each fed through its entry point."""
    out = []
    for segment in stream:
        message = InMessage(TOPICS.segments, 0, segment.seq, segment.stream_id, encode_segment(segment, published_at=time.time()))
        out += [decode_observation(o.value) for o in asyncio.run(ocr.handle(message))]
    return out


@functools.cache
def whole_stream_reports() -> tuple[Observation, ...]:
    return tuple(reports(handler(), segments()))


def reported(observations: Sequence[Observation]) -> list[OcrLine]:
    """Every line of `observations`, merged as the aligner does."""
    spans: tuple[OcrLine, ...] = ()
    covered = -math.inf
    for observation in observations:
        spans = merge_spans(spans, observation.ocr, final_until=covered)
        covered = max(covered, observation.end_s)
    return list(spans)


def slide_spans(lines: Sequence[OcrLine]) -> dict[str, list[tuple[float, float]]]:
    found: dict[str, list[tuple[float, float]]] = {}
    for line in lines:
        if line.text.lower().startswith("slide"):
            found.setdefault(line.text.lower(), []).append((line.start_s, round(line.end_s, 3)))
    return found


def test_a_slide_counter_comes_and_goes_with_its_cut_and_is_one_span_across_segments():
    spans = slide_spans(reported(whole_stream_reports()))
    for text, edges in SLIDES.items():
        assert spans.get(text) == [edges], (text, spans)


def test_a_restarted_worker_joins_the_lines_the_last_one_left_open():
    """A worker that starts mid-stream knows no frame before its first: a line there starts at that frame,
    where the report of the worker before it left the line open, so the two are one span."""
    stream = segments()
    middle = next(i for i, s in enumerate(stream) if s.start_s > 11.0)  # inside slide 3
    before = reported(whole_stream_reports()[:middle])  # what a worker reading up to there reported
    after = reports(handler(), stream[middle:])
    covered = whole_stream_reports()[middle - 1].end_s  # where the reports before ended, as the aligner merges
    spans = tuple(before)
    for observation in after:
        spans = merge_spans(spans, observation.ocr, final_until=covered)
        covered = max(covered, observation.end_s)
    spans = slide_spans(spans)
    assert spans["slide 3 of 5"] == [SLIDES["slide 3 of 5"]], spans


@functools.cache
def timecode_segments() -> tuple[Segment, ...]:
    video = shared_media() / "video" / "moviepy_timecode_example.mp4"  # "00:00:SS:FF" at 25 fps, no cut
    return tuple(itertools.islice(iter_segments(video, "timecode", 2.0), 4))  # 0-8 s, in 2 s segments


def test_a_line_gone_by_the_next_segments_first_frame_ends_when_it_went_not_where_it_was_held_open():
    """The real timecode video sampled at 1 fps: each second's frame shows a new "00:00:SS:00" in the same
    place, for one video frame (1/25 s); the strips of the frames in between tell when each reading came
    and went. A line still showing at a segment's last frame is reported held open to the next frame (for
    a later report to join); the next report, whose first frame no longer shows it, ends it where its
    strip says it went. The merge had kept the held end: the readings at segments' last frames overlapped
    the next ones (they ran to the next segment's start)."""
    spans = {line.text: (line.start_s, line.end_s) for line in reported(reports(handler(), timecode_segments())) if line.text.startswith("00:00:")}
    expected = {f"00:00:0{s}:00": (float(s), s + 0.04) for s in range(7)}
    assert {text: spans.get(text) for text in expected} == expected, spans


@functools.cache
def slides_between_samples(folder: str) -> tuple[Segment, ...]:
    """Generated (PyAV and Pillow; no dev video changes its text between samples just before a segment
    boundary): 640x360, 25 fps, keyframes every 2 s, a new slide every 1.25 s; 0-6 s, in 2 s segments."""
    video = write_text_heavy(Path(folder) / "slides.mp4", duration_s=6.0, size=(640, 360), slide_s=1.25, section_s=6.0)
    return tuple(iter_segments(video, "slides-1.25", 2.0))


@pytest.mark.parametrize("decoder", ["pyav", "decord"])
def test_a_window_stored_once_the_reports_cover_it_holds_every_line_later_reports_put_in_it(decoder, tmp_path_factory):
    """The aligner stores a window as soon as every modality's reports cover it; a line a later report puts
    in it is lost. A line first seen on a segment's first frame starts before it, inside the time of the
    segment before: where the strips tell (PyAV: a slide that changed at 1.25 s, first sampled at 2.0 s,
    starts at 1.25 s), or halfway back to the frame before (decord, no strips: the real timecode video, a
    new "00:00:SS:00" every second). That segment's report must not claim the time. (It did: the
    twenty-streams backlog test found the window 0-4 s without "00:00:04:00", depending on which worker's
    report came first.)"""
    ocr = handler()
    if decoder == "decord":
        ocr.sampler = FrameSampler(SETTINGS.media.model_copy(update={"decoder": "decord"}))
        stream = timecode_segments()
    else:
        stream = slides_between_samples(str(tmp_path_factory.mktemp("slides")))
    windows = [(end / 4 - 4.0, end / 4) for end in range(1, 32)]  # ending on a fine grid, any time a report may claim
    stored: dict[tuple[float, float], set[str]] = {}
    spans: tuple[OcrLine, ...] = ()
    covered = 0.0
    early: list[OcrLine] = []  # lines a report put before the first frame it read
    for segment, observation in zip(stream, reports(ocr, stream), strict=True):
        assert abs(observation.start_s - covered) < 1e-6, "each report starts where the one before ended"
        early += [line for line in observation.ocr if line.start_s < segment.start_s and not any(line_key(s.text) == line_key(line.text) for s in spans)]
        spans = merge_spans(spans, observation.ocr, final_until=covered)
        covered = observation.end_s
        for window in windows:
            if window not in stored and window[1] <= covered:
                stored[window] = {line.text for line in spans if line.start_s < window[1] and line.end_s > window[0]}
    assert len(stored) >= 2
    assert stored == {w: {line.text for line in spans if line.start_s < w[1] and line.end_s > w[0]} for w in stored}
    assert any(segment.start_s - 1 < line.start_s < segment.start_s for line in early for segment in stream), (
        "a line came between a segment's last sample and the next segment's first frame", early
    )


@functools.cache
def subtitled(folder: str) -> tuple[tuple[OcrLine, ...], tuple[Segment, ...]]:
    """The slideshow with its narration as an SRT track (made here with PyAV: no dev video has subtitles;
    cues at the utterances' forced-alignment times), its cues and its segments as `up` publishes them.
    The first sentence (0.2-6.8 s) spans the cut at 5 s."""
    words = json.loads((VIDEO.parent / "narrated_slideshow.words.json").read_text())
    cues = [(u["start"], u["end"], u["text"]) for u in words["utterances"]]
    path = with_subtitles(VIDEO, Path(folder) / "slides.mkv", [("subrip", "eng", True, cues)])
    return read_captions(path), tuple(file_segments(str(path), "subtitled", 2.0))


def captions_of(lines: Sequence[OcrLine]) -> list[tuple[float, float, str]]:
    return sorted((line.start_s, line.end_s, line.text) for line in lines if (line.x, line.y) == (CAPTION_X, CAPTION_Y))


def test_subtitles_are_reported_as_on_screen_text_once_each_over_their_own_seconds(tmp_path_factory):
    """Every cue is in the reports of every segment it overlaps; merged as the aligner does, each is one
    line over exactly its seconds, beside what OCR read on the slides."""
    cues, stream = subtitled(str(tmp_path_factory.mktemp("subtitled")))
    lines = reported(reports(handler(), stream))
    assert len(cues) == 5 and captions_of(lines) == captions_of(cues)
    assert any(line.text.lower().startswith("slide 3 of 5") for line in lines)


def test_subtitles_survive_a_restarted_worker_and_a_replayed_segment(tmp_path_factory):
    """A worker that starts mid-sentence, and reads again a segment its predecessor reported (at least
    once delivery), gives the sentence once, whole."""
    cues, stream = subtitled(str(tmp_path_factory.mktemp("subtitled")))
    before = reports(handler(), stream[:2])
    after = reports(handler(), stream[1:])
    spans: tuple[OcrLine, ...] = ()
    covered = -math.inf
    for observation in before + after:
        spans = merge_spans(spans, observation.ocr, final_until=covered)
        covered = max(covered, observation.end_s)
    assert captions_of(spans) == captions_of(cues)


def test_a_segment_whose_picture_cannot_be_read_still_reports_its_subtitles(tmp_path_factory):
    """Bad input: the segment's media is damaged (dead-lettered); the words shown on it are still known."""
    _, stream = subtitled(str(tmp_path_factory.mktemp("subtitled")))
    damaged = replace(stream[1], data=b"\x1aE\xdf\xa3" + bytes(4000))
    message = InMessage(TOPICS.segments, 0, 1, damaged.stream_id, encode_segment(damaged, published_at=time.time()))
    outputs = asyncio.run(handler().handle(message))
    assert [o.topic for o in outputs] == [TOPICS.dlq, TOPICS.observation("ocr")]
    report = decode_observation(outputs[1].value)
    assert report.ocr == stream[1].captions and len(report.ocr) >= 1
