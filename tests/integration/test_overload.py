"""A paced stream that falls behind is thinned, visibly and reversibly, and recorded on its clips.

The `perceive` worker (real models: EfficientNet-Lite + RapidOCR, one decode for both) reads the dev
slideshow's 5 s segments, then the aligner writes clips into a real LanceDB store with the real text
encoder. The broker is the in-memory bus (the Kafka path is test_pipeline's); the overload is simulated
by when each segment says it was published: the middle two waited 30 s for the worker, as they would
behind a long queue, the others not at all. Each segment is published just before the worker takes it,
so no wait depends on how fast this machine is.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from streammm.bus.codec import decode_observation, encode_segment
from streammm.bus.memory import MemoryBus, MemoryWorker
from streammm.bus.topics import Topics
from streammm.config import load_settings
from streammm.media.segments import iter_segments
from streammm.models.registry import Models
from streammm.models.runtime import InferencePool
from streammm.paths import shared_media
from streammm.pipeline.align import AlignHandler
from streammm.pipeline.perceive import PerceiveHandler
from streammm.records import clip_id
from streammm.server.metrics import Metrics
from streammm.stats import PipelineStats
from streammm.store.embedded import LanceDbClipStore

SLIDESHOW = shared_media() / "derived" / "narrated_slideshow.mp4"
SETTINGS = load_settings(env={}, overrides={"media.segment_s": 5.0})
TOPICS = Topics.from_config(SETTINGS.kafka)
WAITED_S = {2: 30.0, 3: 30.0}  # segment seq -> how long it waited for the worker (the rest: not at all)


def paced_segments(stream_id: str, *, paced: bool):
    for segment in iter_segments(SLIDESHOW, stream_id, SETTINGS.media.segment_s):
        # no speech expected: the frame stages are what is thinned, and the clips complete without it
        yield replace(segment, run=replace(segment.run, started_at=1000.0, paced=paced, has_audio=False))


@pytest.fixture(scope="module")
def overloaded(tmp_path_factory):
    """Both streams through perceive -> align: `live` paced, `batch` a batch of the same file; the
    status line of `live` after each segment; the store."""
    if not SLIDESHOW.is_file():
        pytest.skip(f"dev media missing: {SLIDESHOW}")
    root = tmp_path_factory.mktemp("overload")
    models = Models(SETTINGS.models)
    pool = InferencePool(1)
    store = LanceDbClipStore(root / "clips", models.embedder.text.dim)
    stats = PipelineStats()
    bus = MemoryBus(partitions=2)
    perceive = MemoryWorker(bus, PerceiveHandler(SETTINGS, models, TOPICS, pool), (TOPICS.segments,), name="perceive-0", dlq_topic=TOPICS.dlq)
    align = MemoryWorker(
        bus, AlignHandler(SETTINGS, models.embedder, store, TOPICS, pool, thumbnails_dir=root / "thumbnails", stats=stats),
        (TOPICS.vision, TOPICS.ocr), name="align-0", dlq_topic=TOPICS.dlq,
    )
    lines: list[str] = []
    try:
        for stream_id, paced in (("live", True), ("batch", False)):
            for segment in paced_segments(stream_id, paced=paced):
                published_at = time.time() - WAITED_S.get(segment.seq, 0.0)
                bus.produce(TOPICS.segments, stream_id, encode_segment(segment, published_at=published_at))
                asyncio.run(perceive.poll())
                asyncio.run(align.poll())
                if paced:
                    lines.append(next(line for line in stats.lines() if line.startswith("live")))
        assert not perceive.dead_letters() and not align.dead_letters()
        def clips(stream_id: str):
            ids = [clip_id(stream_id, SETTINGS.align.stride_s * i, models.embedder.version) for i in range(20)]
            return sorted(store.get(ids), key=lambda c: c.start_s)

        yield {"bus": bus, "clips": clips, "stats": stats, "lines": lines}
    finally:
        pool.close()
        store.close()


def visual_reports(bus: MemoryBus, stream_id: str):
    return [o for o in map(decode_observation, (m.value for m in bus.messages(TOPICS.vision))) if o.stream_id == stream_id]


def test_segments_that_waited_are_sampled_at_the_overload_rate_and_the_rest_at_the_normal_rate(overloaded):
    for obs in visual_reports(overloaded["bus"], "live"):
        rates = {f.sample_fps for f in obs.frames}
        expected = SETTINGS.media.overload_sample_fps if obs.seq in WAITED_S else SETTINGS.media.sample_fps
        assert rates == {expected}, f"segment {obs.seq}"
        grid = [f.t_s for f in obs.frames if not f.shot_change]
        assert all(abs(t * expected - round(t * expected)) < 1e-3 for t in grid), f"segment {obs.seq}: {grid} off the {expected} fps grid"
    counts = {o.seq: len(o.frames) for o in visual_reports(overloaded["bus"], "live")}
    assert max(counts[seq] for seq in WAITED_S) < counts[1], f"thinned segments sample fewer frames: {counts}"


def test_the_clips_record_the_rate_their_frames_had_and_return_to_normal(overloaded):
    clips = overloaded["clips"]("live")
    assert clips and all(c.complete for c in clips)
    thinned = [c for c in clips if c.sample_fps == SETTINGS.media.overload_sample_fps]
    normal = [c for c in clips if c.sample_fps == SETTINGS.media.sample_fps]
    assert thinned and normal and len(thinned) + len(normal) == len(clips)
    thinned_span = (10.0, 20.0)  # segments 2 and 3
    for clip in clips:
        overlaps = clip.start_s < thinned_span[1] and clip.end_s > thinned_span[0]
        assert (clip in thinned) == overlaps, f"{clip.start_s}-{clip.end_s} s: sample_fps {clip.sample_fps}"
    assert clips[-1] in normal, "back to the normal rate once the segments stop waiting"
    # Thinned is not blind: the slides shown while thinned are still read.
    assert any("slide" in c.ocr_text.lower() for c in thinned)


def test_a_batch_is_never_thinned_however_long_it_waited(overloaded):
    clips = overloaded["clips"]("batch")
    assert clips and {c.sample_fps for c in clips} == {SETTINGS.media.sample_fps}


def test_progress_and_metrics_show_the_thinning_while_it_lasts(overloaded):
    lines = overloaded["lines"]
    assert "frames thinned to 0.5 fps while behind" in lines[3], lines
    assert "thinned" not in lines[-1], lines  # caught up
    metrics = Metrics().render(None, overloaded["stats"]).decode()
    assert 'streammm_stream_thinned{stream_id="live"} 0.0' in metrics
    thinned_clips = next(line for line in metrics.splitlines() if line.startswith('streammm_stream_thinned_clips{stream_id="live"}'))
    assert float(thinned_clips.split()[-1]) >= 5
    assert 'streammm_stream_sample_fps{stream_id="live"} 1.0' in metrics
