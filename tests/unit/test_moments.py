import numpy as np

from streammm.qa.moments import merge_into_moments
from streammm.store.fusion import fuse_clips
from streammm.records import Clip, ScoredClip


def scored(stream: str, start: float, score: float, length: float = 4.0) -> ScoredClip:
    return ScoredClip(Clip(f"{stream}-{start}", stream, start, start + length, "p", vectors={"joint": np.ones(2)}), score)


def test_adjacent_clips_of_a_stream_merge_and_rank_by_their_best_clip():
    found = [scored("a", 30, 0.9), scored("b", 4, 0.8), scored("a", 26, 0.7), scored("a", 10, 0.6), scored("a", 28, 0.5)]
    moments = merge_into_moments(found)
    assert [(m.stream_id, m.start_s, m.end_s, m.score) for m in moments] == [
        ("a", 26, 34, 0.9),
        ("b", 4, 8, 0.8),
        ("a", 10, 14, 0.6),
    ]
    assert moments[0].clip_id == "a-30"


def test_a_clip_bridging_two_moments_merges_them_within_the_cap():
    found = [scored("a", 20, 0.9), scored("a", 28, 0.8), scored("a", 24, 0.7)]
    (moment,) = merge_into_moments(found)
    assert (moment.start_s, moment.end_s) == (20, 32)
    capped = merge_into_moments(found, max_moment_s=8.0)
    assert [(m.start_s, m.end_s) for m in capped] == [(20, 28), (28, 32)]  # joins one side, stays within 8 s


def test_reciprocal_rank_fusion_rewards_agreement():
    a, b, c = scored("s", 0, 1), scored("s", 2, 1), scored("s", 4, 1)
    fused = fuse_clips([[a, b, c], [b, c, a], [b, a]])
    assert [f.clip.clip_id for f in fused] == ["s-2", "s-0", "s-4"]
    assert fused[0].score == round(1 / 62 + 1 / 61 + 1 / 61, 6)


def test_equal_fused_scores_go_to_the_earlier_stream_then_the_earlier_start():
    late, early, other = scored("s", 8, 1), scored("s", 2, 1), scored("r", 20, 1)
    fused = fuse_clips([[late], [early], [other]])  # each first in one ranking: equal sums
    assert [f.clip.clip_id for f in fused] == ["r-20", "s-2", "s-8"]
