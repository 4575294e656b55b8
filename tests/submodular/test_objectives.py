"""The extra objectives against straightforward references: values from scratch, greedy by recomputing f(S ∪ j)."""

import numpy as np
import pytest

from lessdata.errors import LessdataError
from lessdata.submodular import (
    DisparityMin,
    DisparitySum,
    FacilityLocation,
    FeatureBased,
    LogDeterminant,
    Modular,
    SaturatedCoverage,
    dense_similarity,
    flmi_similarity,
    gcmi_scores,
    maximize,
)
from lessdata.submodular.similarity import ImplicitSimilarity

TINY_EPS = 1e-300  # stochastic variants then evaluate every remaining candidate
CONCAVE = {"sqrt": np.sqrt, "log": np.log1p, "inverse": lambda x: 1.0 - 1.0 / (1.0 + x)}


# ------------------------------------------------------------------------------------ references
def f_feature(M, S, g):
    return float(g(M[list(S)].astype(np.float64).sum(axis=0)).sum()) if len(S) else 0.0


def f_saturated(Sim, S, alpha):
    P = np.maximum(Sim.astype(np.float64), 0)
    cap = alpha * P.sum(axis=0)
    return float(np.minimum(P[list(S)].sum(axis=0), cap).sum()) if len(S) else 0.0


def f_logdet(K, S, lam):
    if not len(S):
        return 0.0
    sub = K[np.ix_(list(S), list(S))].astype(np.float64) + lam * np.eye(len(S))
    return float(np.linalg.slogdet(sub)[1])


def f_disparity_sum(D, S):
    S = list(S)
    return float(sum(float(D[a, b]) for i, a in enumerate(S) for b in S[i + 1:]))


def f_flmi(Sim, Q, S, eta):
    if not len(S):
        return 0.0
    best = Sim[list(S)].astype(np.float64).max(axis=0)
    return float(np.maximum(np.minimum(best, eta * Q.astype(np.float64).max(axis=1)), 0).sum())


def naive_greedy(f, n, k):
    """Greedy by recomputing f(S ∪ j) − f(S) from scratch (float64); ties to the lowest index."""
    S = []
    for _ in range(k):
        base = f(S)
        gains = [f(S + [j]) - base if j not in S else -np.inf for j in range(n)]
        S.append(int(np.argmax(gains)))
    return S


def farthest_first(D, k):
    S = [0]
    near = D[0].astype(np.float64).copy()
    for _ in range(k - 1):
        near[S] = -1
        j = int(np.argmax(near))
        S.append(j)
        near = np.minimum(near, D[j])
    return S


def data(seed, n=40, d=5):
    return np.random.default_rng(seed).random((n, d)).astype(np.float32)


def all_optimizers(make, k):
    out = {}
    for optimizer in ("naive", "lazy", "stochastic", "lazier_than_lazy"):
        obj = make()
        out[optimizer] = (maximize(obj, k, optimizer, epsilon=TINY_EPS).indices.tolist(), obj)
    return out


# ---------------------------------------------------------------------------------------- checks
@pytest.mark.parametrize("concave", ["sqrt", "log", "inverse"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_feature_based_matches_reference_on_every_optimizer(concave, seed):
    M, k = data(seed), 8
    ref = naive_greedy(lambda S: f_feature(M, S, CONCAVE[concave]), len(M), k)
    for optimizer, (picks, obj) in all_optimizers(lambda: FeatureBased(M, concave), k).items():
        assert picks == ref, optimizer
        assert obj.value() == pytest.approx(f_feature(M, ref, CONCAVE[concave]), rel=1e-9)
        assert obj.evaluate(ref) == pytest.approx(obj.value(), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_saturated_coverage_matches_reference(seed):
    Sim, k = dense_similarity(data(seed), metric="cosine"), 8
    ref = naive_greedy(lambda S: f_saturated(Sim, S, 0.3), len(Sim), k)
    for optimizer, (picks, obj) in all_optimizers(lambda: SaturatedCoverage(Sim, alpha=0.3), k).items():
        assert picks == ref, optimizer
        assert obj.value() == pytest.approx(f_saturated(Sim, ref, 0.3), rel=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "rbf"])
@pytest.mark.parametrize("seed", [0, 1])
def test_log_determinant_matches_slogdet_greedy(metric, seed):
    X, k, lam = data(seed), 10, 0.5
    K = dense_similarity(X, metric=metric)
    np.fill_diagonal(K, 1.0)  # the on-demand kernel's diagonal is exactly 1, not float32's rounding of it
    ref = naive_greedy(lambda S: f_logdet(K, S, lam), len(X), k)
    for optimizer, (picks, obj) in all_optimizers(lambda: LogDeterminant(K, lam), k).items():
        assert picks == ref, optimizer
        assert obj.value() == pytest.approx(f_logdet(K, ref, lam), rel=1e-6, abs=1e-6)
    # kernel rows computed on demand from the features: the same picks, no n x n anywhere
    implicit = LogDeterminant(ImplicitSimilarity(X, metric=metric), lam)
    assert maximize(implicit, k, "lazy").indices.tolist() == ref
    assert implicit.evaluate(ref) == pytest.approx(implicit.value(), rel=1e-6, abs=1e-6)


def test_log_determinant_on_a_rank_deficient_kernel():
    X = data(0, d=3)  # a cosine kernel of 3 features has rank 3
    with pytest.raises(LessdataError, match="rank-deficient.*regularization"):
        maximize(LogDeterminant(dense_similarity(X, metric="cosine"), regularization=0.0), 5, "lazy")
    picks = maximize(LogDeterminant(dense_similarity(X, metric="cosine"), regularization=1e-3), 5, "lazy")
    assert len(picks.indices) == 5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_disparity_sum_matches_reference_and_refuses_lazy(seed):
    D = 1.0 - dense_similarity(data(seed), metric="cosine")
    ref = naive_greedy(lambda S: f_disparity_sum(D, S), len(D), 7)
    obj = DisparitySum(D)
    assert maximize(obj, 7, "naive").indices.tolist() == ref
    assert obj.value() == pytest.approx(f_disparity_sum(D, ref), rel=1e-6)
    assert maximize(DisparitySum(D), 7, "stochastic", epsilon=TINY_EPS).indices.tolist() == ref
    for optimizer in ("lazy", "lazier_than_lazy"):
        with pytest.raises(LessdataError, match="not submodular"):
            maximize(DisparitySum(D), 7, optimizer)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_disparity_min_is_farthest_first(seed):
    D = 1.0 - dense_similarity(data(seed), metric="cosine")
    ref = farthest_first(D, 7)
    for optimizer, (picks, obj) in all_optimizers(lambda: DisparityMin(D), 7).items():
        assert picks == ref, optimizer
        sub = D[np.ix_(ref, ref)].astype(np.float64)
        assert obj.value() == pytest.approx(sub[~np.eye(7, dtype=bool)].min(), rel=1e-6)
        assert obj.evaluate(ref) == pytest.approx(obj.value(), rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flmi_and_gcmi_match_references(seed):
    X = data(seed)
    Q = data(seed + 100, n=4)
    Sim = dense_similarity(X, metric="cosine")
    Qsim = ImplicitSimilarity(Q, X, metric="cosine").materialize()  # points x queries
    ref = naive_greedy(lambda S: f_flmi(Sim, Qsim, S, 0.8), len(X), 6)
    for optimizer, (picks, obj) in all_optimizers(lambda: FacilityLocation(flmi_similarity(Sim, Qsim, 0.8)),
                                                  6).items():
        assert picks == ref, optimizer
        assert obj.value() == pytest.approx(f_flmi(Sim, Qsim, ref, 0.8), rel=1e-5)
    scores = gcmi_scores(Qsim, lam=0.5)
    top = np.lexsort((np.arange(len(X)), -scores))[:6].tolist()
    assert maximize(Modular(scores), 6, "lazy").indices.tolist() == top
    assert scores[0] == pytest.approx(2 * 0.5 * Qsim[0].astype(np.float64).sum())


def test_flmi_on_a_sparse_similarity_equals_dense():
    import scipy.sparse as sp

    X, Q = data(3), data(4, n=3)
    Sim = dense_similarity(X, metric="cosine")
    Qsim = ImplicitSimilarity(Q, X, metric="cosine").materialize()
    dense = maximize(FacilityLocation(flmi_similarity(Sim, Qsim)), 6, "lazy").indices
    sparse = maximize(FacilityLocation(flmi_similarity(sp.csr_matrix(Sim), Qsim)), 6, "lazy").indices
    assert dense.tolist() == sparse.tolist()


def test_negative_features_are_one_clear_error():
    M = data(0)
    M[3, 2] = -0.5
    with pytest.raises(LessdataError, match="non-negative.*row 3, column 2"):
        FeatureBased(M)
    with pytest.raises(LessdataError, match="concave"):
        FeatureBased(data(0), concave="cube")
