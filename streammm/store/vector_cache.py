"""Exact vector search over an in-memory copy of the embedded store's vector columns, kept in step with its table."""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streammm.records import VECTOR_NAMES, ClipFilter
from streammm.store.arrow_rows import vector_matrix
from streammm.store.checks import finite_bound

log = logging.getLogger(__name__)

ROWID_CHUNK = 1_000  # row ids per IN (...) list when the cache fetches rows
_CACHED_SCALARS = ("stream_id", "start_s", "end_s", *(f"has_{name}" for name in VECTOR_NAMES))


class StaleRowIds(Exception):
    """Rows asked for by id are gone: the table moved on while the cache was reading it; rank again."""


class VectorMatrix:
    """Rows of one vector column with their norms, in a buffer that grows by appending.

    Snapshots share a buffer: each reads only its first `n` rows, and appends go past the newest
    snapshot's rows, so a published snapshot never sees its rows change.
    """

    def __init__(self, rows: np.ndarray, spare: int) -> None:
        self.data = np.empty((len(rows) + spare, rows.shape[1]), dtype=np.float32)
        self.norms = np.empty(len(rows) + spare, dtype=np.float32)
        self.data[: len(rows)] = rows
        self.norms[: len(rows)] = _norms(rows)

    def appended(self, n: int, rows: np.ndarray) -> VectorMatrix:
        """This matrix with `rows` written after its first `n` rows (a grown copy when they do not fit)."""
        target = self
        if n + len(rows) > len(self.data):
            target = VectorMatrix(self.data[:n], spare=max(len(rows), n // 4, 1024))
        target.data[n : n + len(rows)] = rows
        target.norms[n : n + len(rows)] = _norms(rows)
        return target


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Every row the cache holds at table `version`, ascending by row id; `live` marks those still in it."""

    version: int
    rowids: np.ndarray  # uint64
    live: np.ndarray  # bool
    streams: np.ndarray  # int32 codes into stream_codes
    stream_codes: dict[str, int]
    start_s: np.ndarray
    end_s: np.ndarray
    has: dict[str, np.ndarray]
    vectors: dict[str, VectorMatrix]

    @property
    def n(self) -> int:
        return len(self.rowids)

    @functools.cached_property
    def stream_names(self) -> list[str]:
        """Stream ids by code (codes are handed out in insertion order)."""
        return list(self.stream_codes)


@dataclass(frozen=True, eq=False)
class Ranked:
    """Positions into a snapshot's rows, best first, and their cosines."""

    snapshot: Snapshot
    positions: np.ndarray
    cosines: np.ndarray

    def rowids(self) -> list[int]:
        return self.snapshot.rowids[self.positions].tolist()

    def order_keys(self) -> list[tuple[str, float]]:
        """(stream id, start) of each row: the order fusion gives rows with equal scores."""
        names, snap = self.snapshot.stream_names, self.snapshot
        return [(names[code], float(start)) for code, start in zip(snap.streams[self.positions], snap.start_s[self.positions])]


class VectorCache:
    """Exact vector search over an in-memory copy of the searched vector columns.

    Lance row ids name immutable rows (an update deletes the old row and appends a new one; compaction
    rewrites rows under new ids), so the cache follows the table by row id: on a new version it reads the
    live row ids (one small column), fetches only the rows it has not seen and marks the missing ones dead.
    After a compaction, or when dead rows outnumber live ones, it reads the columns again in full.

    It holds nothing (rank and search answer None: search the table itself) for tables of fewer than
    `min_rows` rows, or whose searched vector columns would take more than `max_bytes`.
    """

    def __init__(self, dim: int, *, min_rows: int, max_bytes: int) -> None:
        self.dim = dim
        self.min_rows = min_rows
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._state: tuple[int, Snapshot | None] | None = None  # (version, snapshot or None: not cached)
        self._over = False
        self._reading_all = False

    def clear(self) -> None:
        with self._lock:
            self._state = None

    def release(self) -> None:
        """Drop the held vectors without waiting for a read in progress (which may put some back)."""
        if self._state is not None:
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
                rows = rows_by_id(table, snapshot.rowids[positions], [c for c in columns if c not in snapshot.vectors])
                for name in held:
                    flat = pa.array(snapshot.vectors[name].data[positions].reshape(-1))
                    rows = rows.append_column(name, pa.FixedSizeListArray.from_arrays(flat, self.dim))
                return rows, [float(c) for c in ranked.cosines]
            except StaleRowIds:
                continue
        log.debug("vector cache: the table kept changing; searching it directly")
        return None

    def rank(self, table: lancedb.table.Table, query: np.ndarray, target: str, k: int, where: ClipFilter | None) -> Ranked | None:
        """The best `k` matching rows by `target`, best first, without reading them; None: not cached."""
        if where is not None and where.incomplete:
            return None  # completeness is not held in memory: the table answers
        snapshot = self._snapshot(table, target)
        if snapshot is None:
            return None
        return Ranked(snapshot, *self._rank(snapshot, query, target, k, where))

    # --- ranking ------------------------------------------------------------------------------------

    def _rank(self, snap: Snapshot, query: np.ndarray, target: str, k: int, where: ClipFilter | None) -> tuple[np.ndarray, np.ndarray]:
        """Positions (into snap.rowids) of the best `k` matching rows, best first, and their cosines."""
        n = snap.n
        mask = snap.live & snap.has[target]
        if where is not None:
            if where.stream_ids is not None:
                codes = [snap.stream_codes[s] for s in where.stream_ids if s in snap.stream_codes]
                mask &= np.isin(snap.streams, np.asarray(codes, dtype=np.int32))
            if where.start_s is not None:
                mask &= snap.end_s > finite_bound(where.start_s)
            if where.end_s is not None:
                mask &= snap.start_s < finite_bound(where.end_s)
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

    def _snapshot(self, table: lancedb.table.Table, target: str) -> Snapshot | None:
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

    def _read_all(self, table: lancedb.table.Table, names: list[str], version: int) -> Snapshot:
        rows = table.search().select([*_CACHED_SCALARS, *names]).with_row_id(True).limit(None).to_arrow()
        rowids = rows.column("_rowid").to_numpy().astype(np.uint64)
        order = None if np.all(rowids[:-1] < rowids[1:]) else np.argsort(rowids, kind="stable")
        scalars = rows.select(list(_CACHED_SCALARS))
        if order is not None:
            rowids, scalars = rowids[order], scalars.take(pa.array(order))
        encoded = pc.dictionary_encode(scalars.column("stream_id")).combine_chunks()
        spare = max(len(rows) // 8, 1024)
        vectors = {}
        for name in names:
            raw = vector_matrix(rows, name, self.dim)
            vectors[name] = VectorMatrix(raw if order is None else raw[order], spare)
        return Snapshot(
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

    def _follow(self, table: lancedb.table.Table, old: Snapshot, version: int) -> Snapshot | None:
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
            return Snapshot(version, old.rowids, live, old.streams, old.stream_codes, old.start_s, old.end_s, old.has, old.vectors)
        names = list(old.vectors)
        rows = rows_by_id(table, new_ids, [*_CACHED_SCALARS, *names])
        codes = dict(old.stream_codes)
        for stream in rows.column("stream_id").to_pylist():
            codes.setdefault(stream, len(codes))
        streams = np.asarray([codes[s] for s in rows.column("stream_id").to_pylist()], dtype=np.int32)
        return Snapshot(
            version=version,
            rowids=np.concatenate([old.rowids, new_ids]),
            live=live,
            streams=np.concatenate([old.streams, streams]),
            stream_codes=codes,
            start_s=np.concatenate([old.start_s, rows.column("start_s").to_numpy()]),
            end_s=np.concatenate([old.end_s, rows.column("end_s").to_numpy()]),
            has={name: np.concatenate([old.has[name], rows.column(f"has_{name}").to_numpy(zero_copy_only=False)]) for name in VECTOR_NAMES},
            vectors={name: old.vectors[name].appended(n, vector_matrix(rows, name, self.dim)) for name in names},
        )


def rows_by_id(table: lancedb.table.Table, rowids: np.ndarray, columns: list[str]) -> pa.Table:
    """The rows with these ids (and a _rowid column), in the order given; StaleRowIds when any is gone (deleted since)."""
    wanted = [int(r) for r in rowids]
    parts = [
        table.take_row_ids(wanted[start : start + ROWID_CHUNK]).select(columns).with_row_id().to_arrow()
        for start in range(0, len(wanted), ROWID_CHUNK)
    ]
    rows = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if rows.num_rows != len(wanted):
        raise StaleRowIds
    where = {rowid: i for i, rowid in enumerate(rows.column("_rowid").to_pylist())}
    if len(where) != len(wanted):
        raise StaleRowIds
    return rows.take(pa.array([where[r] for r in wanted], type=pa.int64()))


def _norms(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1).astype(np.float32)
    norms[norms == 0] = 1.0  # a missing vector is stored as zeros; its has_ flag keeps it out of results
    return norms
