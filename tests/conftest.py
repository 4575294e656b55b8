import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# "lessdata" (the default, what `make test` and CI run): the same examples on every run, so that a result is
# reproducible; "explore" (HYPOTHESIS_PROFILE=explore make test): new random examples on every run
settings.register_profile(
    "lessdata", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("explore", parent=settings.get_profile("lessdata"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lessdata"))


def make_blobs(n, d, centers=10, std=2.0, seed=0):
    """Gaussian blobs (the engine benchmark's input), float32, with their blob labels."""
    rng = np.random.default_rng(seed)
    c = rng.normal(scale=10.0, size=(centers, d))
    labels = rng.integers(centers, size=n)
    return (c[labels] + rng.normal(scale=std, size=(n, d))).astype(np.float32), labels


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models on 2 shared cores: torch's intra-op threads only contend (a step can take 100x longer)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def one_faiss_thread():
    """faiss k-means on test-sized data spends ~1 s per call spinning OpenMP threads on 2 busy cores; one
    thread takes milliseconds (measured: prototypes on 60 points, 1.0 s -> 0.002 s)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


@pytest.fixture
def blobs():
    return make_blobs


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits scaled to [0, 1], in a fixed shuffled order: (train, test) TensorDatasets."""
    import torch
    from sklearn.datasets import load_digits
    from torch.utils.data import TensorDataset

    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X = torch.tensor(X[order] / 16.0, dtype=torch.float32)
    y = torch.tensor(y[order], dtype=torch.long)
    return TensorDataset(X[:1400], y[:1400]), TensorDataset(X[1400:], y[1400:])


@pytest.fixture
def make_mlp():
    """A small seeded 64 → 32 → 10 MLP factory for the digits fixture."""
    import torch
    from torch import nn

    def make(seed: int = 0):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    return make
