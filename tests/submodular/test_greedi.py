"""GreeDi and the blockwise full objective, on the local backend (the Ray runs are in tests/backends)."""

import importlib

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.submodular import (
    FacilityLocation,
    dense_similarity,
    euclidean_constant,
    evaluate_facility_location,
    facility_location_part,
    greedi,
    maximize,
)


def brute_similarity(X, metric, c=None):
    D = np.sqrt(np.maximum(((X[:, None, :].astype(np.float64) - X[None, :, :]) ** 2).sum(-1), 0))
    if metric == "euclidean":
        return (c - D).astype(np.float32)
    if metric == "rbf":
        return np.exp(-D / X.shape[1]).astype(np.float32)
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    return (Z @ Z.T).astype(np.float32)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "rbf"])
def test_blockwise_evaluation_matches_the_dense_objective(metric, blobs):
    X, _ = blobs(700, 5, seed=3)
    c = 40.0
    S = brute_similarity(X, metric, c)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(X)).astype(np.float32)
    f = FacilityLocation(S, weights=w)
    picks = maximize(f, 25, "naive").indices
    ev_picks, ev_random = evaluate_facility_location(
        X, [picks, np.arange(0, 700, 35)], metric, constant=c, point_weights=w)
    assert ev_picks.value == pytest.approx(f.value(), rel=1e-5)
    # exact marginal gains in selection order, and cluster sizes as the dense objective counts them
    assert np.allclose(ev_picks.gains, [
        FacilityLocation(S, weights=w).evaluate(picks[: t + 1]) - FacilityLocation(S, weights=w).evaluate(picks[:t])
        for t in range(len(picks))], rtol=1e-3, atol=0.05)  # float32 distances vs float64
    assert np.allclose(ev_picks.weights, f.cluster_sizes(picks), rtol=1e-5)
    assert ev_random.value == pytest.approx(FacilityLocation(S, weights=w).evaluate(np.arange(0, 700, 35)), rel=1e-5)


def test_evaluation_does_not_depend_on_the_chunking(blobs, monkeypatch):
    g = importlib.import_module("lessdata.submodular.evaluation")  # where the evaluation reads its constants

    X, _ = blobs(3000, 4)
    sel = [np.arange(0, 3000, 97), np.arange(5, 3000, 301)]
    first = evaluate_facility_location(X, sel)
    monkeypatch.setattr(g, "EVAL_CHUNK_ROWS", 257)  # 12 ranges instead of one
    monkeypatch.setattr(g, "_BLOCK_ENTRIES", 64)  # blocks of 16 rows
    again = evaluate_facility_location(X, sel)
    assert [e.value for e in first] == pytest.approx([e.value for e in again], rel=1e-9)


def test_euclidean_constant_is_a_double_sweep_estimate_of_the_diameter(blobs):
    X, _ = blobs(400, 3)
    D = np.sqrt(((X[:, None].astype(np.float64) - X[None]) ** 2).sum(-1))
    c = euclidean_constant(X)
    assert D.max() / 2 <= c <= D.max() * (1 + 1e-6)
    assert c == pytest.approx(D[int(np.argmax(D[0]))].max(), rel=1e-6)


def test_greedi_result_is_consistent_and_deterministic(blobs):
    X, _ = blobs(4000, 6)
    res = greedi(X, 40, 4, seed=1)
    assert len(res.indices) == 40 and len(np.unique(res.indices)) == 40
    assert float(res.weights.sum()) == pytest.approx(4000)
    assert res.gains.sum() == pytest.approx(res.objective)
    assert res.objective == max([res.merged_objective, *res.shard_objectives])
    assert res.chosen == "merged" or res.chosen.startswith("shard ")
    again = greedi(X, 40, 4, seed=1)
    assert np.array_equal(res.indices, again.indices) and res.objective == again.objective
    assert not np.array_equal(res.indices, greedi(X, 40, 4, seed=2).indices)


def test_greedi_is_close_to_centralized_greedy(blobs):
    X, _ = blobs(5000, 8, seed=4)
    res = greedi(X, 50, 5, seed=0, compare_centralized=True)
    assert res.ratio_to_centralized >= 0.98
    # the same comparison without the constant: total distance to the nearest pick (k-medoids cost)
    n, c = len(X), res.constant
    assert (n * c - res.objective) <= 1.1 * (n * c - res.centralized_objective)


def test_one_shard_is_centralized_greedy(blobs):
    X, _ = blobs(1500, 4)
    res = greedi(X, 15, 1, seed=0)
    central = facility_location_part(X, 15, seed=0)
    assert set(res.indices.tolist()) == set(central.indices.tolist())


def test_weighted_merge_and_kappa(blobs):
    X, _ = blobs(3000, 4)
    res = greedi(X, 30, 3, kappa=20, weighted_merge=False, seed=0)
    assert res.kappa == 20 and len(res.indices) == 30
    assert res.chosen == "merged"  # a shard solution has only 20 picks


def test_too_many_shards_are_reduced(blobs):
    X, _ = blobs(100, 3)
    assert greedi(X, 30, 10).n_shards == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "greedi: k must be an int ≥ 1, got 0"),
        ({"k": 501}, "cannot pick 501 of 500 points"),
        ({"n_shards": 0}, "greedi: n_shards must be an int ≥ 1, got 0"),
        ({"kappa": 2, "n_shards": 2}, "cannot hold k=10 points"),
        ({"metric": "precomputed"}, "not metric='precomputed'"),
        ({"optimizer": "random_greedy"}, "monotone greedy optimizer"),
    ],
)
def test_greedi_bad_input(kwargs, message, blobs):
    X, _ = blobs(500, 3)
    args = {"k": 10, "n_shards": 4, **kwargs}
    with pytest.raises(LessdataError, match=message):
        greedi(X, args.pop("k"), args.pop("n_shards"), **args)


def test_greedi_method_through_select(blobs):
    X, y = blobs(3000, 5)
    cs = lessdata.select(X, fraction=0.02, method="greedi", n_shards=3, seed=0)
    assert len(cs) == 60 and cs.method == "greedi" and cs.partition is None
    assert float(cs.weights.sum()) == pytest.approx(3000)
    assert cs.params["greedi"]["n_shards"] == 3 and cs.objective == pytest.approx(cs.gains.sum())
    per_class = lessdata.select(X, fraction=0.02, method="greedi", labels=y, n_shards=2, seed=0)
    assert sum(per_class.partition_counts().values()) == 60
    assert float(per_class.weights.sum()) == pytest.approx(3000)
    assert len(per_class.params["greedi"]) == len(np.unique(y))
    assert per_class == lessdata.select(X, fraction=0.02, method="greedi", labels=y, n_shards=2, seed=0)


def test_dense_similarity_agrees_with_the_evaluator_on_one_part(blobs):
    # the shard similarity (max distance of the shard) and the full one (double sweep) differ only by a
    # constant per point, so the greedy picks are the same whichever is used
    X, _ = blobs(600, 4)
    S = dense_similarity(X)
    picks = maximize(FacilityLocation(S), 12, "naive").indices
    c = euclidean_constant(X)
    full = FacilityLocation(brute_similarity(X, "euclidean", c))
    assert np.array_equal(picks, maximize(full, 12, "naive").indices)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "rbf"])
def test_knn_evaluation_agrees_with_exact(metric, blobs, monkeypatch):
    g = importlib.import_module("lessdata.submodular.evaluation")
    X, _ = blobs(6000, 6, seed=5)
    sels = [np.arange(0, 6000, 40), np.arange(7, 6000, 13)]  # 150 picks, 462 picks (flat indexes)
    exact = evaluate_facility_location(X, sels, metric, constant=60.0)
    knn = evaluate_facility_location(X, sels, metric, constant=60.0, method="knn", n_neighbors=4)
    for e, k in zip(exact, knn):
        assert k.value == pytest.approx(e.value, rel=1e-5)  # the nearest pick is found: same value
        assert np.allclose(k.weights, e.weights)
        assert k.gains.sum() == pytest.approx(e.value, rel=1e-5)
    monkeypatch.setattr(g, "KNN_FLAT_LIMIT", 100)  # IVF for the 462 picks: approximate nearest neighbours
    ivf = evaluate_facility_location(X, sels, metric, constant=60.0, method="knn")
    assert ivf[1].value == pytest.approx(exact[1].value, rel=0.02)


def test_evaluation_on_a_sample_of_points(blobs):
    X, _ = blobs(5000, 4)
    sel = np.arange(0, 5000, 50)
    sample = np.random.default_rng(0).choice(5000, 1000, replace=False)
    full = evaluate_facility_location(X, [sel])[0].value
    part = evaluate_facility_location(X, [sel], points=sample)[0].value
    assert part * 5 == pytest.approx(full, rel=0.01)
    assert evaluate_facility_location(X, [sel], points=np.arange(5000))[0].value == pytest.approx(full, rel=1e-9)


def test_greedi_knn_evaluation(blobs):
    X, _ = blobs(3000, 5)
    exact = greedi(X, 30, 3, seed=0, evaluation="exact")
    knn = greedi(X, 30, 3, seed=0, evaluation="knn")
    assert knn.evaluation == "knn" and exact.evaluation == "exact"
    assert np.array_equal(knn.indices, exact.indices) and knn.objective == pytest.approx(exact.objective, rel=1e-5)


def test_greedi_and_evaluation_reject_precomputed_and_unknown_evaluation():
    from lessdata.submodular.greedi import evaluate_facility_location, greedi

    X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    with pytest.raises(LessdataError, match="unknown evaluation 'magic'; choose one of: auto, exact, knn"):
        greedi(X, 5, 2, evaluation="magic")
    with pytest.raises(LessdataError, match="unknown evaluation 'magic'"):
        evaluate_facility_location(X, [[0, 1]], method="magic")
    with pytest.raises(LessdataError, match="not metric='precomputed'"):
        greedi(X, 5, 2, metric="precomputed")
