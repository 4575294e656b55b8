import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.s2l import S2LMethod, balanced_budgets, cluster_budgets, kmeans_clusters


def blobs(sizes, T=4, seed=0, spread=0.05):
    """Trajectories in well-separated groups of the given sizes (group g around loss level 2g + 1)."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([np.full((s, T), 2.0 * g + 1) + rng.normal(scale=spread, size=(s, T))
                        for g, s in enumerate(sizes)])
    return X.clip(min=0).astype(np.float32), np.repeat(np.arange(len(sizes)), sizes)  # losses are >= 0


def reference_balanced(sizes, budget):
    """The rule as the paper states it, written plainly: smallest first, remaining // left, all of a small one."""
    sizes = list(sizes)
    out = [0] * len(sizes)
    remaining = budget
    order = sorted(range(len(sizes)), key=lambda i: (sizes[i], i))
    for k, i in enumerate(order):
        out[i] = min(sizes[i], remaining // (len(order) - k))
        remaining -= out[i]
    return out, remaining


@given(st.lists(st.integers(0, 60), min_size=1, max_size=8), st.data())
def test_balanced_budgets_exact(sizes, data):
    budget = data.draw(st.integers(0, sum(sizes)))
    out = balanced_budgets(sizes, budget)
    assert out.sum() == budget and (out >= 0).all() and (out <= np.array(sizes)).all()
    ref, leftover = reference_balanced(sizes, budget)
    if leftover == 0:
        assert out.tolist() == ref
    share = budget // len(sizes)
    for size, b in zip(sizes, out):  # a part no larger than the even share is taken whole
        if size <= share:
            assert b == size


def test_balanced_budgets_cases():
    assert balanced_budgets([100, 5, 40], 60).tolist() == [28, 5, 27]
    assert balanced_budgets([10, 10, 10], 10).tolist() == [3, 3, 4]
    assert balanced_budgets([3], 3).tolist() == [3]
    with pytest.raises(LessdataError, match="between 0 and"):
        balanced_budgets([3, 4], 8)


@given(st.lists(st.integers(1, 30), min_size=1, max_size=12), st.integers(0, 4), st.data())
def test_cluster_budgets_exact(sizes, small, data):
    budget = data.draw(st.integers(0, sum(sizes)))
    out, shortfall = cluster_budgets(sizes, budget, small)
    sizes = np.array(sizes)
    assert out.sum() + shortfall == budget and shortfall >= 0
    assert (out[sizes <= small] == 0).all() and (out <= sizes).all()
    kept = sizes[sizes > small].sum()
    assert shortfall == max(0, budget - kept)
    assert shortfall <= sizes[sizes <= small].sum()


def check_s2l(X, sources, budget, seed, n_clusters, small=2):
    cs = lessdata.select(X, budget=budget, method="s2l", labels=sources, seed=seed, n_clusters=n_clusters,
                         small_cluster_size=small)
    assert len(cs) == budget and len(np.unique(cs.indices)) == budget
    names = np.unique(sources)
    per_source = balanced_budgets([int((sources == s).sum()) for s in names], budget)
    counts = cs.partition_counts()
    assert [counts.get(i, 0) for i in range(len(names))] == per_source.tolist()
    assert (sources[cs.indices] == names[cs.partition]).all()
    # per cluster, inside each source: the picks match cluster_budgets plus a shortfall from small clusters
    seeds = np.random.SeedSequence(seed).generate_state(len(names), dtype=np.uint32)
    for part, name in enumerate(names):
        group = np.flatnonzero(sources == name)
        b = int(per_source[part])
        if b in (0, len(group)):
            continue
        assign = kmeans_clusters(X[group], n_clusters, seed=int(seeds[part]))
        ids, sizes = np.unique(assign, return_counts=True)
        expected, shortfall = cluster_budgets(sizes, b, small)
        local = np.searchsorted(group, cs.indices[cs.partition == part])
        got = np.array([(assign[local] == c).sum() for c in ids])
        kept = sizes > small
        assert (got[kept] == expected[kept]).all()
        assert got[~kept].sum() == shortfall
    return cs


@given(st.lists(st.integers(1, 40), min_size=1, max_size=4), st.integers(1, 12), st.integers(0, 3), st.data())
def test_s2l_budgets_sum_exactly(source_sizes, n_clusters, seed, data):
    rng = np.random.default_rng(seed)
    n = sum(source_sizes)
    X = rng.gamma(2.0, size=(n, 3)).astype(np.float32)
    sources = rng.permutation(np.repeat(np.arange(len(source_sizes)) * 10, source_sizes))
    budget = data.draw(st.integers(1, n))
    check_s2l(X, sources, budget, seed, n_clusters)


def test_small_clusters_dropped_then_used_for_shortfall(monkeypatch):
    import sys

    s2l = sys.modules[S2LMethod.__module__]
    X, groups = blobs([1, 2, 30, 40])
    monkeypatch.setattr(s2l, "kmeans_clusters", lambda X, k, iterations, seed, restarts: groups)  # k-means as designed
    cs = lessdata.select(X, budget=60, method="s2l", n_clusters=4)
    assert np.bincount(groups[cs.indices], minlength=4).tolist() == [0, 0, 30, 30]
    cs = lessdata.select(X, budget=71, method="s2l", n_clusters=4)
    assert np.bincount(groups[cs.indices], minlength=4).tolist()[2:] == [30, 40]
    assert np.isin(groups[cs.indices], [0, 1]).sum() == 1
    cs = lessdata.select(X, budget=72, method="s2l", n_clusters=4, weights="cluster")
    small = np.isin(groups[cs.indices], [0, 1])
    assert small.sum() == 2 and cs.weights[small].tolist() == [1.5, 1.5]  # 2 picks stand for the pool of 3
    cs = lessdata.select(X, budget=60, method="s2l", n_clusters=4, small_cluster_size=0)
    assert np.bincount(groups[cs.indices], minlength=4).tolist() == [1, 2, 28, 29]


def test_small_source_taken_whole_and_cluster_weights():
    X, groups = blobs([5, 100, 200], seed=1)
    sources = np.array(["tiny", "mid", "big"])[groups]
    cs = lessdata.select(X, budget=90, method="s2l", labels=sources, n_clusters=10, weights="cluster")
    names = cs.params["partition_labels"]
    counts = {names[k]: v for k, v in cs.partition_counts().items()}
    assert counts == {"tiny": 5, "mid": 42, "big": 43}
    assert np.isin(np.flatnonzero(groups == 0), cs.indices).all()
    tiny = cs.weights[groups[cs.indices] == 0]
    assert (tiny == 1).all()
    # cluster weights: each kept cluster's picks stand for the whole cluster; a source sums to its size at most
    for g, size in ((1, 100), (2, 200)):
        assert cs.weights[groups[cs.indices] == g].sum() == pytest.approx(size, abs=3.0)
    uniform = lessdata.select(X, budget=90, method="s2l", labels=sources, n_clusters=10)
    assert (uniform.weights == 1).all() and np.array_equal(np.sort(uniform.indices), np.sort(cs.indices))


def test_balanced_clusters_sample_evenly(monkeypatch):
    import sys

    X, groups = blobs([10, 50, 200])
    module = sys.modules[S2LMethod.__module__]
    monkeypatch.setattr(module, "kmeans_clusters", lambda X, k, iterations, seed, restarts: groups)
    cs = lessdata.select(X, budget=60, method="s2l", n_clusters=3)
    assert np.bincount(groups[cs.indices]).tolist() == [10, 25, 25]
    assert cs.partition is None and cs.params["clusters"] == {"0": 3}


def test_kmeans_finds_separated_clusters():
    X, groups = blobs([40, 50, 60], spread=0.01)
    assign = kmeans_clusters(X, 3, seed=0, restarts=5)
    assert len(np.unique(assign)) == 3 and all(len(np.unique(assign[groups == g])) == 1 for g in range(3))
    assert kmeans_clusters(X[:1], 5).tolist() == [0] and len(np.unique(kmeans_clusters(X[:4], 100))) <= 4


def test_deterministic_and_seeded():
    X, _ = blobs([30, 30, 40], spread=1.0)
    sources = np.arange(100) % 2
    a = lessdata.select(X, fraction=0.3, method="s2l", labels=sources, seed=3, n_clusters=5)
    b = lessdata.select(X, fraction=0.3, method="s2l", labels=sources, seed=3, n_clusters=5)
    c = lessdata.select(X, fraction=0.3, method="s2l", labels=sources, seed=4, n_clusters=5)
    assert a == b and not np.array_equal(a.indices, c.indices)


def test_budget_mapping_and_whole_set():
    X, groups = blobs([20, 30])
    cs = lessdata.select(X, budget={0: 5, 1: 12}, method="s2l", labels=groups, n_clusters=4)
    assert cs.partition_counts() == {0: 5, 1: 12}
    full = lessdata.select(X, fraction=1.0, method="s2l", labels=groups)
    assert sorted(full.indices.tolist()) == list(range(50))


@pytest.mark.parametrize("params, match", [
    ({"n_clusters": 0}, "n_clusters"),
    ({"iterations": 1.5}, "iterations"),
    ({"small_cluster_size": -1}, "small_cluster_size"),
    ({"weights": "sizes"}, "weights must be one of"),
    ({"clusters": 3}, "unknown parameter"),
])
def test_parameter_errors(params, match):
    with pytest.raises(LessdataError, match=match):
        S2LMethod(**params)


def test_input_errors():
    X, groups = blobs([20, 30])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(LessdataError, match="NaN"):
        lessdata.select(bad, fraction=0.5, method="s2l")
    with pytest.raises(LessdataError, match="length 3"):
        lessdata.select(X, fraction=0.5, method="s2l", labels=[0, 1, 2])
    with pytest.raises(LessdataError, match="not in the labels"):
        lessdata.select(X, budget={7: 3}, method="s2l", labels=groups)
    with pytest.raises(LessdataError, match="fewer than its budget"):
        lessdata.select(X, budget={0: 25}, method="s2l", labels=groups)
    with pytest.raises(LessdataError, match="needs features"):
        lessdata.select(None, n=10, fraction=0.5, method="s2l")
