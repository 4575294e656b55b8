"""Above the memory cap: the k-NN path keeps every point counted, records itself, and is thread-independent."""

import logging

import numba
import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.submodular import similarity

RNG = np.random.default_rng(0)
X = RNG.normal(size=(1500, 12)).astype("float32")
Y = RNG.integers(0, 3, 1500)
TINY_CAP = 10_000  # bytes: every part goes to the k-NN graph


def _brute_force_weights(X, labels, cs, metric):
    weights = np.zeros(len(cs), dtype=np.float64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        mine = np.flatnonzero(np.isin(cs.indices, members))
        P, Q = X[members].astype(np.float64), X[cs.indices[mine]].astype(np.float64)
        if metric == "cosine":
            P /= np.linalg.norm(P, axis=1, keepdims=True)
            Q /= np.linalg.norm(Q, axis=1, keepdims=True)
            best = np.argmax(P @ Q.T, axis=1)
        else:
            best = np.argmin(((P[:, None, :] - Q[None, :, :]) ** 2).sum(-1), axis=1)
        np.add.at(weights, mine[best], 1.0)
    return weights


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "rbf"])
def test_every_point_counts_on_the_knn_path(metric, caplog):
    with caplog.at_level(logging.WARNING, logger="lessdata"):
        cs = lessdata.select(X, fraction=0.04, method="craig", labels=Y, metric=metric, memory_cap=TINY_CAP)
    assert float(cs.weights.sum()) == len(X)
    np.testing.assert_array_equal(cs.weights, _brute_force_weights(X, Y, cs, metric))
    assert cs.params["storage_used"] == {"knn": 3} and cs.params["knn_neighbors"] == 64
    assert "3 of 3 part(s) were over the memory cap" in caplog.text


def test_the_dense_path_is_recorded_too():
    cs = lessdata.select(X, fraction=0.04, method="craig", labels=Y)
    assert cs.params["storage_used"] == {"dense": 3} and float(cs.weights.sum()) == len(X)
    cs = lessdata.select(X, fraction=0.04, method="craig", labels=Y, storage="on_demand")
    assert cs.params["storage_used"] == {"on_demand": 3}


def test_knn_path_is_bit_identical_across_thread_counts():
    before = numba.get_num_threads()
    try:
        runs = []
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            runs.append(lessdata.select(X, fraction=0.04, method="craig", labels=Y, memory_cap=TINY_CAP, seed=3))
    finally:
        numba.set_num_threads(before)
    assert runs[0] == runs[1] and np.array_equal(runs[0].gains, runs[1].gains)


def test_pair_values_match_numpy():
    rows, cols = RNG.integers(0, 1500, 500), RNG.integers(0, 1500, 500)
    got = similarity._pair_values(X, X, rows, cols, inner=False)
    np.testing.assert_allclose(got, np.linalg.norm(X[cols] - X[rows], axis=1), rtol=1e-5)
    got = similarity._pair_values(X, X, rows, cols, inner=True)
    np.testing.assert_allclose(got, (X[cols] * X[rows]).sum(1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad", [1, 0, "a", 2.5, True])
def test_n_neighbors_below_two_is_refused(bad):
    with pytest.raises(LessdataError, match="n_neighbors"):
        lessdata.select(X, fraction=0.04, method="craig", n_neighbors=bad)
    with pytest.raises(LessdataError, match="n_neighbors"):
        similarity.knn_similarity(X, n_neighbors=bad)


def test_a_memory_cap_past_available_memory_is_one_line(monkeypatch):
    monkeypatch.setattr(similarity, "available_memory", lambda: 1000)
    with pytest.raises(LessdataError, match="GiB of memory is available; lower memory_cap"):
        lessdata.select(X, fraction=0.04, method="craig", memory_cap=2**40)
