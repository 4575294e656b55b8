import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "lessdata", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("lessdata")


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


@pytest.fixture
def blobs():
    return make_blobs
