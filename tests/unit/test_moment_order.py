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


def test_the_last_time_is_searched_for_among_more_moments_than_asked_for():
    """A long talk says "dawn" ten times, 8 s apart; the fused ranking puts the latest last (its clip is the least
    close in meaning). Asked for 5 moments, the search had seen only the best 15 clips, and "when is dawn said
    for the last time?" was answered with the 5th time. The first or last time is searched among at least
    COUNT_K moments, and the answer still gets 5."""
    times = [clip("talk", 8.0 * i, "they left at dawn", 0.9 - 0.05 * i) for i in range(10)]
    ranking = [ScoredClip(c, 1.0 - 0.01 * i) for i, c in enumerate(times)]
    filler = [ScoredClip(clip("other", 100.0 + 4 * i, "nothing here at all", 0.5), 0.5) for i in range(20)]
    store = RankedStore(ranking[:5] + filler + ranking[5:])  # the later times come after other clips
    moments = QueryService(store, UnitEncoder()).moments(SearchRequest("when is dawn said for the last time?", k=5))
    assert len(moments) == 5 and moments[0].stream_id == "talk" and moments[0].start_s >= 72.0, moments[0]
