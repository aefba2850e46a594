"""The embedded store's IVF vector indexes: the contract with them on, live writes during a rebuild, and the
same top moment as exact search on the dev queries."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from store_contract import DIM, ClipStoreContract, make_clip

from streammm.records import VECTOR_NAMES, Clip
from streammm.store.ann import AnnOptions
from streammm.store.embedded import LanceDbClipStore

pytestmark = pytest.mark.integration


class _IndexedAfterEachWrite(LanceDbClipStore):
    """A store whose background index builds have finished when upsert returns: every search runs on
    the index (tables of one row up)."""

    def upsert(self, clips: Sequence[Clip]) -> None:
        super().upsert(clips)
        self.wait_for_index_builds()


class TestLanceDbStoreWithVectorIndex(ClipStoreContract):
    """The contract with an IVF index on every named vector (threshold forced to one row)."""

    @pytest.fixture
    def store_factory(self, tmp_path: Path):
        return lambda: _IndexedAfterEachWrite(tmp_path / "store", DIM, optimize_every=3, ann=AnnOptions(min_rows=1))


class TestLanceDbStoreWithVectorIndexBuildingMeanwhile(ClipStoreContract):
    """The contract while index builds run in the background, racing the searches."""

    @pytest.fixture
    def store_factory(self, tmp_path: Path):
        return lambda: LanceDbClipStore(tmp_path / "store", DIM, optimize_every=3, ann=AnnOptions(min_rows=1))


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _clips(start: int, n: int, dim: int, seed: int, stream: str = "bulk") -> list[Clip]:
    rng = np.random.default_rng(seed)
    vectors = {name: _unit_rows(rng, n, dim) for name in VECTOR_NAMES}
    return [
        make_clip(stream, 2.0 * (start + i), transcript=f"clip{start + i} common words", vectors={name: vectors[name][i] for name in VECTOR_NAMES})
        for i in range(n)
    ]


@pytest.mark.timeout(600)
def test_clips_stored_during_a_rebuild_are_found_right_after_their_write(tmp_path: Path) -> None:
    dim = 64
    store = LanceDbClipStore(tmp_path / "store", dim, ann=AnnOptions(min_rows=2_000, auto_build=False))
    try:
        for start in range(0, 10_000, 2_500):
            store.upsert(_clips(start, 2_500, dim, seed=start))
        store.optimize()
        store.build_vector_indexes()
        table = store._open()
        assert all(store._ann.indexed(table, name) for name in VECTOR_NAMES)
        store.build_vector_indexes(background=True)  # a rebuild (all four indexes trained again)
        building = 0
        for i, clip in enumerate(_clips(20_000, 200, dim, seed=99, stream="live")):
            building += store._ann.building()
            store.upsert([clip])
            for name in ("joint", "visual"):
                [hit] = store.search_vector(clip.vectors[name], target=name, k=1)
                assert hit.clip.clip_id == clip.clip_id, (i, name)
                assert hit.score == pytest.approx(1.0, abs=1e-5)
            fused = store.search_rank_fusion(f"clip{20_000 + i}", clip.vectors["joint"], targets=("joint",), k=1, depth=20)
            assert fused[0].clip.clip_id == clip.clip_id
        assert building >= 1, "the rebuild finished before the first live write: make it slower"
        store.wait_for_index_builds()
        assert store.count() == 10_200
        assert store._ann.indexed(store._open(), "joint")
    finally:
        store.close()


def test_the_index_answers_like_exact_search_on_clustered_vectors(tmp_path: Path) -> None:
    """recall@10 against brute force on 5,000 clustered clips (the index's re-rank makes it exact here)."""
    dim, n = 64, 5_000
    rng = np.random.default_rng(3)
    centres = _unit_rows(rng, 50, dim)
    rows = centres[rng.integers(0, 50, n)] + 0.08 * rng.standard_normal((n, dim), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    clips = [make_clip("c", 2.0 * i, vectors={"joint": rows[i]}) for i in range(n)]
    store = LanceDbClipStore(tmp_path / "store", dim, ann=AnnOptions(min_rows=1_000, auto_build=False))
    try:
        store.upsert(clips)
        store.build_vector_indexes()
        assert store._ann.indexed(store._open(), "joint")
        hits = 0
        queries = centres[rng.integers(0, 50, 40)] + 0.1 * rng.standard_normal((40, dim), dtype=np.float32)
        for query in queries:
            cosines = rows @ (query / np.linalg.norm(query))
            truth = {clips[i].clip_id for i in np.argsort(-cosines)[:10]}
            hits += len(truth & {h.clip.clip_id for h in store.search_vector(query, target="joint", k=10)})
        assert hits / 400 >= 0.98
    finally:
        store.close()


def test_the_dev_queries_find_the_same_top_moment_with_the_index(dev_data_dir: Path, tmp_path: Path) -> None:
    from streammm.config import Settings
    from streammm.models.registry import create_question_encoder
    from streammm.paths import shared_media
    from streammm.qa.moments import merge_into_moments
    from streammm.qa.retrieval import retrieve

    copy = tmp_path / "clips"
    shutil.copytree(dev_data_dir / "clips", copy)  # the dev store itself is never written
    exact = LanceDbClipStore(copy, 384)
    indexed = LanceDbClipStore(copy, 384, ann=AnnOptions(min_rows=1, auto_build=False))
    try:
        indexed.build_vector_indexes()
        table = indexed._open()
        assert all(indexed._ann.indexed(table, name) for name in VECTOR_NAMES)
        assert not exact._ann.indexed(table, "joint")  # under the default threshold: exact
        encoder = create_question_encoder(Settings().models)
        queries = [q["query"] for q in json.loads((shared_media() / "queries.json").read_text())["queries"]]
        vectors = encoder.encode(queries)
        for query, vector in zip(queries, vectors):
            for strategy in ("hybrid", "joint", "late", "visual"):
                want = merge_into_moments(retrieve(exact, query, vector, strategy=strategy, k=20))
                got = merge_into_moments(retrieve(indexed, query, vector, strategy=strategy, k=20))
                assert (got[0].stream_id, got[0].start_s) == (want[0].stream_id, want[0].start_s), (query, strategy)
    finally:
        exact.close()
        indexed.close()


def test_the_threshold_keeps_small_tables_exact_and_builds_in_the_background(tmp_path: Path) -> None:
    dim = 16
    store = LanceDbClipStore(tmp_path / "store", dim, ann=AnnOptions(min_rows=500))
    try:
        store.upsert(_clips(0, 400, dim, seed=1))
        store.wait_for_index_builds()
        assert not store._ann.indexed(store._open(), "joint")
        store.upsert(_clips(400, 200, dim, seed=2))  # past the threshold: a build starts
        deadline = time.monotonic() + 120
        while not store._ann.indexed(store._open(), "joint") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(store._ann.indexed(store._open(), name) for name in VECTOR_NAMES)
    finally:
        store.close()
