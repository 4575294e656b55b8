"""SemDeDup weights: each kept example stands for its near-duplicate group, so the weights sum to n."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import lessdata
from lessdata.methods.contrastive import semdedup_group_weights


def _unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _brute_force(E, clusters, kept):
    E = _unit(E.astype(np.float64))
    weights = np.ones(len(kept))
    for i in sorted(set(range(len(E))) - set(kept.tolist())):
        same = [p for p, k in enumerate(kept) if clusters[k] == clusters[i]]
        owners = same or list(range(len(kept)))
        sims = [E[i] @ E[kept[p]] for p in owners]
        weights[owners[int(np.argmax(sims))]] += 1
    return weights


def _planted(seed=0):
    rng = np.random.default_rng(seed)
    base = _unit(rng.normal(size=(30, 16)))
    groups = [0, 4, 9, 17]  # 3 near-copies of each
    dups = np.concatenate([base[g] + rng.normal(scale=1e-3, size=(3, 16)) for g in groups])
    return np.vstack([base, dups]).astype(np.float32), np.concatenate([np.arange(30), np.repeat(groups, 3)]), groups


def test_planted_duplicate_groups_get_their_size():
    X, owner, groups = _planted()
    for keep in ("hard", "easy", "random"):
        cs = lessdata.select(X, fraction=1.0, method="semdedup", epsilon=0.01, n_clusters=3, keep=keep, seed=0)
        by_owner = dict(zip(owner[cs.indices].tolist(), cs.weights.tolist(), strict=True))
        assert by_owner == {i: (4.0 if i in groups else 1.0) for i in range(30)}
        assert float(cs.weights.sum()) == len(X)
    cs = lessdata.select(X, budget=30, method="semdedup", n_clusters=3, seed=0)  # budget mode: same groups
    assert sorted(cs.weights.tolist()) == [1.0] * 26 + [4.0] * 4


@given(n=st.integers(2, 40), k=st.integers(1, 40), n_clusters=st.integers(1, 5), seed=st.integers(0, 10**6))
def test_group_weights_match_brute_force(n, k, n_clusters, seed):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(n, 3)).astype(np.float32)
    clusters = rng.integers(n_clusters, size=n)
    kept = rng.permutation(n)[: min(k, n)]
    w = semdedup_group_weights(E, clusters, kept, block=7)
    assert w.dtype == np.float32 and w.sum() == n
    np.testing.assert_array_equal(w, _brute_force(E, clusters, kept))


def test_orphan_cluster_joins_nearest_kept_and_weights_sum_to_n():
    E = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    # cluster 1 ({2, 3}) keeps nothing: both go to the most similar kept example overall
    assert semdedup_group_weights(E, np.array([0, 0, 1, 1]), np.array([1, 0])).tolist() == [3.0, 1.0]
    X = np.random.default_rng(1).normal(size=(200, 8)).astype(np.float32)
    cs = lessdata.select(X, fraction=0.1, method="semdedup", n_clusters=20, seed=0)  # fewer picks than clusters
    assert len(cs) == 20 and float(cs.weights.sum()) == 200 and cs.weights.min() >= 1
