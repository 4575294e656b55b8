"""Tiny image sets and networks for the distillation tests (a few milliseconds per forward pass)."""

import pytest
import torch

from lessdata.models import ConvNet


def toy_images(n_per_class: int = 12, size: int = 8, seed: int = 0, classes: int = 2):
    """Class c: a bright block in quadrant c plus noise."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n_per_class * classes, 1, size, size, generator=g) * 0.3
    y = torch.arange(classes).repeat_interleave(n_per_class)
    half = size // 2
    for c in range(classes):
        r, col = divmod(c, 2)
        X[y == c, :, r * half:(r + 1) * half, col * half:(col + 1) * half] += 1.0
    return X, y


def tiny_net(outputs: int = 2, size: int = 8, width: int = 4, depth: int = 2):
    return lambda: ConvNet(in_channels=1, image_size=size, num_classes=outputs, width=width, depth=depth)


@pytest.fixture
def toy():
    return toy_images()


@pytest.fixture
def net():
    return tiny_net()
