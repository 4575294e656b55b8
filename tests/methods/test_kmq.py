import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.kmq import allocate, cluster_scores, next_round, round_sizes, sample_clusters
from lessdata.submodular.partition import split_budget


def blobs(sizes, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(s, d)) * 0.05 + 10 * i for i, s in enumerate(sizes)])
    return X.astype("float32")


def test_static_budget_is_spread_by_cluster_size_exactly():
    sizes = [200, 100, 50, 30, 20]
    X = blobs(sizes)
    cs = lessdata.select(X, budget=41, method="kmq", n_clusters=5, restarts=3, seed=1)
    assert len(cs) == 41 and len(np.unique(cs.indices)) == 41
    truth = np.repeat(np.arange(5), sizes)
    got = np.bincount(truth[cs.indices], minlength=5)
    # 41 * size / 400 = 20.5, 10.25, 5.125, 3.075, 2.05 -> floors 20, 10, 5, 3, 2 (+1 to the largest remainder)
    assert got.tolist() == [21, 10, 5, 3, 2]
    assert cs.params["clusters"] == 5
    # the same seed gives the same picks; another seed other picks
    again = lessdata.select(X, budget=41, method="kmq", n_clusters=5, restarts=3, seed=1)
    assert again.indices.tolist() == cs.indices.tolist()


def test_quality_steers_the_picks_within_a_cluster():
    X = blobs([100, 100])
    quality = np.zeros(200)
    quality[[0, 1, 2, 3, 100, 101, 102, 103]] = 1.0
    cs = lessdata.select(X, budget=8, method="kmq", n_clusters=2, restarts=3, quality=quality)
    assert sorted(cs.indices.tolist()) == [0, 1, 2, 3, 100, 101, 102, 103]
    with pytest.raises(LessdataError, match="quality must hold 200"):
        lessdata.select(X, budget=8, method="kmq", n_clusters=2, quality=np.ones(5))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=8), st.data())
def test_allocate_is_exact_and_within_capacity(capacity, data):
    capacity = np.array(capacity)
    size = data.draw(st.integers(0, int(capacity.sum())))
    weights = np.array(data.draw(st.lists(st.floats(0, 1), min_size=len(capacity), max_size=len(capacity))))
    counts = allocate(weights, capacity, size, np.random.default_rng(data.draw(st.integers(0, 99))))
    assert counts.sum() == size and (counts <= capacity).all() and (counts >= 0).all()


def test_round_sizes():
    assert round_sizes(10, 3).tolist() == [4, 3, 3]
    assert round_sizes(9, 3).tolist() == [3, 3, 3]
    with pytest.raises(LessdataError, match="cannot be spread"):
        round_sizes(2, 3)
    with pytest.raises(LessdataError, match="rounds must be"):
        round_sizes(10, 0)


def test_iterative_rounds_draw_the_full_share_without_repeats():
    """The paper's per-round size: budget / rounds per round (the reference code draws K times fewer)."""
    assign = np.repeat(np.arange(4), [300, 300, 300, 100])
    n, budget, rounds = len(assign), 400, 4
    sizes = round_sizes(budget, rounds)
    rng = np.random.default_rng(0)
    counts = split_budget(np.bincount(assign), int(sizes[0]), "equal")  # round 1: even over clusters
    assert counts.tolist() == [25, 25, 25, 25]
    picked = sample_clusters(assign, counts, np.ones(n, dtype=bool), rng)
    assert len(picked) == 100
    weights = None
    for size in sizes[1:]:
        # the model falls short on the small cluster: it should get most of the next share
        scores = np.where(assign[picked] == assign[-1], 3.0, 0.0)
        new, weights = next_round(assign, picked, scores, int(size), rng, weights=weights)
        assert len(new) == size
        assert not set(new.tolist()) & set(picked.tolist())
        picked = np.concatenate([picked, new])
    assert len(picked) == budget == len(np.unique(picked))
    # the small cluster (100 examples) is exhausted: its overflow went to the others, still exact
    assert np.bincount(assign[picked], minlength=4)[assign[-1]] == 100
    assert int(allocate([1, 1], [1, 1], 2, rng).sum()) == 2


def test_weight_updates_and_scores():
    assign = np.repeat([0, 1, 2], 10)
    picked = np.array([0, 1, 10])
    assert cluster_scores(assign, picked, np.array([1.0, 3.0, 6.0]), 3).tolist() == [2.0, 6.0, 4.0]
    rng = np.random.default_rng(0)
    _, soft = next_round(assign, picked, np.array([1.0, 3.0, 6.0]), 3, rng)
    e = np.exp([2.0, 6.0, 4.0])
    assert np.allclose(soft, e / e.sum())
    prev = np.array([0.5, 0.25, 0.25])
    _, mult = next_round(assign, picked, np.array([1.0, 3.0, 6.0]), 3, rng, weights=prev,
                         weight_update="multiplicative")
    assert np.allclose(mult, prev * e / (prev * e).sum())
    with pytest.raises(LessdataError, match="3 finite numbers"):
        next_round(assign, picked, np.array([1.0, np.nan, 2.0]), 3, rng)
    with pytest.raises(LessdataError, match="weight_update"):
        next_round(assign, picked, np.ones(3), 3, rng, weight_update="other")
    with pytest.raises(LessdataError, match="cannot draw 40"):
        next_round(assign, picked, np.ones(3), 40, rng)


def test_bad_parameters():
    X = blobs([20, 20])
    with pytest.raises(LessdataError, match="n_clusters"):
        lessdata.select(X, budget=4, method="kmq", n_clusters=0)
    with pytest.raises(LessdataError):
        lessdata.select(X, budget=41, method="kmq", n_clusters=2)
