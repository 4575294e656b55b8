"""EPIC drops a planted isolated point and keeps a planted cluster; its keep set matches a brute-force
implementation (naive greedy facility location, assignment by loops, cluster-size threshold)."""

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.epic import assign_to_medoids, small_cluster_mask

from .test_crust import brute_greedy


def brute_keep(G, k, thresh):
    medoids = brute_greedy(G, k)
    assign = [int(np.argmin([np.linalg.norm(x - G[m]) for m in medoids])) for x in G]
    sizes = [assign.count(j) for j in range(k)]
    return [i for i in range(len(G)) if sizes[assign[i]] > thresh]


def planted(seed):
    rng = np.random.default_rng(seed)
    big = rng.normal(scale=0.2, size=(30, 2))               # the class's clean majority
    small = np.array([4.0, 0.0]) + rng.normal(scale=0.05, size=(4, 2))  # a small but real cluster
    lone = np.array([[-6.0, 5.0]])                          # an isolated point (a poison)
    return np.r_[big, small, lone].astype(np.float32)


@pytest.mark.parametrize("seed", range(3))
def test_drops_isolated_point_keeps_cluster(seed):
    G = planted(seed)
    cs = lessdata.select(G, budget=3, method="epic", seed=seed)
    kept = set(cs.indices.tolist())
    assert 34 not in kept
    assert set(range(30, 34)) <= kept and set(range(30)) <= kept
    assert cs.params["dropped"] == 1 and (cs.weights == 1).all()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("thresh", [1.0, 3.0])
def test_matches_brute_force_per_class(seed, thresh):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(40, 3)) ** 3  # heavy tails: some isolated points
    y = np.repeat([0, 1], 20)
    cs = lessdata.select(G.astype(np.float32), budget={0: 6, 1: 4}, method="epic", labels=y, optimizer="naive",
                         cluster_thresh=thresh, seed=seed)
    expected = []
    for c, k in ((0, 6), (1, 4)):
        members = np.flatnonzero(y == c)
        expected += members[brute_keep(G[members].astype(np.float32).astype(np.float64), k, thresh)].tolist()
    assert sorted(cs.indices.tolist()) == sorted(expected)


def test_every_class_gets_a_medoid():
    G = planted(0)
    y = np.r_[np.zeros(34, dtype=int), [1]]  # a one-point class would get no medoid from a proportional split
    cs = lessdata.select(G, budget=2, method="epic", labels=y, cluster_thresh=0)
    assert 34 in cs.indices and len(cs) == 35  # with a medoid of its own and no threshold, it is kept
    cs = lessdata.select(G, budget=2, method="epic", labels=y)
    assert 34 not in cs.indices and len(cs) == 35 - cs.params["dropped"]


def test_assignment_and_mask():
    X = np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
    assert assign_to_medoids(X, [0, 2], "cosine").tolist() == [0, 0, 1]
    assert assign_to_medoids(X, [0, 2]).tolist() == [0, 0, 1]
    assert small_cluster_mask(np.array([0, 0, 1]), 2, cluster_thresh=2).tolist() == [True, True, True]
    with pytest.raises(LessdataError):
        assign_to_medoids(X, [3])
    with pytest.raises(LessdataError):
        assign_to_medoids(X, [0], "manhattan")


@pytest.mark.parametrize("params", [{"cluster_thresh": -1}, {"cluster_thresh": float("nan")},
                                    {"cluster_thresh": "1"}, {"metric": "rbf"}])
def test_bad_parameters(params):
    with pytest.raises(LessdataError):
        lessdata.select(planted(0), budget=3, method="epic", **params)
