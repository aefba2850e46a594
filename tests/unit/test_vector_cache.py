"""The in-memory vector cache against a small real LanceDB table: exact ranking, filters, following the table."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import lancedb
import numpy as np
import pytest

from streammm.records import Clip, ClipFilter, clip_id
from streammm.store.arrow_rows import clip_schema, clips_to_arrow
from streammm.store.vector_cache import StaleRowIds, VectorCache, rows_by_id

DIM = 8
STREAMS = ("cam-a", "cam-b", "cam-c")


def make_clips(n: int, *, seed: int, first: int = 0) -> list[Clip]:
    """Clips with random (not unit) vectors; every fourth lacks a speech vector. Clip i of a stream spans
    [2i, 2i + 3], so neighbours overlap."""
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(first, first + n):
        stream, start_s = STREAMS[i % 3], 2.0 * (i // 3)
        vectors = {name: rng.normal(size=DIM).astype(np.float32) * rng.uniform(0.5, 3.0) for name in ("visual", "speech", "joint")}
        if i % 4 == 0:
            del vectors["speech"]
        clips.append(Clip(clip_id(stream, start_s, "test"), stream, start_s, start_s + 3.0, "test", vectors=vectors))
    return clips


def brute_force(clips: list[Clip], query: np.ndarray, target: str, k: int, where: ClipFilter | None = None) -> list[tuple[str, float]]:
    """The best `k` (clip id, cosine), best first, ties in insertion order: what the cache must answer."""

    def kept(c: Clip) -> bool:
        if target not in c.vectors:
            return False
        return where is None or (
            (where.stream_ids is None or c.stream_id in where.stream_ids)
            and (where.start_s is None or c.end_s > where.start_s)
            and (where.end_s is None or c.start_s < where.end_s)
        )

    q = query.astype(np.float64)
    scored = [
        (c.clip_id, float(np.dot(c.vectors[target], q) / (np.linalg.norm(c.vectors[target]) * np.linalg.norm(q))))
        for c in clips
        if kept(c)
    ]
    return sorted(scored, key=lambda hit: -hit[1])[:k]


def searched(cache: VectorCache, table: lancedb.table.Table, query: np.ndarray, target: str, k: int, where: ClipFilter | None = None) -> list[tuple[str, float]]:
    answer = cache.search(table, query, target, k, where, ["clip_id"])
    assert answer is not None, "expected the cache to answer"
    rows, cosines = answer
    return [] if rows is None else list(zip(rows.column("clip_id").to_pylist(), cosines))


def assert_same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [cid for cid, _ in got] == [cid for cid, _ in want]
    assert [cos for _, cos in got] == pytest.approx([cos for _, cos in want], abs=1e-5)


@pytest.fixture
def table(tmp_path: Path) -> lancedb.table.Table:
    return lancedb.connect(str(tmp_path)).create_table("clips", schema=clip_schema(DIM))


def add(table: lancedb.table.Table, clips: list[Clip]) -> None:
    table.add(clips_to_arrow(clips, DIM))


def test_ranking_equals_brute_force(table: lancedb.table.Table) -> None:
    clips = make_clips(240, seed=1)
    add(table, clips)
    cache = VectorCache(DIM, min_rows=1, max_bytes=2**30)
    queries = np.random.default_rng(2).normal(size=(5, DIM)).astype(np.float32)
    for target in ("visual", "speech", "joint"):
        for query in queries:
            for k in (1, 7, 100, 500):
                assert_same(searched(cache, table, query, target, k), brute_force(clips, query, target, k))
    assert searched(cache, table, queries[0], "ocr", 10) == []  # no clip has an ocr vector


def test_rank_gives_row_ids_cosines_and_the_fusion_order_keys(table: lancedb.table.Table) -> None:
    clips = make_clips(30, seed=3)
    add(table, clips)
    query = clips[5].vectors["joint"]
    ranked = VectorCache(DIM, min_rows=1, max_bytes=2**30).rank(table, query, "joint", 4, None)
    assert ranked is not None
    rows = rows_by_id(table, np.asarray(ranked.rowids(), dtype=np.uint64), ["clip_id", "stream_id", "start_s"])
    want = brute_force(clips, query, "joint", 4)
    assert_same(list(zip(rows.column("clip_id").to_pylist(), ranked.cosines.tolist())), want)
    assert want[0] == (clips[5].clip_id, pytest.approx(1.0, abs=1e-6))
    assert ranked.order_keys() == list(zip(rows.column("stream_id").to_pylist(), rows.column("start_s").to_pylist()))


def test_search_returns_vectors_from_memory_as_stored(table: lancedb.table.Table) -> None:
    clips = make_clips(20, seed=4)
    add(table, clips)
    answer = VectorCache(DIM, min_rows=1, max_bytes=2**30).search(table, clips[3].vectors["visual"], "visual", 3, None, ["clip_id", "visual"])
    assert answer is not None and answer[0] is not None
    rows = answer[0]
    by_id = {c.clip_id: c for c in clips}
    for cid, vector in zip(rows.column("clip_id").to_pylist(), rows.column("visual").to_pylist()):
        np.testing.assert_array_equal(np.asarray(vector, dtype=np.float32), by_id[cid].vectors["visual"])


def test_filters_by_stream_and_time(table: lancedb.table.Table) -> None:
    clips = make_clips(90, seed=5)
    add(table, clips)
    cache = VectorCache(DIM, min_rows=1, max_bytes=2**30)
    query = np.random.default_rng(6).normal(size=DIM).astype(np.float32)
    for where in (
        ClipFilter(stream_ids=("cam-b",)),
        ClipFilter(stream_ids=("cam-a", "cam-c")),
        ClipFilter(start_s=10.0, end_s=20.0),  # touching ends do not overlap
        ClipFilter(start_s=30.0),
        ClipFilter(end_s=5.0),
        ClipFilter(stream_ids=("cam-c",), start_s=7.5, end_s=8.5),
    ):
        want = brute_force(clips, query, "joint", 50, where)
        assert want, where
        assert_same(searched(cache, table, query, "joint", 50, where), want)
    assert searched(cache, table, query, "joint", 5, ClipFilter(stream_ids=("nowhere",))) == []
    assert searched(cache, table, query, "joint", 5, ClipFilter(stream_ids=())) == []
    assert searched(cache, table, query, "joint", 5, ClipFilter(start_s=1000.0)) == []


def test_follows_appended_replaced_and_deleted_rows(table: lancedb.table.Table) -> None:
    clips = make_clips(60, seed=7)
    add(table, clips)
    cache = VectorCache(DIM, min_rows=1, max_bytes=2**30)
    query = np.random.default_rng(8).normal(size=DIM).astype(np.float32)
    before = cache.rank(table, query, "joint", 10, None)
    assert before is not None

    appended = make_clips(15, seed=9, first=60)
    add(table, appended)
    clips += appended
    after = cache.rank(table, query, "joint", 10, None)
    assert after is not None and after.snapshot.version == table.version
    assert after.snapshot.vectors["joint"] is before.snapshot.vectors["joint"]  # followed: rows appended in place
    assert_same(searched(cache, table, query, "joint", 100), brute_force(clips, query, "joint", 100))

    best = brute_force(clips, query, "joint", 1)[0][0]
    replaced = next(c for c in clips if c.clip_id == best)
    moved = replace(replaced, vectors={"joint": -query})  # now the farthest of all, and without other vectors
    table.merge_insert("clip_id").when_matched_update_all().when_not_matched_insert_all().execute(clips_to_arrow([moved], DIM))
    clips = [moved if c.clip_id == best else c for c in clips]
    for target in ("joint", "visual"):
        assert_same(searched(cache, table, query, target, 100), brute_force(clips, query, target, 100))
    assert best not in [cid for cid, _ in searched(cache, table, query, "visual", 100)]

    table.delete("stream_id = 'cam-b'")
    clips = [c for c in clips if c.stream_id != "cam-b"]
    for target in ("joint", "visual"):
        assert_same(searched(cache, table, query, target, 100), brute_force(clips, query, target, 100))
    assert searched(cache, table, query, "joint", 10, ClipFilter(stream_ids=("cam-b",))) == []


def test_a_compacted_table_is_read_again(table: lancedb.table.Table) -> None:
    clips = make_clips(30, seed=10)
    for start in range(0, 30, 10):
        add(table, clips[start : start + 10])
    cache = VectorCache(DIM, min_rows=1, max_bytes=2**30)
    query = clips[0].vectors["joint"]
    assert_same(searched(cache, table, query, "joint", 5), brute_force(clips, query, "joint", 5))
    table.delete(f"clip_id = '{clips[0].clip_id}'")
    table.optimize()  # rewrites the rows under new row ids
    assert_same(searched(cache, table, query, "joint", 5), brute_force(clips[1:], query, "joint", 5))


def test_a_deleted_row_is_stale(table: lancedb.table.Table) -> None:
    clips = make_clips(12, seed=11)
    add(table, clips)
    ranked = VectorCache(DIM, min_rows=1, max_bytes=2**30).rank(table, clips[2].vectors["joint"], "joint", 3, None)
    assert ranked is not None
    table.delete(f"clip_id = '{clips[2].clip_id}'")
    with pytest.raises(StaleRowIds):
        rows_by_id(table, np.asarray(ranked.rowids(), dtype=np.uint64), ["clip_id"])


def test_filters_on_completeness_fall_back_to_the_table(table: lancedb.table.Table) -> None:
    add(table, make_clips(10, seed=12))
    cache = VectorCache(DIM, min_rows=1, max_bytes=2**30)
    query = np.ones(DIM, dtype=np.float32)
    incomplete = ClipFilter(incomplete=True)
    assert cache.rank(table, query, "joint", 5, incomplete) is None
    assert cache.search(table, query, "joint", 5, incomplete, ["clip_id"]) is None
    assert cache.rank(table, query, "joint", 5, ClipFilter(stream_ids=("cam-a",))) is not None


def test_tables_too_small_or_too_large_are_not_cached(table: lancedb.table.Table) -> None:
    add(table, make_clips(50, seed=13))
    query = np.ones(DIM, dtype=np.float32)
    assert VectorCache(DIM, min_rows=51, max_bytes=2**30).search(table, query, "joint", 5, None, ["clip_id"]) is None
    too_small = 50 * DIM * 4 - 1  # one byte short of one column of 50 rows
    assert VectorCache(DIM, min_rows=1, max_bytes=too_small).rank(table, query, "joint", 5, None) is None
    assert VectorCache(DIM, min_rows=50, max_bytes=too_small + 1).rank(table, query, "joint", 5, None) is not None


def test_clear_forgets_the_copy(table: lancedb.table.Table) -> None:
    add(table, make_clips(10, seed=14))
    cache = VectorCache(DIM, min_rows=1, max_bytes=2**30)
    query = np.ones(DIM, dtype=np.float32)
    first = cache.rank(table, query, "joint", 3, None)
    cache.clear()
    again = cache.rank(table, query, "joint", 3, None)
    assert first is not None and again is not None
    assert again.snapshot is not first.snapshot and again.rowids() == first.rowids()
