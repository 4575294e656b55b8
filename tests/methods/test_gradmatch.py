"""GradMatch: non-negative OMP recovers planted combinations; per-class selection, fill-up and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.gradmatch import nonnegative_omp


def planted(seed=0, n=200, d=40, k=5):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d))
    support = np.sort(rng.choice(n, size=k, replace=False))
    coefs = rng.uniform(1.0, 3.0, size=k)
    return A, support, coefs, coefs @ A[support]


@pytest.mark.parametrize("seed", range(5))
def test_omp_recovers_a_planted_sparse_nonnegative_combination(seed):
    A, support, coefs, b = planted(seed)
    res = nonnegative_omp(A, b, 5, lam=0.0)
    order = np.argsort(res.indices)
    assert np.array_equal(res.indices[order], support)
    np.testing.assert_allclose(res.coefficients[order], coefs, rtol=1e-8)
    assert res.residual < 1e-8 * np.linalg.norm(b)
    more = nonnegative_omp(A, b, 12, lam=0.0)  # stops once the residual vanishes
    assert len(more.indices) == 5 and np.all(more.gains > 0)


def test_ridge_shrinks_the_coefficients():
    A, support, coefs, b = planted(1)
    ridge = nonnegative_omp(A, b, 5, lam=50.0)
    assert set(ridge.indices.tolist()) == set(support.tolist())
    assert np.all(ridge.coefficients[np.argsort(ridge.indices)] < coefs)


def test_negative_coefficients_are_dropped_and_never_readmitted():
    # b is best matched by a − c, but c may not be used with a negative weight
    A = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    res = nonnegative_omp(A, np.array([1.0, -0.2, 0.0]), 3, lam=0.0)
    assert res.indices.tolist() == [1] and res.coefficients.tolist() == [1.0]
    duplicated = nonnegative_omp(np.vstack([A, A]), np.array([2.0, 1.0, 0.0]), 4, lam=0.0)
    assert np.all(duplicated.coefficients >= 0) and len(set(duplicated.indices.tolist())) == len(duplicated.indices)


def test_select_matches_a_planted_validation_target_per_class():
    rng = np.random.default_rng(0)
    G = rng.normal(size=(100, 30)).astype(np.float32)
    labels = np.repeat([0, 1], 50)
    # one validation row per class, each a planted combination of two of that class's training rows
    V = np.stack([2.0 * G[3] + 1.0 * G[17], 0.5 * G[60] + 1.5 * G[88]]).astype(np.float32)
    cs = lessdata.select(G, budget=4, method="gradmatch", labels=labels, lam=0.0, validation_gradients=V,
                         validation_labels=[0, 1], seed=0)
    assert sorted(cs.indices.tolist()) == [3, 17, 60, 88]
    # the target is rescaled to the class size (50 training rows per validation row)
    expected = {3: 100.0, 17: 50.0, 60: 25.0, 88: 75.0}
    for i, w in zip(cs.indices.tolist(), cs.weights.tolist()):
        assert w == pytest.approx(expected[i], rel=1e-4)
    assert cs.objective < 1e-2 and cs.partition_counts() == {0: 2, 1: 2}


def test_a_short_result_is_filled_with_random_points_of_weight_one():
    rng = np.random.default_rng(2)
    G = rng.normal(size=(20, 60)).astype(np.float32)  # nearly orthogonal rows: OMP finds the two at once
    V = (G[5] + G[9])[None, :]
    cs = lessdata.select(G, budget=6, method="gradmatch", lam=0.0, validation_gradients=V, seed=3)
    assert len(cs) == 6 and len(np.unique(cs.indices)) == 6
    assert cs.indices[:2].tolist() in ([5, 9], [9, 5])
    assert np.all(cs.weights[2:] == 1.0) and np.all(np.isnan(cs.gains[2:])) and np.all(cs.gains[:2] > 0)
    again = lessdata.select(G, budget=6, method="gradmatch", lam=0.0, validation_gradients=V, seed=3)
    assert again == cs


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), budget=st.integers(1, 30), lam=st.sampled_from([0.0, 0.5, 5.0]))
def test_every_selection_has_the_budget_positive_weights_and_no_repeats(seed, budget, lam):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(60, 8)).astype(np.float32)
    labels = rng.integers(0, 3, size=60)
    cs = lessdata.select(G, budget=budget, method="gradmatch", labels=labels, lam=lam, seed=seed)
    assert len(cs) == budget and len(np.unique(cs.indices)) == budget
    assert np.all(cs.weights > 0) and np.isfinite(cs.objective)


@pytest.mark.parametrize("params, message", [
    ({"lam": -1.0}, "lam"),
    ({"tol": float("nan")}, "tol"),
    ({"validation_gradients": np.ones((3, 4))}, "validation_gradients have 4 columns"),
    ({"validation_labels": [0, 1]}, "validation_labels= needs validation_gradients="),
    ({"validation_gradients": np.ones((2, 5)), "validation_labels": [0]}, "validation_labels has length 1"),
    ({"budget_policy": "greedy"}, "budget_policy"),
])
def test_bad_inputs_get_one_line_errors(params, message):
    G = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
    with pytest.raises(LessdataError, match=message) as info:
        lessdata.select(G, budget=3, method="gradmatch", **params)
    assert "\n" not in str(info.value)
