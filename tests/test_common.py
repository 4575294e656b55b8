"""Common checks over every registered selection method (scikit-learn's ``test_common.py`` pattern).

Each check runs on every name in :func:`lessdata.methods`, so a method registered later is checked without
touching this file. A method's input is built from the signals it declares (``Method.signals``, from the
fixed vocabulary :data:`lessdata.methods.registry.SIGNALS` that :func:`~lessdata.methods.register` enforces):
the first signal with an input builder gives ``X``; the other declared signals may add parameters (caption
embeddings, curvature, a validation set...).
"""

from __future__ import annotations

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods import get_method
from lessdata.methods.registry import SIGNALS

N, D, CLASSES, BUDGET = 60, 6, 3, 12
METHODS = sorted(lessdata.methods())


def _labels(rng):
    return np.repeat(np.arange(CLASSES), N // CLASSES)[rng.permutation(N)]


def _unit(rng, n=N, d=D):
    x = rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _probabilities(rng, n=N):
    logits = rng.normal(size=(n, CLASSES))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def _gradients(rng, labels):
    return (_probabilities(rng, len(labels)) - np.eye(CLASSES, dtype=np.float32)[labels]).astype(np.float32)


# One input builder per signal: ``rng, labels -> X`` (a primary signal: the rows given as X) ...
PRIMARY = {
    "features": lambda rng, y: rng.normal(size=(N, D)).astype(np.float32),
    "embeddings": lambda rng, y: _unit(rng),
    "image_embeddings": lambda rng, y: _unit(rng),
    "last_layer_gradients": _gradients,
    "zeroth_order_gradients": lambda rng, y: rng.normal(size=(N, D)).astype(np.float32),
    "lora_gradients": lambda rng, y: rng.normal(size=(N, D)).astype(np.float32),
    "loss_trajectories": lambda rng, y: np.exp(rng.normal(size=(N, 5))).astype(np.float32),
    "correctness": lambda rng, y: (rng.random((N, 5)) < 0.6).astype(np.float32),
    "confidence_trajectory": lambda rng, y: rng.random((N, 5)).astype(np.float32),
    "probabilities": lambda rng, y: _probabilities(rng),
    "el2n_scores": lambda rng, y: rng.random((N, 2)).astype(np.float32),
    "grand_scores": lambda rng, y: rng.random((N, 2)).astype(np.float32),
}
# ... or ``rng, labels -> {parameter: value}`` (a secondary signal: extra parameters the method reads).
EXTRAS = {
    "text_embeddings": lambda rng, y: {"text": _unit(rng)},
    "hessian_diagonal": lambda rng, y: {"curvature": (rng.random(CLASSES) + 0.5).astype(np.float32)},
    "dynamics": lambda rng, y: {},  # an alternative to X, which the primary signal already gives
}
# Extras a method needs beyond its signals: ``rng, labels -> {parameter: value}``.
METHOD_EXTRAS = {
    # C-RHO compares the final model's image-text scores with a partially trained model's
    "c_rho": lambda rng, y: {"partial_image": _unit(rng), "partial_text": _unit(rng)},
    "less": lambda rng, y: {"target": rng.normal(size=(4, D)).astype(np.float32)},  # target-task gradients
    "targeted": lambda rng, y: {"query": _unit(rng, 5)},  # the rows to select for
}
# Methods whose result size is not the budget, and why.
BUDGET_IS_NOT_SIZE = {
    "epic": "the budget is the number of medoids; EPIC keeps every point outside tiny gradient clusters",
}


def test_every_signal_has_a_builder():
    """The vocabulary and the builders agree, so a new signal name needs a builder here first."""
    assert set(SIGNALS) == set(PRIMARY) | set(EXTRAS)


def _inputs(name: str, seed: int = 0) -> dict:
    """``select()`` keyword arguments (X or n, labels, extras) for method ``name``."""
    cls = get_method(name)
    rng = np.random.default_rng(seed)
    labels = _labels(rng)
    kwargs: dict = {"labels": labels}
    primary = next((s for s in cls.signals if s in PRIMARY), None)
    if primary is None:
        kwargs["n"] = N
    else:
        kwargs["X"] = PRIMARY[primary](rng, labels)
    for signal in cls.signals:
        if signal in EXTRAS and signal != primary:
            kwargs.update(EXTRAS[signal](rng, labels))
    if name in METHOD_EXTRAS:
        kwargs.update(METHOD_EXTRAS[name](rng, labels))
    return kwargs


def _select(name: str, seed: int = 0, **overrides):
    return lessdata.select(**{**_inputs(name), **overrides}, method=name, seed=seed)


# ------------------------------------------------------------------------------------------------ checks
def test_registry_is_not_empty():
    assert len(METHODS) >= 20


@pytest.mark.parametrize("name", METHODS)
def test_signals_are_declared_from_the_vocabulary(name):
    cls = get_method(name)
    assert all(s in SIGNALS for s in cls.signals), cls.signals


def test_register_rejects_an_unknown_signal():
    from lessdata.methods import Method, register

    class Bad(Method):
        name = "_common_check_bad_signal"
        signals = ("featurez",)

    with pytest.raises(TypeError, match="featurez"):
        register(Bad)
    assert Bad.name not in lessdata.methods()


@pytest.mark.parametrize("name", METHODS)
def test_budget_indices_weights(name):
    cs = _select(name, budget=BUDGET)
    assert cs.method == name and cs.n == N
    assert len(cs) == BUDGET or (name in BUDGET_IS_NOT_SIZE and 0 < len(cs) <= N)
    assert len(np.unique(cs.indices)) == len(cs)
    assert cs.indices.min() >= 0 and cs.indices.max() < N
    assert np.isfinite(cs.weights).all() and (cs.weights > 0).all()
    assert len(cs.gains) == len(cs)


@pytest.mark.parametrize("name", METHODS)
def test_deterministic_for_a_seed(name):
    first, second = _select(name, seed=3, budget=BUDGET), _select(name, seed=3, budget=BUDGET)
    assert first == second


@pytest.mark.parametrize("name", METHODS)
def test_fraction_budget(name):
    size = len(_select(name, fraction=0.25))
    assert size == round(0.25 * N) or (name in BUDGET_IS_NOT_SIZE and 0 < size <= N)


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
@pytest.mark.parametrize("name", METHODS)
def test_save_load_round_trip(name, suffix, tmp_path):
    cs = _select(name, budget=BUDGET)
    back = lessdata.Coreset.load(cs.save(tmp_path / f"coreset{suffix}"))
    assert back == cs
    assert back.n == cs.n and back.method == name


@pytest.mark.parametrize("name", METHODS)
def test_unknown_parameter_is_one_clear_error(name):
    with pytest.raises(LessdataError, match="no_such_parameter"):
        _select(name, budget=BUDGET, no_such_parameter=1)


@pytest.mark.parametrize("bad", ["budget_zero", "budget_too_big", "fraction_zero", "fraction_above_one",
                                 "fraction_and_budget"])
@pytest.mark.parametrize("name", METHODS)
def test_bad_budget_is_one_clear_error(name, bad):
    overrides = {"budget_zero": {"budget": 0}, "budget_too_big": {"budget": N + 1},
                 "fraction_zero": {"fraction": 0.0}, "fraction_above_one": {"fraction": 1.5},
                 "fraction_and_budget": {"fraction": 0.2, "budget": BUDGET}}[bad]
    with pytest.raises(LessdataError):
        _select(name, **overrides)


@pytest.mark.parametrize("name", METHODS)
def test_wrong_label_length_is_one_clear_error(name):
    with pytest.raises(LessdataError, match="label"):
        _select(name, budget=BUDGET, labels=np.zeros(N - 1, dtype=np.int64))


@pytest.mark.parametrize("name", METHODS)
def test_nan_features_are_one_clear_error(name):
    kwargs = _inputs(name)
    if "X" not in kwargs:
        pytest.skip(f"{name} reads no features")
    X = kwargs["X"].copy()
    X[1, 0] = np.nan
    with pytest.raises(LessdataError):
        lessdata.select(**{**kwargs, "X": X}, budget=BUDGET, method=name)
