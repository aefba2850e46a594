"""The embedded clip store: one LanceDB table on local disk with named vectors, BM25 and filters."""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lancedb.index import FTS, BTree
from lancedb.query import MultiMatchQuery

from streammm.errors import StoreError, StreammmError
from streammm.records import VECTOR_NAMES, Clip, ClipFilter, OcrLine, ScoredClip, StreamInfo, Word
from streammm.store.fusion import fused_search, rrf_order

log = logging.getLogger(__name__)

TABLE = "clips"
TEXT_COLUMNS = ("transcript", "ocr_text")
SCALAR_INDEXED = ("clip_id", "stream_id", "start_s", "end_s")
KEEP_OLD_VERSIONS = timedelta(hours=1)  # optimize() prunes versions older than this; readers may still use newer ones
HYBRID_POOL = 50  # candidates each side of a hybrid query contributes, at least
ID_CHUNK = 500  # clip ids per IN (...) list in get()
# Vector search over tables of at least VECTOR_CACHE_MIN_ROWS rows runs on an in-memory copy of the searched
# vector columns (exact brute force in numpy, several times faster than LanceDB's flat scan), kept in step
# with the table's latest version. Tables whose searched vectors would take more than VECTOR_CACHE_MAX_MB
# are searched by LanceDB's flat scan instead. Both paths are exact.
VECTOR_CACHE_MIN_ROWS = 5_000
VECTOR_CACHE_MAX_MB = 2_048
ROWID_CHUNK = 1_000  # row ids per IN (...) list when the cache fetches rows
_SCALARS = ("stream_id", "start_s", "end_s", *(f"has_{name}" for name in VECTOR_NAMES))
_PRIMARY_KEY = {b"lance-schema:unenforced-primary-key": b"true"}


def clip_schema(dim: int) -> pa.Schema:
    """The table's columns: the clip's fields, JSON for its words and OCR lines, a vector and flag per name."""
    vector = pa.list_(pa.float32(), dim)
    return pa.schema(
        [
            pa.field("clip_id", pa.string(), nullable=False, metadata=_PRIMARY_KEY),
            pa.field("stream_id", pa.string(), nullable=False),
            pa.field("start_s", pa.float64(), nullable=False),
            pa.field("end_s", pa.float64(), nullable=False),
            pa.field("profile", pa.string()),
            pa.field("transcript", pa.string()),
            pa.field("ocr_text", pa.string()),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("words_json", pa.string()),
            pa.field("ocr_lines_json", pa.string()),
            pa.field("frame_times", pa.list_(pa.float64())),
            pa.field("thumbnail", pa.string()),
            pa.field("expected", pa.string()),
            pa.field("pending", pa.string()),
            pa.field("run_started_at", pa.float64()),
            *(pa.field(name, vector, nullable=False) for name in VECTOR_NAMES),
            *(pa.field(f"has_{name}", pa.bool_(), nullable=False) for name in VECTOR_NAMES),
        ]
    )


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
    """A ClipStore in a directory. Vector queries are exact (no ANN index); BM25 uses native FTS indexes.

    Rows added since the last optimize() are not in the FTS/BTREE indexes yet; LanceDB scans them flat, so
    they are found at once, and optimize() (every `optimize_every` upserts) folds them into the indexes.
    Every query re-reads the latest table version, so other processes' writes are seen immediately.

    On tables of `vector_cache_min_rows` rows or more, vector queries are brute force over an in-memory copy
    of the searched vector columns (see _VectorCache): the same exact answers, several times faster. It is
    brought up to the latest version before each query: new rows are fetched, deleted ones dropped.
    """

    def __init__(
        self,
        path: str | Path,
        dim: int,
        *,
        optimize_every: int = 200,
        vector_cache_min_rows: int = VECTOR_CACHE_MIN_ROWS,
        vector_cache_max_mb: float = VECTOR_CACHE_MAX_MB,
    ) -> None:
        if dim < 1 or optimize_every < 1:
            raise StoreError(f"dim and optimize_every must be positive, got {dim} and {optimize_every}")
        self.path = Path(path)
        self.dim = dim
        self.optimize_every = optimize_every
        self._cache = _VectorCache(dim, min_rows=vector_cache_min_rows, max_bytes=int(vector_cache_max_mb * 2**20))
        self._schema = clip_schema(dim)
        self._columns = list(self._schema.names)
        self._write_lock = threading.Lock()
        self._upserts = 0
        with self._errors("open"):
            self.path.mkdir(parents=True, exist_ok=True)
            self._db = lancedb.connect(str(self.path), read_consistency_interval=timedelta(0))
            try:
                self._table = self._db.open_table(TABLE)
            except (ValueError, FileNotFoundError):
                self._table = self._db.create_table(TABLE, schema=self._schema, exist_ok=True)
                log.info("created clip table in %s (dim %d)", self.path, dim)
            found = self._table.schema.field("visual").type.list_size
            self._add_missing_columns()
        if found != dim:
            raise StoreError(f"the store in {self.path} holds {found}-d vectors, not {dim}-d")
        self._ensure_indexes()

    # --- writes ---------------------------------------------------------------------------------------

    def upsert(self, clips: Sequence[Clip]) -> None:
        latest = {clip.clip_id: clip for clip in clips}  # a batch with repeated ids keeps the last
        if not latest:
            return
        batch = self._to_arrow(list(latest.values()))
        with self._write_lock, self._errors(f"upsert of {len(latest)} clips"):
            table = self._open()
            table.merge_insert("clip_id").when_matched_update_all().when_not_matched_insert_all().execute(batch)
            self._upserts += 1
            if self._upserts % self.optimize_every == 0:
                self._optimize(table)

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
        with self._write_lock:
            self._table = None
            self._db = None
            self._cache.clear()

    # --- queries --------------------------------------------------------------------------------------

    def search_vector(
        self, vector: np.ndarray, *, target: str, k: int, where: ClipFilter | None = None
    ) -> list[ScoredClip]:
        _check_target(target)
        query = self._vector(vector, f"query vector for {target!r}")
        if k < 1:
            return []
        with self._errors(f"vector search on {target!r}"):
            cached = self._cache.search(self._open(), query, target, k, where, self._columns)
            if cached is not None:
                found, cosines = cached
                return [] if found is None else [ScoredClip(clip, score) for clip, score in zip(self._to_clips(found), cosines)]
            rows = (
                self._open()
                .search(query, vector_column_name=target, query_type="vector")
                .distance_type("cosine")
                .where(_where(where, f"has_{target}"), prefilter=True)
                .bypass_vector_index()  # exact: filtered ANN search loses recall (DESIGN.md §4)
                .select([*self._columns, "_distance"])
                .limit(k)
                .to_arrow()
            )
        scores = [1.0 - d for d in rows.column("_distance").to_pylist()]
        return _ranked(self._to_clips(rows), scores)

    def search_text(self, query: str, *, k: int, where: ClipFilter | None = None) -> list[ScoredClip]:
        if not query.strip() or k < 1:
            return []
        with self._errors(f"text search for {query!r}"):
            rows = self._bm25(query, k, where, self._columns)
        return _ranked(self._to_clips(rows), rows.column("_score").to_pylist())

    def search_fused(
        self,
        query: str | None,
        vector: np.ndarray,
        *,
        targets: Sequence[str],
        k: int,
        depth: int,
        where: ClipFilter | None = None,
    ) -> list[ScoredClip]:
        for target in targets:
            _check_target(target)
        vector = self._vector(vector, "query vector")
        if k < 1:
            return []
        with self._errors("fused search"):
            for _ in range(3):
                try:
                    found = self._fused_in_memory(query, vector, targets, k, depth, where)
                except _Stale:  # a winner was deleted meanwhile: rank again
                    continue
                if found is not None:
                    return found
                break
        return fused_search(self, query, vector, targets=targets, k=k, depth=depth, where=where)

    def _fused_in_memory(
        self, query: str | None, vector: np.ndarray, targets: Sequence[str], k: int, depth: int, where: ClipFilter | None
    ) -> list[ScoredClip] | None:
        """search_fused over the vector cache: the rankings hold row ids, and only the `k` winners are read
        (one read instead of one per ranking). None when a target is not cached."""
        table = self._open()
        rankings: list[list[int]] = []
        order_keys: dict[int, tuple[str, float]] = {}
        for target in targets:
            ranked = self._cache.rank(table, vector, target, depth, where)
            if ranked is None:
                return None
            rankings.append(ranked.rowids())
            order_keys.update(zip(rankings[-1], ranked.order_keys()))
        if query is not None and query.strip() and depth >= 1:
            rows = self._bm25(query, depth, where, ["stream_id", "start_s"], row_ids=True)
            scores = rows.column("_score").to_pylist()
            best = sorted(range(rows.num_rows), key=lambda i: -scores[i])  # as search_text orders them
            ids, streams, starts = (rows.column(c).to_pylist() for c in ("_rowid", "stream_id", "start_s"))
            rankings.append([ids[i] for i in best])
            order_keys.update((ids[i], (streams[i], starts[i])) for i in best)
        fused = rrf_order(rankings, order_keys.__getitem__)[:k]
        if not fused:
            return []
        rows = _by_rowid(table, np.asarray([rowid for rowid, _ in fused], dtype=np.uint64), self._columns)
        return [ScoredClip(clip, score) for clip, (_, score) in zip(self._to_clips(rows), fused)]

    def _bm25(self, query: str, k: int, where: ClipFilter | None, columns: list[str], *, row_ids: bool = False) -> pa.Table:
        builder = self._open().search(MultiMatchQuery(query, list(TEXT_COLUMNS)), query_type="fts")
        expr = _where(where)
        if expr:
            builder = builder.where(expr, prefilter=True)
        if row_ids:
            builder = builder.with_row_id(True)
        return builder.select([*columns, "_score"]).limit(k).to_arrow()

    def search_hybrid(
        self, query: str, vector: np.ndarray, *, target: str, k: int, alpha: float = 0.5, where: ClipFilter | None = None
    ) -> list[ScoredClip]:
        """Relative-score fusion: each side's scores are min-max scaled to [0, 1] (a lone or tied list
        scales to 1), a clip scores alpha*vector + (1-alpha)*text with 0 for a side that missed it, and
        ties go to the side alpha favours, so alpha=1 orders as pure vector search and alpha=0 as BM25."""
        if not 0.0 <= alpha <= 1.0:
            raise StoreError(f"alpha must be in [0, 1], got {alpha}")
        if k < 1:
            return []
        pool = max(4 * k, HYBRID_POOL)
        by_vector = _normalised(self.search_vector(vector, target=target, k=pool, where=where))
        by_text = _normalised(self.search_text(query, k=pool, where=where))
        clips = {hit.clip.clip_id: hit.clip for hit in (*by_text.values(), *by_vector.values())}
        favoured, other = (by_vector, by_text) if alpha >= 0.5 else (by_text, by_vector)

        def fused(cid: str) -> float:
            vec = by_vector[cid].score if cid in by_vector else 0.0
            text = by_text[cid].score if cid in by_text else 0.0
            return alpha * vec + (1.0 - alpha) * text

        def side(hits: dict[str, ScoredClip], cid: str) -> float:
            return hits[cid].score if cid in hits else -1.0

        order = sorted(clips, key=lambda cid: (-fused(cid), -side(favoured, cid), -side(other, cid)))
        return [ScoredClip(clips[cid], fused(cid)) for cid in order[:k]]

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
        """Columns added after a table was made (completeness, ingest run) are added with neutral values."""
        have = set(self._table.schema.names)
        added = {"expected": "CAST('' AS STRING)", "pending": "CAST('' AS STRING)", "run_started_at": "CAST(0.0 AS DOUBLE)"}
        missing = {name: expr for name, expr in added.items() if name not in have}
        if missing:
            log.info("adding columns %s to the clip table in %s", ", ".join(missing), self.path)
            self._table.add_columns(missing)

    def _ensure_indexes(self) -> None:
        """BM25 indexes on the text columns and BTREE indexes for the id, stream and time filters."""
        wanted = {col: FTS() for col in TEXT_COLUMNS} | {col: BTree() for col in SCALAR_INDEXED}
        with self._errors("index check"):
            have = {column for index in self._open().list_indices() for column in index.columns}
        for column, config in wanted.items():
            if column in have:
                continue
            try:
                self._open().create_index(column, config=config)
            except Exception as exc:  # another process may have created it meanwhile; queries work without it
                log.warning("could not create the %s index on %s: %s", type(config).__name__, column, exc)

    def _optimize(self, table: lancedb.table.Table) -> None:
        """Compact small fragments, fold new rows into the indexes and prune old versions."""
        began = time.perf_counter()
        try:
            table.optimize(cleanup_older_than=KEEP_OLD_VERSIONS)
        except Exception as exc:  # the upsert itself is already durable; the next round retries
            log.warning("optimize of %s failed: %s", self.path, exc)
            return
        took_ms = 1000 * (time.perf_counter() - began)
        log.debug("optimized %s in %.0f ms (version %d)", self.path, took_ms, table.version)

    def _scan(self, expr: str | None, columns: list[str]) -> pa.Table:
        with self._errors("read"):
            builder = self._open().search()
            if expr:
                builder = builder.where(expr)
            return builder.select(columns).limit(None).to_arrow()

    def _vector(self, vector: object, what: str) -> np.ndarray:
        arr = np.asarray(vector, dtype=np.float32).reshape(-1)
        if arr.shape != (self.dim,) or not np.all(np.isfinite(arr)) or not np.any(arr):
            raise StoreError(f"{what} must be a finite, non-zero {self.dim}-d vector, got shape {np.shape(vector)}")
        return arr

    def _to_arrow(self, clips: list[Clip]) -> pa.Table:
        data: dict[str, object] = {
            "clip_id": [c.clip_id for c in clips],
            "stream_id": [c.stream_id for c in clips],
            "start_s": [float(c.start_s) for c in clips],
            "end_s": [float(c.end_s) for c in clips],
            "profile": [c.profile for c in clips],
            "transcript": [c.transcript for c in clips],
            "ocr_text": [c.ocr_text for c in clips],
            "tags": [list(c.tags) for c in clips],
            "words_json": [json.dumps([asdict(w) for w in c.words], default=float) for c in clips],
            "ocr_lines_json": [json.dumps([asdict(o) for o in c.ocr_lines], default=float) for c in clips],
            "frame_times": [[float(t) for t in c.frame_times] for c in clips],
            "thumbnail": [c.thumbnail for c in clips],
            "expected": [",".join(c.expected) for c in clips],
            "pending": [",".join(c.pending) for c in clips],
            "run_started_at": [float(c.run_started_at) for c in clips],
        }
        for clip in clips:
            unknown = set(clip.vectors) - set(VECTOR_NAMES)
            if unknown:
                raise StoreError(f"clip {clip.clip_id}: unknown vector names {sorted(unknown)}")
        for name in VECTOR_NAMES:
            matrix = np.zeros((len(clips), self.dim), dtype=np.float32)
            for row, clip in enumerate(clips):
                if name in clip.vectors:
                    matrix[row] = self._vector(clip.vectors[name], f"clip {clip.clip_id}: vector {name!r}")
            data[name] = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), self.dim)
            data[f"has_{name}"] = [name in clip.vectors for clip in clips]
        return pa.Table.from_pydict(data, schema=self._schema)

    def _to_clips(self, rows: pa.Table) -> list[Clip]:
        plain = rows.select([c for c in self._columns if c not in VECTOR_NAMES]).to_pydict()
        matrices = {
            name: rows.column(name).combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, self.dim)
            for name in VECTOR_NAMES
        }
        return [
            Clip(
                clip_id=plain["clip_id"][i],
                stream_id=plain["stream_id"][i],
                start_s=plain["start_s"][i],
                end_s=plain["end_s"][i],
                profile=plain["profile"][i] or "",
                transcript=plain["transcript"][i] or "",
                ocr_text=plain["ocr_text"][i] or "",
                tags=tuple(plain["tags"][i] or ()),
                words=tuple(Word(**w) for w in json.loads(plain["words_json"][i] or "[]")),
                ocr_lines=tuple(OcrLine(**o) for o in json.loads(plain["ocr_lines_json"][i] or "[]")),
                frame_times=tuple(plain["frame_times"][i] or ()),
                vectors={n: matrices[n][i].copy() for n in VECTOR_NAMES if plain[f"has_{n}"][i]},
                thumbnail=plain["thumbnail"][i] or "",
                expected=_names(plain["expected"][i]),
                pending=_names(plain["pending"][i]),
                run_started_at=plain["run_started_at"][i] or 0.0,
            )
            for i in range(rows.num_rows)
        ]


def _check_target(target: str) -> None:
    if target not in VECTOR_NAMES:
        raise StoreError(f"unknown vector target {target!r}; expected one of {', '.join(VECTOR_NAMES)}")


def _quote(text: str) -> str:
    """A SQL string literal: single quotes doubled, nothing else is special."""
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    number = float(value)
    if not math.isfinite(number):
        raise StoreError(f"filter bounds must be finite numbers, got {value!r}")
    return repr(number)


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


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(n for n in (value or "").split(",") if n)


def _ranked(clips: list[Clip], scores: list[float]) -> list[ScoredClip]:
    hits = [ScoredClip(clip, float(score)) for clip, score in zip(clips, scores)]
    return sorted(hits, key=lambda hit: -hit.score)


def _normalised(hits: list[ScoredClip]) -> dict[str, ScoredClip]:
    """Min-max scale scores to [0, 1], keyed by clip id; equal scores (or one hit) scale to 1."""
    if not hits:
        return {}
    low, high = min(h.score for h in hits), max(h.score for h in hits)
    span = high - low
    return {
        h.clip.clip_id: ScoredClip(h.clip, (h.score - low) / span if span > 1e-12 else 1.0) for h in hits
    }


# --- the in-memory vector cache -------------------------------------------------------------------------


class _Stale(Exception):
    """The table moved on while the cache was reading it; read again."""


class _Matrix:
    """Rows of one vector column with their norms, in a buffer that grows by appending.

    Snapshots share a buffer: each reads only its first `n` rows, and appends go past the newest
    snapshot's rows, so a published snapshot never sees its rows change.
    """

    def __init__(self, rows: np.ndarray, spare: int) -> None:
        self.data = np.empty((len(rows) + spare, rows.shape[1]), dtype=np.float32)
        self.norms = np.empty(len(rows) + spare, dtype=np.float32)
        self.data[: len(rows)] = rows
        self.norms[: len(rows)] = _norms(rows)

    def appended(self, n: int, rows: np.ndarray) -> _Matrix:
        """This matrix with `rows` written after its first `n` rows (a grown copy when they do not fit)."""
        target = self
        if n + len(rows) > len(self.data):
            target = _Matrix(self.data[:n], spare=max(len(rows), n // 4, 1024))
        target.data[n : n + len(rows)] = rows
        target.norms[n : n + len(rows)] = _norms(rows)
        return target


@dataclass(frozen=True, eq=False)
class _Snapshot:
    """Every row the cache holds at table `version`, ascending by row id; `live` marks those still in it."""

    version: int
    rowids: np.ndarray  # uint64
    live: np.ndarray  # bool
    streams: np.ndarray  # int32 codes into stream_codes
    stream_codes: dict[str, int]
    start_s: np.ndarray
    end_s: np.ndarray
    has: dict[str, np.ndarray]
    vectors: dict[str, _Matrix]

    @property
    def n(self) -> int:
        return len(self.rowids)

    @functools.cached_property
    def stream_names(self) -> list[str]:
        """Stream ids by code (codes are handed out in insertion order)."""
        return list(self.stream_codes)


@dataclass(frozen=True, eq=False)
class _Ranked:
    """Positions into a snapshot's rows, best first, and their cosines."""

    snapshot: _Snapshot
    positions: np.ndarray
    cosines: np.ndarray

    def rowids(self) -> list[int]:
        return self.snapshot.rowids[self.positions].tolist()

    def order_keys(self) -> list[tuple[str, float]]:
        """(stream id, start) of each row: the order fusion gives rows with equal scores."""
        names, snap = self.snapshot.stream_names, self.snapshot
        return [(names[code], float(start)) for code, start in zip(snap.streams[self.positions], snap.start_s[self.positions])]


class _VectorCache:
    """Exact vector search over an in-memory copy of the searched vector columns.

    Lance row ids name immutable rows (an update deletes the old row and appends a new one; compaction
    rewrites rows under new ids), so the cache follows the table by row id: on a new version it reads the
    live row ids (one small column), fetches only the rows it has not seen and marks the missing ones dead.
    After a compaction, or when dead rows outnumber live ones, it reads the columns again in full.
    """

    def __init__(self, dim: int, *, min_rows: int, max_bytes: int) -> None:
        self.dim = dim
        self.min_rows = min_rows
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._state: tuple[int, _Snapshot | None] | None = None  # (version, snapshot or None: not cached)
        self._over = False
        self._reading_all = False

    def clear(self) -> None:
        with self._lock:
            self._state = None

    def search(
        self, table: lancedb.table.Table, query: np.ndarray, target: str, k: int, where: ClipFilter | None, columns: list[str]
    ) -> tuple[pa.Table | None, list[float]] | None:
        """(the best `k` rows with `columns`, best first, and their cosines; None and [] when nothing matches),
        or None: search the table itself."""
        for _ in range(3):
            try:
                ranked = self.rank(table, query, target, k, where)
                if ranked is None:
                    return None
                if not len(ranked.positions):
                    return None, []
                snapshot, positions = ranked.snapshot, ranked.positions
                held = [c for c in columns if c in snapshot.vectors]  # taken from memory, not read again
                rows = _by_rowid(table, snapshot.rowids[positions], [c for c in columns if c not in snapshot.vectors])
                for name in held:
                    flat = pa.array(snapshot.vectors[name].data[positions].reshape(-1))
                    rows = rows.append_column(name, pa.FixedSizeListArray.from_arrays(flat, self.dim))
                return rows, [float(c) for c in ranked.cosines]
            except _Stale:
                continue
        log.debug("vector cache: the table kept changing; searching it directly")
        return None

    def rank(self, table: lancedb.table.Table, query: np.ndarray, target: str, k: int, where: ClipFilter | None) -> _Ranked | None:
        """The best `k` matching rows by `target`, best first, without reading them; None: not cached."""
        if where is not None and where.incomplete:
            return None  # completeness is not held in memory: the table answers
        snapshot = self._snapshot(table, target)
        if snapshot is None:
            return None
        return _Ranked(snapshot, *self._rank(snapshot, query, target, k, where))

    # --- ranking ------------------------------------------------------------------------------------

    def _rank(self, snap: _Snapshot, query: np.ndarray, target: str, k: int, where: ClipFilter | None) -> tuple[np.ndarray, np.ndarray]:
        """Positions (into snap.rowids) of the best `k` matching rows, best first, and their cosines."""
        n = snap.n
        mask = snap.live & snap.has[target]
        if where is not None:
            if where.stream_ids is not None:
                codes = [snap.stream_codes[s] for s in where.stream_ids if s in snap.stream_codes]
                mask &= np.isin(snap.streams, np.asarray(codes, dtype=np.int32))
            if where.start_s is not None:
                mask &= snap.end_s > float(_number(where.start_s))
            if where.end_s is not None:
                mask &= snap.start_s < float(_number(where.end_s))
        positions = np.flatnonzero(mask)
        if positions.size == 0:
            return positions, np.empty(0, dtype=np.float32)
        matrix = snap.vectors[target]
        # einsum, not `@`: one thread. BLAS would spread this memory-bound product over every core and
        # spin them, doubling its CPU time for no gain in wall time, while other queries want those cores.
        if positions.size * 8 >= n:  # a pass over the whole matrix costs less than gathering the rows
            cosines = np.einsum("ij,j->i", matrix.data[:n], query)[positions]
        else:
            cosines = np.einsum("ij,j->i", matrix.data[positions], query)
        cosines = cosines / (matrix.norms[positions] * np.float32(np.linalg.norm(query)))
        if positions.size > k:
            kth = np.partition(cosines, positions.size - k)[positions.size - k]
            keep = np.flatnonzero(cosines >= kth)  # ties at the boundary included, then cut in order below
            positions, cosines = positions[keep], cosines[keep]
        order = np.lexsort((positions, -cosines))[:k]  # best first; ties by row id (insertion order)
        return positions[order], np.clip(cosines[order], -1.0, 1.0)  # rounding can overshoot by an ulp

    # --- keeping up with the table --------------------------------------------------------------------

    def _snapshot(self, table: lancedb.table.Table, target: str) -> _Snapshot | None:
        version = table.version
        state = self._state
        if state is not None and state[0] == version and (state[1] is None or target in state[1].vectors):
            return state[1]
        if self._reading_all:
            return None  # a full read takes seconds on a large table: search the table meanwhile
        with self._lock:
            version = table.version
            state = self._state
            if state is not None and state[0] == version and (state[1] is None or target in state[1].vectors):
                return state[1]
            old = state[1] if state is not None else None
            names = sorted({target, *(old.vectors if old is not None else ())})
            rows = table.count_rows()
            if rows < self.min_rows or rows * self.dim * 4 * len(names) > self.max_bytes:
                if rows >= self.min_rows and not self._over:
                    log.warning("%d rows of %d vector columns exceed the vector cache (%d MB): searching the table directly", rows, len(names), self.max_bytes >> 20)
                self._over = rows >= self.min_rows
                self._state = (version, None)
                return None
            began = time.perf_counter()
            fresh = None
            if old is not None and set(names) == set(old.vectors):
                fresh = self._follow(table, old, version)
            how = "followed"
            if fresh is None:
                self._reading_all = True
                try:
                    fresh, how = self._read_all(table, names, version), "read"
                finally:
                    self._reading_all = False
            # Labelled with the version seen before reading: the rows read are that version's or newer ones
            # (each row id is one immutable row), so a table that moved meanwhile is followed next time.
            self._state = (version, fresh)
            log.debug("vector cache %s version %d (%d rows, %s) in %.0f ms", how, version, int(fresh.live.sum()), ", ".join(names), 1000 * (time.perf_counter() - began))
            return fresh

    def _read_all(self, table: lancedb.table.Table, names: list[str], version: int) -> _Snapshot:
        rows = table.search().select([*_SCALARS, *names]).with_row_id(True).limit(None).to_arrow()
        rowids = rows.column("_rowid").to_numpy().astype(np.uint64)
        order = None if np.all(rowids[:-1] < rowids[1:]) else np.argsort(rowids, kind="stable")
        scalars = rows.select(list(_SCALARS))
        if order is not None:
            rowids, scalars = rowids[order], scalars.take(pa.array(order))
        encoded = pc.dictionary_encode(scalars.column("stream_id")).combine_chunks()
        spare = max(len(rows) // 8, 1024)
        vectors = {}
        for name in names:
            raw = _matrix(rows, name, self.dim)
            vectors[name] = _Matrix(raw if order is None else raw[order], spare)
        return _Snapshot(
            version=version,
            rowids=rowids,
            live=np.ones(len(rowids), dtype=bool),
            streams=encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32),
            stream_codes={name: code for code, name in enumerate(encoded.dictionary.to_pylist())},
            start_s=scalars.column("start_s").to_numpy(),
            end_s=scalars.column("end_s").to_numpy(),
            has={name: scalars.column(f"has_{name}").to_numpy(zero_copy_only=False) for name in VECTOR_NAMES},
            vectors=vectors,
        )

    def _follow(self, table: lancedb.table.Table, old: _Snapshot, version: int) -> _Snapshot | None:
        """`old` brought to `version` by fetching only new rows; None when reading everything is better."""
        live_ids = np.sort(table.search().select(["start_s"]).with_row_id(True).limit(None).to_arrow().column("_rowid").to_numpy().astype(np.uint64))
        n = old.n
        at = np.minimum(np.searchsorted(old.rowids, live_ids), max(n - 1, 0))
        known = (old.rowids[at] == live_ids) if n else np.zeros(len(live_ids), dtype=bool)
        new_ids = live_ids[~known]
        kept = int(known.sum())
        if len(new_ids) > max(ROWID_CHUNK, len(live_ids) // 4) or (n - kept) > len(live_ids):
            return None  # compacted or mostly rewritten: read it all again
        if len(new_ids) and n and new_ids[0] <= old.rowids[-1]:
            return None  # row ids that do not only grow: do not guess
        live = np.zeros(n + len(new_ids), dtype=bool)
        live[at[known]] = True
        live[n:] = True
        if not len(new_ids):
            return _Snapshot(version, old.rowids, live, old.streams, old.stream_codes, old.start_s, old.end_s, old.has, old.vectors)
        names = list(old.vectors)
        rows = _by_rowid(table, new_ids, [*_SCALARS, *names])
        codes = dict(old.stream_codes)
        for stream in rows.column("stream_id").to_pylist():
            codes.setdefault(stream, len(codes))
        streams = np.asarray([codes[s] for s in rows.column("stream_id").to_pylist()], dtype=np.int32)
        return _Snapshot(
            version=version,
            rowids=np.concatenate([old.rowids, new_ids]),
            live=live,
            streams=np.concatenate([old.streams, streams]),
            stream_codes=codes,
            start_s=np.concatenate([old.start_s, rows.column("start_s").to_numpy()]),
            end_s=np.concatenate([old.end_s, rows.column("end_s").to_numpy()]),
            has={name: np.concatenate([old.has[name], rows.column(f"has_{name}").to_numpy(zero_copy_only=False)]) for name in VECTOR_NAMES},
            vectors={name: old.vectors[name].appended(n, _matrix(rows, name, self.dim)) for name in names},
        )


def _by_rowid(table: lancedb.table.Table, rowids: np.ndarray, columns: list[str]) -> pa.Table:
    """The rows with these ids (and a _rowid column), in the order given; _Stale when any is gone (deleted since)."""
    wanted = [int(r) for r in rowids]
    parts = [
        table.take_row_ids(wanted[start : start + ROWID_CHUNK]).select(columns).with_row_id().to_arrow()
        for start in range(0, len(wanted), ROWID_CHUNK)
    ]
    rows = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if rows.num_rows != len(wanted):
        raise _Stale
    where = {rowid: i for i, rowid in enumerate(rows.column("_rowid").to_pylist())}
    if len(where) != len(wanted):
        raise _Stale
    return rows.take(pa.array([where[r] for r in wanted], type=pa.int64()))


def _matrix(rows: pa.Table, name: str, dim: int) -> np.ndarray:
    return rows.column(name).combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)


def _norms(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1).astype(np.float32)
    norms[norms == 0] = 1.0  # a missing vector is stored as zeros; its has_ flag keeps it out of results
    return norms
