"""The order of a search's moments (QueryService.moments): hybrid moments by calibrated relevance,
other strategies by their own ranking. The store is a stand-in that returns a fixed ranking, so the
test is about the order the service gives, not about retrieval."""

from __future__ import annotations

import numpy as np
import pytest

from streammm.qa.service import QueryService, SearchRequest
from streammm.records import Clip, ScoredClip, Word

QUERY = "the narrator says the boat left at dawn"


class RankedStore:
    """A ClipStore stand-in: every search returns `ranking`, as fused retrieval would have ordered it."""

    def __init__(self, ranking: list[ScoredClip]) -> None:
        self.ranking = ranking

    def search_rank_fusion_many(self, searches, *, targets, k, depth):
        return [self.ranking[:k] for _ in searches]

    def search_vector(self, vector, *, target, k, where=None):
        return self.ranking[:k]


class UnitEncoder:
    dim = 2

    def encode(self, texts):
        return np.tile(np.array([1.0, 0.0], dtype=np.float32), (len(texts), 1))


def clip(stream: str, start: float, words: str, cosine: float) -> Clip:
    spoken = tuple(Word(start + 0.5 + i * 0.3, start + 0.78 + i * 0.3, w) for i, w in enumerate(words.split()))
    vector = np.array([cosine, np.sqrt(1 - cosine**2)], dtype=np.float32)
    return Clip(f"{stream}-{start}", stream, start, start + 4.0, "p", words=spoken, vectors={"joint": vector})


# The fused ranking puts a clip that is only close in meaning first; the clip that says the words is second.
NEAR = clip("a", 0.0, "the ship sailed in the morning", 0.6)
SAID = clip("b", 10.0, "and the boat left at dawn", 0.55)
RANKING = [ScoredClip(NEAR, 0.0328), ScoredClip(SAID, 0.0325)]


def service() -> QueryService:
    return QueryService(RankedStore(RANKING), UnitEncoder())


def test_hybrid_moments_are_ordered_by_relevance():
    moments = service().moments(SearchRequest(QUERY, k=5, strategy="hybrid"))
    assert [m.stream_id for m in moments] == ["b", "a"]
    assert moments[0].relevance > moments[1].relevance
    assert moments[0].evidence == "speech" and moments[0].evidence_text.endswith("boat left at dawn")


@pytest.mark.parametrize("strategy", ["joint", "late", "speech"])
def test_other_strategies_keep_their_ranking(strategy):
    moments = service().moments(SearchRequest(QUERY, k=5, strategy=strategy))
    assert [m.stream_id for m in moments] == ["a", "b"]
