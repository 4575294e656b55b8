"""The objective methods through select(): partitions, the same picks as the engine objects, bad input."""

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.submodular import FeatureBased, LogDeterminant, maximize
from lessdata.submodular.similarity import ImplicitSimilarity


def rows(n=60, d=5, seed=0):
    return np.random.default_rng(seed).random((n, d)).astype(np.float32)


def test_feature_based_per_class_equals_the_objective_on_each_part():
    X, y = rows(), np.repeat([0, 1, 2], 20)
    cs = lessdata.select(X, budget=12, method="feature_based", labels=y, concave="log", seed=0)
    assert len(cs) == 12 and np.bincount(cs.partition).tolist() == [4, 4, 4]
    for part in range(3):
        local = np.flatnonzero(y == part)
        expected = maximize(FeatureBased(X[local], "log"), 4, "lazy").indices
        assert cs.indices[cs.partition == part].tolist() == local[expected].tolist()
    assert np.allclose(cs.weights, 20 / 4)


def test_log_determinant_method_is_the_incremental_cholesky_greedy():
    X = rows()
    cs = lessdata.select(X, budget=10, method="log_determinant", metric="rbf", regularization=0.1)
    obj = LogDeterminant(ImplicitSimilarity(X, metric="rbf"), 0.1)
    assert cs.indices.tolist() == maximize(obj, 10, "lazy").indices.tolist()
    assert cs.objective == pytest.approx(obj.evaluate(cs.indices), rel=1e-6)


@pytest.mark.parametrize("method", ["saturated_coverage", "disparity_sum", "disparity_min"])
def test_pairwise_methods_run_per_part_and_are_deterministic(method):
    X, y = rows(seed=1), np.repeat([0, 1], 30)
    a = lessdata.select(X, budget=10, method=method, labels=y, seed=4)
    b = lessdata.select(X, budget=10, method=method, labels=y, seed=4)
    assert a == b and len(a) == 10 and np.bincount(a.partition).tolist() == [5, 5]


def test_disparity_min_spreads_more_than_random():
    X = rows(200, 2, seed=2)
    cs = lessdata.select(X, budget=10, method="disparity_min", metric="euclidean")
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    spread = lambda s: D[np.ix_(s, s)][~np.eye(len(s), dtype=bool)].min()  # noqa: E731
    rand = np.random.default_rng(0)
    assert spread(cs.indices) > max(spread(rand.choice(200, 10, replace=False)) for _ in range(20))


def test_targeted_picks_points_near_the_query():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (50, 4)), rng.normal(8, 1, (50, 4))]).astype(np.float32)
    query = rng.normal(8, 1, (3, 4)).astype(np.float32)
    for objective in ("flmi", "gcmi"):
        cs = lessdata.select(X, budget=10, method="targeted", query=query, objective=objective, metric="rbf")
        # FLMI saturates once the points near the query are covered: later picks have zero gain
        useful = cs.indices[cs.gains > 1e-6]
        assert len(useful) >= 5 and (useful >= 50).all(), objective


def test_disparity_sum_refuses_lazy():
    with pytest.raises(LessdataError, match="not submodular"):
        lessdata.select(rows(), budget=5, method="disparity_sum", optimizer="lazy")


# ------------------------------------------------------------------------------------------ bad input
def test_query_of_another_dimension():
    with pytest.raises(LessdataError, match="query has 3 features but the data has 5"):
        lessdata.select(rows(), budget=5, method="targeted", query=rows(4, 3))
    with pytest.raises(LessdataError, match="needs query="):
        lessdata.select(rows(), budget=5, method="targeted")


def test_negative_concave_argument():
    X = rows()
    X[7, 1] = -1.0
    with pytest.raises(LessdataError, match="non-negative.*row 7, column 1"):
        lessdata.select(X, budget=5, method="feature_based")


def test_log_determinant_rank_deficient_without_regularization():
    X = rows(d=3)  # cosine kernel of rank 3, budget 6
    with pytest.raises(LessdataError, match="rank-deficient"):
        lessdata.select(X, budget=6, method="log_determinant", regularization=0.0)
    assert len(lessdata.select(X, budget=6, method="log_determinant", regularization=1e-3)) == 6


def test_pairwise_objective_over_the_memory_cap_is_one_line():
    with pytest.raises(LessdataError, match="memory_cap"):
        lessdata.select(rows(), budget=5, method="saturated_coverage", memory_cap=1000)


def test_disparity_euclidean_dissimilarity_is_the_distance():
    X = rows(30, 3, seed=5)
    cs = lessdata.select(X, budget=2, method="disparity_sum", metric="euclidean")
    D = np.sqrt(((X[:, None].astype(np.float64) - X[None]) ** 2).sum(-1))
    assert cs.objective == pytest.approx(D[cs.indices[0], cs.indices[1]], rel=1e-4)
    assert cs.objective == pytest.approx(D[0].max(), rel=1e-4)  # from the first candidate, its farthest


def test_a_huge_eta_means_no_cap_without_overflow():
    import warnings

    X = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in float32 would warn
        huge = lessdata.select(X, budget=5, method="targeted", query=X[:3], eta=1e300)
    large = lessdata.select(X, budget=5, method="targeted", query=X[:3], eta=1e6)
    np.testing.assert_array_equal(huge.indices, large.indices)
