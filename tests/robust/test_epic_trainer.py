"""EPIC's loop: selections at the reference's epochs, points dropped for good, poison bookkeeping."""

import numpy as np
import pytest
import torch
from torch import nn

from lessdata.data import ArrayDataset
from lessdata.errors import LessdataError
from lessdata.robust import EpicSchedule, EpicTrainer


def data_with_outliers(seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], 50)
    X = (rng.normal(scale=0.3, size=(100, 2)) + 3 * y[:, None]).astype(np.float32)
    X[[7, 60]] = [[-40.0, 30.0], [45.0, -30.0]]  # one isolated point per class
    poisoned = np.zeros(100, dtype=bool)
    poisoned[[7, 60]] = True
    return X, y, poisoned


def test_selection_epochs_follow_drop_after_and_subset_freq():
    X, y, poisoned = data_with_outliers()
    schedule = EpicSchedule(ArrayDataset(X, y), y, subset_size=0.1, subset_freq=3, drop_after=4, stop_after=10)
    model = nn.Linear(2, 2)
    answers = [schedule.coreset_for_epoch(e, model) for e in range(12)]
    assert [entry["epoch"] for entry in schedule.log] == [6, 9]
    assert all(a is None for a in answers[:6])
    assert answers[7] is answers[6] and answers[10] is answers[9]


def test_drops_for_good_and_counts_poisons():
    X, y, poisoned = data_with_outliers()
    schedule = EpicSchedule(ArrayDataset(X, y), y, subset_size=0.1, subset_freq=1, drop_after=0, poisoned=poisoned)
    model = nn.Linear(2, 2)
    nn.init.zeros_(model.bias)
    model.weight.data[:] = 0.1 * torch.eye(2)  # softmax − one-hot: the two outliers far from their class
    first = schedule.coreset_for_epoch(0, model)
    assert 7 not in first.indices and 60 not in first.indices
    assert schedule.log[0]["dropped_poisons"] == 2 and schedule.log[0]["dropped"] == len(schedule.dropped)
    alive = schedule.alive.copy()
    schedule.coreset_for_epoch(1, model)
    assert not (schedule.alive & ~alive).any()  # nothing comes back
    assert sum(e["dropped"] for e in schedule.log) == int((~schedule.alive).sum())
    assert schedule.dropped_poison_share == pytest.approx(2 / len(schedule.dropped))
    assert (schedule.coreset.weights == 1).all()


@pytest.mark.parametrize("kwargs", [{"subset_size": 0}, {"subset_size": 1.2}, {"subset_freq": 0},
                                    {"drop_after": -1}, {"cluster_thresh": -1.0}, {"stop_after": 1.5},
                                    {"poisoned": np.zeros(3, dtype=bool)}, {"poisoned": np.zeros(100)}])
def test_bad_input(kwargs):
    X, y, _ = data_with_outliers()
    with pytest.raises(LessdataError):
        EpicSchedule(ArrayDataset(X, y), y, **kwargs)


def test_trainer_fits():
    X, y, poisoned = data_with_outliers()
    trainer = EpicTrainer(ArrayDataset(X, y), y, poisoned=poisoned, subset_size=0.1, subset_freq=1, drop_after=1)
    model = nn.Linear(2, 2)
    nn.init.zeros_(model.bias)
    model.weight.data[:] = 0.1 * torch.eye(2)
    result = trainer.fit(model, ArrayDataset(X, y), epochs=3, batch_size=32, lr=1e-4)
    assert [r["subset_size"] for r in result.history][0] == 100
    assert result.history[-1]["subset_size"] == int(trainer.schedule.alive.sum()) < 100
