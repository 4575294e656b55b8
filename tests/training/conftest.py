import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset


class IdentityDataset(Dataset):
    """x = [i, i], y = i % 3, so a batch shows which examples it holds."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.tensor([float(i), float(i)]), i % 3


@pytest.fixture
def identity_data():
    return IdentityDataset


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits (shipped with the package): (train, test) TensorDatasets."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.long)
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    X, y = X[order], y[order]
    return TensorDataset(X[:1400], y[:1400]), TensorDataset(X[1400:], y[1400:])


@pytest.fixture
def make_mlp():
    def make(seed: int = 0):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    return make

