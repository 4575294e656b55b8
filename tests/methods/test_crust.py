"""CRUST's selection against a brute-force implementation: naive greedy facility location on max(d) - d per
class, and radius weights counted point by point."""

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.crust import radius_weights


def brute_greedy(G, k):
    D = np.array([[np.linalg.norm(a - b) for b in G] for a in G])
    S = D.max() - D
    chosen, best = [], np.zeros(len(G))
    for _ in range(k):
        gains = [-np.inf if j in chosen else np.maximum(best, S[j]).sum() - best.sum() for j in range(len(G))]
        j = int(np.argmax(gains))
        chosen.append(j)
        best = np.maximum(best, S[j])
    return chosen


def brute_radius(G, medoids, r):
    return [sum(1 for x in G if np.linalg.norm(x - G[m]) < r) for m in medoids]


@pytest.mark.parametrize("seed", range(3))
def test_crust_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.repeat([0, 1, 2], 20)
    budget = {0: 5, 1: 3, 2: 7}
    cs = lessdata.select(G, budget=budget, method="crust", labels=y, radius=2.0, optimizer="naive", seed=seed)
    for c in range(3):
        members = np.flatnonzero(y == c)
        picked = cs.indices[y[cs.indices] == c]
        expected = members[brute_greedy(G[members].astype(np.float64), budget[c])]
        assert picked.tolist() == expected.tolist()
        weights = cs.weights[y[cs.indices] == c]
        assert weights.tolist() == brute_radius(G[members].astype(np.float64), brute_greedy(G[members], budget[c]), 2.0)


@pytest.mark.parametrize("r", [0.3, 1.0, 2.5, 100.0])
def test_radius_weights_brute_force(r):
    G = np.random.default_rng(1).normal(size=(50, 3))
    medoids = [0, 7, 13, 49]
    assert radius_weights(G, medoids, r).tolist() == brute_radius(G, medoids, r)


def test_radius_counts_the_medoid_and_ignores_cluster_sizes():
    # two tight groups: the medoid of the big one covers 10 within r, the far singleton only itself
    G = np.r_[np.zeros((10, 2)) + 0.01 * np.arange(10)[:, None], [[50.0, 50.0]]].astype(np.float32)
    cs = lessdata.select(G, budget=2, method="crust", radius=1.0)
    assert sorted(cs.weights.tolist()) == [1.0, 10.0]
    # a radius below every gap: each medoid only counts itself, whatever its cluster size
    cs = lessdata.select(G, budget=2, method="crust", radius=1e-4)
    assert cs.weights.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("radius", [0, -1.0, float("nan"), float("inf"), "2", None])
def test_bad_radius(radius):
    with pytest.raises(LessdataError, match="radius"):
        lessdata.select(np.ones((4, 2)), budget=2, method="crust", radius=radius)
    with pytest.raises(LessdataError, match="radius"):
        radius_weights(np.ones((4, 2)), [0], radius if isinstance(radius, (int, float)) else -1)


def test_deterministic():
    G = np.random.default_rng(3).normal(size=(80, 5)).astype(np.float32)
    y = np.arange(80) % 4
    a = lessdata.select(G, fraction=0.25, method="crust", labels=y, seed=2)
    b = lessdata.select(G, fraction=0.25, method="crust", labels=y, seed=2)
    assert a == b and a.method == "crust" and a.params["radius"] == 2.0
