"""Retrieval strategies over the clip store: unimodal, early fusion, late fusion and hybrid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streammm.records import ClipFilter, MODALITIES, ScoredClip
from streammm.store.base import ClipStore

STRATEGIES = ("visual", "speech", "ocr", "joint", "late", "hybrid")
RRF_K = 60


def retrieve(
    store: ClipStore,
    query: str,
    query_vector: np.ndarray,
    *,
    strategy: str = "hybrid",
    k: int = 10,
    where: ClipFilter | None = None,
) -> list[ScoredClip]:
    """The best `k` clips for `query` under `strategy` (see STRATEGIES), best first.

    - visual / speech / ocr: one modality's vector alone (unimodal);
    - joint: the fused vector (early fusion);
    - late: reciprocal-rank fusion of the three modality rankings;
    - hybrid: reciprocal-rank fusion of the three modality rankings and BM25 over transcript and OCR text.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if strategy in (*MODALITIES, "joint"):
        return store.search_vector(query_vector, target=strategy, k=k, where=where)
    depth = max(k * 4, 20)
    rankings = [store.search_vector(query_vector, target=m, k=depth, where=where) for m in MODALITIES]
    if strategy == "hybrid":
        rankings.append(store.search_text(query, k=depth, where=where))
    return reciprocal_rank_fusion(rankings)[:k]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[ScoredClip]], k: int = RRF_K) -> list[ScoredClip]:
    """Sum of 1/(k + rank) over the rankings a clip appears in (Cormack et al., 2009)."""
    scores: dict[str, float] = {}
    clips = {}
    for ranking in rankings:
        for rank, found in enumerate(ranking, start=1):
            scores[found.clip.clip_id] = scores.get(found.clip.clip_id, 0.0) + 1.0 / (k + rank)
            clips[found.clip.clip_id] = found.clip
    order = sorted(scores, key=lambda cid: (-scores[cid], clips[cid].stream_id, clips[cid].start_s))
    return [ScoredClip(clips[cid], round(scores[cid], 6)) for cid in order]
