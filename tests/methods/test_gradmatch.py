"""GradMatch: non-negative OMP recovers planted combinations; per-class selection, fill-up and errors."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
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


# ---------------------------------------------------------------------------------------------- fast vs obvious
def reference_omp(A, b, k, lam, tol):
    """Non-negative OMP written the obvious way: every refit and every dependence test solves its Gram
    system from scratch (``A_S A_Sᵀ + lam I``)."""
    A, b = np.asarray(A, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm_b = np.linalg.norm(b)
    dependent = 1e-10 * (max((A * A).sum(axis=1).max(), 0.0) + lam)
    chosen, gains, banned = [], [], np.zeros(len(A), dtype=bool)
    x, r = np.zeros(0), b.copy()

    def ridge(S):
        return np.linalg.solve(A[S] @ A[S].T + lam * np.eye(len(S)), A[S] @ b)

    while len(chosen) < k and norm_b > 0 and np.linalg.norm(r) > tol * norm_b:
        corr = A @ r
        corr[banned] = -np.inf
        j = int(np.argmax(corr))
        if not corr[j] > 0:
            break
        banned[j] = True
        gram = A[chosen + [j]] @ A[chosen + [j]].T + lam * np.eye(len(chosen) + 1)
        schur = gram[-1, -1] - (gram[-1, :-1] @ np.linalg.solve(gram[:-1, :-1], gram[:-1, -1]) if chosen else 0.0)
        if schur <= dependent:
            continue
        chosen.append(j)
        gains.append(np.linalg.norm(r))
        x = ridge(chosen)
        while chosen and x.min() < 0:
            drop = int(np.argmin(x))
            del chosen[drop], gains[drop]
            x = ridge(chosen) if chosen else np.zeros(0)
        r = b - A[chosen].T @ x if chosen else b.copy()
        if chosen and chosen[-1] == j:
            gains[-1] -= np.linalg.norm(r)
    return chosen, x, gains, np.linalg.norm(r)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), d=st.integers(1, 7), k=st.integers(0, 45),
       lam=st.sampled_from([0.0, 1e-3, 0.5, 5.0]), tol=st.sampled_from([0.0, 1e-4, 0.3]),
       target=st.sampled_from(["sum", "planted", "random"]))
def test_fast_omp_equals_the_obvious_one(seed, n, d, k, lam, tol, target):
    """Both refits (feature space when lam > 0 and d < k, atom space otherwise) give the obvious algorithm's
    atoms, in order, with its coefficients, gains and residual. (Not for lam = 0 with a target that is exactly
    a combination of a few atoms: the other atoms' optimal coefficients are then exactly 0, and whether one of
    them comes out as +1e-16 or −1e-16, kept or dropped, is rounding in any implementation.)"""
    assume(not (lam == 0.0 and target == "planted"))
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d))
    A[rng.random(n) < 0.2] *= -1.0  # some atoms point away from everything
    if n > 2:
        A[1] = A[0]  # a repeated atom
    b = {"sum": A.sum(axis=0), "planted": rng.uniform(0.5, 2.0, size=min(n, 3)) @ A[: min(n, 3)],
         "random": rng.normal(size=d)}[target]
    res = nonnegative_omp(A, b, k, lam=lam, tol=tol)
    chosen, x, gains, residual = reference_omp(A, b, k, lam, tol)
    assert res.indices.tolist() == chosen
    np.testing.assert_allclose(res.coefficients, x, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.gains, gains, rtol=1e-7, atol=1e-9)
    assert res.residual == pytest.approx(residual, rel=1e-7, abs=1e-9)


def test_dropping_atoms_downdates_the_factor_correctly():
    """Many negative-coefficient drops in feature space (opposing atoms, lam > 0, d < k) still match."""
    rng = np.random.default_rng(7)
    A = rng.normal(size=(60, 3))
    A = np.vstack([A, -A[:20] + 0.05 * rng.normal(size=(20, 3))])
    b = A[:5].sum(axis=0) - 0.5 * A[70]
    res = nonnegative_omp(A, b, 40, lam=0.05, tol=0.0)
    chosen, x, gains, residual = reference_omp(A, b, 40, 0.05, 0.0)
    assert res.indices.tolist() == chosen and len(chosen) > 3
    np.testing.assert_allclose(res.coefficients, x, rtol=1e-7, atol=1e-9)
    assert res.residual == pytest.approx(residual, rel=1e-7)


def test_a_large_logit_gradient_selection_runs_in_feature_space():
    """A 30% selection of a 3,000-example class with 10-dim gradients: each step is O(n d), not O(k²)."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3000, 10)) * 2
    G = np.exp(z - z.max(axis=1, keepdims=True))
    G /= G.sum(axis=1, keepdims=True)
    G[:, 4] -= 1.0
    res = nonnegative_omp(G, G.sum(axis=0), 900)
    assert len(res.indices) == 900 and len(np.unique(res.indices)) == 900
    assert np.all(res.coefficients > 0) and res.residual < 1e-2 * np.linalg.norm(G.sum(axis=0))
    first = reference_omp(G, G.sum(axis=0), 40, 0.5, 1e-4)
    assert res.indices[:40].tolist() == nonnegative_omp(G, G.sum(axis=0), 40).indices.tolist() == first[0]


def test_non_finite_atoms_get_a_one_line_error():
    A = np.ones((4, 2))
    A[2, 1] = np.nan
    with pytest.raises(LessdataError, match="finite"):
        nonnegative_omp(A, np.ones(2), 2)
