"""Every fast optimizer against naive greedy, and greedy against exhaustive optima."""

import itertools
import math
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lessdata.errors import LessdataError
from lessdata.submodular import (
    FacilityLocation,
    GraphCut,
    dense_similarity,
    functions,
    knn_similarity,
    maximize,
    optimizers,
)

TINY_EPS = 1e-300  # (n/k)·ln(1/ε) ≥ n: stochastic variants then evaluate every remaining candidate


@st.composite
def instances(draw, max_n=120):
    n = draw(st.integers(2, max_n))
    k = draw(st.integers(1, n))
    d = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    kind = draw(st.sampled_from(["euclidean", "cosine", "rbf", "knn", "ties"]))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    if kind == "ties":  # duplicated points: exercises the lowest-index tie rule
        X = np.round(X[rng.integers(0, max(1, n // 3), size=n)])
        return dense_similarity(X, metric="euclidean"), k
    if kind == "knn":
        return knn_similarity(X, n_neighbors=min(n, 7)), k
    return dense_similarity(X, metric=kind), k


def picks(S, k, optimizer, **kw):
    f = FacilityLocation(S)
    r = maximize(f, k, optimizer, epsilon=TINY_EPS, **kw)
    return r.indices.tolist(), r.gains, f.value()


@given(instances())
def test_fast_optimizers_pick_exactly_what_naive_picks(inst):
    S, k = inst
    naive, naive_gains, naive_value = picks(S, k, "naive")
    for optimizer in ("lazy", "stochastic", "lazier_than_lazy"):
        got, gains, value = picks(S, k, optimizer)
        assert got == naive, optimizer
        np.testing.assert_array_equal(gains, naive_gains)
        assert value == naive_value


@given(instances())
def test_lazy_with_batched_first_picks_and_gains_split_over_threads_picks_what_naive_picks(inst):
    # batches of 2 keep the batched phase going while a pick needs 4 evaluations or more, and every batch of
    # gains is split over the threads: the picks, their gains and the value are still naive greedy's
    S, k = inst
    naive, naive_gains, naive_value = picks(S, k, "naive")
    with mock.patch.object(optimizers, "_EARLY_BATCH", 2), mock.patch.object(functions, "_SPLIT_ENTRIES", 1):
        got, gains, value = picks(S, k, "lazy")
    assert got == naive
    np.testing.assert_array_equal(gains, naive_gains)
    assert value == naive_value


@pytest.mark.parametrize("storage", ["dense", "on_demand"])
def test_batched_first_picks_run_for_several_picks_and_change_nothing(blobs, storage):
    from lessdata.submodular.similarity import ImplicitSimilarity

    X, _ = blobs(2000, 8)
    make = (lambda: dense_similarity(X)) if storage == "dense" else (lambda: ImplicitSimilarity(X))
    batched_steps = []
    early = optimizers._lazy_early_picks

    def counted(obj, k, key, idx, size, fresh, step, *rest):
        out = early(obj, k, key, idx, size, fresh, step, *rest)
        batched_steps.append(out[1] - step)
        return out

    with mock.patch.object(optimizers, "_EARLY_BATCH", 16), mock.patch.object(optimizers, "_lazy_early_picks", counted):
        a = maximize(FacilityLocation(make()), 200, "lazy")
    assert batched_steps and batched_steps[0] >= 3  # the batched phase really ran for several picks
    with mock.patch.object(optimizers, "_lazy_early_picks", lambda obj, k, key, idx, size, fresh, step, picks, pgains,
                           evals, progress: (size, step, evals)):
        b = maximize(FacilityLocation(make()), 200, "lazy")  # one candidate at a time from the start
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.gains, b.gains)
    assert a.evaluations >= b.evaluations  # a batch never evaluates fewer


@given(instances(max_n=60))
def test_pruning_changes_nothing(inst):
    S, k = inst
    pruned = FacilityLocation(S)
    plain = FacilityLocation(S, prune=False)
    a = maximize(pruned, k, "lazy")
    b = maximize(plain, k, "naive")
    assert a.indices.tolist() == b.indices.tolist()
    assert pruned.value() == pytest.approx(plain.value(), rel=1e-5)


def test_pruning_happens_and_shrinks_rows(blobs):
    X, _ = blobs(2000, 8)
    f = FacilityLocation(dense_similarity(X))
    maximize(f, 200, "lazy")
    assert f.prunings >= 1
    assert f.stored_entries() < 0.2 * 2000 * 2000


def test_pruning_compacts_a_copy_of_the_users_sparse_rows(blobs):
    X, _ = blobs(2000, 8)
    S = knn_similarity(X, n_neighbors=200)
    before = (S.indptr.copy(), S.indices.copy(), S.data.copy())
    f = FacilityLocation(S)
    first = maximize(f, 200, "lazy")
    assert f.prunings >= 1 and f.stored_entries() < S.nnz  # rows were compacted...
    for a, b in zip(before, (S.indptr, S.indices, S.data)):
        np.testing.assert_array_equal(a, b)  # ...in the engine's own copy: the user's matrix is untouched
    f.reset()
    assert f.stored_entries() == S.nnz
    again = maximize(f, 200, "lazy")
    np.testing.assert_array_equal(first.indices, again.indices)
    np.testing.assert_array_equal(first.indices, maximize(FacilityLocation(S, prune=False), 200, "naive").indices)


@pytest.mark.parametrize("storage", ["dense", "on_demand"])
def test_stored_rows_use_two_byte_indices_up_to_65536_points_with_the_same_picks(blobs, monkeypatch, storage):
    import scipy.sparse as sp

    from lessdata.submodular.similarity import ImplicitSimilarity

    X, _ = blobs(1500, 8)
    make = (lambda: dense_similarity(X)) if storage == "dense" else (lambda: ImplicitSimilarity(X))
    narrow = FacilityLocation(make())
    a = maximize(narrow, 150, "lazy")
    assert narrow.prunings >= 1 and narrow.rows[4].dtype == np.uint16
    monkeypatch.setattr(FacilityLocation, "_index_dtype", lambda self: np.int32)
    wide = FacilityLocation(make())
    b = maximize(wide, 150, "lazy")
    assert wide.rows[4].dtype == np.int32
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.gains, b.gains)  # the index width changes nothing but memory
    monkeypatch.undo()
    assert FacilityLocation(sp.csr_matrix((2, 2**16)))._index_dtype() == np.uint16
    assert FacilityLocation(sp.csr_matrix((2, 2**16 + 1)))._index_dtype() == np.int32


@given(instances(max_n=60))
def test_value_equals_brute_force_and_gains_add_up(inst):
    S, k = inst
    f = FacilityLocation(S)
    r = maximize(f, k, "lazy")
    dense = S.toarray() if hasattr(S, "toarray") else S
    brute = float(np.maximum(dense[r.indices].max(axis=0), 0).astype(np.float64).sum())
    assert f.value() == pytest.approx(brute, rel=1e-5, abs=1e-4)
    assert f.evaluate(r.indices) == pytest.approx(brute, rel=1e-5, abs=1e-4)
    assert float(r.gains.sum()) == pytest.approx(brute, rel=1e-4, abs=1e-3)


@pytest.mark.parametrize("seed", range(25))
def test_greedy_within_1_minus_1_over_e_of_optimum(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(4, 10)), int(rng.integers(1, 4))
    S = rng.random((n, n)).astype(np.float32)
    w = rng.random(n).astype(np.float32)
    f = FacilityLocation(S, weights=w)
    maximize(f, k, "lazy")
    best = max(f.evaluate(c) for c in itertools.combinations(range(n), k))
    assert f.value() >= (1 - 1 / math.e) * best - 1e-6


def test_random_greedy_reaches_1_over_e_of_optimum_in_expectation():
    """Non-monotone graph cut (λ = 1): the mean over seeds is at least OPT/e on every instance."""
    for inst in range(8):
        rng = np.random.default_rng(100 + inst)
        n, k = 9, 4
        A = rng.random((n, n))
        S = ((A + A.T) / 2).astype(np.float32)
        g = GraphCut(S, lam=1.0)
        opt = max(g.evaluate(c) for r in range(k + 1) for c in itertools.combinations(range(n), r))
        values = []
        for seed in range(60):
            g.reset()
            res = maximize(g, k, "random_greedy", seed=seed)
            assert len(res.indices) <= k
            assert g.value() == pytest.approx(g.evaluate(res.indices))
            values.append(g.value())
        assert opt > 0
        assert np.mean(values) >= opt / math.e


def test_graph_cut_is_non_monotone_and_gains_are_exact():
    rng = np.random.default_rng(0)
    A = rng.random((12, 12))
    S = ((A + A.T) / 2).astype(np.float32)
    g = GraphCut(S, lam=1.0)
    chosen = []
    for j in [3, 7, 1, 0, 11]:
        gain = g.gains(np.array([j]))[0]
        before = g.evaluate(chosen)
        chosen.append(j)
        assert gain == pytest.approx(g.evaluate(chosen) - before)
        g.add(j)
    assert (g.gains(np.arange(12)) < 0).any()


def test_stochastic_close_to_lazy_on_blobs(blobs):
    X, _ = blobs(3000, 16)
    S = dense_similarity(X)
    lazy = FacilityLocation(S)
    maximize(lazy, 300, "lazy")
    for optimizer in ("stochastic", "lazier_than_lazy"):
        f = FacilityLocation(S)
        maximize(f, 300, optimizer, epsilon=0.01, seed=1)
        assert f.value() >= 0.99 * lazy.value()


def test_deterministic_given_seed():
    rng = np.random.default_rng(3)
    S = dense_similarity(rng.normal(size=(300, 4)).astype(np.float32))
    for optimizer in ("stochastic", "lazier_than_lazy", "random_greedy"):
        a = maximize(FacilityLocation(S), 30, optimizer, seed=7).indices
        b = maximize(FacilityLocation(S), 30, optimizer, seed=7).indices
        c = maximize(FacilityLocation(S), 30, optimizer, seed=8).indices
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c) or optimizer == "random_greedy"


def test_lazy_generic_path_matches_naive_for_other_objectives():
    rng = np.random.default_rng(5)
    A = rng.random((40, 40))
    S = ((A + A.T) / 2).astype(np.float32)
    a = maximize(GraphCut(S, lam=0.25), 10, "lazy").indices  # monotone submodular for λ ≤ 1/2
    b = maximize(GraphCut(S, lam=0.25), 10, "naive").indices
    assert a.tolist() == b.tolist()


def test_progress_hook_counts_every_pick():
    class Bar:
        total = None
        n = 0

        def update(self, k):
            self.n += k

    S = dense_similarity(np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32))
    for optimizer in ("naive", "lazy", "stochastic"):
        bar = Bar()
        maximize(FacilityLocation(S), 123, optimizer, progress=bar)
        assert bar.total == 123 and bar.n == 123


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 11}, "cannot pick 11 of 10"),
        ({"k": -1}, "cannot pick -1"),
        ({"k": 2, "optimizer": "greedyish"}, "unknown optimizer 'greedyish'"),
        ({"k": 2, "optimizer": "stochastic", "epsilon": 0.0}, "epsilon must be in"),
    ],
)
def test_bad_arguments(kwargs, message):
    S = np.eye(10, dtype=np.float32)
    with pytest.raises(LessdataError, match=message):
        maximize(FacilityLocation(S), **kwargs)


def test_graph_cut_modular_term_must_match_candidates():
    with pytest.raises(LessdataError, match="modular term has 2 entries for 3 candidates"):
        GraphCut(np.eye(3, dtype=np.float32), modular=np.ones(2))
