import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.signals.dynamics import DynamicsRecorder


def trajectories(n=40, T=4, seed=0):
    return np.random.default_rng(seed).gamma(2.0, size=(n, T)).astype(np.float32)


@pytest.mark.parametrize("n, k", [(40, 10), (41, 10), (40, 11), (7, 7), (9, 1)])
def test_middle_perplexity_keeps_the_middle_of_the_ranking(n, k):
    X = trajectories(n)
    cs = lessdata.select(X, budget=k, method="middle_perplexity")
    ranks = np.empty(n, dtype=int)
    ranks[np.argsort(X[:, -1])] = np.arange(n)
    chosen = np.sort(ranks[cs.indices])
    assert (np.diff(chosen) == 1).all()  # a contiguous window of the ranking...
    low, high = chosen[0], n - 1 - chosen[-1]
    assert abs(low - high) <= 1  # ...centred on the median


def test_middle_perplexity_per_part_and_column():
    X = trajectories(60)
    labels = np.repeat([0, 1], 30)
    cs = lessdata.select(X, budget=20, method="middle_perplexity", labels=labels, column=1)
    assert cs.partition_counts() == {0: 10, 1: 10}
    for part in (0, 1):
        rows = np.flatnonzero(labels == part)
        ranks = np.empty(30, dtype=int)
        ranks[np.argsort(X[rows, 1])] = np.arange(30)
        chosen = np.sort(ranks[np.searchsorted(rows, cs.indices[cs.partition == part])])
        assert chosen.tolist() == list(range(10, 20))


def test_high_learnability_and_least_confidence_pick_the_top():
    X = trajectories(50)
    cs = lessdata.select(X, budget=10, method="high_learnability")
    drop = X[:, 0] - X[:, -1]
    assert set(cs.indices) == set(np.argsort(-drop)[:10])
    np.testing.assert_allclose(cs.gains, drop[cs.indices], rtol=1e-6)
    cs = lessdata.select(X, budget=10, method="high_learnability", early=1, late=2)
    assert set(cs.indices) == set(np.argsort(-(X[:, 1] - X[:, 2]))[:10])
    cs = lessdata.select(X, budget=10, method="least_confidence")
    assert set(cs.indices) == set(np.argsort(-X[:, -1])[:10])
    assert cs.weights.sum() == pytest.approx(50)


def test_dynamics_recorder_gives_the_same_selection():
    X = trajectories(30)
    rec = DynamicsRecorder(30, fields=("loss",))
    for t in range(X.shape[1]):
        rec.start_column(t)
        rec.update(np.arange(30), losses=X[:, t])
    for method in ("middle_perplexity", "high_learnability", "least_confidence"):
        a = lessdata.select(X, budget=8, method=method, seed=1)
        b = lessdata.select(n=30, budget=8, method=method, dynamics=rec, seed=1)
        assert np.array_equal(a.indices, b.indices), method


def test_middle_perplexity_with_precomputed_scores():
    ppl = np.exp(trajectories(21)[:, -1])
    a = lessdata.select(n=21, budget=5, method="middle_perplexity", scores=ppl)
    b = lessdata.select(trajectories(21), budget=5, method="middle_perplexity")
    assert set(a.indices) == set(b.indices)


def test_errors():
    X = trajectories(20, T=1)
    with pytest.raises(LessdataError, match="at least two checkpoints"):
        lessdata.select(X, budget=5, method="high_learnability")
    with pytest.raises(LessdataError, match="column must be a checkpoint position"):
        lessdata.select(X, budget=5, method="least_confidence", column=3)
    with pytest.raises(LessdataError, match="early must be"):
        lessdata.select(trajectories(20), budget=5, method="high_learnability", early=9)
    with pytest.raises(LessdataError, match="needs features X"):
        lessdata.select(n=20, budget=5, method="middle_perplexity")
