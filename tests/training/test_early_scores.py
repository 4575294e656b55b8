"""early_training_scores: independent short runs, averaged, deterministic for a seed; its bad-input errors."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from lessdata.errors import LessdataError
from lessdata.training import early_training_scores

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*")


def _tiny(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 4))


def test_early_training_scores_average_independent_short_runs():
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.normal(size=(40, 6)).astype(np.float32))
    y = torch.from_numpy((rng.random(40) * 4).astype(np.int64))
    data = TensorDataset(X, y)
    runs = early_training_scores(_tiny, data, epochs=1, runs=2, seed=3, batch_size=8, lr=0.05, return_runs=True)
    assert runs.shape == (40, 2) and not np.allclose(runs[:, 0], runs[:, 1])  # different initialisations
    mean = early_training_scores(_tiny, data, epochs=1, runs=2, seed=3, batch_size=8, lr=0.05)
    np.testing.assert_allclose(mean, runs.mean(axis=1), rtol=1e-6)  # and deterministic
    at_init = early_training_scores(_tiny, data, epochs=0, runs=2, score="grand")
    assert at_init.shape == (40,) and (at_init > 0).all()
    with pytest.raises(LessdataError, match="score"):
        early_training_scores(_tiny, data, epochs=1, score="forgetting")
    with pytest.raises(LessdataError, match="runs"):
        early_training_scores(_tiny, data, epochs=1, runs=0)
    with pytest.raises(LessdataError, match="callbacks"):
        early_training_scores(_tiny, data, epochs=1, callbacks=[])
