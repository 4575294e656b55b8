"""CRUST's training loop: warm up on all data, then train every epoch on a fresh per-class facility-location
coreset of last-layer gradients, weighted by radius counts, with mixup against a same-label partner.

Mirzasoleiman, Cao, Leskovec, "Coresets for Robustifying Deep Neural Networks Against Noisy Labels"
(NeurIPS 2020); reference code snap-stanford/crust (``robust_cifar_train.py``, ``mislabel_cifar.py``).
The selection step is the registered method ``crust`` (:mod:`lessdata.methods.crust`). The reference
defaults are kept: 5 warm-up epochs on all data, ``fl_ratio = 0.5`` of each class, radius ``r = 2.0``,
reselection every epoch after the warm-up, mixup from the epoch after the first selection with one
``λ ~ Beta(1, 0.1)`` per batch and a partner drawn uniformly from all training examples with the same
(noisy) label, and the mixed input keeping the original label.

Known limitation: with these reference defaults CRUST under-reproduces the paper at 20% noise unless
``fl_ratio`` is tuned (reported on the reference's issue tracker); measure the ratio for your data.

Deliberate departures:

- Weights enter the loss as :class:`~lessdata.training.CoresetLoader` gives them (mean 1 over the coreset,
  multiplied into each example's loss); the reference divides by the batch's weight sum instead, which
  rescales every batch's step by a different factor.
- Gradients are the exact ``softmax − one-hot`` at the logits (:func:`lessdata.signals.last_layer_gradients`),
  computed in eval mode; the reference takes them from the model in train mode.
- Each class gets at least one medoid (``max(1, int(fl_ratio · n_c))``).

Example::

    trainer = CrustTrainer(train_set, noisy_labels, true_labels=clean_labels, epochs=15)
    result = trainer.fit(LeNet(), test_set, lr=0.05)
    trainer.clean_shares       # the clean-label share of every coreset
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from ..coreset import Coreset
from ..data.torch_data import batch_fetcher
from ..errors import LessdataError
from ..methods import get_method, select
from ..signals import last_layer_gradients
from ..training import Callback, FitResult, Schedule, fit
from ._common import check_fraction, check_labels_for, clean_share

__all__ = ["CrustSchedule", "CrustTrainer", "SameLabelMixup"]


class SameLabelMixup(torch.utils.data.Dataset):
    """A dataset of ``(x, y)`` whose batches, while ``active``, mix every input with a partner of the same
    label: ``λ · x + (1 − λ) · x_partner`` with one ``λ ~ Beta(alpha, beta)`` per batch (CRUST's mixup);
    the label stays ``y``. Partners are drawn uniformly from all examples with that label, from a generator
    seeded with ``seed``. Batches are fetched through ``__getitems__``, which
    :class:`~lessdata.training.CoresetLoader` uses; single items (``dataset[i]``) are never mixed.
    """

    def __init__(self, dataset, labels, *, alpha: float = 1.0, beta: float = 0.1, seed: int = 0):
        self.dataset = dataset
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.labels) != len(dataset):
            raise LessdataError(f"there are {len(self.labels)} labels but {len(dataset)} examples")
        for name, value in (("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < np.inf:
                raise LessdataError(f"mixup {name} must be a positive number, got {value!r}")
        self.alpha, self.beta = float(alpha), float(beta)
        self.active = False
        self.rng = np.random.default_rng(seed)
        self.fetch = batch_fetcher(dataset)
        order = np.argsort(self.labels, kind="stable")
        classes, starts = np.unique(self.labels[order], return_index=True)
        self._members = dict(zip(classes.tolist(), np.split(order, starts[1:])))
        self.lambdas: list[float] = []

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i]

    def partners(self, indices) -> np.ndarray:
        """One random same-label partner for each of ``indices``."""
        ys = self.labels[np.asarray(indices, dtype=np.int64)]
        out = np.empty(len(ys), dtype=np.int64)
        for c in np.unique(ys):
            where = np.flatnonzero(ys == c)
            pool = self._members[int(c)]
            out[where] = pool[self.rng.integers(0, len(pool), size=len(where))]
        return out

    def __getitems__(self, indices):
        x, y = self.fetch(indices)[:2]
        if self.active:
            lam = float(self.rng.beta(self.alpha, self.beta))
            self.lambdas.append(lam)
            x = lam * x + (1.0 - lam) * self.fetch(self.partners(indices))[0]
        return list(zip(x, y))


class CrustSchedule(Schedule):
    """Full data for ``warmup`` epochs, then a CRUST coreset every epoch from the current model's last-layer
    gradients (per class ``max(1, int(fl_ratio · n_c))`` medoids, radius weights).

    With ``true_labels`` it records each coreset's clean-label share in ``clean_shares`` (and the share of
    the weight in ``clean_weight_shares``).
    """

    def __init__(self, data, labels, *, fl_ratio: float = 0.5, radius: float = 2.0, warmup: int = 5,
                 true_labels=None, batch_size: int = 512, device=None, seed: int = 0, **params):
        super().__init__()
        self.data = data
        self.labels = check_labels_for(labels, len(data), "labels")
        self.true_labels = None if true_labels is None else check_labels_for(true_labels, len(data), "true labels")
        self.fl_ratio = check_fraction(fl_ratio, "fl_ratio")
        if isinstance(warmup, bool) or not isinstance(warmup, numbers.Integral) or warmup < 0:
            raise LessdataError(f"warmup must be a non-negative integer, got {warmup!r}")
        self.warmup, self.batch_size, self.device, self.seed = int(warmup), batch_size, device, seed
        classes, sizes = np.unique(self.labels, return_counts=True)
        self.budget = {int(c): max(1, int(self.fl_ratio * s)) for c, s in zip(classes, sizes)}
        self.params = {"radius": radius, **params}
        get_method("crust")(**self.params)  # check the parameters now, not at the first selection
        self.clean_shares: list[float] = []
        self.clean_weight_shares: list[float] = []

    def reset(self) -> None:
        super().reset()
        self.clean_shares, self.clean_weight_shares = [], []

    def _select(self, model, epoch: int) -> Coreset:
        grads = last_layer_gradients(model, self.data, self.labels, batch_size=self.batch_size, device=self.device)
        coreset = select(grads, budget=self.budget, method="crust", labels=self.labels, seed=self.seed + epoch,
                         **self.params)
        if self.true_labels is not None:
            self.clean_shares.append(clean_share(coreset.indices, self.labels, self.true_labels))
            self.clean_weight_shares.append(clean_share(coreset.indices, self.labels, self.true_labels,
                                                        coreset.weights))
        return coreset

    def coreset_for_epoch(self, epoch: int, model) -> Coreset | None:
        if epoch < self.warmup:
            return None
        return self._timed(epoch, lambda: self._select(model, epoch))


class _MixupSwitch(Callback):
    """Turns the mixup on for the epochs after the first selection (as the reference's ``epoch > 5``)."""

    def __init__(self, dataset: SameLabelMixup, first: int):
        self.dataset, self.first = dataset, first

    def on_epoch_start(self, epoch, model, loader) -> None:
        self.dataset.active = epoch > self.first

    def on_fit_end(self, model, result) -> None:
        self.dataset.active = False


class CrustTrainer:
    """CRUST around :func:`lessdata.training.fit`: :attr:`dataset` (the training data with same-label
    mixup), :attr:`schedule` (a :class:`CrustSchedule`) and :attr:`callbacks` plug into ``fit()`` or any loop
    that uses a :class:`~lessdata.training.CoresetLoader`; :meth:`fit` runs them.

    Args:
        train: a map-style dataset yielding ``(x, y)`` with the (possibly noisy) training labels.
        labels: those labels as an array (one per example).
        true_labels: the clean labels when known (benchmarks): each coreset's clean share is recorded.
        fl_ratio, radius, warmup: CRUST's budget per class, weight radius and warm-up epochs (reference
            defaults 0.5, 2.0, 5).
        mixup: mix coreset inputs with same-label partners (``λ ~ Beta(1, 0.1)`` per batch).
    """

    def __init__(self, train, labels, *, true_labels=None, fl_ratio: float = 0.5, radius: float = 2.0,
                 warmup: int = 5, mixup: bool = True, mixup_alpha: float = 1.0, mixup_beta: float = 0.1,
                 seed: int = 0, device=None, **params):
        self.schedule = CrustSchedule(train, labels, fl_ratio=fl_ratio, radius=radius, warmup=warmup,
                                      true_labels=true_labels, seed=seed, device=device, **params)
        self.mixup = bool(mixup)
        self.dataset = (SameLabelMixup(train, self.schedule.labels, alpha=mixup_alpha, beta=mixup_beta, seed=seed)
                        if self.mixup else train)
        self.callbacks = [_MixupSwitch(self.dataset, self.schedule.warmup)] if self.mixup else []
        self.seed, self.device = seed, device

    @property
    def clean_shares(self) -> list[float]:
        return self.schedule.clean_shares

    def fit(self, model, test=None, *, epochs: int = 10, callbacks=(), **fit_kwargs) -> FitResult:
        """Train ``model`` with :func:`lessdata.training.fit` (its keyword arguments pass through)."""
        if self.schedule.warmup >= epochs:
            raise LessdataError(f"warmup ({self.schedule.warmup}) must be shorter than epochs ({epochs})")
        fit_kwargs.setdefault("seed", self.seed)
        fit_kwargs.setdefault("device", self.device or "cpu")
        return fit(model, self.dataset, test, schedule=self.schedule, epochs=epochs,
                   callbacks=[*self.callbacks, *callbacks], **fit_kwargs)
