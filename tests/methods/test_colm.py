import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.colm import small_source_mask, top_coordinates
from lessdata.submodular import facility_location_part


def features(n=64, d=30, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_small_sources_are_kept_whole_and_the_rest_split_by_size():
    X = features(64)
    sources = np.r_[np.zeros(40, int), np.ones(20, int), [2, 2], [3, 3]]
    cs = lessdata.select(X, budget=32, method="colm", labels=sources, seed=0)
    assert len(cs) == 32
    assert cs.partition_counts() == {0: 19, 1: 9, 2: 2, 3: 2}  # 28 = 32 - 4 kept, split 40 : 20
    assert set(np.flatnonzero(sources >= 2)) <= set(cs.indices.tolist())
    kept = np.isin(cs.indices, np.flatnonzero(sources >= 2))
    assert np.all(cs.weights[kept] == 1) and np.all(np.isnan(cs.gains[kept]))
    for part, size in ((0, 40), (1, 20)):  # cluster sizes cover each large source exactly
        assert cs.weights[cs.partition == part].sum() == size
    assert cs.weights.sum() == 64 and cs.params["small_sources"] == [2, 3]
    assert np.allclose(cs.normalized_weights().mean(), 1.0)


def test_small_source_rule_edges():
    assert small_source_mask([0, 0, 0, 1, 2, 2], budget=4).tolist() == [False] * 3 + [True] * 3
    # keeping the small sources would leave the large one without a pick: none is treated as small
    assert not small_source_mask([0, 0, 0, 1, 2, 2], budget=3).any()
    assert not small_source_mask([0, 0, 0, 1, 2, 2], budget=4, small_source_size=0).any()
    X = features(10)
    cs = lessdata.select(X, budget=2, method="colm", labels=[0] * 7 + [1, 2, 3], seed=0)
    assert len(cs) == 2 and cs.params["small_sources"] == []
    cs = lessdata.select(X, budget=5, method="colm", labels=[0] * 7 + [1, 2, 3], small_source_size=0)
    assert cs.params["small_sources"] == [] and len(cs) == 5
    # one pick left for the large source: it represents all 7 of its examples
    cs = lessdata.select(X, budget=4, method="colm", labels=[0] * 7 + [1, 2, 3])
    assert {7, 8, 9} <= set(cs.indices.tolist()) and cs.weights.tolist().count(7.0) == 1


def test_each_source_uses_its_own_top_coordinates_then_facility_location():
    X = features(50, 40, seed=1)
    X[:, 5] *= 20  # dominant coordinates
    X[:, 17] *= 10
    top = top_coordinates(X, 6)
    mags = np.abs(X).mean(0)
    assert top.tolist() == sorted(np.argsort(-mags)[:6].tolist()) and {5, 17} <= set(top.tolist())
    assert top_coordinates(X, 100).tolist() == list(range(40))
    cs = lessdata.select(X, budget=10, method="colm", zo_dim=6, seed=3)
    parts = np.random.SeedSequence(3).generate_state(1, dtype=np.uint32)
    ref = facility_location_part(X[:, top], 10, metric="euclidean", seed=int(parts[0]))
    assert cs.indices.tolist() == ref.indices.tolist()
    assert np.allclose(cs.weights, ref.weights)


def test_weighted_picks_match_the_batch_sum_better_than_random(blobs):
    X, _ = blobs(300, 8, centers=12, std=0.5, seed=0)
    cs = lessdata.select(X, budget=24, method="colm", seed=0)
    err = np.linalg.norm(cs.weights @ X[cs.indices] - X.sum(0))
    rng = np.random.default_rng(0)
    rand = [np.linalg.norm(300 / 24 * X[rng.choice(300, 24, replace=False)].sum(0) - X.sum(0)) for _ in range(30)]
    assert err < np.mean(rand)


def test_deterministic_and_bad_parameters():
    X = features()
    src = np.arange(64) % 3
    assert lessdata.select(X, budget=20, method="colm", labels=src, seed=4) == \
        lessdata.select(X, budget=20, method="colm", labels=src, seed=4)
    with pytest.raises(LessdataError, match="method 'colm': zo_dim must be an int ≥ 1, got 0"):
        lessdata.select(X, budget=5, method="colm", zo_dim=0)
    with pytest.raises(LessdataError, match="small_source_size"):
        lessdata.select(X, budget=5, method="colm", small_source_size=-1)
    with pytest.raises(LessdataError, match="precomputed"):
        lessdata.select(X, budget=5, method="colm", metric="precomputed")
    with pytest.raises(LessdataError, match="optimizer must be one of"):
        lessdata.select(X, budget=5, method="colm", optimizer="magic")
    with pytest.raises(LessdataError, match="unknown parameter"):
        lessdata.select(X, budget=5, method="colm", zodim=5)
