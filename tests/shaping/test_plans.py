"""USEFUL, targeted augmentation and coresets for augmentation: each epoch checked against a direct computation."""

from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import lessdata
from lessdata import LessdataError
from lessdata.shaping import (
    AugmentedView,
    Separation,
    TrivialAugment,
    appended_copies,
    augment_all,
    augment_selector,
    coreset_augmentation,
    loss_upweighting,
    random_part,
    random_upsampling,
    targeted_augmentation,
    useful_coreset,
)
from lessdata.training import CoresetLoader, SelectOnce, fit

N = 12
SLOW = np.array([0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1], dtype=bool)
LABELS = np.arange(N) % 3


def toy():
    X = torch.arange(N * 4, dtype=torch.float32).reshape(N, 4) / 10.0
    return TensorDataset(X, torch.as_tensor(LABELS))


def separation():
    return Separation(slow=SLOW.copy(), labels=LABELS.copy(), epoch=1)


def one_epoch(dataset, coreset, batch_size=5):
    loader = CoresetLoader(dataset, coreset, batch_size=batch_size, return_indices=True, seed=3)
    seen, rows = Counter(), {}
    for x, _, w, idx in loader:
        seen.update(idx.tolist())
        for i, xi, wi in zip(idx.tolist(), x, w.tolist(), strict=True):
            rows.setdefault(i, []).append((xi.clone(), wi))
    return seen, rows


# ------------------------------------------------------------------------------------------------ USEFUL
@pytest.mark.parametrize("factor", [1, 3])
def test_useful_epoch_is_every_example_once_and_slow_ones_again(factor):
    seen, rows = one_epoch(toy(), useful_coreset(separation(), factor))
    direct = Counter({i: 1 + factor * int(SLOW[i]) for i in range(N)})
    assert seen == direct
    assert all(w == 1.0 for visits in rows.values() for _, w in visits)


def test_baselines_against_direct_computation():
    sep = separation()
    up = random_upsampling(N, int(SLOW.sum()), seed=4)
    assert up.epoch_size == N + SLOW.sum() and sorted(set(up.multiplicities.tolist())) == [1, 2]
    picked = np.flatnonzero(up.multiplicities == 2)
    assert np.array_equal(np.sort(np.random.default_rng(4).choice(N, SLOW.sum(), replace=False)), picked)
    weighted = loss_upweighting(sep, 2.0)
    seen, rows = one_epoch(toy(), weighted)
    assert seen == Counter(dict.fromkeys(range(N), 1))
    mean = (N + SLOW.sum()) / N  # weights 2 (slow) and 1 (fast), rescaled to mean 1
    for i, visits in rows.items():
        assert visits[0][1] == pytest.approx((2.0 if SLOW[i] else 1.0) / mean)


@pytest.mark.parametrize("call, match", [
    (lambda: useful_coreset(separation(), 0), "positive integer"),
    (lambda: useful_coreset(separation(), 1.5), "positive integer"),
    (lambda: useful_coreset("not a separation"), "Separation"),
    (lambda: random_upsampling(N, N + 1), "count"),
    (lambda: loss_upweighting(separation(), -1.0), "positive number"),
    (lambda: random_part(N, -1), "size"),
])
def test_bad_plan_inputs(call, match):
    with pytest.raises(LessdataError, match=match):
        call()


# ---------------------------------------------------------------------------------- targeted augmentation
def flip(x):
    return 1.0 - x  # deterministic, so the copies can be checked exactly


def test_targeted_epoch_appends_one_augmented_copy_of_each_slow_example():
    data = toy()
    seen, rows = one_epoch(AugmentedView(data, flip), targeted_augmentation(separation()))
    direct = Counter({**dict.fromkeys(range(N), 1), **{N + i: 1 for i in np.flatnonzero(SLOW)}})
    assert seen == direct
    for i, visits in rows.items():
        x, w = visits[0]
        original = data[i % N][0]
        torch.testing.assert_close(x, flip(original) if i >= N else original)
        assert w == 1.0


def test_augment_all_and_random_part_plans():
    assert augment_all(4).indices.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    part = random_part(N, 5, seed=2)
    picks = np.sort(np.random.default_rng(2).choice(N, 5, replace=False))
    assert part.indices.tolist() == list(range(N)) + (picks + N).tolist()
    cs = appended_copies(4, [0, 2], [2], main_weights=[1.0, 3.0])
    assert cs.weights.tolist() == [0.5, 1.5, 1.0] and cs.partition.tolist() == [0, 0, 1]


@pytest.mark.parametrize("augment, match", [
    (lambda x: x[:, :2], "changed the batch shape"),
    (lambda x: x * float("nan"), "NaN"),
    (lambda x: x.numpy(), "must return a tensor"),
])
def test_bad_augmentation_stops_training(augment, match):
    view = AugmentedView(toy(), augment)
    plan = augment_all(N)
    with pytest.raises(LessdataError, match=match):
        fit(nn.Linear(4, 3), view, epochs=1, batch_size=4, schedule=SelectOnce(lambda m: plan))


def test_trivial_augment_keeps_shape_and_range_and_is_seeded():
    x = torch.rand(16, 1, 12, 12)
    a = TrivialAugment(generator=torch.Generator().manual_seed(0))(x)
    b = TrivialAugment(generator=torch.Generator().manual_seed(0))(x)
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and not torch.equal(a, x)
    for op in ("rotate", "equalize", "posterize", "solarize", "shear_x", "translate_y", "contrast"):
        out = TrivialAugment([op], generator=torch.Generator().manual_seed(1))(x[:, 0])
        assert out.shape == (16, 12, 12) and torch.isfinite(out).all() and not torch.equal(out, x[:, 0]), op
    assert torch.equal(TrivialAugment(["identity"])(x), x)
    with pytest.raises(LessdataError, match="operations"):
        TrivialAugment(["warp"])


# ---------------------------------------------------------------------------------- coreset augmentation
class Fixed(nn.Module):
    """A fixed linear model, so the selections can be recomputed directly."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, -1.0, 0.5, 0.0], [0.0, 1.0, -0.5, 1.0], [-1.0, 0.0, 0.0, 0.5]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(x)


def test_maxloss_picks_are_the_highest_losses_and_main_is_full():
    data, model = toy(), Fixed()
    plan = augment_selector(data, LABELS, fraction=0.25, picks="maxloss")(model)
    losses = nn.functional.cross_entropy(model(data.tensors[0]), data.tensors[1], reduction="none")
    top = set(torch.argsort(losses)[-3:].tolist())
    assert plan.indices[:N].tolist() == list(range(N))
    assert set((plan.indices[N:] - N).tolist()) == top and plan.n == 2 * N


def test_coreset_picks_are_per_class_craig_on_softmax_minus_onehot():
    data, model = toy(), Fixed()
    plan = augment_selector(data, LABELS, fraction=0.5, picks="coreset", main="subset")(model)
    with torch.no_grad():
        grads = (torch.softmax(model(data.tensors[0]), 1) - torch.eye(3)[data.tensors[1]]).numpy()
    direct = lessdata.select(grads, budget=6, method="craig", labels=LABELS, seed=0)
    main = plan.partition == 0
    assert plan.indices[main].tolist() == direct.indices.tolist()
    np.testing.assert_allclose(plan.weights[main], direct.weights / direct.weights.mean(), rtol=1e-6)
    assert (plan.indices[~main] - N).tolist() == direct.indices.tolist()
    assert np.all(plan.weights[~main] == 1.0)


def test_random_picks_and_reselection_every_k_epochs():
    data = toy()
    schedule = coreset_augmentation(data, LABELS, fraction=0.25, every=2, picks="random", main="random", seed=5)
    plans = [schedule.coreset_for_epoch(e, Fixed()) for e in range(4)]
    assert plans[0] is plans[1] and plans[2] is plans[3] and plans[0] is not plans[2]
    assert schedule.selections == 2
    rng = np.random.default_rng([5, 0])
    copies = rng.choice(N, 3, replace=False)
    main = rng.choice(N, 3, replace=False)
    assert plans[0].indices.tolist() == main.tolist() + (copies + N).tolist()


def test_coreset_augmentation_bad_inputs():
    with pytest.raises(LessdataError, match="picks"):
        augment_selector(toy(), LABELS, fraction=0.1, picks="best")
    with pytest.raises(LessdataError, match="fraction"):
        augment_selector(toy(), LABELS, fraction=0.0)
    with pytest.raises(LessdataError, match="labels has 5"):
        augment_selector(toy(), LABELS[:5], fraction=0.5)


def test_run_useful_retrains_a_fresh_model_on_the_upsampled_epoch():
    from lessdata.shaping import run_useful

    rng = np.random.default_rng(0)
    X = np.concatenate([np.c_[s * m + 0.3 * rng.normal(size=30), rng.normal(size=30)]
                        for s in (-1, 1) for m in (3.0, 0.15)]).astype(np.float32)
    data = TensorDataset(torch.as_tensor(X), torch.as_tensor(np.repeat([0, 1], 60)))
    made = []

    def make_model():
        made.append(nn.Linear(2, 2))
        return made[-1]

    result, sep = run_useful(make_model, data, data, epochs=2, separation_epochs=3, separation_epoch=2,
                             lr=0.05, batch_size=16, lr_schedule=None)
    assert len(made) == 2 and made[0] is not made[1]  # the early model is thrown away
    assert [r["epoch_size"] for r in result.history] == [120 + int(sep.slow.sum())] * 2
    assert 0 < sep.slow.sum() < 120
