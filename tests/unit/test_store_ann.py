"""The embedded store's vector index choices that need no table: index configs and the re-rank depth."""

from __future__ import annotations

from lancedb.index import HnswSq, IvfPq, IvfSq

from streammm.config import Settings
from streammm.store.ann import AnnIndexes, AnnOptions
from streammm.store.factory import ann_options


def test_index_configs_are_cosine_with_about_sqrt_n_partitions() -> None:
    config = AnnOptions().index_config(1_000_000, 384)
    assert isinstance(config, IvfSq) and config.distance_type == "cosine" and config.num_partitions == 1000
    assert AnnOptions().index_config(3, 8).num_partitions == 1
    pq = AnnOptions(index="ivf_pq").index_config(100_000, 384)
    assert isinstance(pq, IvfPq) and pq.num_sub_vectors == 48 and 384 % pq.num_sub_vectors == 0
    assert AnnOptions(index="ivf_pq").index_config(100, 6).num_sub_vectors in (1, 2, 3, 6)
    assert isinstance(AnnOptions(index="ivf_hnsw_sq").index_config(1_000_000, 384), HnswSq)


def test_deep_queries_re_rank_fewer_candidates_per_result_but_never_fewer_than_twice_k() -> None:
    indexes = AnnIndexes(AnnOptions(refine_factor=10), 8)
    assert [indexes.refine_factor(k) for k in (1, 5, 10)] == [10, 10, 10]
    for k in (11, 20, 40, 80, 100, 500):
        factor = indexes.refine_factor(k)
        assert 2 <= factor <= 10 and k * factor >= min(100, 10 * k) and k * factor >= 2 * k


def test_settings_reach_the_store_options() -> None:
    settings = Settings.model_validate({"store": {"ann_min_rows": 7, "ann_index": "ivf_pq", "ann_nprobes": 3, "ann_refine_factor": 4}})
    options = ann_options(settings)
    assert (options.min_rows, options.index, options.nprobes, options.refine_factor, options.auto_build) == (7, "ivf_pq", 3, 4, True)
