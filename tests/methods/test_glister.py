"""GLISTER: greedy on the one-step Taylor gain, with the validation gradient re-estimated after each pick."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.glister import GREEDY, FisherValidation, LogitValidation, glister_part
from lessdata.training import EveryKEpochs, glister_selector


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def reference_glister(G, z, y, eta, k):
    """The definition, recomputed from scratch at every step: θ_S = θ − η Σ_S g_j shifts the logits by
    −η Σ_S g_j (logit gradients are bias gradients); pick argmax_i g_i · ∇L_V(θ_S)."""
    chosen = []
    for _ in range(k):
        shift = eta * G[chosen].sum(axis=0) if chosen else 0.0
        r = softmax(z - shift)
        r[np.arange(len(y)), y] -= 1
        scores = G @ r.mean(axis=0)
        scores[chosen] = -np.inf
        chosen.append(int(np.argmax(scores)))
    return chosen


def logit_problem(seed=0, n=60, m=25, C=4):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(n, C)).astype(np.float32)
    z = (2 * rng.normal(size=(m, C))).astype(np.float32)
    y = rng.integers(0, C, size=m)
    return G, z, y


def test_first_pick_is_the_largest_taylor_gain():
    G, z, y = logit_problem()
    r = softmax(z.astype(np.float64))
    r[np.arange(len(y)), y] -= 1
    g_val = r.mean(axis=0)
    cs = lessdata.select(G, budget=1, method="glister", greedy="naive", eta=0.5, validation_logits=z,
                         validation_labels=y)
    assert cs.indices[0] == int(np.argmax(G @ g_val))
    assert cs.gains[0] == pytest.approx(0.5 * float(np.max(G @ g_val)), rel=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_exact_update_follows_the_definition(seed):
    G, z, y = logit_problem(seed)
    cs = lessdata.select(G, budget=12, method="glister", greedy="naive", eta=0.3, validation_logits=z,
                         validation_labels=y)
    assert cs.indices.tolist() == reference_glister(G.astype(np.float64), z.astype(np.float64), y, 0.3, 12)
    assert np.all(cs.weights == 1.0) and cs.objective == pytest.approx(cs.gains.sum())


def test_the_update_changes_the_picks():
    G, z, y = logit_problem(1)
    updated = lessdata.select(G, budget=12, method="glister", greedy="naive", eta=0.3, validation_logits=z,
                              validation_labels=y)
    r = softmax(z.astype(np.float64))
    r[np.arange(len(y)), y] -= 1
    fixed = np.argsort(-(G @ r.mean(axis=0)), kind="stable")[:12]
    assert updated.indices[0] == fixed[0] and updated.indices.tolist() != fixed.tolist()
    no_update = lessdata.select(G, budget=12, method="glister", greedy="naive", update="none",
                                validation_gradients=r.astype(np.float32))
    assert no_update.indices.tolist() == fixed.tolist()


def test_validation_update_on_a_constructed_case():
    # two classes, one validation example of class 0 at logits [0, 0]: ∇L_V = [−½, ½]
    v = LogitValidation(np.zeros((1, 2)), [0], eta=0.5)
    np.testing.assert_allclose(v.gradient(), [-0.5, 0.5])
    v.step(np.array([-2.0, 2.0]))  # θ − η g moves the logits by [+1, −1]
    p0 = 1 / (1 + np.exp(-2.0))
    np.testing.assert_allclose(v.gradient(), [p0 - 1, 1 - p0])
    # the Fisher update: ∇L_V − η (1/m) Σ_v g_v (g_v · g)
    V = np.array([[1.0, 2.0], [3.0, -1.0]])
    f = FisherValidation(V, eta=0.1)
    f.step(np.array([1.0, 1.0]))
    np.testing.assert_allclose(f.gradient(), V.mean(axis=0) - 0.1 * (V.T @ (V @ [1.0, 1.0])) / 2)


def test_full_last_layer_update_matches_autograd():
    """With penultimate features, a step −η g on (W, b) changes the logits by −η (W_g h + b_g): the updated
    validation gradient equals autograd's gradient of the validation loss at the moved parameters."""
    rng = np.random.default_rng(0)
    C, h, m = 3, 5, 7
    H = rng.normal(size=(m, h))
    W, b = rng.normal(size=(C, h)), rng.normal(size=C)
    y = rng.integers(0, C, size=m)
    g = rng.normal(size=C * h + C)
    eta = 0.4
    v = LogitValidation(H @ W.T + b, y, eta=eta, features=H)
    v.step(g)
    W2 = torch.tensor(W - eta * g[: C * h].reshape(C, h), requires_grad=True)
    b2 = torch.tensor(b - eta * g[C * h:], requires_grad=True)
    loss = nn.functional.cross_entropy(torch.tensor(H) @ W2.T + b2, torch.tensor(y))
    loss.backward()
    expected = np.concatenate([W2.grad.numpy().reshape(-1), b2.grad.numpy()])
    np.testing.assert_allclose(v.gradient(C * h + C), expected, rtol=1e-10)
    no_bias = LogitValidation(H @ W.T, y, eta=eta, features=H)
    assert no_bias.gradient(C * h).shape == (C * h,)


def test_stochastic_greedy_is_deterministic_and_picks_distinct_points():
    G, z, y = logit_problem(2, n=300)
    a = lessdata.select(G, budget=20, method="glister", validation_logits=z, validation_labels=y, seed=5)
    b = lessdata.select(G, budget=20, method="glister", validation_logits=z, validation_labels=y, seed=5)
    c = lessdata.select(G, budget=20, method="glister", validation_logits=z, validation_labels=y, seed=6)
    assert a == b and a.indices.tolist() != c.indices.tolist()
    assert len(np.unique(a.indices)) == 20 and a.params["greedy"] == "stochastic"


def test_per_class_parts_use_their_own_validation_rows():
    """Class 0's validation rows pull toward +x, class 1's toward −x: each part follows its own."""
    G = np.array([[1.0, 0.0], [-1.0, 0.0], [0.9, 0.0], [-0.9, 0.0]] * 2, dtype=np.float32)
    labels = np.repeat([0, 1], 4)
    V = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    cs = lessdata.select(G, budget=2, method="glister", greedy="naive", labels=labels, update="none",
                         validation_gradients=V, validation_labels=[0, 1])
    assert cs.indices.tolist() == [0, 5]
    default = lessdata.select(G, budget=4, method="glister", greedy="naive")  # training rows as validation
    assert len(default) == 4


def test_selector_uses_the_models_validation_logits():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 6)).astype(np.float32), np.arange(80) % 3
    Xv, yv = rng.normal(size=(20, 6)).astype(np.float32), np.arange(20) % 3
    schedule = EveryKEpochs(glister_selector((X, y), fraction=0.1, validation=(Xv, yv), eta=0.1, first="model"),
                            k=1)
    first, second = schedule.coreset_for_epoch(0, model), schedule.coreset_for_epoch(1, model)
    assert len(first) == 8 and first.method == "glister" and first.params["update"] == "exact"
    assert first.indices.tolist() != second.indices.tolist()  # fresh stochastic samples per call
    full = glister_selector((X, y), budget=5, gradients="full", per_class=True, greedy="naive", first="model")(model)
    assert len(full) == 5 and full.partition is not None


@pytest.mark.parametrize("params, message", [
    ({"eta": 0.0}, "eta"),
    ({"greedy": "lazy"}, "greedy must be one of 'naive', 'stochastic', got 'lazy'"),
    ({"update": "exact"}, "validation_logits= and validation_labels="),
    ({"validation_logits": np.zeros((2, 3)), "validation_labels": [0, 1]}, "logit gradients need 3"),
    ({"validation_logits": np.zeros((2, 4)), "validation_labels": [0, 7]}, "class ids in \\[0, 4\\)"),
    ({"validation_logits": np.zeros((2, 2)), "validation_labels": [0, 1], "validation_features": np.ones((2, 3))},
     "full last-layer gradients"),
    ({"validation_features": np.ones((2, 3)), "update": "fisher"}, "only used with update='exact'"),
    ({"validation_gradients": np.ones((2, 3))}, "validation_gradients have 3 columns"),
    ({"epsilon": 1.5}, "epsilon"),
])
def test_bad_inputs_get_one_line_errors(params, message):
    G = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    with pytest.raises(LessdataError, match=message) as info:
        lessdata.select(G, budget=3, method="glister", **params)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------- fast vs step by step
def stepwise_glister(G, budget, validation, eta, greedy, epsilon, seed):
    """The greedy loop as first written: Python, one pick at a time, the validation object stepped after each."""
    n, d = G.shape
    rng = np.random.default_rng(seed)
    G64 = G.astype(np.float64)
    remaining = np.ones(n, dtype=bool)
    sample = max(1, int(np.ceil(n / max(budget, 1) * np.log(1.0 / epsilon))))
    picks, gains, gaps = [], [], []
    for _ in range(budget):
        g_val = validation.gradient(d)
        if greedy == "naive" or sample >= int(remaining.sum()):
            cands = np.flatnonzero(remaining)
        else:
            cands = np.sort(rng.choice(np.flatnonzero(remaining), size=sample, replace=False))
        scores = eta * (G64[cands] @ g_val)
        best = int(np.argmax(scores))
        picks.append(int(cands[best]))
        gains.append(float(scores[best]))
        gaps.append(float(scores[best] - np.max(np.delete(scores, best))) if len(scores) > 1 else np.inf)
        remaining[cands[best]] = False
        validation.step(G64[cands[best]])
    return picks, gains, gaps


def assert_same_picks(G, budget, make_validation, eta, greedy, epsilon=0.01, seed=0):
    fast_validation, slow_validation = make_validation(), make_validation()
    fast = glister_part(G, budget, fast_validation, eta=eta, greedy=greedy, epsilon=epsilon, seed=seed)
    picks, gains, gaps = stepwise_glister(G, budget, slow_validation, eta, greedy, epsilon, seed)
    assert len(fast.indices) == len(picks)
    # a step whose best and second-best gains differ by rounding only (e.g. once the validation gradient has
    # vanished to ~1e-16) is decided by the order of float operations, which the compiled loop and this one
    # need not share; from there on the two may take different paths, so they are compared up to it
    stop = next((t for t, gap in enumerate(gaps) if gap < 1e-12), len(picks))
    assert fast.indices.tolist()[:stop] == picks[:stop]
    np.testing.assert_allclose(fast.gains[:stop], gains[:stop], rtol=1e-9, atol=1e-13)
    if stop == len(picks):  # the validation object is left where the step-by-step loop leaves it
        np.testing.assert_allclose(fast_validation.gradient(G.shape[1]), slow_validation.gradient(G.shape[1]),
                                   rtol=1e-9, atol=1e-13)
    return fast, stop


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 70), C=st.integers(2, 6), m=st.integers(1, 25),
       share=st.floats(0.0, 1.0), eta=st.sampled_from([0.05, 0.3, 1.0]), greedy=st.sampled_from(GREEDY),
       epsilon=st.sampled_from([0.01, 0.3]), kind=st.sampled_from(["logits", "fisher", "fisher wide", "none"]))
def test_compiled_greedy_makes_the_step_by_step_picks(seed, n, C, m, share, eta, greedy, epsilon, kind):
    """Same picks, gains and final validation state as the Python loop, for the exact logit update, the Fisher
    update (d ≤ m: precomputed F; d > m: through V) and none; naive and stochastic greedy with a fixed seed."""
    rng = np.random.default_rng(seed)
    budget = int(round(share * n))
    G = rng.normal(size=(n, C)).astype(np.float32)
    z, y = 2.0 * rng.normal(size=(m, C)), rng.integers(0, C, size=m)
    V = rng.normal(size=(1 if kind == "fisher wide" else m + C, C))
    make = {"logits": lambda: LogitValidation(z, y, eta=eta),
            "fisher": lambda: FisherValidation(V, eta=eta),
            "fisher wide": lambda: FisherValidation(V, eta=eta),
            "none": lambda: FisherValidation(V, eta=eta, update=False)}[kind]
    assert_same_picks(G, budget, make, eta, greedy, epsilon, seed)


def test_stochastic_greedy_on_a_larger_part_makes_the_same_picks():
    G, z, y = logit_problem(3, n=2000, m=300, C=10)
    part, compared = assert_same_picks(G, 300, lambda: LogitValidation(z, y, eta=0.1), 0.1, "stochastic", seed=11)
    assert len(set(part.indices.tolist())) == 300 and compared == 300  # no step decided by rounding


def test_rows_whose_normaliser_underflows_are_recomputed_from_their_logits():
    """A huge step shifts the logits by ±500: exp(−1000) underflows in the factored softmax of row 0, which the
    compiled loop then recomputes directly (its true softmax is [½, ½])."""
    G = np.array([[0.5, -0.5], [0.1, 0.2], [-0.3, 0.3], [0.2, 0.1]], dtype=np.float32)
    z, y = np.array([[0.0, -1000.0], [0.0, 0.0]]), np.array([0, 1])
    part, _ = assert_same_picks(G, 3, lambda: LogitValidation(z, y, eta=1000.0), 1000.0, "naive")
    assert part.indices.tolist()[:2] == [0, 2] and part.gains[1] == pytest.approx(1000 * 0.6 * 0.25)


def test_full_last_layer_gradients_and_other_validations_run_step_by_step():
    rng = np.random.default_rng(4)
    C, h, m, n = 3, 4, 9, 30
    H, W = rng.normal(size=(m, h)), rng.normal(size=(C, h))
    y = rng.integers(0, C, size=m)
    G = rng.normal(size=(n, C * h + C)).astype(np.float32)
    assert_same_picks(G, 8, lambda: LogitValidation(H @ W.T, y, eta=0.2, features=H), 0.2, "stochastic", seed=2)

    class Fixed:  # any object with gradient(d) and step(g)
        def gradient(self, d):
            return np.linspace(-1.0, 1.0, d)

        def step(self, g):
            pass

    assert_same_picks(G, 5, Fixed, 0.2, "naive")
    with pytest.raises(LessdataError, match="cannot pick 31 of 30"):
        glister_part(G, 31, Fixed(), eta=0.2)
