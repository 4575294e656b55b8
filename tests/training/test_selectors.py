"""Model selectors: one mechanism (signal + extras -> select()) and one seeding rule for all five."""

import numpy as np
import pytest
import torch
from torch import nn

import lessdata
from lessdata.errors import LessdataError
from lessdata.signals import last_layer_gradients, last_layer_inputs
from lessdata.training import (
    EveryKEpochs,
    ModelSelector,
    adacore_selector,
    call_seed,
    crest_selector,
    glister_selector,
    gradient_selector,
    gradmatch_selector,
)
from lessdata.training.selectors import HessianCurvature, SelectorCall, last_layer_signal


def problem(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(90, 6)).astype(np.float32), np.arange(90) % 3
    Xv, yv = rng.normal(size=(24, 6)).astype(np.float32), np.arange(24) % 3
    return model, X, y, Xv, yv


def test_call_seed_is_the_seed_sequence_rule():
    assert call_seed(7, 3) == int(np.random.SeedSequence([7, 3]).generate_state(1)[0])
    assert len({call_seed(0, t) for t in range(50)}) == 50


def _by_hand(method, model, X, y, t, seed, full=False, per_class=True, **params):
    """What call t of a selector must return: select() on the model's gradients with call_seed(seed, t)."""
    G = last_layer_gradients(model, (X, y), y, full=full)
    return lessdata.select(G, budget=9, method=method, labels=y if per_class else None, seed=call_seed(seed, t),
                           **params)


@pytest.mark.parametrize("make, method, kwargs", [
    (gradient_selector, "craig", {}),
    (gradient_selector, "random", {"method": "random"}),
    (crest_selector, "crest", {"minibatch_size": 5}),
    (gradmatch_selector, "gradmatch", {"first": "model"}),
])
def test_every_call_is_select_on_the_models_signal_with_the_call_seed(make, method, kwargs):
    model, X, y, _, _ = problem()
    selector = make((X, y), budget=9, seed=5, **kwargs)
    params = {k: v for k, v in kwargs.items() if k not in ("method", "first")}
    full = method == "gradmatch"  # gradmatch_selector uses weight and bias gradients by default
    for t in range(3):
        got = selector(model)
        assert got == _by_hand(method, model, X, y, t, 5, full=full, **params)
        assert got.seed == call_seed(5, t)
    assert selector.calls == 3


def test_glister_selector_matches_select_on_the_validation_logits():
    model, X, y, Xv, yv = problem()
    h, z, labels = last_layer_inputs(model, (Xv, yv), yv)
    for gradients in ("full", "logits"):
        full = gradients == "full"
        selector = glister_selector((X, y), budget=9, validation=(Xv, yv), seed=2, gradients=gradients,
                                    first="model")
        for t in range(2):
            expected = _by_hand("glister", model, X, y, t, 2, full=full, per_class=False, eta=0.1, update="exact",
                                validation_logits=z, validation_labels=labels,
                                validation_features=h if full else None)
            assert selector(model) == expected


@pytest.mark.parametrize("make", [gradmatch_selector, glister_selector])
def test_reference_selectors_start_from_a_random_subset(make):
    """CORDS' rule: call 0 is select(method='random') with the call seed (no signal); call 1 uses the model."""
    model, X, y, Xv, yv = problem()
    selector = make((X, y), budget=9, seed=6)
    first = selector(model)
    per_class = make is gradmatch_selector
    assert first == lessdata.select(None, budget=9, method="random", n=len(y), labels=y if per_class else None,
                                    seed=call_seed(6, 0))
    assert selector(model).method == make.__name__.split("_")[0] and selector.calls == 2


def test_class_row_gradients_are_the_own_class_block_of_the_full_gradient():
    model, X, y, _, _ = problem()
    G = last_layer_gradients(model, (X, y), y, full=True)  # (n, C*h + C), weight rows then bias
    C, h = 3, 8
    expected = np.stack([np.concatenate([G[i, y[i] * h:(y[i] + 1) * h], G[i, C * h + y[i]: C * h + y[i] + 1]])
                         for i in range(len(y))])
    selector = gradmatch_selector((X, y), budget=9, gradients="class_row", first="model", seed=1)
    got = selector(model)
    want = lessdata.select(expected, budget=9, method="gradmatch", labels=y, seed=call_seed(1, 0))
    assert np.array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.weights, want.weights, rtol=1e-4)
    with pytest.raises(LessdataError, match="gradients must be one of"):
        gradmatch_selector((X, y), budget=9, gradients="rows")


def test_adacore_selector_matches_select_on_its_curvature():
    model, X, y, _, _ = problem()
    selector = adacore_selector((X, y), budget=9, seed=1)
    twin = HessianCurvature()  # the same running estimate, fed the same Hutchinson draws
    for t in range(2):
        call = SelectorCall((X, y), y, t, call_seed(1, t), None, 512, None)
        extras = twin(model, call)
        assert selector(model) == _by_hand("adacore", model, X, y, t, 1, full=True, **extras)
    assert selector.ema.steps == twin.ema.steps == 2


def test_same_seed_same_coresets_and_fresh_draws_per_call():
    model, X, y, _, _ = problem()
    a, b = crest_selector((X, y), budget=9, seed=3, minibatch_size=3), crest_selector((X, y), budget=9, seed=3,
                                                                                      minibatch_size=3)
    first = [a(model) for _ in range(3)]
    assert first == [b(model) for _ in range(3)]
    assert len({tuple(sorted(cs.indices.tolist())) for cs in first}) > 1  # not one subset repeated


def test_labels_are_read_from_the_data_once():
    model, X, y, _, _ = problem()
    selector = gradient_selector((X, y), budget=9)
    schedule = EveryKEpochs(selector, k=1)
    schedule.coreset_for_epoch(0, model)
    assert np.array_equal(selector.labels, y)
    with pytest.raises(LessdataError, match="pass labels=, or data that yields"):
        gradient_selector(X, budget=9)(model)


def test_a_custom_signal_and_extras():
    model, X, y, _, _ = problem()
    seen = []

    def extras(model, call):
        seen.append((call.number, call.seed))
        return {"metric": "cosine"}

    selector = ModelSelector((X, y), "facility_location", last_layer_signal(), extras=extras, budget=6, seed=4,
                             per_class=False)
    cs = selector(model)
    assert seen == [(0, call_seed(4, 0))] and cs.params["metric"] == "cosine" and cs.partition is None


@pytest.mark.parametrize("make, kwargs, message", [
    (gradient_selector, {"method": "magic"}, "unknown method 'magic'"),
    (gradient_selector, {"optimizer": "fastest"}, "method 'craig': optimizer must be one of"),
    (crest_selector, {"minibatch_size": 0}, "method 'crest': minibatch_size must be an int ≥ 1, got 0"),
    (glister_selector, {"eta": -1.0}, "method 'glister': eta must be a number > 0"),
    (gradmatch_selector, {"seed": -1}, "seed must be a non-negative integer"),
    (gradmatch_selector, {"first": "warm"}, "first must be one of"),
])
def test_bad_parameters_fail_when_the_selector_is_built(make, kwargs, message):
    _, X, y, _, _ = problem()
    with pytest.raises(LessdataError, match=message):
        make((X, y), budget=9, **kwargs)
