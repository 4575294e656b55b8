"""EPIC's training loop: every ``subset_freq`` epochs from ``drop_after`` on, find the points in tiny
gradient clusters and drop them for good; train on everything else.

Yang, Liu, Mirzasoleiman, "Not All Poisons are Created Equal: Robust Training against Data Poisoning"
(ICML 2022); reference code YuYang0901/EPIC (``train_poison_epic.py``). The selection step is the
registered method ``epic`` (:mod:`lessdata.methods.epic`): ``B = int(subset_size · N)`` medoids per
selection, split over the classes, and clusters of at most ``cluster_thresh`` points dropped. As in the
reference, the gradients are computed for all ``N`` training points at every selection and a point is
kept only if it was kept by every selection so far (the reference's ``times_selected == epoch``).

Defaults: ``subset_freq = 10``, ``drop_after = 1``, ``cluster_thresh = 1``, as the reference's. Its
``subset_size`` defaults to 1.0, which turns EPIC off; here it defaults to 0.2, the value of its
TinyImageNet and transfer examples (its CIFAR-10 examples use 0.1-0.3, ``subset_freq`` 2-10,
``drop_after`` 10-30). Deliberate departures: no ``stop_after`` / "not after the last learning-rate step"
cut-off (pass ``stop_after=``), and the ``drop_mile`` variant is not implemented.

Example::

    trainer = EpicTrainer(train_set, labels, poisoned=attack.poisoned, subset_freq=2, drop_after=4)
    result = trainer.fit(LeNet(), test_set, epochs=12)
    trainer.dropped_poison_share     # share of poisons among the dropped points
"""

from __future__ import annotations

import numbers

import numpy as np

from ..coreset import Coreset
from ..errors import LessdataError
from ..methods import get_method, select
from ..signals import last_layer_gradients
from ..training import FitResult, Schedule, fit
from ._common import check_fraction, check_labels_for

__all__ = ["EpicSchedule", "EpicTrainer"]


def _check_epoch(value, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise LessdataError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


class EpicSchedule(Schedule):
    """The full data until ``drop_after``; then, at every epoch ``e ≥ drop_after`` with
    ``e % subset_freq == 0`` (and ``e < stop_after`` when given), an EPIC selection on the current model's
    last-layer gradients; points it drops never come back. Trains on the surviving points, weight 1.

    ``alive`` is the surviving mask; ``log`` gains ``dropped`` (new this selection) per selection; with
    ``poisoned`` (a boolean mask, benchmarks) ``dropped_poisons`` too.
    """

    def __init__(self, data, labels, *, subset_size: float = 0.2, subset_freq: int = 10, drop_after: int = 1,
                 stop_after: int | None = None, cluster_thresh: float = 1.0, poisoned=None,
                 batch_size: int = 512, device=None, seed: int = 0, **params):
        super().__init__()
        self.data = data
        self.labels = check_labels_for(labels, len(data), "labels")
        self.n = len(self.labels)
        self.subset_size = check_fraction(subset_size, "subset_size")
        self.subset_freq = _check_epoch(subset_freq, "subset_freq", 1)
        self.drop_after = _check_epoch(drop_after, "drop_after")
        self.stop_after = None if stop_after is None else _check_epoch(stop_after, "stop_after")
        self.budget = max(1, int(self.subset_size * self.n))
        self.params = {"cluster_thresh": cluster_thresh, **params}
        get_method("epic")(**self.params)  # check the parameters now, not at the first selection
        if poisoned is not None:
            poisoned = np.asarray(poisoned)
            if poisoned.dtype != bool or poisoned.shape != (self.n,):
                raise LessdataError(f"poisoned must be a boolean mask with one entry per example ({self.n})")
        self.poisoned = poisoned
        self.batch_size, self.device, self.seed = batch_size, device, seed
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.alive = np.ones(self.n, dtype=bool)
        self.coreset: Coreset | None = None

    def _due(self, epoch: int) -> bool:
        return (epoch >= self.drop_after and epoch % self.subset_freq == 0
                and (self.stop_after is None or epoch < self.stop_after))

    def _select(self, model, epoch: int) -> Coreset:
        grads = last_layer_gradients(model, self.data, self.labels, batch_size=self.batch_size, device=self.device)
        kept = select(grads, budget=self.budget, method="epic", labels=self.labels, seed=self.seed + epoch,
                      **self.params)
        keep = np.zeros(self.n, dtype=bool)
        keep[kept.indices] = True
        newly = self.alive & ~keep
        if not (self.alive & keep).any():
            raise LessdataError(f"EPIC dropped every remaining point at epoch {epoch}; lower cluster_thresh")
        self.alive &= keep
        survivors = np.flatnonzero(self.alive)
        self._last_drop = {"dropped": int(newly.sum())}
        if self.poisoned is not None:
            self._last_drop["dropped_poisons"] = int((newly & self.poisoned).sum())
        return Coreset(indices=survivors, weights=np.ones(len(survivors), dtype=np.float32), method="epic",
                       params=dict(kept.params), seed=self.seed + epoch, n=self.n)

    def coreset_for_epoch(self, epoch: int, model) -> Coreset | None:
        if self._due(epoch):
            self.coreset = self._timed(epoch, lambda: self._select(model, epoch))
            self.log[-1].update(self._last_drop)
        return self.coreset

    @property
    def dropped(self) -> np.ndarray:
        """Indices dropped so far."""
        return np.flatnonzero(~self.alive)

    @property
    def dropped_poison_share(self) -> float:
        """Share of poisons among the points dropped so far (NaN when none was dropped or no mask given)."""
        if self.poisoned is None or self.alive.all():
            return float("nan")
        return float(self.poisoned[~self.alive].mean())


class EpicTrainer:
    """EPIC around :func:`lessdata.training.fit`: :attr:`schedule` (an :class:`EpicSchedule`) plugs into
    ``fit()`` or any loop with a :class:`~lessdata.training.CoresetLoader`; :meth:`fit` runs it.
    Keyword arguments are the schedule's (``subset_size``, ``subset_freq``, ``drop_after``,
    ``cluster_thresh``, ``poisoned``...)."""

    def __init__(self, train, labels, *, seed: int = 0, device=None, **schedule_params):
        self.train, self.seed, self.device = train, seed, device
        self.schedule = EpicSchedule(train, labels, seed=seed, device=device, **schedule_params)

    @property
    def dropped_poison_share(self) -> float:
        return self.schedule.dropped_poison_share

    def fit(self, model, test=None, *, epochs: int = 10, **fit_kwargs) -> FitResult:
        """Train ``model`` with :func:`lessdata.training.fit` (its keyword arguments pass through)."""
        fit_kwargs.setdefault("seed", self.seed)
        fit_kwargs.setdefault("device", self.device or "cpu")
        return fit(model, self.train, test, schedule=self.schedule, epochs=epochs, **fit_kwargs)
