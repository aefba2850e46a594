"""The embedded LanceDB clip store: the shared contract, plus crash safety, a second process and compaction."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from store_contract import DIM, ClipStoreContract, axis, make_clip, tilted

from streammm.errors import StoreError
from streammm.store.embedded import LanceDbClipStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


class TestLanceDbStore(ClipStoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path):
        # A small optimize_every so that compaction also runs inside the contract tests.
        return lambda: LanceDbClipStore(tmp_path / "store", DIM, optimize_every=3)


class TestLanceDbStoreSearchingInMemory(ClipStoreContract):
    """The same contract with every vector search on the in-memory copy (large tables take that path)."""

    @pytest.fixture
    def store_factory(self, tmp_path: Path):
        return lambda: LanceDbClipStore(tmp_path / "store", DIM, optimize_every=3, vector_cache_min_rows=1)


def _child(code: str, *args: str, log: Path) -> subprocess.Popen:
    """`python -c code args...` from the repository root; stdout is piped, stderr goes to `log`."""
    with log.open("a") as stderr:
        return subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


WRITER = """
    import sys
    import numpy as np
    from streammm.records import Clip
    from streammm.store.embedded import LanceDbClipStore

    store = LanceDbClipStore(sys.argv[1], 8, optimize_every=10)
    prefix, rng, n = sys.argv[2], np.random.default_rng(0), 0
    while True:
        batch = []
        for _ in range(5):
            v = rng.standard_normal(8).astype("float32")
            batch.append(Clip(f"{prefix}-{n}", "crash", float(n), n + 4.0, "test",
                              transcript=f"{prefix}token{n} common", vectors={"joint": v / np.linalg.norm(v)}))
            n += 1
        store.upsert(batch)
        print("\\n".join(c.clip_id for c in batch), flush=True)
"""


@pytest.mark.timeout(120)
def test_no_acknowledged_clip_is_lost_when_the_writer_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "store"
    acked: list[str] = []
    landed_unacknowledged = 0
    for round_ in ("first", "second"):  # the second writer starts on the store the first one left behind
        writer = _child(WRITER, str(path), round_, log=tmp_path / "writer.log")
        assert writer.stdout is not None
        started = len(acked)
        while len(acked) - started < 300:
            line = writer.stdout.readline()
            assert line, f"writer exited early ({writer.wait()}): {(tmp_path / 'writer.log').read_text()}"
            acked.append(line.strip())
        writer.send_signal(signal.SIGKILL)  # it is in the middle of its next upsert (or an optimize)
        acked.extend(line.strip() for line in writer.stdout.read().splitlines())  # printed before the kill
        assert writer.wait() == -signal.SIGKILL
        store = LanceDbClipStore(path, DIM)
        try:
            assert len(store.get(acked)) == len(acked)
            extra = store.count() - len(acked) - landed_unacknowledged
            assert 0 <= extra <= 5  # the batch in flight when killed may or may not have landed
            landed_unacknowledged += extra
            last = acked[-1].replace("-", "token")
            assert [h.clip.clip_id for h in store.search_text(last, k=3)] == [acked[-1]]
            assert len(store.search_vector(axis(0), target="joint", k=10)) == 10
        finally:
            store.close()
    store = LanceDbClipStore(path, DIM)
    store.upsert([make_clip("after-crash", transcript="recovered")])
    assert store.count() == len(acked) + landed_unacknowledged + 1
    assert len(store.search_text("recovered", k=5)) == 1


READER = """
    import pathlib, sys
    import numpy as np
    from streammm.store.embedded import LanceDbClipStore

    store = LanceDbClipStore(sys.argv[1], 8)
    stop, query = pathlib.Path(sys.argv[2]), np.eye(8, dtype="float32")[0]
    while True:
        finished = stop.exists()
        count = store.count()
        hits = store.search_text("common", k=5)
        assert all("common" in h.clip.transcript for h in hits), hits
        assert len(store.get([h.clip.clip_id for h in hits])) == len(hits)
        assert len(store.search_vector(query, target="joint", k=3)) == min(3, count)
        print(count, flush=True)
        if finished:
            break
"""


@pytest.mark.timeout(120)
def test_a_reader_process_reads_consistently_while_this_one_writes(tmp_path: Path) -> None:
    path, stop = tmp_path / "store", tmp_path / "stop"
    store = LanceDbClipStore(path, DIM, optimize_every=5)
    reader = _child(READER, str(path), str(stop), log=tmp_path / "reader.log")
    counts: list[int] = []
    collector = threading.Thread(target=lambda: counts.extend(int(line) for line in reader.stdout or []))
    collector.start()
    rng, n, deadline = np.random.default_rng(1), 0, time.monotonic() + 30
    while (len(counts) < 20 or n < 150) and time.monotonic() < deadline and reader.poll() is None:
        vectors = rng.standard_normal((5, DIM)).astype(np.float32)
        store.upsert(
            [
                make_clip("live", n + i, transcript=f"common word{n + i}", vectors={"joint": v / np.linalg.norm(v)})
                for i, v in enumerate(vectors)
            ]
        )
        n += 5
    stop.touch()
    assert reader.wait(timeout=60) == 0, (tmp_path / "reader.log").read_text()
    collector.join()
    assert counts == sorted(counts), "the count went down"
    assert len(set(counts)) >= 3, f"the reader saw no progress: {counts}"
    assert counts[-1] == store.count() == n


def test_search_finds_everything_across_optimize_rounds(tmp_path: Path) -> None:
    store = LanceDbClipStore(tmp_path / "store", DIM, optimize_every=5)
    clips = [
        make_clip(start_s=4.0 * i, transcript=f"quokka{i} shared", vectors={"joint": tilted(0.99 - 0.05 * i, 1 + i % 7)})
        for i in range(13)
    ]
    for clip in clips:
        store.upsert([clip])
    stats = store._table.index_stats("bm25_text_idx")  # rows 0-9 were folded into the index, 10-12 were not
    assert (stats.num_indexed_rows, stats.num_unindexed_rows) == (10, 3)
    assert store.count() == 13
    for i, clip in enumerate(clips):
        assert [h.clip.clip_id for h in store.search_text(f"quokka{i}", k=3)] == [clip.clip_id]
        assert store.search_vector(clip.vectors["joint"], target="joint", k=1)[0].clip.clip_id == clip.clip_id
    assert len(store.search_text("shared", k=20)) == 13
    store.upsert([make_clip(start_s=0.0, transcript="renamed entirely")])  # an indexed row, replaced
    assert store.search_text("quokka0", k=3) == []
    assert [h.clip.clip_id for h in store.search_text("renamed", k=3)] == [clips[0].clip_id]
    assert len(store.search_text("shared", k=20)) == 12


def test_optimize_folds_every_row_into_the_indexes(tmp_path: Path) -> None:
    store = LanceDbClipStore(tmp_path / "store", DIM, optimize_every=1_000)
    clips = [make_clip(start_s=4.0 * i, transcript=f"quokka{i}") for i in range(4)]
    store.upsert(clips[:2])
    store.upsert(clips[2:])
    stats = store._table.index_stats("bm25_text_idx")
    assert (stats.num_indexed_rows, stats.num_unindexed_rows) == (0, 4)
    store.optimize()
    stats = store._table.index_stats("bm25_text_idx")
    assert (stats.num_indexed_rows, stats.num_unindexed_rows) == (4, 0)
    assert [h.clip.clip_id for h in store.search_text("quokka3", k=3)] == [clips[3].clip_id]
    store.close()


def test_new_tables_are_written_in_the_file_format_whose_row_reads_stay_cheap(tmp_path: Path) -> None:
    """Lance 2.2 keeps a column that holds one value throughout a page (a store's profile, its has_ flags)
    as a constant page, and reading a search's few winners from it decodes the whole page: 42 ms for 15
    rows at a million clips (docs/store.md). Every data file, after appends and compaction, is 2.1."""
    store = LanceDbClipStore(tmp_path / "store", DIM, optimize_every=2)
    for i in range(4):
        store.upsert([make_clip(start_s=4.0 * i, transcript=f"quokka{i}")])
    files = list((tmp_path / "store" / "clips.lance" / "data").glob("*.lance"))
    assert files
    for path in files:
        major, minor, magic = struct.unpack("<HH4s", path.read_bytes()[-8:])  # the file's footer
        assert (magic, major, minor) == (b"LANC", 2, 1), path.name
    assert [h.clip.clip_id for h in store.search_text("quokka3", k=1)] == [make_clip(start_s=12.0).clip_id]
    store.close()


def test_misuse_raises_store_errors(tmp_path: Path) -> None:
    store = LanceDbClipStore(tmp_path / "store", DIM)
    store.upsert([make_clip(vectors={"joint": axis(0)})])
    with pytest.raises(StoreError, match="holds 8-d vectors, not 16-d"):
        LanceDbClipStore(tmp_path / "store", 16)
    with pytest.raises(StoreError, match="unknown vector target"):
        store.search_vector(axis(0), target="audio", k=1)
    with pytest.raises(StoreError, match="8-d"):
        store.search_vector(np.ones(3), target="joint", k=1)
    with pytest.raises(StoreError, match="vector 'visual'"):
        store.upsert([make_clip(start_s=4.0, vectors={"visual": np.ones(5)})])
    with pytest.raises(StoreError, match="the vector dimension must be positive, got 0"):
        LanceDbClipStore(tmp_path / "other", 0)
    with pytest.raises(StoreError, match="optimize_every must be positive"):
        LanceDbClipStore(tmp_path / "other", DIM, optimize_every=0)
    assert store.count() == 1
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()
    with pytest.raises(StoreError, match="closed"):
        store.optimize()


def test_library_errors_are_wrapped_and_io_is_retriable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LanceDbClipStore(tmp_path / "store", DIM)

    class Failing:
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def count_rows(self, *_: object) -> int:
            raise self.exc

    monkeypatch.setattr(store, "_table", Failing(OSError("No space left on device")))
    with pytest.raises(StoreError, match="count failed: No space left") as io_error:
        store.count()
    assert io_error.value.retriable
    monkeypatch.setattr(store, "_table", Failing(ValueError("Invalid input, Schema error")))
    with pytest.raises(StoreError) as bad_input:
        store.count()
    assert not bad_input.value.retriable


def test_a_bm25_failure_in_the_side_thread_fails_that_search_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fused query ranks by BM25 in a side thread: its failure reaches the caller as the store's error
    (retriable for I/O), and the next search works."""
    store = LanceDbClipStore(tmp_path / "store", DIM)
    clip = make_clip(transcript="a lighthouse at dusk", vectors={"joint": axis(1)})
    store.upsert([clip])
    healthy = store._bm25

    def failing(*_: object, **__: object) -> object:
        raise OSError("Input/output error")

    monkeypatch.setattr(store, "_bm25", failing)
    with pytest.raises(StoreError, match="rank fusion search failed: Input/output error") as failed:
        store.search_rank_fusion("lighthouse", axis(1), targets=("joint",), k=1, depth=10)
    assert failed.value.retriable
    monkeypatch.setattr(store, "_bm25", healthy)
    [hit] = store.search_rank_fusion("lighthouse", axis(1), targets=("joint",), k=1, depth=10)
    assert hit.clip.clip_id == clip.clip_id
    store.close()


def test_more_fused_queries_at_once_than_side_threads_each_find_their_own_clip(tmp_path: Path) -> None:
    """Four times SIDE_THREADS hybrid searches start together, each with one clip's word and the next
    clip's vector: the BM25 rankings queue for the side threads, and every search's two best are exactly
    those two clips (one from each ranking: a ranking handed to the wrong search would show)."""
    from concurrent.futures import ThreadPoolExecutor

    from streammm.store.embedded import SIDE_THREADS

    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(4 * SIDE_THREADS, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = LanceDbClipStore(tmp_path / "store", DIM)
    clips = [make_clip(start_s=4.0 * i, transcript=f"quokka{i} common", vectors={"joint": v}) for i, v in enumerate(vectors)]
    store.upsert(clips)
    start = threading.Barrier(len(clips))

    def search(i: int) -> set[str]:
        start.wait()
        hits = store.search_rank_fusion(f"quokka{i}", vectors[(i + 1) % len(clips)], targets=("joint",), k=2, depth=10)
        return {hit.clip.clip_id for hit in hits}

    with ThreadPoolExecutor(len(clips)) as pool:
        found = list(pool.map(search, range(len(clips))))
    assert found == [{clips[i].clip_id, clips[(i + 1) % len(clips)].clip_id} for i in range(len(clips))]
    store.close()


def test_a_store_made_before_completeness_was_recorded_opens_with_every_clip(tmp_path: Path) -> None:
    """A table without the expected/pending/run columns (made by an earlier release) gets them added, and its
    clips read back as they were, with completeness "not recorded" (nothing pending)."""
    import lancedb
    import pyarrow as pa

    from streammm.records import ClipFilter
    from streammm.store.arrow_rows import clip_schema, clips_to_arrow

    old_schema = pa.schema([f for f in clip_schema(DIM) if f.name not in ("expected", "pending", "run_started_at")])
    clips = [make_clip("old", 2.0 * i, transcript=f"word{i}", vectors={"joint": axis(1)}) for i in range(3)]
    rows = clips_to_arrow(clips, DIM).select(old_schema.names).cast(old_schema)
    lancedb.connect(str(tmp_path / "old")).create_table("clips", data=rows, schema=old_schema)

    reopened = LanceDbClipStore(tmp_path / "old", DIM)
    try:
        got = reopened.get([c.clip_id for c in clips])
        assert [c.transcript for c in got] == ["word0", "word1", "word2"]
        assert all(c.expected == () and c.pending == () and c.complete for c in got)
        assert reopened.count(ClipFilter(incomplete=True)) == 0
        reopened.upsert([make_clip("old", 6.0, pending=("ocr",), expected=("visual", "ocr"))])
        assert reopened.count(ClipFilter(incomplete=True)) == 1
    finally:
        reopened.close()


def test_a_store_made_before_the_bm25_document_gets_it_on_open(tmp_path: Path) -> None:
    """Stores made before 2026-12-02 had no `bm25_text` column and a BM25 index per text column: opening
    one adds the column from the stored text, indexes it, drops the old indexes, and loses nothing."""
    import lancedb
    from lancedb.index import FTS

    from streammm.store.arrow_rows import BM25_TEXT, clips_to_arrow

    clips = [
        make_clip(start_s=0.0, transcript="the narrator mentions a lighthouse", ocr_text=""),
        make_clip(start_s=4.0, transcript="", ocr_text="LIGHTHOUSE KEEPER'S LOG"),
        make_clip(start_s=8.0, transcript="waves", ocr_text="Chapter 2"),
    ]
    old_rows = clips_to_arrow(clips, DIM).drop_columns([BM25_TEXT])
    table = lancedb.connect(str(tmp_path / "store")).create_table("clips", data=old_rows)
    for column in ("transcript", "ocr_text"):
        table.create_index(column, config=FTS())

    store = LanceDbClipStore(tmp_path / "store", DIM)
    try:
        indexes = {index.name: index.columns for index in store._table.list_indices() if index.index_type == "FTS"}
        assert indexes == {f"{BM25_TEXT}_idx": [BM25_TEXT]}
        assert {h.clip.clip_id for h in store.search_text("lighthouse", k=5)} == {clips[0].clip_id, clips[1].clip_id}
        assert [h.clip.clip_id for h in store.search_text("chapter waves", k=1)] == [clips[2].clip_id]
        again = {c.clip_id: c for c in store.get([c.clip_id for c in clips])}
        assert [(again[c.clip_id].transcript, again[c.clip_id].ocr_text) for c in clips] == [(c.transcript, c.ocr_text) for c in clips]
    finally:
        store.close()


def test_a_store_made_before_frame_vectors_were_kept_opens_with_every_clip(tmp_path: Path) -> None:
    """Stores made before 2026-12-02 kept no frame vectors or shot times: opening one adds the columns
    empty (those clips' visual moments are fitted on the clip grid), and new clips keep theirs."""
    import lancedb

    from streammm.store.arrow_rows import clips_to_arrow

    clips = [make_clip(start_s=2.0 * i, frame_times=(2.0 * i, 2.0 * i + 1), vectors={"joint": axis(1)}) for i in range(3)]
    old_rows = clips_to_arrow(clips, DIM).drop_columns(["frame_vectors", "shot_times"])
    lancedb.connect(str(tmp_path / "store")).create_table("clips", data=old_rows)

    store = LanceDbClipStore(tmp_path / "store", DIM)
    try:
        got = store.get([c.clip_id for c in clips])
        assert [(c.frame_times, c.frame_vectors, c.shot_times) for c in got] == [(c.frame_times, None, ()) for c in clips]
        new = make_clip(start_s=6.0, frame_times=(6.0, 7.5), frame_vectors=np.stack([axis(0), axis(2)]), shot_times=(7.5,))
        store.upsert([new])
        [back] = store.get([new.clip_id])
        np.testing.assert_allclose(back.frame_vectors, new.frame_vectors)
        assert back.shot_times == (7.5,)
    finally:
        store.close()
