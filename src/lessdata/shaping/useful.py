"""USEFUL: upsample the slow-learnable examples once, then retrain from scratch; and its baselines.

USEFUL (UpSample Early For Uniform Learning; Nguyen, Haddad, Gan & Mirzasoleiman, NeurIPS 2024, "Changing
the Training Data Distribution to Reduce Simplicity Bias Improves In-distribution Generalization"): train
briefly, split every class into fast- and slow-learnable examples (:mod:`lessdata.shaping.separation`), then
train a fresh model on the data in which every slow-learnable example appears ``1 + factor`` times per epoch
(the paper's upsampling factor is 2, i.e. one extra copy: ``factor=1``).

The training set is a :class:`~lessdata.Coreset` over all examples with *multiplicities*: CoresetLoader,
fit() and the Lightning callback visit an example with multiplicity ``m`` exactly ``m`` times per epoch, at
its unchanged weight (so an upsampled epoch has more steps, as in the paper).

Baselines next to it:

- :func:`random_upsampling` — the same number of extra copies given to examples drawn uniformly at random
  (the paper's control that it is *which* examples are upsampled that matters);
- :func:`loss_upweighting` — no extra copies; the slow-learnable examples' loss is weighted ``weight`` (×2)
  instead. Loaders rescale weights to mean 1, so this is a *relative* ×2 at an unchanged epoch length.

Deliberate departure: the paper trains with SAM or SGD and standard augmentation on CIFAR-scale ResNets; these
functions only build the training set and leave the optimiser and model to the caller (:func:`run_useful`
uses :func:`~lessdata.training.fit`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..coreset import Coreset
from ..errors import LessdataError
from ..training import SelectOnce, fit
from .separation import Separation, early_separation

__all__ = ["loss_upweighting", "random_upsampling", "run_useful", "useful_coreset"]


def _check_factor(factor) -> int:
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise LessdataError(f"the upsampling factor (extra copies) must be a positive integer, got {factor!r}")
    return int(factor)


def _check_separation(separation) -> Separation:
    if not isinstance(separation, Separation):
        raise LessdataError(f"expected a Separation (see early_separation), got {type(separation).__name__}")
    return separation


def useful_coreset(separation: Separation, factor: int = 1) -> Coreset:
    """Every example once, each slow-learnable one ``1 + factor`` times per epoch.

    Examples:
        >>> sep = Separation(slow=np.array([False, True, False, True]), labels=np.array([0, 0, 1, 1]))
        >>> useful_coreset(sep).multiplicities.tolist()
        [1, 2, 1, 2]
    """
    separation, factor = _check_separation(separation), _check_factor(factor)
    n = separation.n
    return Coreset(indices=np.arange(n), weights=np.ones(n), multiplicities=1 + factor * separation.slow,
                   partition=separation.labels, method="useful",
                   params={"factor": factor, "separation_epoch": separation.epoch}, n=n)


def random_upsampling(n: int, count: int, factor: int = 1, seed: int = 0, labels=None) -> Coreset:
    """Every example once, ``count`` examples drawn uniformly at random ``1 + factor`` times per epoch."""
    factor = _check_factor(factor)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 0 <= count <= n:
        raise LessdataError(f"count must be an integer in [0, {n}], got {count!r}")
    picks = np.random.default_rng(seed).choice(n, size=int(count), replace=False)
    multiplicities = np.ones(n, dtype=np.int64)
    multiplicities[picks] += factor
    return Coreset(indices=np.arange(n), weights=np.ones(n), multiplicities=multiplicities,
                   partition=None if labels is None else np.asarray(labels), method="random_upsampling",
                   params={"factor": factor, "count": int(count)}, seed=seed, n=n)


def loss_upweighting(separation: Separation, weight: float = 2.0) -> Coreset:
    """Every example once; the slow-learnable ones' loss weighted ``weight`` relative to the others."""
    separation = _check_separation(separation)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not np.isfinite(weight) or weight <= 0:
        raise LessdataError(f"weight must be a positive number, got {weight!r}")
    n = separation.n
    return Coreset(indices=np.arange(n), weights=np.where(separation.slow, float(weight), 1.0),
                   partition=separation.labels, method="loss_upweighting", params={"weight": float(weight)}, n=n)


def run_useful(make_model: Callable[[], object], train, test=None, *, epochs: int = 30, separation_epochs: int = 8,
               separation_epoch: int | str = "auto", factor: int = 1, seed: int = 0, **fit_kwargs):
    """The whole USEFUL procedure: an early run of ``separation_epochs`` on ``make_model()``, the split, then a
    fresh ``make_model()`` trained for ``epochs`` on the upsampled data. Returns ``(FitResult, Separation)``."""
    separation = early_separation(make_model(), train, epochs=separation_epochs, epoch=separation_epoch,
                                  seed=seed, **{k: v for k, v in fit_kwargs.items() if k != "progress"})
    coreset = useful_coreset(separation, factor)
    result = fit(make_model(), train, test, schedule=SelectOnce(lambda model: coreset), epochs=epochs, seed=seed,
                 **fit_kwargs)
    return result, separation
