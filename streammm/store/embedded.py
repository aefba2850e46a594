"""The embedded clip store: one LanceDB table on local disk with named vectors, BM25 and filters."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import FTS, Bitmap, BTree

from streammm.errors import StoreError, StreammmError
from streammm.records import VECTOR_NAMES, Clip, ClipFilter, ScoredClip, StreamInfo
from streammm.store.ann import AnnIndexes, AnnOptions
from streammm.store.arrow_rows import BM25_TEXT, BM25_TEXT_SQL, clip_columns, clip_schema, clips_from_arrow, clips_to_arrow
from streammm.store.checks import check_dim, check_target, checked_vector, finite_bound
from streammm.store.fusion import FusionSearch, rank_fusion_search, rrf_order
from streammm.store.vector_cache import StaleRowIds, VectorCache, rows_by_id

log = logging.getLogger(__name__)

TABLE = "clips"
SCALAR_INDEXED = ("clip_id", "stream_id", "start_s", "end_s")
KEEP_OLD_VERSIONS = timedelta(hours=1)  # optimize() prunes versions older than this; readers may still use newer ones
ID_CHUNK = 500  # clip ids per IN (...) list in get()
# Vector search over tables of at least VECTOR_CACHE_MIN_ROWS rows runs on an in-memory copy of the searched
# vector columns (exact brute force in numpy, several times faster than LanceDB's flat scan), kept in step
# with the table's latest version. Tables whose searched vectors would take more than VECTOR_CACHE_MAX_MB
# are searched by LanceDB's flat scan instead. Both paths are exact.
VECTOR_CACHE_MIN_ROWS = 5_000
VECTOR_CACHE_MAX_MB = 2_048
# New tables are written in Lance file format 2.1: 2.2 stores a column whose page holds one value throughout
# (the profile, the has_ flags, a run's start) as a constant page, and reading a few rows from one decodes
# the whole page: at a million clips, taking a search's 15 winners cost 42 ms instead of ~12. Tables made
# in 2.2 stay 2.2 (still correct, slower to read).
FILE_FORMAT = "2.1"
# A fused query ranks by BM25 in one of these threads while it ranks by vector in its own: one query waits for
# the slower of the two rather than their sum (a million clips: ~10 ms each). More concurrent fused queries
# than this queue for a thread.
SIDE_THREADS = 8


def stored_dim(path: str | Path) -> int | None:
    """The vector dimension of the clip table in `path`, or None when there is none."""
    if not (Path(path) / f"{TABLE}.lance").is_dir():
        return None
    try:
        table = lancedb.connect(str(path)).open_table(TABLE)
        return int(table.schema.field("visual").type.list_size)
    except Exception as exc:  # unreadable: the caller treats it as no store
        log.warning("cannot read the clip table in %s: %s", path, exc)
        return None


class LanceDbClipStore:
    """A ClipStore in a directory. BM25 uses native FTS indexes; vector queries are exact below
    `ann.min_rows` rows and go through an IVF index, re-ranked exactly, above it (see AnnOptions).

    Rows added since the last optimize() are not in the FTS/BTREE indexes yet; LanceDB scans them flat, so
    they are found at once, and optimize() (every `optimize_every` upserts) folds them into the indexes.
    Every query re-reads the latest table version, so other processes' writes are seen immediately.

    On tables of `vector_cache_min_rows` rows or more, vector queries are brute force over an in-memory copy
    of the searched vector columns (see VectorCache): the same exact answers, several times faster. It is
    brought up to the latest version before each query: new rows are fetched, deleted ones dropped.
    From `ann.min_rows` rows on, the cache holds nothing: the IVF indexes answer, with their compressed
    vectors in LanceDB's index cache and the full ones on disk.
    """

    def __init__(
        self,
        path: str | Path,
        dim: int,
        *,
        optimize_every: int = 200,
        vector_cache_min_rows: int = VECTOR_CACHE_MIN_ROWS,
        vector_cache_max_mb: float = VECTOR_CACHE_MAX_MB,
        ann: AnnOptions | None = None,
    ) -> None:
        check_dim(dim)
        if optimize_every < 1:
            raise StoreError(f"optimize_every must be positive, got {optimize_every}")
        self.path = Path(path)
        self.dim = dim
        self.optimize_every = optimize_every
        self._ann = AnnIndexes(ann or AnnOptions(), dim)
        self._cache = VectorCache(dim, min_rows=vector_cache_min_rows, max_bytes=int(vector_cache_max_mb * 2**20))
        self._columns = clip_columns(dim)
        self._write_lock = threading.Lock()
        self._upserts = 0
        self._side = ThreadPoolExecutor(SIDE_THREADS, thread_name_prefix="store-bm25")  # a fused query's BM25 ranking
        with self._errors("open"):
            self.path.mkdir(parents=True, exist_ok=True)
            self._db = lancedb.connect(
                str(self.path), read_consistency_interval=timedelta(0), storage_options={"new_table_data_storage_version": FILE_FORMAT}
            )
            try:
                self._table = self._db.open_table(TABLE)
            except (ValueError, FileNotFoundError):
                self._table = self._db.create_table(TABLE, schema=clip_schema(dim), exist_ok=True)
                log.info("created clip table in %s (dim %d)", self.path, dim)
            found = self._table.schema.field("visual").type.list_size
            self._add_missing_columns()
        if found != dim:
            raise StoreError(f"the store in {self.path} holds {found}-d vectors, not {dim}-d")
        self._ensure_indexes()
        try:
            self._ann.after_write(self._table)  # a large store made before vector indexes gets them now, in the background
        except Exception as exc:
            log.warning("could not start a vector index build on %s: %s", self.path, exc)

    # --- writes ---------------------------------------------------------------------------------------

    def upsert(self, clips: Sequence[Clip]) -> None:
        latest = {clip.clip_id: clip for clip in clips}  # a batch with repeated ids keeps the last
        if not latest:
            return
        batch = clips_to_arrow(list(latest.values()), self.dim)
        with self._write_lock, self._errors(f"upsert of {len(latest)} clips"):
            table = self._open()
            table.merge_insert("clip_id").when_matched_update_all().when_not_matched_insert_all().execute(batch)
            self._upserts += 1
            if self._upserts % self.optimize_every == 0 and self._ann.maintenance.acquire(blocking=False):
                try:  # (skipped while a vector index is being built: the two would conflict; the next round runs)
                    self._optimize(table)
                except Exception as exc:  # the upsert itself is already durable; the next round retries
                    log.warning("optimize of %s failed: %s", self.path, exc)
                finally:
                    self._ann.maintenance.release()
        try:
            self._ann.after_write(table)
        except Exception as exc:  # searches stay exact meanwhile; the next write tries again
            log.warning("could not start a vector index build on %s: %s", self.path, exc)

    def optimize(self) -> None:
        """Compact small fragments, fold the rows added since the last round into the BM25 and filter
        indexes, and prune versions older than KEEP_OLD_VERSIONS. upsert() runs this every `optimize_every`
        upserts; call it after a bulk load so that queries need not scan the unindexed rows."""
        with self._write_lock, self._ann.maintenance, self._errors("optimize"):
            self._optimize(self._open())

    def build_vector_indexes(self, *, background: bool = False) -> float:
        """Train the IVF index of every named vector again, if the table has `ann.min_rows` rows (a bulk
        load calls this instead of waiting for the background build); returns the seconds it took, or 0.0
        at once with `background` (wait_for_index_builds waits for it)."""
        with self._errors("vector index build"):
            table = self._open()
            if background:
                self._ann.start(lambda: self._ann.build(table))
                return 0.0
            return self._ann.build(table)

    def wait_for_index_builds(self, timeout_s: float | None = None) -> None:
        """Wait for a background vector index build, if one runs (tests, benchmarks)."""
        self._ann.wait(timeout_s)

    def delete_stream(self, stream_id: str, *, from_s: float | None = None) -> int:
        expr = f"stream_id = {_quote(stream_id)}"
        if from_s is not None:
            expr += f" AND start_s >= {_number(from_s)}"
        with self._write_lock, self._errors(f"delete of stream {stream_id!r}"):
            table = self._open()
            removed = table.count_rows(expr)
            if removed:
                table.delete(expr)
        return removed

    def close(self) -> None:
        self._ann.close()
        self._side.shutdown(wait=False)
        with self._write_lock:
            self._table = None
            self._db = None
            self._cache.clear()

    # --- queries --------------------------------------------------------------------------------------

    def search_vector(
        self, vector: np.ndarray, *, target: str, k: int, where: ClipFilter | None = None
    ) -> list[ScoredClip]:
        check_target(target)
        query = checked_vector(vector, self.dim, f"query vector for {target!r}")
        if k < 1:
            return []
        with self._errors(f"vector search on {target!r}"):
            table = self._open()
            indexed = self._index_answers(table, target)
            cached = None if indexed else self._cache.search(table, query, target, k, where, self._columns)
            if cached is not None:
                found, cosines = cached
                return [] if found is None else [ScoredClip(clip, score) for clip, score in zip(self._to_clips(found), cosines)]
            rows = self._vector_query(table, query, target, k, where, indexed=indexed).select([*self._columns, "_distance"]).to_arrow()
        scores = [1.0 - d for d in rows.column("_distance").to_pylist()]
        return _ranked(self._to_clips(rows), scores)

    def search_text(self, query: str, *, k: int, where: ClipFilter | None = None) -> list[ScoredClip]:
        if not query.strip() or k < 1:
            return []
        with self._errors(f"text search for {query!r}"):
            rows = self._bm25(query, k, where, self._columns)
        return _ranked(self._to_clips(rows), rows.column("_score").to_pylist())

    def search_rank_fusion(
        self,
        query: str | None,
        vector: np.ndarray,
        *,
        targets: Sequence[str],
        k: int,
        depth: int,
        where: ClipFilter | None = None,
    ) -> list[ScoredClip]:
        """Reciprocal-rank fusion of the `depth` nearest clips by each of `targets` and, when `query` is not
        None, the `depth` best by BM25 (see ClipStore.search_rank_fusion)."""
        return self.search_rank_fusion_many([FusionSearch(query, vector, where)], targets=targets, k=k, depth=depth)[0]

    def search_rank_fusion_many(
        self, searches: Sequence[FusionSearch], *, targets: Sequence[str], k: int, depth: int
    ) -> list[list[ScoredClip]]:
        """search_rank_fusion of each search: their vector rankings from one LanceDB query per filter (or
        the vector cache), their BM25 rankings side by side, and every winner's row in one read."""
        for target in targets:
            check_target(target)
        searches = [FusionSearch(s.query, checked_vector(s.vector, self.dim, "query vector"), s.where) for s in searches]
        if k < 1 or not searches:
            return [[] for _ in searches]
        with self._errors("rank fusion search"):
            for _ in range(3):
                try:
                    return self._rank_fusion_in_memory(searches, targets, k, depth)
                except StaleRowIds:  # a winner was deleted meanwhile: rank again
                    continue
        return [rank_fusion_search(self, s.query, s.vector, targets=targets, k=k, depth=depth, where=s.where) for s in searches]

    def _rank_fusion_in_memory(
        self, searches: list[FusionSearch], targets: Sequence[str], k: int, depth: int
    ) -> list[list[ScoredClip]]:
        """search_rank_fusion_many from rankings of row ids (from the vector cache, the IVF index or a flat
        scan, as search_vector would rank), reading only the winners (one read instead of one per ranking)."""
        table = self._open()
        texts = [  # BM25 ranks in other threads meanwhile
            self._side.submit(lambda s=s: _ranking(self._bm25(s.query, depth, s.where, ["stream_id", "start_s"], row_ids=True), "_score", -1))
            if s.query is not None and s.query.strip() and depth >= 1 else None
            for s in searches
        ]  # fmt: skip
        rankings: list[list[list[int]]] = [[] for _ in searches]
        order_keys: dict[int, tuple[str, float]] = {}
        for target in targets:
            indexed = self._index_answers(table, target)
            by_filter: dict[ClipFilter | None, list[int]] = {}
            for i, search in enumerate(searches):
                ranked = None if indexed else self._cache.rank(table, search.vector, target, depth, search.where)
                if ranked is None:
                    by_filter.setdefault(search.where, []).append(i)
                    continue
                rankings[i].append(ranked.rowids())
                order_keys.update(zip(rankings[i][-1], ranked.order_keys()))
            for where, group in by_filter.items():  # one query for the searches with the same filter
                vectors = np.stack([searches[i].vector for i in group])
                rows = self._vector_query(table, vectors if len(group) > 1 else vectors[0], target, depth, where, indexed=indexed)
                found = rows.with_row_id(True).select(["stream_id", "start_s", "_distance"]).to_arrow()
                which = found.column("query_index").to_numpy() if len(group) > 1 else np.zeros(found.num_rows, dtype=np.int64)
                for position, i in enumerate(group):
                    ids, keys = _ranking(found.filter(which == position), "_distance", 1)
                    rankings[i].append(ids)
                    order_keys.update(zip(ids, keys))
        for i, text in enumerate(texts):
            if text is not None:
                ids, keys = text.result()
                rankings[i].append(ids)
                order_keys.update(zip(ids, keys))
        fused = [rrf_order(ranking, order_keys.__getitem__)[:k] for ranking in rankings]
        winners = list(dict.fromkeys(rowid for found in fused for rowid, _ in found))
        if not winners:
            return [[] for _ in searches]
        rows = rows_by_id(table, np.asarray(winners, dtype=np.uint64), self._columns)
        clips = dict(zip(winners, self._to_clips(rows)))
        return [[ScoredClip(clips[rowid], score) for rowid, score in found] for found in fused]

    def _index_answers(self, table: lancedb.table.Table, target: str) -> bool:
        """Whether `target`'s IVF index answers vector queries (then the vector cache lets go of its
        vectors), rather than the vector cache or a flat scan."""
        if self._ann.indexed(table, target):
            self._cache.release()
            return True
        return False

    def _vector_query(
        self, table: lancedb.table.Table, vector: np.ndarray, target: str, k: int, where: ClipFilter | None, *, indexed: bool
    ) -> Any:
        """The LanceDB query for the `k` nearest clips by `target`: through the IVF index where it is
        `indexed` (unless the filter leaves few rows: those are scanned exactly, as filtered IVF search
        loses recall, DESIGN.md §4), else exact."""
        expr = _where(where, f"has_{target}")
        exact = not indexed or (where is not None and self._ann.filter_is_narrow(table, expr))
        return self._ann.query(table, vector, target, k, expr or "", exact=exact, filtered=where is not None)

    def _bm25(self, query: str, k: int, where: ClipFilter | None, columns: list[str], *, row_ids: bool = False) -> pa.Table:
        builder = self._open().search(query, query_type="fts", fts_columns=BM25_TEXT)
        expr = _where(where)
        if expr:
            builder = builder.where(expr, prefilter=True)
        if row_ids:
            builder = builder.with_row_id(True)
        return builder.select([*columns, "_score"]).limit(k).to_arrow()

    def get(self, clip_ids: Sequence[str]) -> list[Clip]:
        found: dict[str, Clip] = {}
        unique = list(dict.fromkeys(clip_ids))
        for start in range(0, len(unique), ID_CHUNK):
            chunk = unique[start : start + ID_CHUNK]
            rows = self._scan(f"clip_id IN ({', '.join(_quote(c) for c in chunk)})", self._columns)
            found.update((clip.clip_id, clip) for clip in self._to_clips(rows))
        return [found[cid] for cid in clip_ids if cid in found]

    def count(self, where: ClipFilter | None = None) -> int:
        with self._errors("count"):
            return self._open().count_rows(_where(where))

    def streams(self) -> list[StreamInfo]:
        rows = self._scan(None, ["stream_id", "start_s", "end_s"])
        if rows.num_rows == 0:
            return []
        stats = rows.group_by("stream_id").aggregate([("stream_id", "count"), ("start_s", "min"), ("end_s", "max")])
        return sorted(
            (
                StreamInfo(s["stream_id"], s["stream_id_count"], s["start_s_min"], s["end_s_max"])
                for s in stats.to_pylist()
            ),
            key=lambda info: info.stream_id,
        )

    # --- internals ------------------------------------------------------------------------------------

    def _open(self) -> lancedb.table.Table:
        if self._table is None:
            raise StoreError(f"the store in {self.path} is closed")
        return self._table

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except StreammmError:
            raise
        except Exception as exc:
            text = str(exc)
            retriable = isinstance(exc, OSError) or any(m in text for m in ("LanceError(IO)", "onflict", "Timeout"))
            raise StoreError(f"clip store in {self.path}: {action} failed: {text}", retriable=retriable) from exc

    def _add_missing_columns(self) -> None:
        """Columns added after a table was made are added: completeness, ingest run and sample rate with
        neutral values, the BM25 document from the text columns, frame vectors and shot times empty."""
        have = set(self._table.schema.names)
        added = {
            "expected": "CAST('' AS STRING)", "pending": "CAST('' AS STRING)", "run_started_at": "CAST(0.0 AS DOUBLE)",
            "sample_fps": "CAST(0.0 AS DOUBLE)", BM25_TEXT: BM25_TEXT_SQL,
        }
        missing = {name: expr for name, expr in added.items() if name not in have}
        if missing:
            log.info("adding columns %s to the clip table in %s", ", ".join(missing), self.path)
            self._table.add_columns(missing)
        empty = [clip_schema(self.dim).field(name) for name in ("frame_vectors", "shot_times") if name not in have]
        if empty:  # no frame vectors were kept: those clips' visual moments are fitted on the clip grid
            log.info("adding columns %s to the clip table in %s", ", ".join(f.name for f in empty), self.path)
            self._table.add_columns(empty)

    def _ensure_indexes(self) -> None:
        """A BM25 index on the BM25 document, BTREE indexes for the id, stream and time filters, and BITMAP
        indexes on the has_ flags (every vector query filters on one). A table made before the BM25
        document had an index per text column: those are dropped once the new one exists."""
        wanted = {BM25_TEXT: FTS()} | {col: BTree() for col in SCALAR_INDEXED}
        wanted |= {f"has_{name}": Bitmap() for name in VECTOR_NAMES}
        with self._errors("index check"):
            indexes = self._open().list_indices()
        have = {column for index in indexes for column in index.columns}
        for column, config in wanted.items():
            if column in have:
                continue
            try:
                self._open().create_index(column, config=config)
                have.add(column)
            except Exception as exc:  # another process may have created it meanwhile; queries work without it
                log.warning("could not create the %s index on %s: %s", type(config).__name__, column, exc)
        for index in indexes:
            if BM25_TEXT in have and index.index_type == "FTS" and index.columns != [BM25_TEXT]:
                try:
                    self._open().drop_index(index.name)
                except Exception as exc:  # unused: it only costs disk and optimize time
                    log.warning("could not drop the unused %s index on %s: %s", index.name, self.path, exc)

    def _optimize(self, table: lancedb.table.Table) -> None:
        began = time.perf_counter()
        table.optimize(cleanup_older_than=KEEP_OLD_VERSIONS)
        took_ms = 1000 * (time.perf_counter() - began)
        log.debug("optimized %s in %.0f ms (version %d)", self.path, took_ms, table.version)

    def _scan(self, expr: str | None, columns: list[str]) -> pa.Table:
        with self._errors("read"):
            builder = self._open().search()
            if expr:
                builder = builder.where(expr)
            return builder.select(columns).limit(None).to_arrow()

    def _to_clips(self, rows: pa.Table) -> list[Clip]:
        return clips_from_arrow(rows, self.dim)


def _quote(text: str) -> str:
    """A SQL string literal: single quotes doubled, nothing else is special."""
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    return repr(finite_bound(value))


def _where(where: ClipFilter | None, *extra: str) -> str | None:
    """The filter as a SQL predicate: streams IN (...), and clips overlapping [start_s, end_s]."""
    parts = list(extra)
    if where is not None:
        if where.stream_ids is not None:
            ids = ", ".join(_quote(s) for s in where.stream_ids)
            parts.append(f"stream_id IN ({ids})" if ids else "FALSE")
        if where.start_s is not None:
            parts.append(f"end_s > {_number(where.start_s)}")
        if where.end_s is not None:
            parts.append(f"start_s < {_number(where.end_s)}")
        if where.incomplete:
            parts.append("pending != ''")
    return " AND ".join(f"({p})" for p in parts) or None


def _ranked(clips: list[Clip], scores: list[float]) -> list[ScoredClip]:
    hits = [ScoredClip(clip, float(score)) for clip, score in zip(clips, scores)]
    return sorted(hits, key=lambda hit: -hit.score)


def _ranking(rows: pa.Table, score: str, sign: int) -> tuple[list[int], list[tuple[str, float]]]:
    """The row ids of `rows` (with _rowid, stream_id and start_s) ordered by `score`, ascending (`sign` 1)
    or descending (-1), as search_vector and search_text order them, and each one's (stream, start) key."""
    values = rows.column(score).to_pylist()
    best = sorted(range(rows.num_rows), key=lambda i: sign * values[i])
    ids, streams, starts = (rows.column(c).to_pylist() for c in ("_rowid", "stream_id", "start_s"))
    return [ids[i] for i in best], [(streams[i], starts[i]) for i in best]
