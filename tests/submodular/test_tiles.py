"""Tiled passes (row sums, live entries) against the dense similarity computed the plain way."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lessdata.submodular import dense_similarity, tiles
from lessdata.submodular.similarity import ImplicitSimilarity


def _live(sim, memo, w, skip):
    return sim.live_entries(memo, w, skip, np.int32)


@given(n=st.integers(1, 90), m=st.one_of(st.none(), st.integers(1, 70)), d=st.integers(1, 6),
       metric=st.sampled_from(["euclidean", "cosine", "rbf"]), seed=st.integers(0, 10_000),
       workers=st.integers(1, 3), tile=st.sampled_from([8, 16, 1024]))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_live_entries_are_the_entries_above_memo(monkeypatch, n, m, d, metric, seed, workers, tile):
    # set on every example: many tiles and row ranges even on small inputs
    monkeypatch.setattr(tiles, "TILE_COLS", tile)
    monkeypatch.setattr(tiles, "_workers", lambda w=workers: w)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Y = None if m is None else rng.normal(size=(m, d)).astype(np.float32)
    S = dense_similarity(X, Y, metric)
    sim = ImplicitSimilarity(X, Y, metric)
    sim.row_sums()  # finds max(d) for euclidean, as facility location does first
    # memo: each point's similarity to a few random rows (as after some picks), or 0
    memo = np.zeros(S.shape[1], dtype=np.float32)
    if S.shape[0] > 1:
        picks = rng.choice(S.shape[0], size=min(3, S.shape[0] - 1), replace=False)
        memo = np.maximum(S[picks].max(axis=0), 0)
    skip = rng.random(S.shape[0]) < 0.2
    w = rng.uniform(0, 2, size=S.shape[1]).astype(np.float32)
    starts, ends, idx, data, gains = _live(sim, memo, w, skip)
    tol = 1e-5 * max(1.0, float(np.abs(S).max()))
    for r in range(S.shape[0]):
        cols, vals = idx[starts[r]:ends[r]], data[starts[r]:ends[r]]
        if skip[r]:
            assert len(cols) == 0
            continue
        assert np.all(np.diff(cols) > 0)  # ascending, no repeats
        assert np.all(vals > memo[cols])  # only live entries are kept
        np.testing.assert_allclose(vals, S[r, cols], atol=tol)
        clearly_live = np.flatnonzero(S[r] > memo + tol)
        assert np.isin(clearly_live, cols).all()  # no live entry is missed
        expected = float((w[cols] * (vals - memo[cols])).sum())
        assert gains[r] == pytest.approx(expected, rel=1e-4, abs=1e-4)
        assert gains[r] == tiles.sparse_gain(starts, ends, idx, data, r, memo, w)  # the one gain kernel


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "rbf"])
@pytest.mark.parametrize("d", [5, 32])
def test_passes_are_identical_for_any_number_of_threads(monkeypatch, metric, d):
    # d = 32: BLAS rounds a row's products differently at different places in a block of rows, so this
    # fails unless row ranges are whole blocks counted from row 0
    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, d)).astype(np.float32)
    monkeypatch.setattr(tiles, "TILE_COLS", 64)
    out = []
    for workers, per_worker in ((1, 1), (2, 1), (3, 1), (2, 8)):
        monkeypatch.setattr(tiles, "_workers", lambda w=workers: w)
        monkeypatch.setattr(tiles, "_RANGES_PER_WORKER", per_worker)
        sim = ImplicitSimilarity(X, metric=metric)
        sums = sim.row_sums()
        memo = np.maximum(sim.rows(np.array([0]))[0], 0)
        skip = np.zeros(len(X), dtype=bool)
        skip[0] = True
        starts, ends, idx, data, gains = _live(sim, memo, np.ones(len(X), np.float32), skip)
        rows = [(idx[a:b].tolist(), data[a:b].tolist()) for a, b in zip(starts, ends)]
        out.append((sums.tolist(), rows, gains.tolist()))
    assert out[0] == out[1] == out[2] == out[3]


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "rbf"])
def test_similarity_values_do_not_depend_on_blas_threads(metric):
    # BLAS rounds a product differently on 2 threads than on 1 (at d = 32 with OpenBLAS): every product
    # that feeds a pick runs on one BLAS thread, small inputs (one tile, one block) included
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 32)).astype(np.float32)
    out = []
    for blas_threads in (1, 2):
        with threadpool_limits(blas_threads, user_api="blas"):
            sim = ImplicitSimilarity(X, metric=metric)
            sums = sim.row_sums()
            rows = sim.rows(np.arange(0, 200, 3))
            out.append((sums.tolist(), rows.tolist(), dense_similarity(X, metric=metric).tolist()))
    assert out[0] == out[1]


def test_reserved_memory_is_committed_only_where_written():
    a = tiles.reserve(2**31, np.float32)  # 8 GiB of address space
    a[:1000] = 1.0
    a[-1] = 2.0
    assert a.shape == (2**31,) and a[:1000].sum() == 1000.0 and a[-1] == 2.0
    assert tiles.reserve(0, np.int32).shape == (0,)


@given(n=st.integers(2, 90), m=st.one_of(st.none(), st.integers(2, 70)), d=st.integers(1, 6),
       metric=st.sampled_from(["euclidean", "cosine", "rbf"]), seed=st.integers(0, 10_000),
       workers=st.integers(1, 3), tile=st.sampled_from([8, 16, 1024]))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_first_pass_keeps_what_its_guess_leaves_live(monkeypatch, n, m, d, metric, seed, workers, tile):
    """row_sums(keep_for=cands): the same sums as the plain pass, and once one of them (c) is picked, the
    finished rows hold the live rows a second pass would store (every live entry, each value the similarity,
    gains from them)."""
    monkeypatch.setattr(tiles, "TILE_COLS", tile)
    monkeypatch.setattr(tiles, "_workers", lambda w=workers: w)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Y = None if m is None else rng.normal(size=(m, d)).astype(np.float32)
    w = rng.uniform(0, 2, size=n).astype(np.float32)
    plain = ImplicitSimilarity(X, Y, metric)
    sums = plain.row_sums(w)
    sim = ImplicitSimilarity(X, Y, metric)
    cands = rng.choice(sim.shape[0], size=int(rng.integers(1, min(3, sim.shape[0]) + 1)), replace=False)
    c = int(rng.choice(cands))  # the first pick: any of the candidates the pass kept entries for
    fused, rows = sim.row_sums(w, keep_for=cands)
    np.testing.assert_array_equal(fused, sums)  # the pass that keeps entries sums exactly as the plain one
    memo = np.maximum(sim.rows(np.array([c]))[0], 0)  # what add(c) leaves
    gains = sim.finish_rows(rows, c, memo, w)
    starts, ends, idx, data = rows
    skip = np.zeros(sim.shape[0], dtype=bool)
    skip[c] = True
    ref = _live(plain, memo, w, skip)
    S = dense_similarity(X, Y, metric)
    tol = 1e-5 * max(1.0, float(np.abs(S).max()))
    for r in range(sim.shape[0]):
        cols, vals = idx[starts[r]:ends[r]], data[starts[r]:ends[r]]
        if r == c:
            assert len(cols) == 0
            continue
        assert np.all(np.diff(cols) > 0)
        np.testing.assert_allclose(vals, S[r, cols], atol=tol)
        if len(cands) == 1:  # kept entries are live, or tie the memo after rounding (worth 0)
            assert np.all(vals >= memo[cols])
        live = cols[vals > memo[cols]]
        ref_cols = ref[2][ref[0][r]:ref[1][r]]
        clearly_live = ref_cols[S[r, ref_cols] > memo[ref_cols] + tol]
        assert np.isin(clearly_live, live).all()  # nothing the second pass keeps is missing
        assert gains[r] == tiles.sparse_gain(starts, ends, idx, data, r, memo, w)
        assert gains[r] == pytest.approx(float((w[cols] * np.maximum(vals - memo[cols], 0)).sum()), rel=1e-4,
                                         abs=1e-4)


def test_sampled_row_sums_rank_like_the_sums_on_those_points():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, size=300).astype(np.float32)
    cols = np.arange(0, 300, 7)
    for metric in ("euclidean", "cosine", "rbf"):
        sim = ImplicitSimilarity(X, metric=metric)
        S = dense_similarity(X, metric=metric).astype(np.float64)
        est = sim.sampled_row_sums(cols, w)
        ref = (np.maximum(S[:, cols], 0) * w[cols]).sum(axis=1)
        if metric == "euclidean":  # minus the distances: the same order as (max d − d)
            ref = -((S.max() - S[:, cols]) * w[cols]).sum(axis=1)
        np.testing.assert_allclose(est, ref, rtol=1e-4, atol=1e-3)
