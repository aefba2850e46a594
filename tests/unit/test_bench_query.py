"""The pure parts of the query benchmark: synthetic clips and the percentile helper."""

from __future__ import annotations

import numpy as np
import pytest

from streammm.bench_query import TextPool, percentile, synthetic_clips
from streammm.bench_report import format_query_bench
from streammm.records import VECTOR_NAMES

POOL = TextPool(
    timed=(((0.0, 0.3, "he"), (0.3, 0.6, "was"), (0.6, 1.2, "not"), (1.2, 6.0, "ill")),),
    speech=("ten of clubs", "go forward ten meters"),
    screen=("slide 1 of 5", "Sense and Sensibility, chapter one", "Mirror displays"),
    questions=("a red motorcycle",),
)


def test_synthetic_clips_have_unit_vectors_of_the_dim_and_valid_windows() -> None:
    clips = synthetic_clips(250, 16, POOL, streams=10, window_s=4.0, stride_s=2.0, words_share=0.5, seed=3)
    assert len(clips) == 250
    assert len({c.clip_id for c in clips}) == 250
    assert len({c.stream_id for c in clips}) == 10
    for clip in clips:
        assert set(clip.vectors) == set(VECTOR_NAMES)
        for vector in clip.vectors.values():
            assert vector.shape == (16,) and vector.dtype == np.float32
            assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
        assert clip.end_s - clip.start_s == 4.0
        assert clip.start_s >= 0 and clip.start_s % 2.0 == 0
        assert clip.transcript and clip.ocr_text
        for word in clip.words:  # squeezed into the window, in order
            assert clip.start_s <= word.start_s <= word.end_s <= clip.end_s
        assert [w.start_s for w in clip.words] == sorted(w.start_s for w in clip.words)
    assert any(c.words for c in clips) and any(not c.words for c in clips)
    by_stream: dict[str, list[float]] = {}
    for clip in clips:
        by_stream.setdefault(clip.stream_id, []).append(clip.start_s)
    assert all(starts == [2.0 * i for i in range(len(starts))] for starts in by_stream.values())


def test_synthetic_clips_are_reproducible_in_batches() -> None:
    whole = synthetic_clips(40, 8, POOL, streams=4, seed=1)
    again = synthetic_clips(40, 8, POOL, streams=4, seed=1)
    assert [c.clip_id for c in whole] == [c.clip_id for c in again]
    assert all(np.array_equal(a.vectors["visual"], b.vectors["visual"]) for a, b in zip(whole, again))
    later = synthetic_clips(20, 8, POOL, streams=4, seed=1, offset=40)
    assert not {c.clip_id for c in later} & {c.clip_id for c in whole}  # a batch continues the corpus


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([10.0, 20.0], 0) == 10.0 and percentile([10.0, 20.0], 100) == 20.0
    values = list(np.random.default_rng(0).random(37))
    for q in (1, 50, 90, 99):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_the_report_is_a_markdown_table() -> None:
    phase = {"clients": 1, "asks": 3, "errors": 0, "asks_per_s": 2.0, "moments": {"p50_ms": 40.0, "p99_ms": 90.0}, "answer_done": {"p50_ms": 200.0, "p99_ms": 300.0}}
    search = {"clients": 1, "requests": 10, "errors": 0, "per_s": 5.0, "latency": {"p50_ms": 50.0}}
    result = {
        "machine": {"cpus": 2, "processor": "x86_64", "loadavg_before": [0.5], "loadavg_after": [1.0]},
        "strategy": "hybrid", "answerer": "extractive", "encoder": "bundled text encoder, 384-d", "duration_s": 5.0,
        "targets": [
            {"clips": 100, "clients": 1, "moments_p50_ms": 60.0, "moments_p99_ms": 120.0},
            {"clips": 100, "clients": 20, "moments_p50_ms": 250.0, "moments_p99_ms": 800.0},
            {"clips": 1000, "clients": 1, "moments_p50_ms": 30.0, "moments_p99_ms": 80.0},
        ],
        "rows": [{"clips": 100, "load": {"load_s": 0.1}, "asks": [phase, {**phase, "clients": 20, "moments": {"p50_ms": 260.0, "p99_ms": 700.0}}],
                  "search": [search], "breakdown": {"median_ms": {"encode question": 5.0}, "mean_answer_candidates": 9.0}, "recall": {"min": 1.0}}],
    }
    text = format_query_bench(result)
    assert "| 100 | 1 | 3 | 40.0 | 90.0 | 200.0 | 300.0 | 2.0 | 5.0 | 50.0 | 0 |" in text
    # Each target the run measured gets its verdict; one it did not measure (1,000 clips) gets none.
    assert "p99 ≤ 120 ms at 100 clips with 1 clients: met (p50 40.0 ms, p99 90.0 ms)." in text
    assert "p99 ≤ 800 ms at 100 clips with 20 clients: missed (p50 260.0 ms, p99 700.0 ms)." in text
    assert "1,000 clips" not in text


def test_the_watch_fan_out_rows_time_every_clip_and_print_beside_the_slow_reader_rows() -> None:
    from streammm.bench_load import watch_fanout

    rows = watch_fanout(16, (10, 200), POOL, clips=5)
    assert [r["watches"] for r in rows] == [10, 200] and all(r["per_clip"]["n"] == 5 for r in rows)
    ask = {"clients": 20, "asks": 3, "errors": 0, "moments": {"p50_ms": 1.0, "p99_ms": 2.0}, "answer_done": {"p50_ms": 1.0, "p99_ms": 2.0}, "asks_per_s": 1.0}
    result = {
        "machine": {"cpus": 2, "processor": "x", "loadavg_before": [0.0], "loadavg_after": [0.0]},
        "strategy": "hybrid", "answerer": "extractive", "encoder": "e", "duration_s": 1,
        "targets": [{"clips": 10, "clients": 20, "moments_p50_ms": 100.0, "moments_p99_ms": 300.0}],
        "rows": [{"clips": 10, "load": {"load_s": 0.1}, "asks": [ask, {**ask, "slow_readers": 20, "p99_ratio": 1.1}],
                  "search": [{"per_s": 1.0, "latency": {"p50_ms": 1.0}, "errors": 0}]}],
        "watch_fanout": rows,
    }
    text = format_query_bench(result)
    assert "| 10 | 20 | 20 | 1.0 | 2.0 | 1.1x | 0 |" in text and "| 200 |" in text


def test_a_server_under_test_that_cannot_start_fails_the_bench_with_its_log(tmp_path) -> None:
    import pytest

    from streammm.bench_query import _ServeProcess
    from streammm.config import load_settings

    not_a_store = tmp_path / "file"
    not_a_store.write_text("not a data dir")
    server = _ServeProcess(load_settings(env={}), not_a_store, tmp_path / "bench-settings.yaml")
    assert (tmp_path / "bench-settings.yaml").stat().st_mode & 0o077 == 0  # settings may hold tokens
    with pytest.raises(RuntimeError, match="did not start: .+"):
        with server:
            pass
    assert server.process is not None and server.process.poll() is not None  # nothing left running
