"""The public select() contract: methods, weights, partitions, determinism, and every bad input."""

import numpy as np
import pytest

import lessdata
from lessdata import LessdataError


def data(n=300, d=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, classes, size=n)


def test_methods_registry_lists_builtins():
    names = lessdata.methods()
    assert {"random", "facility_location", "craig", "rs2"} <= set(names)
    assert all(isinstance(v, str) and v for v in names.values())


@pytest.mark.parametrize("method", ["craig", "facility_location"])
@pytest.mark.parametrize("optimizer", ["lazy", "stochastic", "lazier_than_lazy", "naive"])
def test_facility_location_weights_are_cluster_sizes_per_part(method, optimizer):
    X, y = data()
    cs = lessdata.select(X, fraction=0.1, method=method, labels=y, optimizer=optimizer, seed=0)
    assert len(cs) == 30 and cs.n == 300 and cs.method == method
    sizes = np.bincount(y)
    for part in range(3):
        mask = cs.partition == part
        assert (y[cs.indices[mask]] == part).all()
        assert cs.weights[mask].sum() == sizes[part]  # weights per part sum to the part size
    assert cs.params["optimizer"] == optimizer and np.isfinite(cs.objective)


def test_craig_weights_match_nearest_selected_point():
    X, _ = data(120, 3)
    cs = lessdata.select(X, budget=12, method="craig", seed=0)
    from scipy.spatial.distance import cdist

    owner = np.argmin(cdist(X, X[cs.indices]), axis=1)
    np.testing.assert_array_equal(cs.weights, np.bincount(owner, minlength=12))


def test_random_is_class_balanced_and_weighted():
    X, y = data(1000)
    cs = lessdata.select(X, fraction=0.2, method="random", labels=y, seed=1)
    counts = np.bincount(y[cs.indices], minlength=3)
    expected = np.bincount(y) * 0.2
    assert np.abs(counts - expected).max() <= 1
    assert cs.weights.sum() == pytest.approx(1000)
    assert lessdata.select(None, budget=5, method="random", n=50).indices.max() < 50


def test_same_seed_same_coreset_different_seed_differs():
    X, y = data()
    for method in ("random", "craig"):
        kw = {"optimizer": "stochastic"} if method == "craig" else {}
        a = lessdata.select(X, fraction=0.2, method=method, labels=y, seed=3, **kw)
        b = lessdata.select(X, fraction=0.2, method=method, labels=y, seed=3, **kw)
        c = lessdata.select(X, fraction=0.2, method=method, labels=y, seed=4, **kw)
        assert a == b
        assert a != c


def test_per_part_budget_mapping_and_string_labels():
    X, y = data()
    names = np.array(["cat", "dog", "eel"])[y]
    cs = lessdata.select(X, budget={"cat": 5, "eel": 2}, method="craig", labels=names)
    assert len(cs) == 7
    assert cs.params["partition_labels"] == ["cat", "dog", "eel"]
    assert cs.partition_counts() == {0: 5, 2: 2}


def test_budget_policy_equal():
    X, _ = data(400)
    y = np.r_[np.zeros(370), np.ones(20), np.full(10, 2)].astype(int)
    cs = lessdata.select(X, budget=30, method="craig", labels=y, budget_policy="equal")
    assert cs.partition_counts() == {0: 10, 1: 10, 2: 10}
    cs = lessdata.select(X, budget=60, method="craig", labels=y, budget_policy="equal")
    assert cs.partition_counts() == {0: 30, 1: 20, 2: 10}


def test_precomputed_similarity():
    X, _ = data(50, 3)
    S = lessdata.submodular.dense_similarity(X)
    a = lessdata.select(None, budget=5, method="facility_location", metric="precomputed", similarity=S, n=50)
    b = lessdata.select(X, budget=5, method="facility_location", metric="euclidean")
    assert a.indices.tolist() == b.indices.tolist()
    assert a.params["similarity"].startswith("<ndarray shape=(50, 50)")


X_OK, Y_OK = data(30, 3)


@pytest.mark.parametrize(
    "X, kwargs, message",
    [
        (np.array([[1.0, np.nan]] * 3), {"budget": 1}, "NaN or infinite"),
        (np.array([[1.0, np.inf]] * 3), {"budget": 1}, "NaN or infinite"),
        (np.ones(5), {"budget": 1}, "must be a 2-D array"),
        (np.ones((2, 2, 2)), {"budget": 1}, "must be a 2-D array"),
        (np.zeros((0, 4)), {"budget": 1}, "is empty"),
        (np.array([["a", "b"]]), {"budget": 1}, "must be numeric"),
        (X_OK, {"fraction": 0.0}, r"fraction must be in \(0, 1\]"),
        (X_OK, {"fraction": 1.5}, r"fraction must be in \(0, 1\]"),
        (X_OK, {"fraction": float("nan")}, r"fraction must be in \(0, 1\]"),
        (X_OK, {"budget": 0}, "budget must be at least 1"),
        (X_OK, {"budget": 31}, "larger than the number of points"),
        (X_OK, {"budget": 2.5}, "budget must be an integer"),
        (X_OK, {}, "exactly one of fraction= or budget="),
        (X_OK, {"fraction": 0.1, "budget": 3}, "exactly one of fraction= or budget="),
        (X_OK, {"budget": 3, "labels": Y_OK[:-1]}, "labels has length 29 but there are 30 points"),
        (X_OK, {"budget": 3, "method": "magic"}, "unknown method 'magic'"),
        (X_OK, {"budget": 3, "metric": "hamming"}, "method 'craig': metric must be one of .*, got 'hamming'"),
        (X_OK, {"budget": 3, "optimizer": "greedyish"}, "optimizer must be one of .*, got 'greedyish'"),
        (X_OK, {"budget": 3, "method": "random", "metric": "cosine"}, "unknown parameter"),
        (X_OK, {"budget": {0: 25}, "labels": Y_OK}, "fewer than its budget 25"),
        (X_OK, {"budget": {0: 2}}, "needs labels="),
        (X_OK, {"budget": 3, "seed": -1}, "seed must be a non-negative integer"),
        (None, {"budget": 3}, "needs features X"),
    ],
)
def test_bad_input_raises_one_clear_error(X, kwargs, message):
    with pytest.raises(LessdataError, match=message) as info:
        lessdata.select(X, **{"method": "craig", **kwargs})
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_parts_on_threads_give_the_same_coreset_and_restore_blas_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from lessdata.backends import LocalBackend

    before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info()]
    X, y = data(2000, 8, classes=7)
    threaded = lessdata.select(X, fraction=0.2, labels=y, backend=LocalBackend(4))
    serial = lessdata.select(X, fraction=0.2, labels=y, backend=LocalBackend(1))
    np.testing.assert_array_equal(threaded.indices, serial.indices)
    np.testing.assert_array_equal(threaded.weights, serial.weights)
    np.testing.assert_array_equal(threaded.gains, serial.gains)
    assert threaded.objective == serial.objective
    assert [lib["num_threads"] for lib in threadpoolctl.threadpool_info()] == before


def test_progress_proxy_forwards_here_and_pickles_to_a_no_op():
    import pickle
    import threading

    from lessdata._progress import ProcessLocalProgress

    class Bar:
        total = None
        lock = threading.Lock()  # unpicklable, like a real bar
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    proxy = ProcessLocalProgress(bar)
    proxy.total = 5
    proxy.update(2)
    assert (bar.total, bar.n) == (5, 2)
    remote = pickle.loads(pickle.dumps(proxy))
    remote.update(3)
    remote.set_description("anything")
    assert bar.n == 2
