"""Per-example scores from early in training (Paul, Ganguli, Dziugaite, 2021, "Deep Learning on a Data Diet:
Finding Important Examples Early in Training"): train several fresh models briefly with :func:`fit`, score
every example with EL2N or GraNd (:mod:`lessdata.signals.dynamics`), and average over the runs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..errors import LessdataError
from ..signals import el2n_scores, grand_scores
from .fit import fit

__all__ = ["early_training_scores"]


def early_training_scores(make_model: Callable, train, *, epochs: int, score: str = "el2n", runs: int = 10,
                          seed: int = 0, last_layer: bool = False, return_runs: bool = False, progress=None,
                          **fit_kwargs) -> np.ndarray:
    """Train ``runs`` fresh models for ``epochs`` epochs each with :func:`~lessdata.training.fit` and score
    every training example with EL2N or GraNd; return the mean over runs (float32 ``(n,)``).

    Paul et al. (2021), "Deep Learning on a Data Diet": scores from early in training, averaged over
    independent runs, find the examples that matter. They use EL2N after 20 of 200 epochs on CIFAR-10
    (``epochs=20``) and GraNd at initialisation (``epochs=0``: no training), each averaged over 10 runs.

    Args:
        make_model: ``() -> nn.Module``, called once per run after seeding torch with the run's seed,
            so each run starts from a different initialisation.
        train: a dataset yielding ``(x, y)`` (what ``fit`` takes); it is scored in order.
        epochs: epochs of training per run before scoring (0: score at initialisation).
        score: ``"el2n"`` or ``"grand"``.
        runs: number of independent runs to average over.
        seed: run ``r`` uses the seed ``SeedSequence([seed, r])`` for initialisation and shuffling.
        last_layer: GraNd over the last layer only (see :func:`~lessdata.signals.grand_scores`).
        return_runs: return the ``(n, runs)`` matrix instead of its mean.
        progress: optional tqdm-compatible object advanced once per run (``total`` is set to ``runs``).
        **fit_kwargs: passed to ``fit`` (``lr``, ``batch_size``, ``optimizer``, ``device``, ...).

    Examples:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> X = torch.randn(32, 4); y = (X[:, 0] > 0).long()
        >>> early_training_scores(lambda: torch.nn.Linear(4, 2), TensorDataset(X, y), epochs=1, runs=2).shape
        (32,)
    """
    if score not in ("el2n", "grand"):
        raise LessdataError(f"unknown score {score!r}; choose one of: el2n, grand")
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
        raise LessdataError(f"runs must be a positive integer, got {runs!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise LessdataError(f"epochs must be a non-negative integer, got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LessdataError(f"seed must be a non-negative integer, got {seed!r}")
    if not callable(make_model):
        raise LessdataError("make_model must be a function returning a fresh model")
    for key in ("epochs", "seed", "callbacks", "schedule"):
        if key in fit_kwargs:
            raise LessdataError(f"early_training_scores does not pass {key}= to fit")
    if progress is not None and hasattr(progress, "total"):
        progress.total = runs
    device = fit_kwargs.get("device")
    columns = []
    for r in range(runs):
        run_seed = int(np.random.SeedSequence([int(seed), r]).generate_state(1)[0] >> 1)
        torch.manual_seed(run_seed)
        model = make_model()
        if epochs > 0:
            fit(model, train, None, epochs=int(epochs), seed=run_seed, **fit_kwargs)
        elif device is not None:
            model.to(device)
        if score == "el2n":
            columns.append(el2n_scores(model, train, device=device))
        else:
            columns.append(grand_scores(model, train, last_layer=last_layer, device=device))
        if progress is not None:
            progress.update(1)
    matrix = np.stack(columns, axis=1)
    return matrix if return_runs else matrix.mean(axis=1).astype(np.float32)
