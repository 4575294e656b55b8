"""Geometric methods: k-center greedy and herding against slow obvious versions, prototypes on constructed
blobs, class balance, and no n × n memory."""

import tracemalloc

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.geometric import herding, kcenter_greedy, prototype_distances


def slow_kcenter(X, k, first):
    X = X.astype(np.float64)
    D = np.linalg.norm(X[:, None] - X[None], axis=2)  # the n x n matrix the real one never builds
    chosen = [first]
    for _ in range(k - 1):
        nearest = D[:, chosen].min(axis=1)
        nearest[chosen] = -1
        chosen.append(int(np.argmax(nearest)))
    return chosen


def slow_herding(X, k):
    X = X.astype(np.float64)
    mu, chosen = X.mean(axis=0), []
    for _ in range(k):
        best, best_err = None, np.inf
        for i in range(len(X)):
            if i in chosen:
                continue
            err = np.linalg.norm(mu - X[chosen + [i]].mean(axis=0))
            if err < best_err - 1e-12:
                best, best_err = i, err
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed", range(4))
def test_kcenter_greedy_matches_the_slow_farthest_point_greedy(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    picks, gains, assign = kcenter_greedy(X, 12, seed=seed)
    assert picks.tolist() == slow_kcenter(X, 12, int(picks[0]))
    X64 = X.astype(np.float64)
    for t in range(1, 12):  # gain = distance of the pick to the nearest earlier pick
        want = np.linalg.norm(X64[picks[:t]] - X64[picks[t]], axis=1).min()
        assert gains[t] == pytest.approx(want, rel=1e-9)
    assert np.isnan(gains[0]) and np.all(np.diff(gains[1:]) <= 1e-9)  # radii never grow
    dist = np.linalg.norm(X64[:, None] - X64[picks][None], axis=2)
    np.testing.assert_array_equal(assign, dist.argmin(axis=1))


def test_kcenter_picks_one_point_per_far_apart_blob_and_covers_outliers_first():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [100, 0], [0, 100], [100, 100]], dtype=float)
    X = np.concatenate([c + rng.normal(scale=1.0, size=(25, 2)) for c in centers]).astype(np.float32)
    blob = np.repeat(np.arange(4), 25)
    cs = lessdata.select(X, budget=4, method="kcenter_greedy", seed=3)
    assert sorted(blob[cs.indices].tolist()) == [0, 1, 2, 3]
    cluster = lessdata.select(X, budget=4, method="kcenter_greedy", seed=3, weights="cluster")
    np.testing.assert_array_equal(cluster.weights, [25, 25, 25, 25])
    np.testing.assert_array_equal(cs.weights, [25, 25, 25, 25])


def test_herding_matches_the_slow_mean_matching_greedy():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    picks, gains = herding(X, 10)
    assert picks.tolist() == slow_herding(X, 10)
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(gains, [np.linalg.norm(X64.mean(0) - X64[picks[: t + 1]].mean(0)) for t in range(10)])
    assert gains[-1] < 0.1 * np.linalg.norm(X64 - X64.mean(0), axis=1).mean()  # the picks' mean is close


def test_herding_first_pick_is_the_point_nearest_the_mean():
    X = np.array([[0.0, 0.0], [10.0, 0.0], [4.0, 1.0], [6.0, -1.0]], dtype=np.float32)  # mean (5, 0)
    cs = lessdata.select(X, budget=2, method="herding")
    assert cs.indices.tolist() == [2, 3]  # then the point that pulls the pair's mean back to (5, 0)
    assert cs.gains[-1] == pytest.approx(0.0, abs=1e-6)


def test_prototypes_keep_far_examples_when_hard_and_central_ones_when_easy():
    rng = np.random.default_rng(0)
    centers = np.array([[10.0, 0, 0, 0], [0, 10.0, 0, 0], [0, 0, 10.0, 0]])
    X = np.concatenate([c + rng.normal(scale=0.5, size=(30, 4)) for c in centers]).astype(np.float32)
    far = np.array([5, 40, 70])  # push one point per blob away from its center
    X[far] += np.array([[0, 0, 0, 8.0]], dtype=np.float32)
    dist = prototype_distances(X, 3, metric="euclidean", seed=0)
    assert set(np.argsort(-dist)[:3].tolist()) == set(far.tolist())
    labels = np.repeat([0, 1, 2], 30)
    hard = lessdata.select(X, budget=3, method="prototypes", labels=labels, metric="euclidean")
    assert sorted(hard.indices.tolist()) == far.tolist() and hard.params["clusters"] == 3
    np.testing.assert_allclose(hard.gains, dist[hard.indices], rtol=1e-5)
    easy = lessdata.select(X, budget=30, method="prototypes", labels=labels, keep="easy", metric="euclidean")
    assert not set(easy.indices.tolist()) & set(far.tolist())
    assert easy.partition_counts() == {0: 10, 1: 10, 2: 10}
    np.testing.assert_allclose(easy.weights, 3.0)
    cosine = lessdata.select(X, budget=3, method="prototypes", clusters=3, seed=1)  # default metric: cosine
    assert sorted(cosine.indices.tolist()) == far.tolist()  # the far points also point a different way
    again = lessdata.select(X, budget=3, method="prototypes", clusters=3, seed=1)
    assert cosine == again


def test_per_class_selection_and_determinism():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 4)).astype(np.float32)
    labels = np.repeat(["cat", "dog", "emu"], [45, 30, 15])
    for method in ("kcenter_greedy", "herding"):
        cs = lessdata.select(X, fraction=0.2, method=method, labels=labels, seed=5)
        assert cs.partition_counts() == {0: 9, 1: 6, 2: 3}
        assert (labels[cs.indices[cs.partition == 2]] == "emu").all()
        assert float(cs.weights.sum()) == pytest.approx(90)
        assert cs == lessdata.select(X, fraction=0.2, method=method, labels=labels, seed=5)
        part = np.flatnonzero(labels == "dog")  # each class is selected on its own
        if method == "herding":
            assert cs.indices[cs.partition == 1].tolist() == part[herding(X[part], 6)[0]].tolist()


def test_no_n_by_n_memory():
    X = np.random.default_rng(0).normal(size=(20_000, 8)).astype(np.float32)
    kcenter_greedy(X[:50], 5)  # compile outside the measurement
    herding(X[:50], 5)
    tracemalloc.start()
    kcenter_greedy(X, 20)
    herding(X, 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * X.nbytes  # an n x n float32 matrix would be 1.6 GB


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "kcenter_greedy", "init": "median"}, "init"),
        ({"method": "kcenter_greedy", "weights": "inverse"}, "weights"),
        ({"method": "prototypes", "keep": "all"}, "keep"),
        ({"method": "prototypes", "metric": "manhattan"}, "metric"),
        ({"method": "prototypes", "clusters": 50}, "clusters"),
        ({"method": "prototypes", "iterations": 0}, "iterations"),
        ({"method": "prototypes", "restarts": 0}, "restarts"),
        ({"method": "herding", "X": None, "n": 10}, "needs features"),
    ],
)
def test_bad_inputs_give_one_line_errors(kwargs, match):
    kwargs = {"X": np.random.default_rng(0).normal(size=(10, 3)), **kwargs}
    with pytest.raises(LessdataError, match=match) as info:
        lessdata.select(budget=3, **kwargs)
    assert "\n" not in str(info.value)
    with pytest.raises(LessdataError):
        kcenter_greedy(np.ones((5, 2)), 6)
    with pytest.raises(LessdataError):
        herding(np.full((5, 2), np.nan), 2)
