"""CRUST's loop: same-label mixup, warm-up then per-class coresets with radius weights, clean-share
bookkeeping, and bad input."""

import numpy as np
import pytest
import torch
from torch import nn

from lessdata.data import ArrayDataset
from lessdata.errors import LessdataError
from lessdata.methods.crust import radius_weights
from lessdata.robust import CrustSchedule, CrustTrainer, SameLabelMixup, clean_share
from lessdata.signals import last_layer_gradients


def small_data(n=120, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = (rng.normal(size=(n, 4)) + y[:, None]).astype(np.float32)
    return X, y


def test_mixup_partners_share_the_label_and_lambda_mixes():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.array([0, 1, 0, 1, 0, 1])
    ds = SameLabelMixup(ArrayDataset(X, y), y, alpha=2.0, beta=2.0, seed=0)
    idx = [0, 1, 2, 3]
    assert all(y[p] == y[i] for i, p in zip(idx * 20, ds.partners(idx * 20)))
    plain = ds.__getitems__(idx)
    assert all(torch.equal(x, torch.from_numpy(X[i])) for (x, _), i in zip(plain, idx))  # inactive: unchanged
    ds.active = True
    mixed = ds.__getitems__(idx)
    lam = ds.lambdas[-1]
    assert 0 <= lam <= 1 and len(ds.lambdas) == 1
    for (x, label), i in zip(mixed, idx):
        assert int(label) == y[i]
        same = [j for j in range(6) if np.allclose(x.numpy(), lam * X[i] + (1 - lam) * X[j], atol=1e-5)]
        assert same and all(y[j] == y[i] for j in same)  # x = lam x_i + (1 - lam) x_partner, same label
    draws = [SameLabelMixup(ArrayDataset(X, y), y, seed=5).rng.beta(1, 0.1) for _ in range(2)]
    assert draws[0] == draws[1]  # seeded
    lams = np.random.default_rng(0).beta(1.0, 0.1, size=2000)
    assert lams.mean() > 0.85  # Beta(1, 0.1): mostly the original image


def test_schedule_warms_up_then_selects_per_class_with_radius_weights():
    X, y = small_data()
    noisy = y.copy()
    noisy[:12] = (noisy[:12] + 1) % 3
    data = ArrayDataset(X, noisy)
    model = nn.Linear(4, 3)
    schedule = CrustSchedule(data, noisy, fl_ratio=0.3, radius=0.5, warmup=2, true_labels=y)
    assert schedule.coreset_for_epoch(0, model) is None and schedule.coreset_for_epoch(1, model) is None
    cs = schedule.coreset_for_epoch(2, model)
    sizes = np.bincount(noisy)
    assert np.array_equal(np.bincount(noisy[cs.indices], minlength=3), (0.3 * sizes).astype(int))
    grads = last_layer_gradients(model, data, noisy)
    for c in range(3):
        members = np.flatnonzero(noisy == c)
        picked = cs.indices[noisy[cs.indices] == c]
        local = np.searchsorted(members, picked)
        assert cs.weights[noisy[cs.indices] == c].tolist() == radius_weights(grads[members], local, 0.5).tolist()
    assert schedule.clean_shares == [clean_share(cs.indices, noisy, y)]
    assert schedule.coreset_for_epoch(3, model) is not cs and schedule.selections == 2  # every epoch


@pytest.mark.parametrize("kwargs", [{"fl_ratio": 0}, {"fl_ratio": 1.5}, {"radius": 0}, {"radius": -2.0},
                                    {"warmup": -1}, {"true_labels": [0, 1]}])
def test_bad_schedule_input(kwargs):
    X, y = small_data()
    with pytest.raises(LessdataError):
        CrustSchedule(ArrayDataset(X, y), y, **kwargs)


def test_bad_trainer_input():
    X, y = small_data()
    with pytest.raises(LessdataError, match="labels"):
        CrustTrainer(ArrayDataset(X, y), y[:-1])
    with pytest.raises(LessdataError, match="beta"):
        CrustTrainer(ArrayDataset(X, y), y, mixup_beta=0)
    with pytest.raises(LessdataError, match="warmup"):
        CrustTrainer(ArrayDataset(X, y), y, warmup=5).fit(nn.Linear(4, 3), epochs=5)


def test_trainer_runs_mixup_only_after_the_first_selection():
    X, y = small_data()
    trainer = CrustTrainer(ArrayDataset(X, y), y, true_labels=y, warmup=1, fl_ratio=0.5)
    seen = []

    class Watch:
        def on_epoch_start(self, epoch, model, loader):
            seen.append((epoch, trainer.dataset.active, len(loader.indices)))

    result = trainer.fit(nn.Linear(4, 3), ArrayDataset(X, y), epochs=3, batch_size=32, callbacks=[Watch()])
    assert seen == [(0, False, 120), (1, False, 60), (2, True, 60)]
    assert len(trainer.dataset.lambdas) == 2  # two batches of 32 in the one mixup epoch
    assert trainer.clean_shares == [1.0, 1.0] and len(result.history) == 3
    assert not trainer.dataset.active
