"""The embedded clip store: one LanceDB table on local disk with named vectors, BM25 and filters."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import FTS, BTree
from lancedb.query import MultiMatchQuery

from streammm.errors import StoreError, StreammmError
from streammm.records import VECTOR_NAMES, Clip, ClipFilter, OcrLine, ScoredClip, StreamInfo, Word

log = logging.getLogger(__name__)

TABLE = "clips"
TEXT_COLUMNS = ("transcript", "ocr_text")
SCALAR_INDEXED = ("clip_id", "stream_id", "start_s", "end_s")
KEEP_OLD_VERSIONS = timedelta(hours=1)  # optimize() prunes versions older than this; readers may still use newer ones
HYBRID_POOL = 50  # candidates each side of a hybrid query contributes, at least
ID_CHUNK = 500  # clip ids per IN (...) list in get()
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
            *(pa.field(name, vector, nullable=False) for name in VECTOR_NAMES),
            *(pa.field(f"has_{name}", pa.bool_(), nullable=False) for name in VECTOR_NAMES),
        ]
    )


class LanceDbClipStore:
    """A ClipStore in a directory. Vector queries are exact (no ANN index); BM25 uses native FTS indexes.

    Rows added since the last optimize() are not in the FTS/BTREE indexes yet; LanceDB scans them flat, so
    they are found at once, and optimize() (every `optimize_every` upserts) folds them into the indexes.
    Every query re-reads the latest table version, so other processes' writes are seen immediately.
    """

    def __init__(self, path: str | Path, dim: int, *, optimize_every: int = 200) -> None:
        if dim < 1 or optimize_every < 1:
            raise StoreError(f"dim and optimize_every must be positive, got {dim} and {optimize_every}")
        self.path = Path(path)
        self.dim = dim
        self.optimize_every = optimize_every
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

    def delete_stream(self, stream_id: str) -> int:
        expr = f"stream_id = {_quote(stream_id)}"
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

    # --- queries --------------------------------------------------------------------------------------

    def search_vector(
        self, vector: np.ndarray, *, target: str, k: int, where: ClipFilter | None = None
    ) -> list[ScoredClip]:
        if target not in VECTOR_NAMES:
            raise StoreError(f"unknown vector target {target!r}; expected one of {', '.join(VECTOR_NAMES)}")
        query = self._vector(vector, f"query vector for {target!r}")
        if k < 1:
            return []
        with self._errors(f"vector search on {target!r}"):
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
            builder = self._open().search(MultiMatchQuery(query, list(TEXT_COLUMNS)), query_type="fts")
            expr = _where(where)
            if expr:
                builder = builder.where(expr, prefilter=True)
            rows = builder.select([*self._columns, "_score"]).limit(k).to_arrow()
        return _ranked(self._to_clips(rows), rows.column("_score").to_pylist())

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
            )
            for i in range(rows.num_rows)
        ]


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
    return " AND ".join(f"({p})" for p in parts) or None


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
