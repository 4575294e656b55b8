"""Targeted augmentation: append augmented copies of the slow-learnable part only; and its baselines.

Nguyen et al. (2025, "Do we need all the synthetic data? Towards targeted synthetic image augmentation via
diffusion models") augment only the examples not learned early in training (the slow-learnable part found by
USEFUL's separation, 30-40% of the data) and report that this matches or beats augmenting everything, at a
fraction of the cost. The epoch is "every example, plus one augmented copy of each slow-learnable example";
with :class:`~lessdata.shaping.augment.AugmentedView` it is a Coreset over ``2n`` indices, trained with
:func:`~lessdata.training.fit` like any other.

Baselines: :func:`augment_all` (a copy of every example) and :func:`random_part` (copies of a random part of
the same size as the slow-learnable one).

Deliberate departure: the paper generates the synthetic copies once, offline, with a diffusion model; here the
generator is any ``augment(batch) -> batch`` and a copy is re-generated every time it is read (the built-in one
is a strong augmentation policy, :class:`~lessdata.shaping.augment.TrivialAugment`, since no generative model
runs here). A generator that is expensive should cache its outputs itself.
"""

from __future__ import annotations

import numpy as np

from ..coreset import Coreset
from ..errors import LessdataError
from .augment import appended_copies
from .separation import Separation

__all__ = ["augment_all", "random_part", "targeted_augmentation"]


def targeted_augmentation(separation: Separation) -> Coreset:
    """Every example, plus an augmented copy of each slow-learnable one (indices ``n + i``).

    Examples:
        >>> sep = Separation(slow=np.array([False, True, True]), labels=np.array([0, 0, 0]))
        >>> targeted_augmentation(sep).indices.tolist()
        [0, 1, 2, 4, 5]
    """
    if not isinstance(separation, Separation):
        raise LessdataError(f"expected a Separation (see early_separation), got {type(separation).__name__}")
    n = separation.n
    return appended_copies(n, np.arange(n), separation.slow_indices(), method="targeted_augmentation",
                           params={"separation_epoch": separation.epoch})


def augment_all(n: int) -> Coreset:
    """Every example, plus an augmented copy of every example."""
    return appended_copies(n, np.arange(n), np.arange(n), method="augment_all")


def random_part(n: int, size: int, seed: int = 0) -> Coreset:
    """Every example, plus augmented copies of ``size`` examples drawn uniformly at random."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 <= size <= n:
        raise LessdataError(f"size must be an integer in [0, {n}], got {size!r}")
    picks = np.sort(np.random.default_rng(seed).choice(n, size=int(size), replace=False))
    return appended_copies(n, np.arange(n), picks, method="random_part", params={"size": int(size)}, seed=seed)
