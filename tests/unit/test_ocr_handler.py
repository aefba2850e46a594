"""The OCR worker's handler on the real segments of a real video: when a line came and went.

A line comes or goes between two sampled frames; its span's edge is put halfway between them, or at a cut
where a shot starts at the frame that first (or no longer) shows it. Segments start at keyframes, which
encoders put at cuts, so the handler keeps each stream's last frame's colour histogram: a cut at a
segment's first frame is seen. The real RapidOCR reads the frames.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import time
from collections.abc import Sequence

from streammm.bus.codec import decode_observation, encode_segment
from streammm.bus.handling import InMessage
from streammm.bus.topics import Topics
from streammm.config import load_settings
from streammm.media.segments import iter_segments
from streammm.models.registry import Models
from streammm.models.runtime import InferencePool
from streammm.paths import shared_media
from streammm.pipeline.perceive import OcrHandler
from streammm.records import Observation, OcrLine, Segment
from streammm.stages.align import merge_spans

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


def test_a_line_gone_by_the_next_segments_first_frame_ends_halfway_to_it_not_where_it_was_held_open():
    """The real timecode video sampled at 1 fps: each second's frame shows a new "00:00:SS:00" in the same
    place, so each reading is on screen from halfway after the frame before to halfway before the next.
    A line still showing at a segment's last frame is reported held open to the next frame (for a later
    report to join); the next report, whose first frame no longer shows it, ends it halfway. The merge
    had kept the held end: the readings at segments' last frames overlapped the next ones by half a second."""
    spans = {line.text: (line.start_s, line.end_s) for line in reported(reports(handler(), timecode_segments())) if line.text.startswith("00:00:")}
    expected = {f"00:00:0{s}:00": (max(0.0, s - 0.5), s + 0.5) for s in range(7)}
    assert {text: spans.get(text) for text in expected} == expected, spans


def test_a_window_stored_once_the_reports_cover_it_holds_every_line_later_reports_put_in_it():
    """The aligner stores a window as soon as every modality's reports cover it; a line a later report puts
    in it is lost. A line first seen on a segment's first frame starts halfway back to the frame before,
    inside the time of the segment before (the real timecode video: a new "00:00:SS:00" every second, no
    cut), so that segment's report must not claim the time. (It did: the twenty-streams backlog test found
    the window 0-4 s without "00:00:04:00", depending on which worker's report came first.)"""
    stream = timecode_segments()
    windows = [(2.0 * i, 2.0 * i + 4.0) for i in range(4)]
    stored: dict[tuple[float, float], set[str]] = {}
    spans: tuple[OcrLine, ...] = ()
    covered = 0.0
    for observation in reports(handler(), stream):
        assert abs(observation.start_s - covered) < 1e-6, "each report starts where the one before ended"
        spans = merge_spans(spans, observation.ocr, final_until=covered)
        covered = observation.end_s
        for window in windows:
            if window not in stored and window[1] <= covered:
                stored[window] = {line.text for line in spans if line.start_s < window[1] and line.end_s > window[0]}
    assert len(stored) >= 2
    assert stored == {w: {line.text for line in spans if line.start_s < w[1] and line.end_s > w[0]} for w in stored}
    starts = {line.start_s for line in spans if line.text.startswith("00:00:")}
    assert any(s in starts for s in (segment.start_s - 0.5 for segment in stream[1:])), "a line came just before a segment's first frame"
