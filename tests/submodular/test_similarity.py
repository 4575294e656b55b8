import logging

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from lessdata.errors import LessdataError
from lessdata.submodular import build_similarity, dense_similarity, knn_similarity
from lessdata.submodular.similarity import check_precomputed


def reference(X, Y, metric):
    Y = X if Y is None else Y
    D = cdist(Y.astype(np.float64), X.astype(np.float64))
    if metric == "euclidean":
        return D.max() - D
    if metric == "rbf":
        return np.exp(-D / X.shape[1])
    return 1 - cdist(Y.astype(np.float64), X.astype(np.float64), "cosine")


@given(
    n=st.integers(1, 600),
    m=st.one_of(st.none(), st.integers(1, 300)),
    d=st.integers(1, 40),
    metric=st.sampled_from(["euclidean", "cosine", "rbf"]),
    seed=st.integers(0, 1000),
)
def test_dense_matches_scipy(n, m, d, metric, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Y = None if m is None else rng.normal(size=(m, d)).astype(np.float32)
    S = dense_similarity(X, Y, metric)
    assert S.dtype == np.float32 and S.shape == ((n if Y is None else m), n)
    # float32 Gram trick: |x|² + |y|² − 2x·y loses ~eps·|x|² to cancellation, √ of that for a distance
    sq = float(max((X.astype(np.float64) ** 2).sum(1).max(), 1.0))
    atol = 1e-4 * max(1.0, np.abs(S).max()) + (4 * np.sqrt(1.2e-7 * sq) if metric != "cosine" else 0)
    np.testing.assert_allclose(S, reference(X, Y, metric), atol=atol)
    if Y is None and metric == "euclidean":
        assert (np.diagonal(S) == S.max()).all()  # a point is its own nearest point exactly


def _mirrored(X, metric):
    from lessdata.submodular import similarity

    old = similarity.SYMMETRIC_FROM_FEATURES
    similarity.SYMMETRIC_FROM_FEATURES = 1  # hypothesis runs many inputs per test: no function-scoped monkeypatch
    try:
        return dense_similarity(X, metric=metric)
    finally:
        similarity.SYMMETRIC_FROM_FEATURES = old


@given(n=st.integers(1, 700), d=st.integers(1, 12), metric=st.sampled_from(["euclidean", "cosine", "rbf"]),
       seed=st.integers(0, 1000))
def test_wide_features_compute_half_the_square_similarity_and_mirror_it(n, d, metric, seed):
    X = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    S = _mirrored(X, metric)
    sq = float(max((X.astype(np.float64) ** 2).sum(1).max(), 1.0))
    atol = 1e-4 * max(1.0, np.abs(S).max()) + (4 * np.sqrt(1.2e-7 * sq) if metric != "cosine" else 0)
    np.testing.assert_allclose(S, reference(X, None, metric), atol=atol)
    block = np.arange(n) // 256  # rows computed together; across blocks one product serves both triangles
    across = block[:, None] != block[None, :]
    np.testing.assert_array_equal(S[across], S.T[across])
    if metric == "euclidean":
        assert (np.diagonal(S) == S.max()).all()


def test_mirroring_is_what_makes_the_similarity_exactly_symmetric():
    X = np.random.default_rng(0).normal(size=(700, 8)).astype(np.float32)
    full, half = dense_similarity(X), _mirrored(X, "euclidean")
    assert (full != full.T).any() and (half[:256, 256:] == half[256:, :256].T).all()


def test_knn_keeps_each_points_nearest_candidates():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    S = knn_similarity(X, n_neighbors=10)
    assert sp.issparse(S) and S.shape == (400, 400)
    D = cdist(X, X)
    for i in range(0, 400, 37):
        col = S[:, i].toarray().ravel()
        kept = set(np.flatnonzero(col > 0)) | {i}
        assert set(np.argsort(D[i])[:9]) <= kept
        assert col[i] == pytest.approx(S.data.max())  # self-similarity is the maximum


def test_knn_ivf_path_is_used_above_exact_limit(caplog):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5000, 4)).astype(np.float32)
    with caplog.at_level(logging.INFO, logger="lessdata"):
        S = knn_similarity(X, n_neighbors=8, exact_limit=1000)
    assert "IVF" in caplog.text
    assert S.shape == (5000, 5000) and (S.diagonal() > 0).all()


def test_ivf_accepts_any_uint32_part_seed():
    """Part seeds are uint32; faiss's k-means seed is a C int (seeds ≥ 2³¹ once crashed every IVF run)."""
    X = np.random.default_rng(3).normal(size=(3000, 4)).astype(np.float32)
    a = knn_similarity(X, n_neighbors=5, exact_limit=100, seed=2**32 - 1)
    b = knn_similarity(X, n_neighbors=5, exact_limit=100, seed=2**32 - 1)
    assert (a != b).nnz == 0


def test_memory_cap_switches_to_sparse_and_logs(caplog):
    X = np.random.default_rng(2).normal(size=(300, 3)).astype(np.float32)
    assert isinstance(build_similarity(X), np.ndarray)
    with caplog.at_level(logging.INFO, logger="lessdata"):
        S = build_similarity(X, memory_cap=300 * 300 * 4 - 1, n_neighbors=5)
    assert sp.issparse(S)
    assert "sparse 5-NN graph" in caplog.text


@pytest.mark.parametrize(
    "S, message",
    [
        (None, "needs a similarity matrix"),
        (np.ones(3), "non-empty 2-D"),
        (np.zeros((0, 3)), "non-empty 2-D"),
        (np.array([[1.0, np.nan]]), "NaN or infinite"),
        (sp.csr_matrix(np.array([[np.inf]])), "NaN or infinite"),
        (np.array([["a"]]), "must be numeric"),
    ],
)
def test_bad_precomputed(S, message):
    with pytest.raises(LessdataError, match=message):
        check_precomputed(S)


def test_unknown_metric_and_feature_mismatch():
    X = np.ones((3, 2), dtype=np.float32)
    with pytest.raises(LessdataError, match="unknown metric 'manhattan'"):
        dense_similarity(X, metric="manhattan")
    with pytest.raises(LessdataError, match="candidates have 3 features"):
        dense_similarity(X, np.ones((2, 3), dtype=np.float32))
