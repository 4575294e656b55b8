"""Coresets for data augmentation (Liu & Mirzasoleiman, NeurIPS 2022, "Data-Efficient Augmentation for
Training Neural Networks"; reference code ``tianyu139/data-efficient-augmentation``, ``main.py`` and
``utils/subset.py``, which this follows).

Every ``every`` epochs (the reference's ``-R``; its default is 1, its example script uses 5) a subset of size
``B = int(fraction * n)`` is picked with the current model, and the next epochs train on

    the main part  +  one strongly augmented copy of every picked example   (appended, not replacing)

- ``picks="coreset"``: CRAIG per class on the last-layer gradients (softmax - one-hot), through
  :func:`~lessdata.training.gradient_selector` (the reference's ``get_coreset(..., equal_num=True)``);
  ``"random"``: ``B`` examples uniformly at random; ``"maxloss"``: the ``B`` examples of highest loss.
- ``main="full"`` (every example, weight 1), ``"subset"`` (the picks themselves, with the coreset's weights
  rescaled to mean 1: the reference's ``--subset_main_dataset``) or ``"random"`` (a random subset of the same
  size: ``--override_subset_main_random``).
- Augmented copies get weight 1 (the reference's default; its ``--enable_coreset_augment_weights`` is off).

The epoch is a Coreset over an :class:`~lessdata.shaping.augment.AugmentedView` (``2n`` indices), so
:func:`coreset_augmentation` is just :class:`~lessdata.training.EveryKEpochs` around :func:`augment_selector`,
and selection time is counted by :func:`~lessdata.training.fit` like any schedule's.

Deliberate departures: the reference's fallback to a random subset when CRAIG raises is not copied (an error
is reported instead); the gradient is the logits' (the reference's default ``use_linear=False``); the
reference's ``B`` becomes at least 1.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice
from ..errors import LessdataError
from ..signals import record_checkpoint
from ..training import EveryKEpochs, gradient_selector
from .augment import appended_copies

__all__ = ["PICKS", "MAIN_PARTS", "augment_selector", "coreset_augmentation"]

PICKS = ("coreset", "random", "maxloss")
MAIN_PARTS = ("full", "subset", "random")


def augment_selector(data, labels, *, fraction: float, picks: str = "coreset", main: str = "full", seed: int = 0,
                     batch_size: int = 512, device=None):
    """``selector(model) -> Coreset`` over the augmented view of ``data`` (see the module docstring)."""
    check_choice(picks, PICKS, "picks")
    check_choice(main, MAIN_PARTS, "main")
    labels = np.asarray(labels)
    n = int(labels.shape[0])
    if n != len(data):
        raise LessdataError(f"labels has {n} entries but the data has {len(data)} examples")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise LessdataError(f"fraction must be a number in (0, 1], got {fraction!r}")
    budget = max(1, int(n * fraction))
    craig = gradient_selector(data, labels, budget=budget, method="craig", seed=seed, batch_size=batch_size,
                              device=device) if picks == "coreset" else None
    state = {"round": 0}

    def select(model):
        rng = np.random.default_rng([seed, state["round"]])
        state["round"] += 1
        weights = None
        if picks == "coreset":
            coreset = craig(model)
            chosen, weights = coreset.indices, coreset.weights
        elif picks == "random":
            chosen = rng.choice(n, size=budget, replace=False)
        else:
            losses = record_checkpoint(model, data, labels, batch_size=batch_size, device=device).loss[:, 0]
            chosen = np.argsort(losses, kind="stable")[-budget:]
        if main == "full":
            main_part, main_weights = np.arange(n), None
        elif main == "subset":
            main_part, main_weights = chosen, weights
        else:
            main_part, main_weights = rng.choice(n, size=budget, replace=False), None
        return appended_copies(n, main_part, chosen, main_weights, method=f"{picks}_augment",
                               params={"fraction": fraction, "picks": picks, "main": main}, seed=seed)

    return select


def coreset_augmentation(data, labels, *, fraction: float, every: int = 1, picks: str = "coreset",
                         main: str = "full", seed: int = 0, **kwargs) -> EveryKEpochs:
    """The Liu & Mirzasoleiman loop as a schedule: train with it on ``AugmentedView(data, augment)``.

    Example::

        view = AugmentedView(train_set, TrivialAugment())
        schedule = coreset_augmentation(train_set, labels, fraction=0.1, every=5)
        fit(model, view, test_set, schedule=schedule, epochs=30)
    """
    return EveryKEpochs(augment_selector(data, labels, fraction=fraction, picks=picks, main=main, seed=seed,
                                         **kwargs), k=every)
