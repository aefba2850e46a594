"""The vision worker's handler on the real segments of a real video: shot changes at segment starts.

Encoders put keyframes at cuts and segments start at keyframes, so most cuts of a segmented stream fall
on a segment's first frame, where the segment alone has nothing to compare with. The handler keeps each
stream's last frame's colour histogram for that. The real bundled vision model encodes the frames.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import replace

import pytest

from streammm.bus.codec import decode_observation, encode_segment
from streammm.bus.handling import InMessage
from streammm.bus.topics import Topics
from streammm.config import load_settings
from streammm.media.segments import iter_segments
from streammm.models.registry import Models
from streammm.models.runtime import InferencePool
from streammm.paths import shared_media
from streammm.pipeline.perceive import VisionHandler
from streammm.records import Segment

SETTINGS = load_settings(env={})
TOPICS = Topics.from_config(SETTINGS.kafka)
VIDEO = shared_media() / "derived" / "narrated_slideshow.mp4"  # five slides of 5 s; a keyframe at every slide
CUTS = [5.0, 10.0, 20.0]  # slide changes the histogram rule sees (the one at 15 s stays under the threshold)


@functools.cache
def segments() -> tuple[Segment, ...]:
    return tuple(iter_segments(VIDEO, "slides", 2.0))


def handler() -> VisionHandler:
    models = Models(SETTINGS.models)
    return VisionHandler(SETTINGS, models, TOPICS, InferencePool(1))


def shot_changes(vision: VisionHandler, stream: Sequence[Segment], *, started: bool = False) -> list[float]:
    """The shot-change frame times the handler reports for `stream`, fed through its entry point (with
    `started`, when each new shot started instead)."""
    found = []
    for segment in stream:
        message = InMessage(TOPICS.segments, 0, segment.seq, segment.stream_id, encode_segment(segment, published_at=time.time()))
        for out in asyncio.run(vision.handle(message)):
            found += [f.shot_start_s if started else f.t_s for f in decode_observation(out.value).frames if f.shot_change]
    return found


def test_the_segments_start_at_the_slide_changes():
    assert set(CUTS) <= {s.start_s for s in segments()}


def test_a_cut_at_a_segments_first_frame_is_a_shot_change():
    assert shot_changes(handler(), segments()) == CUTS


def test_the_observations_say_when_each_shot_started_to_the_frame():
    """bikes.mp4 in 2 s segments: its edits (1.20, 3.04, 5.48, 7.48, 9.68 s, ../shared/media/MANIFEST.md)
    are found at the probe after each (up to 0.25 s later) and reported, through the bus codec, at the
    frame they happened."""
    bikes = list(iter_segments(shared_media() / "video" / "bikes.mp4", "bikes", 2.0))
    found = shot_changes(handler(), bikes, started=True)
    assert found == pytest.approx([1.2, 3.04, 5.48, 7.48, 9.68], abs=0.021)


def test_each_segment_alone_sees_no_cut_at_its_start():
    """What the handler had before it kept the histogram (and has after a restart): no previous frame."""
    found = []
    for segment in segments():
        found += shot_changes(handler(), [segment])
    assert found == []


def test_a_new_run_of_the_stream_does_not_compare_with_the_old_runs_last_frame():
    """The stream is published again before its last run ended: the new run's first segment (the third
    slide) is compared with nothing, not with the old run's last frame (the second slide)."""
    vision = handler()
    assert shot_changes(vision, segments()[:2]) == [CUTS[0]]  # the old run stops after the second slide
    again = replace(segments()[2], run=replace(segments()[2].run, started_at=segments()[2].run.started_at + 60.0))
    assert again.start_s == CUTS[1]
    assert shot_changes(vision, [again]) == []


def test_the_last_segment_forgets_the_stream():
    vision = handler()
    shot_changes(vision, segments())
    assert vision.streams == {}
