"""Reciprocal-rank fusion of several rankings, and the rank-fusion search any ClipStore can run from its own searches."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from streammm.records import ClipFilter, ScoredClip

if TYPE_CHECKING:
    from streammm.store.base import ClipStore

RRF_K = 60
Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True, eq=False)
class FusionSearch:
    """One search of ClipStore.search_rank_fusion_many: BM25 `query` (None: vectors only), `vector`, `where`."""

    query: str | None
    vector: np.ndarray
    where: ClipFilter | None = None


def rrf_order(
    rankings: Sequence[Sequence[Key]], tiebreak: Callable[[Key], tuple], k: int = RRF_K
) -> list[tuple[Key, float]]:
    """Keys by the sum of 1/(k + rank) over the rankings they appear in (Cormack et al., 2009), best first.

    Equal sums are ordered by `tiebreak(key)`, then by first appearance; scores are rounded to 6 places.
    """
    scores: dict[Key, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    order = sorted(scores, key=lambda key: (-scores[key], *tiebreak(key)))
    return [(key, round(scores[key], 6)) for key in order]


def fuse_clips(rankings: Sequence[Sequence[ScoredClip]]) -> list[ScoredClip]:
    """Clip rankings fused by clip id; equal sums go to the earlier clip (stream id, then start)."""
    clips = {found.clip.clip_id: found.clip for ranking in rankings for found in ranking}
    fused = rrf_order(
        [[found.clip.clip_id for found in ranking] for ranking in rankings],
        lambda cid: (clips[cid].stream_id, clips[cid].start_s),
    )
    return [ScoredClip(clips[cid], score) for cid, score in fused]


def rank_fusion_search(
    store: ClipStore,
    query: str | None,
    vector: np.ndarray,
    *,
    targets: Sequence[str],
    k: int,
    depth: int,
    where: ClipFilter | None = None,
) -> list[ScoredClip]:
    """`ClipStore.search_rank_fusion` from one search per ranking: what a backend without a faster way runs."""
    if k < 1:
        return []
    rankings = [store.search_vector(vector, target=target, k=depth, where=where) for target in targets]
    if query is not None:
        rankings.append(store.search_text(query, k=depth, where=where))
    return fuse_clips(rankings)[:k]


def rank_fusion_searches(
    store: ClipStore, searches: Sequence[FusionSearch], *, targets: Sequence[str], k: int, depth: int
) -> list[list[ScoredClip]]:
    """`ClipStore.search_rank_fusion_many` as one search_rank_fusion each: what a backend without a faster way runs."""
    return [store.search_rank_fusion(s.query, s.vector, targets=targets, k=k, depth=depth, where=s.where) for s in searches]
