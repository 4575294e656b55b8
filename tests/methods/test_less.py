import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.less import less_scores


def direct_scores(train, target, tasks, weights):
    """Obvious LESS score: per checkpoint cosines, weighted sum, mean per task, max over tasks."""
    C = len(weights)
    w = np.asarray(weights) / np.sum(weights)
    d = train.shape[1] // C
    sim = np.zeros((len(train), len(target)))
    for c in range(C):
        a, b = train[:, c * d:(c + 1) * d], target[:, c * d:(c + 1) * d]
        sim += w[c] * (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T
    return np.max([sim[:, tasks == t].mean(axis=1) for t in np.unique(tasks)], axis=0)


def test_scores_match_a_direct_computation():
    rng = np.random.default_rng(0)
    train, target = rng.normal(size=(50, 12)), rng.normal(size=(7, 12))
    tasks = np.array([0, 0, 1, 1, 1, 2, 2])
    got = less_scores(train, target, tasks, [1.0, 3.0], chunk_size=8)
    assert np.allclose(got, direct_scores(train, target, tasks, [1.0, 3.0]), atol=1e-5)
    # one task, one checkpoint: mean cosine to the target rows
    assert np.allclose(less_scores(train, target), direct_scores(train, target, np.zeros(7), [1.0]), atol=1e-5)


def test_picks_a_planted_on_target_cluster():
    rng = np.random.default_rng(1)
    d = 64
    direction = rng.normal(size=d)
    train = rng.normal(size=(500, d))
    on_target = rng.choice(500, 25, replace=False)
    train[on_target] = direction * 3 + rng.normal(size=(25, d))         # a cluster aligned with the target
    target = direction + 0.3 * rng.normal(size=(10, d))
    # a second target task pointing elsewhere: the per-task max still finds the planted cluster
    other = rng.normal(size=d)
    target = np.concatenate([target, other + 0.3 * rng.normal(size=(10, d))])
    tasks = np.repeat([0, 1], 10)
    cs = lessdata.select(train.astype("float32"), budget=25, method="less", target=target, target_tasks=tasks)
    assert set(cs.indices.tolist()) == set(on_target.tolist())
    assert np.all(np.diff(cs.gains) <= 0)


def test_bad_inputs():
    X = np.random.default_rng(0).normal(size=(20, 6)).astype("float32")
    with pytest.raises(LessdataError, match="target set's gradient features"):
        lessdata.select(X, budget=3, method="less")
    with pytest.raises(LessdataError, match="5 dimensions but the training features have 6"):
        lessdata.select(X, budget=3, method="less", target=np.ones((2, 5)))
    with pytest.raises(LessdataError, match="zero gradient"):
        lessdata.select(X, budget=3, method="less", target=np.zeros((2, 6)))
    with pytest.raises(LessdataError, match="one task per target row"):
        lessdata.select(X, budget=3, method="less", target=np.ones((2, 6)), target_tasks=[0])
    with pytest.raises(LessdataError, match="not a multiple"):
        lessdata.select(X, budget=3, method="less", target=np.ones((2, 6)), checkpoint_weights=[1, 1, 1, 1])
    with pytest.raises(LessdataError, match="checkpoint_weights"):
        lessdata.select(X, budget=3, method="less", target=np.ones((2, 6)), checkpoint_weights=[-1, 1])
    with pytest.raises(LessdataError, match="NaN"):
        lessdata.select(X, budget=3, method="less", target=np.full((2, 6), np.nan))
    with pytest.raises(LessdataError, match="non-empty 2-D"):
        lessdata.select(X, budget=3, method="less", target=np.ones(6))
