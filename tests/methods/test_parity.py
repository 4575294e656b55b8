"""Parity: each adaptive method's picks and weights on small fixed inputs against a straightforward independent
implementation of its reference algorithm, written here from the papers / reference code (not from lessdata's).

CREST's quadratic check against a direct computation is in tests/methods/test_crest.py
(``test_delta_is_minus_the_sum_of_lr_times_gradients_as_the_reference``); CRUST and EPIC in test_crust.py and
test_epic.py.
"""

import numpy as np
import pytest
from scipy.optimize import nnls

import lessdata
from lessdata.methods.gradmatch import nonnegative_omp


# ------------------------------------------------------------------------------------------------ GradMatch
def omp_ridge_drop(A, b, k, lam, tol=1e-4):
    """CORDS' OrthogonalMP_REG (positive=True), naively: add the atom most positively correlated with the
    residual, refit x = (A_S A_Sᵀ + lam I)⁻¹ A_S b, and while a coefficient is negative drop the most negative
    atom and refit. (lessdata bans dropped atoms for good; so does this.)"""
    chosen, banned, x, r = [], set(), np.zeros(0), b.copy()
    negative = False
    while len(chosen) < k and np.linalg.norm(r) > tol * np.linalg.norm(b):
        corr = A @ r
        corr[list(banned)] = -np.inf
        j = int(np.argmax(corr))
        if not corr[j] > 0:
            break
        banned.add(j)
        chosen.append(j)
        while chosen:
            S = A[chosen]
            x = np.linalg.solve(S @ S.T + lam * np.eye(len(chosen)), S @ b)
            if x.min() >= 0:
                break
            negative = True
            del chosen[int(np.argmin(x))]
        r = b - A[chosen].T @ x if chosen else b.copy()
    return chosen, x, negative


def omp_nnls(A, b, k, lam, tol=1e-4):
    """Non-negative OMP with a non-negative ridge least squares (scipy nnls) refit at every step."""
    chosen, x, r = [], np.zeros(0), b.copy()
    while len(chosen) < k and np.linalg.norm(r) > tol * np.linalg.norm(b):
        corr = A @ r
        corr[chosen] = -np.inf
        j = int(np.argmax(corr))
        if not corr[j] > 0:
            break
        chosen.append(j)
        M = np.vstack([A[chosen].T, np.sqrt(lam) * np.eye(len(chosen))])
        x, _ = nnls(M, np.concatenate([b, np.zeros(len(chosen))]))
        r = b - A[chosen].T @ x
    return chosen, x


def _omp_problem(seed, n=30, d=6):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d))
    return A, A[rng.choice(n, 10)].sum(axis=0) + 0.1 * rng.normal(size=d)


@pytest.mark.parametrize("lam", [0.5, 0.0])
def test_omp_matches_the_reference_ridge_and_drop_rule(lam):
    for seed in range(40):
        A, b = _omp_problem(seed)
        ours = nonnegative_omp(A, b, 8, lam=lam)
        chosen, x, _ = omp_ridge_drop(A, b, 8, lam)
        assert ours.indices.tolist() == chosen, seed
        np.testing.assert_allclose(ours.coefficients, x, rtol=1e-7, atol=1e-9)


def test_omp_matches_nnls_per_step_where_no_coefficient_goes_negative():
    """Where the ridge refit never produces a negative coefficient, a non-negative least-squares refit is the
    same refit: picks and weights must agree exactly."""
    compared = 0
    for seed in range(40):
        A, b = _omp_problem(seed)
        _, _, negative = omp_ridge_drop(A, b, 8, 0.5)
        chosen, x = omp_nnls(A, b, 8, 0.5)
        if negative or (x <= 0).any():
            continue
        ours = nonnegative_omp(A, b, 8, lam=0.5)
        assert ours.indices.tolist() == chosen, seed
        np.testing.assert_allclose(ours.coefficients, x, rtol=1e-6, atol=1e-8)
        compared += 1
    assert compared >= 30


def test_gradmatch_per_class_picks_and_weights_are_omp_on_each_class_sum():
    rng = np.random.default_rng(3)
    G = rng.normal(size=(60, 5)).astype(np.float32)
    y = np.arange(60) % 3
    cs = lessdata.select(G, budget=9, method="gradmatch", labels=y, seed=0)
    for c in range(3):
        members = np.flatnonzero(y == c)
        A = G[members].astype(np.float64)
        chosen, x, _ = omp_ridge_drop(A, A.sum(axis=0), 3, 0.5)
        picked = cs.indices[cs.partition == c]
        assert picked.tolist() == members[chosen].tolist()
        np.testing.assert_allclose(cs.weights[cs.partition == c], x, rtol=1e-5)


# ------------------------------------------------------------------------------------------------ GLISTER
def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def glister_naive(G, z, yv, k, eta, h=None):
    """GLISTER-ONLINE's greedy, step by step: the Taylor gain η g_i · ∇L_V(θ_S) of every remaining example,
    recomputed from scratch at each step from the validation logits after the one-step update on S."""
    z = z.astype(np.float64).copy()
    C = z.shape[1]
    picked, gains = [], []
    for _ in range(k):
        r = _softmax(z)
        r[np.arange(len(yv)), yv] -= 1.0
        grad = r.mean(axis=0) if h is None else np.concatenate([(r.T @ h / len(yv)).reshape(-1), r.mean(axis=0)])
        gain = eta * G.astype(np.float64) @ grad
        gain[picked] = -np.inf
        j = int(np.argmax(gain))
        picked.append(j)
        gains.append(gain[j])
        g = G[j].astype(np.float64)
        if h is None:
            z -= eta * g[None, :]
        else:
            W, bias = g[: C * h.shape[1]].reshape(C, -1), g[C * h.shape[1]:]
            z -= eta * (h @ W.T + bias[None, :])
    return picked, gains


@pytest.mark.parametrize("full", [False, True])
def test_glister_naive_greedy_matches_the_step_by_step_reference(full):
    rng = np.random.default_rng(1)
    C, hd, n, m = 3, 4, 40, 15
    hv = rng.normal(size=(m, hd))
    zv = rng.normal(size=(m, C))
    yv = rng.integers(0, C, m)
    G = rng.normal(size=(n, C * hd + C) if full else (n, C)).astype(np.float32)
    cs = lessdata.select(G, budget=7, method="glister", greedy="naive", update="exact", eta=0.5,
                         validation_logits=zv, validation_labels=yv, validation_features=hv if full else None)
    picked, gains = glister_naive(G, zv, yv, 7, 0.5, hv if full else None)
    assert cs.indices.tolist() == picked
    np.testing.assert_allclose(cs.gains, gains, rtol=1e-6)
    assert np.all(cs.weights == 1)


# ------------------------------------------------------------------------------------------------ CRAIG
def craig_naive(X, y, k_per_class):
    """Per class: greedy facility location with similarity max(d) − d (euclidean), then each point assigned to
    its nearest pick (brute force): weights = cluster sizes."""
    picks, weights = [], []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        P = X[members].astype(np.float64)
        D = np.sqrt(((P[:, None, :] - P[None, :, :]) ** 2).sum(-1))
        S = D.max() - D
        best = np.zeros(len(members))
        chosen = []
        for _ in range(k_per_class):
            gain = np.maximum(S - best[:, None], 0).sum(axis=0)
            gain[chosen] = -np.inf
            j = int(np.argmax(gain))
            chosen.append(j)
            best = np.maximum(best, S[:, j])
        nearest = np.argmin(D[:, chosen], axis=1)  # brute-force assignment to the closest medoid
        picks += members[chosen].tolist()
        weights += np.bincount(nearest, minlength=len(chosen)).tolist()
    return picks, np.array(weights, dtype=np.float64)


def test_craig_picks_and_cluster_size_weights_match_brute_force():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 4)).astype(np.float32)
    y = np.arange(90) % 3
    cs = lessdata.select(X, budget=12, method="craig", labels=y, optimizer="naive")
    picks, weights = craig_naive(X, y, 4)
    assert cs.indices.tolist() == picks
    np.testing.assert_array_equal(cs.weights, weights)
    capped = lessdata.select(X, budget=12, method="craig", labels=y, optimizer="naive", max_weight_ratio=1.2)
    assert capped.indices.tolist() == picks
    np.testing.assert_allclose(capped.weights, np.minimum(weights, 1.2 * weights.mean()), rtol=1e-6)
    assert capped.weights.max() < weights.max()


# ------------------------------------------------------------------------------------------------ AdaCore
def test_adacore_selects_craig_on_directly_preconditioned_gradients():
    rng = np.random.default_rng(4)
    G = rng.normal(size=(60, 5)).astype(np.float32)
    y = np.arange(60) % 2
    D = rng.uniform(0.1, 3.0, size=5)
    direct = (G / (D + 0.01 * D.mean())[None, :]).astype(np.float32)
    ada = lessdata.select(G, budget=8, method="adacore", labels=y, curvature=D, damping=0.01)
    want = lessdata.select(direct, budget=8, method="craig", labels=y)
    assert ada.indices.tolist() == want.indices.tolist()
    np.testing.assert_array_equal(ada.weights, want.weights)


@pytest.mark.slow  # 4000 Hessian-vector products
def test_last_layer_hessian_diagonal_matches_the_exact_softmax_diagonal():
    """Hutchinson's estimate (many Rademacher samples) against the closed form for a softmax last layer:
    ∂²L/∂W_cj² = mean_i p_ic (1 − p_ic) h_ij², ∂²L/∂b_c² = mean_i p_ic (1 − p_ic)."""
    import torch
    from torch import nn

    from lessdata.signals import last_layer_hessian_diagonal, last_layer_inputs

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    X = np.random.default_rng(5).normal(size=(50, 5)).astype(np.float32)
    y = np.arange(50) % 3
    h, z, _ = last_layer_inputs(model, X, y)
    p = _softmax(z.astype(np.float64))
    s = p * (1 - p)
    exact = np.concatenate([(s.T @ (h.astype(np.float64) ** 2) / len(y)).reshape(-1), s.mean(axis=0)])
    estimate = last_layer_hessian_diagonal(model, X, y, samples=4000, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(estimate, exact, rtol=0.1, atol=1e-3)
