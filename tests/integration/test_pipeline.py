"""The streaming pipeline's reliability contract (DESIGN.md §8) with the real Tansu broker and real models.

Two set-ups, each built once per module:

- `up_run`: one `streammm up --once` process ingesting three real videos at once (then restarted on the
  same data dir);
- `cluster`: an embedded broker with one `streammm worker KIND` process per kind and one store; the tests
  kill, add, stop and feed workers and streams there, each test under its own stream ids.

Nothing is mocked and nothing sleeps for an outcome: every wait polls against a deadline and fails with
the tails of the worker logs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipeline_helpers import (
    PARTITIONS,
    Cluster,
    assert_slideshow_evidence,
    assert_tiles,
    base_env,
    clip_rows,
    clips_of,
    describe,
    expected_ids,
    partition_of,
    produce,
    range_word_errors,
    run_cli,
    search,
    single_profile,
    stop_process,
    tail,
    utterance_errors,
    wait_until,
    window_starts,
)

from streammm.bus.broker import EmbeddedBroker
from streammm.bus.kafka import ensure_topics
from streammm.media.probe import probe
from streammm.media.segments import iter_segments
from streammm.records import ClipFilter

pytestmark = pytest.mark.integration

SLIDESHOW = "derived/narrated_slideshow.mp4"
UP_STREAMS = {
    "narrated_slideshow": SLIDESHOW,
    "movie-hello": "video/movie-hello.mp4",
    "display-dual-monitors": "video/display-dual-monitors.webm",
}
KINDS = ("vision", "speech", "ocr", "align")


@pytest.fixture(scope="module")
def durations(media: Path) -> dict[str, float]:
    return {relative: probe(media / relative).duration_s for relative in UP_STREAMS.values()}


# --- `streammm up --once`: three streams at once, then a restart on the same data dir ------------------


@dataclass(frozen=True)
class UpRun:
    root: Path
    data_dir: Path
    env: dict[str, str]
    log: Path
    seconds: float


@pytest.fixture(scope="module")
def up_run(tmp_path_factory: pytest.TempPathFactory, media: Path) -> UpRun:
    root = tmp_path_factory.mktemp("up")
    data_dir = root / "data"
    env = base_env(kafka__partitions=3)
    log = root / "up-1.log"
    began = time.monotonic()
    inputs = [f"{media / relative}={stream_id}" for stream_id, relative in UP_STREAMS.items()]
    result = run_cli(["up", "--once", "--data-dir", str(data_dir), "--ingest", *inputs], env=env, log=log, timeout_s=840)
    assert result.returncode == 0, f"streammm up --once exited {result.returncode}\n{tail(log, 60)}"
    return UpRun(root, data_dir, env, log, time.monotonic() - began)


def test_up_once_tiles_three_concurrent_streams(up_run: UpRun, durations: dict[str, float]):
    rows = clip_rows(up_run.data_dir)
    assert {r["stream_id"] for r in rows} == set(UP_STREAMS), f"streams stored: {sorted({r['stream_id'] for r in rows})}"
    profile = single_profile(rows)
    for stream_id, relative in UP_STREAMS.items():
        mine = [r for r in rows if r["stream_id"] == stream_id]
        assert_tiles(mine, durations[relative], stream_id)
        assert {r["clip_id"] for r in mine} == expected_ids(stream_id, durations[relative], profile), stream_id
    assert len(rows) == sum(len(window_starts(d)) for d in durations.values())


def test_search_finds_the_spoken_sentence(up_run: UpRun):
    found = search("he was not an ill disposed young man", up_run.data_dir, env=up_run.env, log=up_run.root / "search-1.log")
    assert found, "no moments found"
    top = found[0]
    assert top["stream_id"] == "narrated_slideshow", json.dumps(found, indent=1)
    assert top["start_s"] < 9.84 and top["end_s"] > 7.31, f"top moment {top['start_s']}-{top['end_s']} s misses 7.31-9.84 s"


def test_search_finds_the_on_screen_checkbox(up_run: UpRun):
    """"Mirror displays" is on screen from 4 s to the end; the moment it is ticked (25-29 s) is when the
    same words appear in two more places (the pink monitor box and its label) and must rank first."""
    found = search("Mirror displays", up_run.data_dir, env=up_run.env, log=up_run.root / "search-mirror.log")
    assert found, "no moments found"
    top = found[0]
    assert top["stream_id"] == "display-dual-monitors", json.dumps(found, indent=1)
    assert top["start_s"] < 29.0 and top["end_s"] > 25.0, f"top moment {top['start_s']}-{top['end_s']} s misses 25-29 s"


def test_restart_reingest_keeps_every_clip_once(up_run: UpRun, media: Path):
    before = clip_rows(up_run.data_dir)
    log = up_run.root / "up-2.log"
    source = f"{media / SLIDESHOW}=narrated_slideshow"
    result = run_cli(["up", "--once", "--data-dir", str(up_run.data_dir), "--ingest", source], env=up_run.env, log=log, timeout_s=600)
    assert result.returncode == 0, f"the second streammm up --once exited {result.returncode}\n{tail(log, 60)}"
    # The stream really went through the pipeline again (its clips were written again) ...
    assert "stream narrated_slideshow: all clips stored" in log.read_text(), tail(log, 60)
    after = clip_rows(up_run.data_dir)
    # ... and overwrote: the same ids, each once, and nothing of the other streams lost.
    assert sorted(r["clip_id"] for r in after) == sorted(r["clip_id"] for r in before)
    assert [(r["stream_id"], r["start_s"], r["end_s"]) for r in after] == [(r["stream_id"], r["start_s"], r["end_s"]) for r in before]

    # A fresh reader answers from what the earlier run stored (movie-hello was not ingested again).
    found = search("Hello world", up_run.data_dir, env=up_run.env, log=up_run.root / "search-2.log")
    assert found and found[0]["stream_id"] == "movie-hello", json.dumps(found, indent=1)
    found = search("he was not an ill disposed young man", up_run.data_dir, env=up_run.env, log=up_run.root / "search-3.log")
    assert found[0]["stream_id"] == "narrated_slideshow" and found[0]["start_s"] < 9.84 and found[0]["end_s"] > 7.31


# --- separate workers against one broker ------------------------------------------------------------


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    broker = EmbeddedBroker(log_file=tmp_path_factory.mktemp("broker") / "tansu.log").start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def cluster(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("cluster")
    env = base_env(
        kafka__bootstrap_servers=broker.bootstrap_servers,
        kafka__partitions=PARTITIONS,
        # A killed member leaves the group within ~10 s; a worker stopped for less keeps its partitions.
        kafka__session_timeout_ms=10000,
        # Short: windows are stored provisionally while a worker is stopped or being restarted, so every
        # test here also checks that late evidence is merged into the stored clips (a loss shows as
        # missing evidence).
        align__provisional_after_s=2,
        # No thinning: every frame must be stored here, however far a stopped worker falls behind (a
        # stream thinned while behind is test_overload's).
        media__overload_lag_s=0,
        store__data_dir=root / "data",
    )
    cluster = Cluster(broker.bootstrap_servers, root, env)
    cluster.logs.mkdir(parents=True)
    asyncio.run(ensure_topics(cluster.settings.kafka, broker.bootstrap_servers))
    try:
        for kind in KINDS:
            cluster.start(kind, wait=False)
        for worker in list(cluster.workers.values()):
            cluster.wait_consuming(worker)
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def live(cluster: Cluster) -> Cluster:
    """The cluster with a running worker of every kind (a test before may have stopped one)."""
    for kind, worker in list(cluster.workers.items()):
        if not worker.alive:
            cluster.start(kind)
    return cluster


@pytest.fixture(scope="module")
def slideshow_s(media: Path) -> float:
    return probe(media / SLIDESHOW).duration_s


def assert_complete_slideshow(cluster: Cluster, stream_id: str, duration_s: float, truth: dict, *, missing=()) -> None:
    rows = clip_rows(cluster.data_dir, stream_id)
    assert_tiles(rows, duration_s, stream_id)
    profile = single_profile(clip_rows(cluster.data_dir))
    assert {r["clip_id"] for r in rows} == expected_ids(stream_id, duration_s, profile)
    clips = clips_of(cluster.store(), cluster.data_dir, stream_id)
    assert_slideshow_evidence(clips, truth, duration_s, missing=missing)
    if not missing:
        problems = utterance_errors(clips, truth)
        assert not problems, f"{stream_id}: speech lost or garbled:\n" + "\n".join(problems)


@pytest.mark.parametrize("kind", KINDS)
def test_kill_9_worker_mid_stream_loses_and_duplicates_nothing(live: Cluster, kind: str, media: Path, slideshow_s: float, slideshow_truth: dict):
    """Segments are fed by hand so the kill lands while the stream is half published and, for the
    perception workers, most likely while the victim handles a segment."""
    stream_id = f"kill-{kind}"
    segments = list(iter_segments(media / SLIDESHOW, stream_id, live.settings.media.segment_s))
    assert len(segments) >= 4
    total = len(window_starts(slideshow_s))
    produce(live, segments[:2])
    live.wait_clips(stream_id, 1, timeout_s=180, what=f"the first clip of {stream_id}")  # every stage has read it

    victim = live.workers[kind]
    produce(live, segments[2:3])
    time.sleep(0.15)  # not an assertion: lets a perception worker pick the segment up, so it dies mid-handle
    victim.process.send_signal(signal.SIGKILL)
    assert victim.process.wait(timeout=30) == -signal.SIGKILL
    stored = live.store().count(ClipFilter(stream_ids=(stream_id,)))
    assert stored < total, f"{stream_id} was complete before the kill ({stored} clips): nothing was killed mid-stream"
    produce(live, segments[3:])
    replacement = live.start(kind, wait=False)

    live.wait_done(stream_id, timeout_s=300, what=f"{stream_id} to finish after {kind} was killed")
    assert replacement.alive, live.context()
    live.wait_consuming(replacement)  # it is the group's member now
    assert_complete_slideshow(live, stream_id, slideshow_s, slideshow_truth)


def test_two_ocr_workers_split_partitions_and_a_stopped_one_hands_over(live: Cluster, media: Path, slideshow_s: float, slideshow_truth: dict):
    segments = live.topics.segments
    first = live.workers["ocr"]
    second = live.start("ocr", wait=False)  # joins first's group; becomes the cluster's OCR worker

    def split() -> bool:
        a, b = first.partitions(segments), second.partitions(segments)
        return bool(a and b and not a & b and a | b == set(range(PARTITIONS)))

    wait_until(split, timeout_s=180, what="the two OCR workers to split the partitions", context=live.context, check=live.check_alive)
    assert first.alive and second.alive

    # One stream on each partition, so that each worker has one to read.
    by_partition: dict[int, str] = {}
    for i in range(100):
        by_partition.setdefault(partition_of(f"split-{i}", PARTITIONS), f"split-{i}")
    streams = [by_partition[p] for p in range(PARTITIONS)]
    owner = {s: (first if partition_of(s, PARTITIONS) in first.partitions(segments) else second) for s in streams}
    publishers = [live.publish(media / SLIDESHOW, s, realtime=True) for s in streams]
    total = len(window_starts(slideshow_s))
    for stream_id in streams:  # a clip needs OCR, so each worker has read its partition's stream
        live.wait_clips(stream_id, 1, timeout_s=180, what=f"the first clip of {stream_id} (read by {owner[stream_id].name})")
    stopped_stream = next(s for s in streams if owner[s] is first)
    assert live.store().count(ClipFilter(stream_ids=(stopped_stream,))) < total, "the stream was complete before the stop"

    assert stop_process(first.process, signal.SIGTERM, timeout_s=60) == 0, tail(first.log)
    assert "worker stopped" in first.text(), tail(first.log)
    wait_until(
        lambda: second.partitions(segments) == set(range(PARTITIONS)),
        timeout_s=120, what=f"{second.name} to take over every partition", context=live.context,
    )
    for stream_id in streams:
        live.wait_done(stream_id, timeout_s=300, what=f"{stream_id} to finish after {first.name} stopped")
    for process in publishers:
        assert process.wait(timeout=60) == 0
    for stream_id in streams:
        assert_complete_slideshow(live, stream_id, slideshow_s, slideshow_truth)
    assert second.alive


def test_corrupt_segments_go_to_the_dlq_and_the_stream_goes_on(live: Cluster, media: Path, slideshow_s: float, slideshow_truth: dict):
    stream_id = "corrupt"
    segments = list(iter_segments(media / SLIDESHOW, stream_id, live.settings.media.segment_s))
    assert len(segments) >= 5
    random_k, truncated_k = 1, 3
    damaged = {
        random_k: os.urandom(len(segments[random_k].data)),
        truncated_k: segments[truncated_k].data[: len(segments[truncated_k].data) // 2],  # cut inside a frame
    }
    placed = produce(live, segments, damaged=damaged)
    live.wait_done(stream_id, timeout_s=300)

    # Every stage that decodes the part that is broken reports it: random bytes break audio and video,
    # a container cut inside its first video frame breaks the video (its audio comes later in the file).
    want = {random_k: {"visual", "speech", "ocr"}, truncated_k: {"visual", "ocr"}}
    where = {(partition, offset): k for k, (partition, offset, _) in enumerate(placed)}

    def letters():
        found = live.dead_letters(stream_id)
        stages = {k: {d.reason.split(":", 1)[0] for d in found if where.get((d.partition, d.offset)) == k} for k in want}
        return found if all(want[k] <= stages[k] for k in want) else None

    found = wait_until(letters, timeout_s=60, what="dead letters of the damaged segments", context=live.context, interval_s=1)
    for letter in found:
        k = where.get((letter.partition, letter.offset))
        assert k in want, f"intact segment {k} was dead-lettered: {letter.reason}"
        stage, _, why = letter.reason.partition(":")
        assert stage in want[k] and why.strip(), f"the reason should name the stage and say why: {letter.reason!r}"
        assert letter.source_topic == live.topics.segments
        assert letter.payload == placed[k][2], "the dead letter should carry the message as it was received"

    # The stream went on: it tiles, and every intact segment's frames, captions and words are stored.
    lost = [(segments[k].start_s, segments[k].end_s) for k in sorted(want)]
    assert_complete_slideshow(live, stream_id, slideshow_s, slideshow_truth, missing=lost)
    intact = [(s.start_s, s.end_s) for s in segments if s.seq not in want]
    # Words right after a lost segment are heard without the audio before them: leave their first second out.
    trimmed = [(a + (1.0 if any(abs(b0 - a) < 1e-3 for _, b0 in lost) else 0.0), b) for a, b in intact]
    clips = clips_of(live.store(), live.data_dir, stream_id)
    problems = range_word_errors(clips, slideshow_truth, trimmed)
    assert not problems, "speech of intact segments is missing:\n" + "\n".join(problems)
    live.check_alive()


# --- a backlog is not a failure: a modality that stalls is waited for and merged in, never dropped -------


def clips_by_start(store, data_dir: Path, stream_id: str) -> dict[float, object]:
    return {c.start_s: c for c in clips_of(store, data_dir, stream_id)}


def reference_clips(up_run: UpRun, stream_id: str) -> dict[float, object]:
    """The clips `streammm up --once` stored for `stream_id` (every one complete: the reference run)."""
    from streammm.store.embedded import LanceDbClipStore

    store = LanceDbClipStore(up_run.data_dir / "clips", 384)
    try:
        clips = clips_by_start(store, up_run.data_dir, stream_id)
    finally:
        store.close()
    assert clips and all(c.complete for c in clips.values()), f"the reference run left {stream_id} incomplete"
    return clips


def stall(live: Cluster, kind: str, stream_id: str, *, for_s: float) -> int:
    """SIGSTOP the `kind` worker for `for_s` seconds while `stream_id` is being aligned; returns how many
    clips were stored provisionally (without that modality) meanwhile."""
    from streammm.records import ClipFilter

    victim = live.workers[kind]
    victim.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(for_s)  # not an assertion: the length of the stall
        return live.store().count(ClipFilter(stream_ids=(stream_id,), incomplete=True))
    finally:
        victim.process.send_signal(signal.SIGCONT)


@pytest.mark.parametrize(
    ("kind", "source", "field"),
    [("ocr", "video/display-dual-monitors.webm", "ocr_text"), ("speech", SLIDESHOW, "transcript")],
)
def test_a_stalled_modality_is_merged_into_the_stored_clips_however_late(
    live: Cluster, up_run: UpRun, media: Path, kind: str, source: str, field: str
):
    """The worker is stopped mid-stream (SIGSTOP) for three times `align.provisional_after_s` (2 s here), but
    less than its group's session timeout, so it keeps its partitions and its state: clips are stored
    without it, then completed when it comes back, with exactly the evidence of the reference run.
    (A worker stopped for longer is taken out of its group and re-reads from its last commit, like a
    killed one: the kill tests cover that.)"""
    reference_id = {"video/display-dual-monitors.webm": "display-dual-monitors", SLIDESHOW: "narrated_slideshow"}[source]
    stream_id = f"stall-{kind}"
    segments = list(iter_segments(media / source, stream_id, live.settings.media.segment_s))
    produce(live, segments[:4])
    live.wait_clips(stream_id, 1, timeout_s=180, what=f"the first clip of {stream_id}")
    produce(live, segments[4:])
    provisional = stall(live, kind, stream_id, for_s=6.0)
    assert provisional > 0, f"no clip of {stream_id} was stored without {kind} while its worker was stopped"

    live.wait_done(stream_id, timeout_s=300, what=f"{stream_id} to be complete after {kind} resumed")
    got = clips_by_start(live.store(), live.data_dir, stream_id)
    want = reference_clips(up_run, reference_id)
    assert sorted(got) == sorted(want)
    assert all(c.complete for c in got.values()), [c.start_s for c in got.values() if not c.complete]
    differ = [(s, getattr(got[s], field), getattr(want[s], field)) for s in want if getattr(got[s], field) != getattr(want[s], field)]
    assert not differ, f"{field} differs from the reference run: {differ}"
    assert live.dead_letters(stream_id) == []
    live.check_alive()


def test_kill_9_of_the_aligner_while_clips_are_provisional_loses_nothing(live: Cluster, up_run: UpRun, media: Path):
    """The aligner is killed once every window is stored and OCR lags: vision and speech have nothing left
    to re-report but their last reports, from which the new aligner must still learn the run is finished."""
    stream_id = "provisional-kill"
    want = reference_clips(up_run, "narrated_slideshow")
    segments = list(iter_segments(media / SLIDESHOW, stream_id, live.settings.media.segment_s))
    produce(live, segments[:3])
    live.wait_clips(stream_id, 1, timeout_s=180, what=f"the first clip of {stream_id}")
    ocr = live.workers["ocr"]
    ocr.process.send_signal(signal.SIGSTOP)
    try:
        produce(live, segments[3:])
        wait_until(
            lambda: live.store().count(ClipFilter(stream_ids=(stream_id,))) == len(want)
            and live.store().count(ClipFilter(stream_ids=(stream_id,), incomplete=True)) >= 2,
            timeout_s=180, what="every window stored, some provisionally (without OCR)",
            context=lambda: f"stored so far: {describe(live.data_dir, stream_id)}\n{live.context()}",
        )
        aligner = live.workers["align"]
        aligner.process.send_signal(signal.SIGKILL)
        assert aligner.process.wait(timeout=30) == -signal.SIGKILL
    finally:
        ocr.process.send_signal(signal.SIGCONT)
    replacement = live.start("align", wait=False)
    live.wait_done(stream_id, timeout_s=300, what=f"{stream_id} to be complete after the aligner was killed")
    assert replacement.alive
    got = clips_by_start(live.store(), live.data_dir, stream_id)
    assert sorted(got) == sorted(want) and all(c.complete for c in got.values())
    for start, clip in want.items():
        assert (got[start].ocr_text, got[start].transcript, got[start].frame_times) == (clip.ocr_text, clip.transcript, clip.frame_times), start


def test_a_file_ingested_again_cut_shorter_leaves_only_the_new_clips(live: Cluster, media: Path, tmp_path: Path, slideshow_s: float):
    import av

    stream_id = "reingest"
    live.publish(media / SLIDESHOW, stream_id).wait(timeout=120)
    live.wait_done(stream_id, timeout_s=300)
    first = clip_rows(live.data_dir, stream_id)
    assert [r["start_s"] for r in first] == window_starts(slideshow_s)

    shorter = tmp_path / "first-10s.mp4"  # the same video cut at its first keyframe at or after 10 s (made here with PyAV)
    with av.open(str(media / SLIDESHOW)) as src, av.open(str(shorter), "w") as out:
        inputs = [src.streams.video[0], src.streams.audio[0]]
        streams = {s.index: out.add_stream_from_template(s) for s in inputs}
        for packet in src.demux(inputs):
            if packet.dts is None:
                continue
            if float(packet.pts * packet.time_base) >= 10.0 and (packet.is_keyframe or packet.stream.type == "audio"):
                if packet.stream.type == "video":
                    break
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    cut_s = probe(shorter).duration_s
    assert cut_s < slideshow_s - 8

    live.publish(shorter, stream_id).wait(timeout=120)
    live.wait_done(stream_id, timeout_s=300, times=2)
    rows = clip_rows(live.data_dir, stream_id)
    assert [r["start_s"] for r in rows] == window_starts(cut_s), "the old tail is gone, every new window is there"
    clips = clips_of(live.store(), live.data_dir, stream_id)
    assert len({c.run_started_at for c in clips}) == 1 and all(c.complete for c in clips)
    assert clips[-1].end_s == pytest.approx(cut_s, abs=0.1)
