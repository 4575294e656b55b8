"""Facility location on an on-demand similarity (never stored whole) against the stored dense matrix."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lessdata.errors import LessdataError
from lessdata.submodular import build_similarity, dense_similarity
from lessdata.submodular.functions import FacilityLocation
from lessdata.submodular.optimizers import maximize
from lessdata.submodular.selection import facility_location_part
from lessdata.submodular.similarity import ImplicitSimilarity


def blobs(n, d=8, seed=0, k=6):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=8, size=(k, d))
    return (centers[rng.integers(0, k, n)] + rng.normal(size=(n, d))).astype(np.float32)


@given(n=st.integers(1, 700), m=st.one_of(st.none(), st.integers(1, 300)), d=st.integers(1, 12),
       metric=st.sampled_from(["euclidean", "cosine", "rbf"]), seed=st.integers(0, 100))
@settings(max_examples=40, deadline=None)
def test_rows_and_row_sums_match_the_dense_matrix(n, m, d, metric, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Y = None if m is None else rng.normal(size=(m, d)).astype(np.float32)
    S = dense_similarity(X, Y, metric)
    sim = ImplicitSimilarity(X, Y, metric)
    w = rng.uniform(0, 2, size=n).astype(np.float32)
    sums = sim.row_sums(w)  # first, as facility location does (it finds max(d) for euclidean)
    rows = rng.permutation(S.shape[0])[: min(S.shape[0], 300)]
    atol = 1e-5 * max(1.0, float(np.abs(S).max()))
    np.testing.assert_allclose(sim.rows(rows), S[rows], atol=atol)
    expected = (np.maximum(S, 0).astype(np.float64) * w).sum(axis=1)
    np.testing.assert_allclose(sums, expected, rtol=1e-5, atol=atol * n)
    np.testing.assert_array_equal(ImplicitSimilarity(X, Y, metric).materialize(), S)
    # after the tiled pass, max(d) is that pass's, which can differ from a whole-row product's in the last bit
    np.testing.assert_allclose(sim.materialize(), S, rtol=1e-6, atol=atol)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "rbf"])
@pytest.mark.parametrize("optimizer", ["lazy", "naive", "stochastic", "lazier_than_lazy"])
def test_on_demand_picks_equal_stored_picks(metric, optimizer):
    X = blobs(1200, seed=3)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(X)).astype(np.float32)
    stored = FacilityLocation(dense_similarity(X, metric=metric), weights=w)
    on_demand = FacilityLocation(ImplicitSimilarity(X, metric=metric), weights=w)
    assert on_demand.stored_entries() == 0
    a = maximize(stored, 120, optimizer, seed=4)
    b = maximize(on_demand, 120, optimizer, seed=4)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.gains, b.gains, rtol=1e-4)
    assert on_demand.value() == pytest.approx(stored.value(), rel=1e-6)
    assert on_demand.evaluate(b.indices) == pytest.approx(stored.evaluate(a.indices), rel=1e-6)
    np.testing.assert_array_equal(on_demand.cluster_sizes(b.indices), stored.cluster_sizes(a.indices))
    # the matrix never existed: what is stored is the pruned live share, far below n²
    assert 0 < on_demand.stored_entries() < 0.4 * len(X) ** 2


def test_rectangular_on_demand_matches_stored():
    X, Y = blobs(900, seed=5), blobs(300, seed=6)
    a = FacilityLocation(dense_similarity(X, Y))
    b = FacilityLocation(ImplicitSimilarity(X, Y))
    np.testing.assert_array_equal(maximize(a, 40).indices, maximize(b, 40).indices)
    assert b.value() == pytest.approx(a.value(), rel=1e-6)


def test_mostly_live_similarity_falls_back_to_the_dense_matrix():
    # points around a circle: after any first pick, each point is closer to half of the others than to it
    angle = np.sort(np.random.default_rng(0).uniform(0, 2 * np.pi, 600))  # irregular: no tied gains
    X = np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)
    f = FacilityLocation(ImplicitSimilarity(X))
    ref = FacilityLocation(dense_similarity(X))
    f.add(int(np.argmax(f.gains(np.arange(600)))))
    assert f.rows is not None and not f.sparse and f.stored_entries() == 600 * 600
    f.reset(), ref.reset()
    np.testing.assert_array_equal(maximize(f, 50).indices, maximize(ref, 50).indices)


def test_without_pruning_the_first_pick_stores_the_dense_matrix():
    X = blobs(500)
    f = FacilityLocation(ImplicitSimilarity(X), prune=False)
    f.add(0)
    assert not f.sparse and f.stored_entries() == 500 * 500
    np.testing.assert_array_equal(f.rows[1], dense_similarity(X))


def test_part_selection_switches_to_on_demand_above_the_threshold():
    X = blobs(800, seed=2)
    assert isinstance(build_similarity(X, on_demand_above=0), ImplicitSimilarity)
    assert isinstance(build_similarity(X, on_demand_above=800 * 800 * 4), np.ndarray)
    stored = facility_location_part(X, 80, on_demand_above=None)
    on_demand = facility_location_part(X, 80, on_demand_above=0)
    np.testing.assert_array_equal(stored.indices, on_demand.indices)
    np.testing.assert_array_equal(stored.weights, on_demand.weights)
    assert on_demand.objective == pytest.approx(stored.objective, rel=1e-6)


def test_on_demand_bad_inputs():
    X = blobs(10)
    with pytest.raises(LessdataError, match="precomputed"):
        ImplicitSimilarity(X, metric="precomputed")
    with pytest.raises(LessdataError, match="features"):
        ImplicitSimilarity(X, blobs(5, d=3))
    with pytest.raises(LessdataError, match="unknown metric"):
        ImplicitSimilarity(X, metric="manhattan")


@pytest.mark.parametrize("method", ["facility_location", "craig"])
def test_methods_select_the_same_coreset_with_on_demand_storage(method):
    import lessdata

    X = blobs(1500, seed=8)
    labels = np.arange(len(X)) % 3
    stored = lessdata.select(X, fraction=0.1, method=method, labels=labels, storage="dense")
    on_demand = lessdata.select(X, fraction=0.1, method=method, labels=labels, storage="on_demand")
    assert stored.params["storage_used"] == {"dense": 3} and on_demand.params["storage_used"] == {"on_demand": 3}
    np.testing.assert_array_equal(stored.indices, on_demand.indices)
    np.testing.assert_array_equal(stored.weights, on_demand.weights)
    with pytest.raises(LessdataError, match="storage"):
        lessdata.select(X, fraction=0.1, method=method, storage="disk")


@pytest.mark.parametrize("metric, above", [("euclidean", "on_demand"), ("rbf", "on_demand"), ("cosine", "dense")])
def test_auto_storage_computes_large_distance_similarities_on_demand(monkeypatch, metric, above):
    import lessdata
    from lessdata.methods import facility_location

    X = blobs(900, seed=2)
    labels = np.r_[np.zeros(800, int), np.ones(100, int)]  # one part over the threshold, one under it
    monkeypatch.setattr(facility_location, "AUTO_ON_DEMAND_ABOVE", 4 * 500 * 500)
    cs = lessdata.select(X, fraction=0.1, method="facility_location", metric=metric, labels=labels)
    assert cs.params["storage_used"] == ({"dense": 1, "on_demand": 1} if above == "on_demand" else {"dense": 2})
    dense = lessdata.select(X, fraction=0.1, method="facility_location", metric=metric, labels=labels,
                            storage="dense")
    np.testing.assert_array_equal(cs.indices, dense.indices)
    # wide features: the guess that saves the second pass costs more than storing, so auto stores
    monkeypatch.setattr(facility_location, "AUTO_ON_DEMAND_MAX_FEATURES", X.shape[1] - 1)
    wide = lessdata.select(X, fraction=0.1, method="facility_location", metric=metric, labels=labels)
    assert wide.params["storage_used"] == {"dense": 2}


def test_auto_storage_threshold_is_lower_for_narrow_features_and_absent_for_wide_ones():
    from lessdata.methods.facility_location import on_demand_above
    from lessdata.submodular.similarity import (
        AUTO_ON_DEMAND_ABOVE,
        AUTO_ON_DEMAND_MAX_FEATURES,
        AUTO_ON_DEMAND_NARROW,
        AUTO_ON_DEMAND_WIDE_ABOVE,
    )

    assert AUTO_ON_DEMAND_ABOVE < AUTO_ON_DEMAND_WIDE_ABOVE and AUTO_ON_DEMAND_NARROW < AUTO_ON_DEMAND_MAX_FEATURES
    for metric in ("euclidean", "rbf"):
        assert on_demand_above("auto", metric, AUTO_ON_DEMAND_NARROW) == AUTO_ON_DEMAND_ABOVE
        assert on_demand_above("auto", metric, AUTO_ON_DEMAND_NARROW + 1) == AUTO_ON_DEMAND_WIDE_ABOVE
        assert on_demand_above("auto", metric, AUTO_ON_DEMAND_MAX_FEATURES) == AUTO_ON_DEMAND_WIDE_ABOVE
        assert on_demand_above("auto", metric, AUTO_ON_DEMAND_MAX_FEATURES + 1) is None
    assert on_demand_above("auto", "cosine", 8) is None
    assert on_demand_above("auto", "precomputed", None) is None
    assert on_demand_above("dense", "euclidean", 8) is None
    assert on_demand_above("on_demand", "cosine", 4096) == 0


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "rbf"])
@pytest.mark.parametrize("guess", ["sampled", "wrong"])
def test_first_pass_stores_the_live_rows_when_its_guess_is_the_first_pick(monkeypatch, metric, guess):
    from lessdata.submodular import tiles

    X = blobs(1500, seed=11)
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=len(X)).astype(np.float32)
    stored = FacilityLocation(dense_similarity(X, metric=metric), weights=w)
    f = FacilityLocation(ImplicitSimilarity(X, metric=metric), weights=w)
    first = int(np.argmax(stored.gains(np.arange(len(X)))))
    if guess == "wrong":  # a guess that is not the first pick: its entries are dropped, a second pass runs
        monkeypatch.setattr(f, "_guess_first_pick", lambda: np.array([(first + 1) % len(X), (first + 2) % len(X)]))
    second_passes = []
    real = tiles.live_entries
    monkeypatch.setattr(tiles, "live_entries", lambda *a, **k: second_passes.append(1) or real(*a, **k))
    a, b = maximize(stored, 150, "lazy"), maximize(f, 150, "lazy")
    if guess == "sampled":
        assert first in f._guess_first_pick()  # the sample of points finds the first pick
    assert len(second_passes) == (0 if guess == "sampled" else 1)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.gains, b.gains, rtol=1e-4)
    assert f.value() == pytest.approx(stored.value(), rel=1e-6)
    assert 0 < f.stored_entries() < 0.4 * len(X) ** 2


def test_first_pass_keeps_nothing_when_the_guess_would_leave_most_entries_live():
    angle = np.sort(np.random.default_rng(0).uniform(0, 2 * np.pi, 600))
    X = np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)
    f = FacilityLocation(ImplicitSimilarity(X))
    assert f._guess_first_pick() is None
    f.gains(np.arange(600))
    assert f._early is None


@pytest.mark.parametrize("optimizer, guessed", [("lazy", True), ("naive", True), ("stochastic", False),
                                                ("lazier_than_lazy", False), ("random_greedy", False)])
def test_only_optimizers_whose_first_pick_is_the_best_get_a_guess(monkeypatch, optimizer, guessed):
    from lessdata.submodular import tiles

    X = blobs(800, seed=4)
    kept = []
    real = tiles.row_sums
    monkeypatch.setattr(tiles, "row_sums", lambda *a, **k: kept.append(k.get("keep") is not None) or real(*a, **k))
    f = FacilityLocation(ImplicitSimilarity(X))
    maximize(f, 20, optimizer, seed=1)
    assert any(kept) == guessed  # a sampled first pick would make the kept entries a wasted write
