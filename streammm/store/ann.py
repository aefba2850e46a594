"""The embedded store's approximate vector indexes (LanceDB IVF): when they are built, kept current and queried."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import lancedb
import numpy as np
from lancedb.index import HnswSq, IvfPq, IvfSq

from streammm.records import VECTOR_NAMES

log = logging.getLogger(__name__)

IndexKind = Literal["ivf_sq", "ivf_pq", "ivf_hnsw_sq"]


@dataclass(frozen=True)
class AnnOptions:
    """How the embedded store searches large tables.

    Tables of at least `min_rows` rows get an IVF index per named vector. A query probes `nprobes`
    partitions, takes `refine_factor` x k candidates by the index's compressed vectors and re-ranks them
    exactly on the full vectors (on disk; deep queries re-rank fewer per result, see AnnIndexes.refine_factor). Rows added since the index was last updated are searched
    exactly (LanceDB scans unindexed rows flat and merges them in), so new clips are found at once.
    An index is trained again in the background once the table has grown `retrain_growth` times since it
    was trained; in between, compaction (`optimize`) folds new rows into it without training.
    Filtered queries that match at most `exact_filter_max_rows` rows are answered exactly, without the index.
    """

    min_rows: int = 100_000
    index: IndexKind = "ivf_sq"
    nprobes: int = 32
    refine_factor: int = 10
    ef: int = 100  # ivf_hnsw_sq only: the candidate list of the graph search
    retrain_growth: float = 2.0
    exact_filter_max_rows: int = 50_000
    auto_build: bool = True  # build and retrain in a background thread as the table grows

    def index_config(self, rows: int, dim: int) -> Any:
        partitions = max(1, min(4096, int(np.sqrt(rows))))  # ~sqrt(n) rows per partition
        common: dict[str, Any] = {"distance_type": "cosine", "max_iterations": 10, "sample_rate": 64}
        if self.index == "ivf_pq":
            sub = next(s for s in (dim // 8, dim // 4, dim // 2, dim, 1) if s >= 1 and dim % s == 0)
            return IvfPq(num_partitions=partitions, num_sub_vectors=sub, **common)
        if self.index == "ivf_hnsw_sq":
            return HnswSq(num_partitions=max(1, rows // 250_000), **common)  # one graph per ~250k rows
        return IvfSq(num_partitions=partitions, **common)


class AnnIndexes:
    """The IVF indexes of one table's vector columns, and the background thread that builds them.

    Index builds and compaction are both table maintenance: `maintenance` serialises them (two at once
    conflict in LanceDB). Writes and queries never wait for it: a build works on the version it started
    from, and rows written meanwhile stay searchable (unindexed rows are scanned exactly).
    """

    def __init__(self, options: AnnOptions, dim: int, columns: Sequence[str] = VECTOR_NAMES) -> None:
        self.options = options
        self.dim = dim
        self.columns = tuple(columns)
        self.maintenance = threading.Lock()
        self._lock = threading.Lock()
        self._trained: dict[str, int] = {}  # rows each column's index was trained on (this process)
        self._seen: tuple[int, frozenset[str], bool] | None = None  # (table version, indexed columns, large enough)
        self._worker: threading.Thread | None = None
        self._closed = False
        self._checked_rows = 0
        self.last_build_s: float | None = None

    # --- queries --------------------------------------------------------------------------------------

    def indexed(self, table: lancedb.table.Table, target: str) -> bool:
        """Whether vector queries on `target` go through its index: the table is large enough and has one."""
        if target not in self.columns:
            return False
        seen = self._seen
        version = table.version
        if seen is None or seen[0] != version:  # once per table version: each call below is a trip to LanceDB
            columns = frozenset(c for index in table.list_indices() if index.index_type in _VECTOR_INDEX_TYPES for c in index.columns)
            seen = (version, columns, table.count_rows() >= self.options.min_rows)
            self._seen = seen
        return target in seen[1] and seen[2]

    def query(self, table: lancedb.table.Table, vector: np.ndarray, target: str, k: int, where: str, *, exact: bool, filtered: bool = False) -> Any:
        """A LanceDB query for the `k` nearest rows by `target` among those matching `where`: through the
        index (re-ranked exactly), or, with `exact`, a flat scan. `filtered`: `where` holds a caller's
        filter (not only the has_ flag), so more partitions are probed when too few rows pass it."""
        builder = (
            table.search(vector, vector_column_name=target, query_type="vector")
            .distance_type("cosine")
            .where(where, prefilter=True)
            .limit(k)
        )
        if exact:
            return builder.bypass_vector_index()
        if self.options.index == "ivf_hnsw_sq":
            builder = builder.ef(max(self.options.ef, k))
        else:
            builder = builder.minimum_nprobes(self.options.nprobes)
            if filtered:  # unbounded: more partitions when the filter leaves too few rows (4-13x slower, so only then)
                builder = builder.maximum_nprobes(0)
            else:
                builder = builder.maximum_nprobes(self.options.nprobes)
        return builder.refine_factor(self.refine_factor(k))

    def refine_factor(self, k: int) -> int:
        """The refine factor for a query of `k`: `refine_factor` up to k = 10; for deeper queries (a fused
        ranking asks for 40-100) at least refine_factor x 10 and 2 x k candidates, not refine_factor x k
        (re-ranking reads each candidate's full vector from disk: that read is most of a deep query's time)."""
        wanted = max(2, -(-self.options.refine_factor * 10 // max(k, 1)))
        return min(self.options.refine_factor, wanted) if k > 10 else self.options.refine_factor

    def filter_is_narrow(self, table: lancedb.table.Table, where: str | None) -> bool:
        """Whether a filtered query should scan its rows exactly (few match) rather than use the index."""
        return where is not None and table.count_rows(where) <= self.options.exact_filter_max_rows

    # --- building -------------------------------------------------------------------------------------

    def after_write(self, table: lancedb.table.Table) -> None:
        """Start a background build when a column needs one (called after each write; cheap otherwise)."""
        if not self.options.auto_build or self._closed or (self._worker is not None and self._worker.is_alive()):
            return
        if self._due(table):
            self.start(lambda: self.build(table, only_due=True))

    def build(self, table: lancedb.table.Table, *, only_due: bool = False) -> float:
        """Train the index of every column (only those due, with `only_due`); returns the seconds it took."""
        began = time.perf_counter()
        with self.maintenance:
            rows = table.count_rows()
            if rows < self.options.min_rows:
                return 0.0
            for column in self.columns:
                if self._closed or (only_due and not self._column_due(table, column, rows)):
                    continue
                present = table.count_rows(f"has_{column}")
                if present == 0:
                    continue  # no clip has this vector (yet): nothing to train on; searches scan exactly
                started = time.perf_counter()
                table.create_index(column, config=self.options.index_config(present, self.dim), replace=True, name=_name(column))
                with self._lock:
                    self._trained[column] = present
                log.info("trained the %s index on %s over %d rows in %.1f s", self.options.index, column, rows, time.perf_counter() - started)
        took = time.perf_counter() - began
        self.last_build_s = took
        return took

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for the background build in progress, if any."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout_s)

    def building(self) -> bool:
        worker = self._worker
        return worker is not None and worker.is_alive()

    def close(self) -> None:
        """Stop after the column being trained (a build cut short by exit leaves only unreferenced files)."""
        self._closed = True
        self.wait(30)

    def start(self, job: Callable[[], object]) -> None:
        def run() -> None:
            try:
                job()
            except Exception as exc:  # queries work without the index; the next write tries again
                log.warning("background vector index build failed: %s", exc)

        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(target=run, name="vector-index-build", daemon=True)
            self._worker.start()

    def _due(self, table: lancedb.table.Table) -> bool:
        rows = table.count_rows()
        if rows < self.options.min_rows or rows < self._checked_rows * 1.05:
            return False  # counting each column's vectors costs a scan: look again after 5 % growth
        self._checked_rows = rows
        return any(self._column_due(table, c, rows) for c in self.columns)

    def _column_due(self, table: lancedb.table.Table, column: str, rows: int) -> bool:
        present = table.count_rows(f"has_{column}")
        trained = self._trained.get(column)
        if trained is None:
            stats = _stats(table, column)
            if stats is None or stats.num_indexed_rows == 0:
                return present > 0  # no index yet (or an untrained one), and something to train on
            trained = max(1, min(present, stats.num_indexed_rows))  # made by an earlier process: grown at least this much since
            with self._lock:
                self._trained.setdefault(column, trained)
        return present >= self.options.retrain_growth * trained


_VECTOR_INDEX_TYPES = {"IvfSq", "IvfPq", "IvfHnswSq", "IvfFlat", "IvfHnswPq", "IvfRq", "IVF_SQ", "IVF_PQ", "IVF_HNSW_SQ"}


def _name(column: str) -> str:
    return f"{column}_idx"


def _stats(table: lancedb.table.Table, column: str) -> Any:
    for index in table.list_indices():
        if column in index.columns and index.index_type in _VECTOR_INDEX_TYPES:
            return table.index_stats(index.name)
    return None
