"""The ClipStore Protocol every backend implements, and deterministic clip ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from streammm.records import Clip, ClipFilter, ScoredClip, StreamInfo, clip_id
from streammm.store.fusion import FusionSearch

__all__ = ["ClipStore", "clip_id"]


class ClipStore(Protocol):
    """Durable storage and retrieval of clips. Every method is blocking; call from a worker thread.

    Misuse (an unknown vector target, a vector that is not a finite, non-zero `dim`-d one) raises a
    non-retriable StoreError, the same in every backend (streammm.store.checks).
    """

    dim: int

    def upsert(self, clips: Sequence[Clip]) -> None:
        """Insert or replace by clip_id; when it returns, the clips are durable."""
        ...

    def search_vector(
        self, vector: np.ndarray, *, target: str, k: int, where: ClipFilter | None = None
    ) -> list[ScoredClip]:
        """Nearest clips by the named vector `target` (visual|speech|ocr|joint); clips lacking it never match."""
        ...

    def search_text(self, query: str, *, k: int, where: ClipFilter | None = None) -> list[ScoredClip]:
        """BM25 over transcript and on-screen text."""
        ...

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
        """Reciprocal-rank fusion (streammm.store.fusion) of the `depth` nearest clips by each vector in
        `targets` and, when `query` is not None, the `depth` best by BM25; the best `k`, scored by their sums."""
        ...

    def search_rank_fusion_many(
        self, searches: Sequence[FusionSearch], *, targets: Sequence[str], k: int, depth: int
    ) -> list[list[ScoredClip]]:
        """search_rank_fusion of each search, in order: the same answers, at less cost per search where the
        backend can run them together (streammm.store.fusion.rank_fusion_searches runs one at a time)."""
        ...

    def get(self, clip_ids: Sequence[str]) -> list[Clip]:
        """The clips that exist among `clip_ids`, in the order asked."""
        ...

    def count(self, where: ClipFilter | None = None) -> int: ...

    def streams(self) -> list[StreamInfo]: ...

    def delete_stream(self, stream_id: str, *, from_s: float | None = None) -> int:
        """Remove a stream's clips (only those starting at or after `from_s`, when given); returns how many."""
        ...

    def close(self) -> None: ...
