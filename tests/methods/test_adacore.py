"""AdaCore: facility location on Hessian-preconditioned gradients."""

import numpy as np
import pytest
import torch
from torch import nn

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.adacore import precondition_gradients
from lessdata.training import EveryKEpochs, adacore_selector


def three_groups(seed=0):
    """A (30 points) and B (30) differ by 1 along the flat axis 1; C (5) is 10 away along the sharp axis 0."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0]] * 30 + [[0.0, 1.0]] * 30 + [[10.0, 0.0]] * 5)
    return (centers + rng.normal(scale=0.01, size=centers.shape)).astype(np.float32), np.repeat([0, 1, 2], [30, 30, 5])


def test_preconditioning_divides_each_column_by_its_damped_curvature():
    G = np.array([[4.0, 4.0], [2.0, -6.0]], dtype=np.float32)
    out = precondition_gradients(G, np.array([1.0, 3.0]), damping=1.0)  # denominator [1 + 2, 3 + 2]
    np.testing.assert_allclose(out, [[4 / 3, 4 / 5], [2 / 3, -6 / 5]], rtol=1e-6)
    assert out.dtype == np.float32


def test_curvature_changes_which_differences_count():
    """Raw gradients: C is far away, so CRAIG covers it. Divided by the curvature [100, 1], C's distance shrinks
    to 0.1 while A–B stays 1: AdaCore covers A and B instead."""
    G, group = three_groups()
    craig = lessdata.select(G, budget=2, method="craig", seed=0)
    adacore = lessdata.select(G, budget=2, method="adacore", curvature=np.array([100.0, 1.0]), damping=0.0, seed=0)
    assert 2 in group[craig.indices]
    assert sorted(group[adacore.indices].tolist()) == [0, 1]
    assert float(adacore.weights.sum()) == pytest.approx(65.0)  # cluster sizes cover every point
    assert adacore.params["damping"] == 0.0 and "ndarray" in adacore.params["curvature"]


def test_without_curvature_it_is_facility_location_on_the_given_rows():
    G, group = three_groups(seed=1)
    same = lessdata.select(G, budget=3, method="adacore", labels=group % 2, seed=0)
    craig = lessdata.select(G, budget=3, method="craig", labels=group % 2, seed=0)
    assert np.array_equal(same.indices, craig.indices) and np.array_equal(same.weights, craig.weights)
    scaled = lessdata.select(G, budget=3, method="adacore", labels=group % 2, seed=0,
                             curvature=np.array([2.0, 2.0]))  # a uniform curvature changes nothing
    assert np.array_equal(scaled.indices, craig.indices)


def test_selector_keeps_a_running_curvature_across_calls():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 6)).astype(np.float32)
    y = np.arange(90) % 3
    selector = adacore_selector((X, y), fraction=0.1, batch_size=32, seed=0)
    schedule = EveryKEpochs(selector, k=1)
    first = schedule.coreset_for_epoch(0, model)
    assert len(first) == 9 and first.method == "adacore" and first.n == 90
    assert selector.ema.steps == 3 and selector.ema.curvature.shape == (3 * 8 + 3,)
    schedule.coreset_for_epoch(1, model)
    assert selector.ema.steps == 6
    logits_only = adacore_selector(X, y, budget=6, full=False, batch_size=90)(model)
    assert len(logits_only) == 6 and sorted(logits_only.partition_counts().values()) == [2, 2, 2]


@pytest.mark.parametrize("params, message", [
    ({"curvature": np.ones(3)}, "curvature has 3 entries but the gradients have 2 columns"),
    ({"curvature": np.array([1.0, np.nan])}, "finite and non-negative"),
    ({"curvature": np.array([1.0, 1.0]), "damping": -0.5}, "damping"),
    ({"metric": "precomputed"}, "precomputed"),
    ({"curvatures": np.ones(2)}, "unknown parameter"),
])
def test_bad_inputs_get_one_line_errors(params, message):
    G, _ = three_groups()
    with pytest.raises(LessdataError, match=message) as info:
        lessdata.select(G, budget=2, method="adacore", **params)
    assert "\n" not in str(info.value)
