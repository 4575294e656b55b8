"""Schedules: when to (re)select the training subset.

At the start of every epoch a training loop asks its schedule ``coreset_for_epoch(epoch, model)`` and trains
on the answer: a :class:`~lessdata.Coreset`, or ``None`` for the full data. A schedule decides *when* to
select and calls a ``selector`` to do it — any callable ``selector(model) -> Coreset``, e.g. one that
computes last-layer gradients with the current model and runs CRAIG on them
(:func:`~lessdata.training.gradient_selector`; see :mod:`lessdata.training.selectors`).

- :class:`SelectOnce` — select before the first epoch and keep the subset (CRAIG on fixed features).
- :class:`EveryKEpochs` — reselect with the current model every ``k`` epochs (CRAIG for deep networks,
  Mirzasoleiman et al., 2020, reselect every epoch or every few).
- :class:`WarmStart` — the full data for the first ``ceil(warm_fraction * epochs)`` epochs, then another
  schedule (the warm start of CORDS, Killamsetty et al., e.g. GRAD-MATCH 2021).
- :class:`RS2Rounds` — a fresh RS2 round every epoch (Okanovic et al., 2023).

Every schedule counts its ``selections`` and their total ``selection_seconds``, and keeps a ``log`` with
one entry per selection. Schedules hold no randomness of their own: given deterministic selectors they
are deterministic.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from .._validation import Interval, check_param, resolve_budget
from ..coreset import Coreset
from ..errors import LessdataError

__all__ = [
    "Schedule",
    "FullData",
    "SelectOnce",
    "EveryKEpochs",
    "WarmStart",
    "RS2Rounds",
]

Selector = Callable[[Any], Coreset]


class Schedule:
    """Base class: answers ``coreset_for_epoch(epoch, model)`` with a Coreset, or ``None`` for the full data.

    Subclasses implement :meth:`coreset_for_epoch` and call :meth:`_timed` around every selection, which
    keeps ``selections``, ``selection_seconds`` and ``log`` up to date.
    """

    def __init__(self):
        self.selections = 0
        self.selection_seconds = 0.0
        self.log: list[dict[str, Any]] = []

    def coreset_for_epoch(self, epoch: int, model) -> Coreset | None:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget every selection, so the schedule can drive a new training run."""
        Schedule.__init__(self)

    def _timed(self, epoch: int, select: Callable[[], Coreset]) -> Coreset:
        start = time.perf_counter()
        coreset = select()
        seconds = time.perf_counter() - start
        if not isinstance(coreset, Coreset):
            raise LessdataError(f"a selector must return a lessdata Coreset, got {type(coreset).__name__}")
        self.selections += 1
        self.selection_seconds += seconds
        self.log.append({"epoch": int(epoch), "seconds": seconds, "size": len(coreset)})
        return coreset

    def __repr__(self) -> str:
        name, seconds = type(self).__name__, self.selection_seconds
        return f"{name}(selections={self.selections}, selection_seconds={seconds:.3f})"


class FullData(Schedule):
    """Always the full data (the baseline every coreset run is compared with)."""

    def coreset_for_epoch(self, epoch: int, model) -> None:
        return None


def _check_selector(selector) -> Callable:
    if not callable(selector):
        raise LessdataError(f"selector must be callable (model -> Coreset), got {type(selector).__name__}")
    return selector


_POSITIVE_INT = [Interval(int, 1, None)]


class SelectOnce(Schedule):
    """Select once, with the model as it is when first asked, and train on that subset every epoch.

    Examples:
        >>> from lessdata.coreset import Coreset
        >>> schedule = SelectOnce(lambda model: Coreset(indices=[0, 2], weights=[1.0, 1.0], n=4))
        >>> [len(schedule.coreset_for_epoch(e, model=None)) for e in range(3)], schedule.selections
        ([2, 2, 2], 1)
    """

    def __init__(self, selector: Selector):
        super().__init__()
        self.selector = _check_selector(selector)
        self.coreset: Coreset | None = None

    def reset(self) -> None:
        super().reset()
        self.coreset = None

    def coreset_for_epoch(self, epoch: int, model) -> Coreset:
        if self.coreset is None:
            self.coreset = self._timed(epoch, lambda: self.selector(model))
        return self.coreset


class EveryKEpochs(Schedule):
    """Reselect with the current model when first asked and then every ``k`` epochs after that.

    The first selection happens at the first epoch the schedule is asked about (epoch 0, or the first epoch
    after a :class:`WarmStart`); the subset is reused in between.

    Examples:
        >>> from lessdata.coreset import Coreset
        >>> schedule = EveryKEpochs(lambda model: Coreset(indices=[0], weights=[1.0]), k=2)
        >>> _ = [schedule.coreset_for_epoch(e, model=None) for e in range(5)]
        >>> [entry["epoch"] for entry in schedule.log]
        [0, 2, 4]
    """

    def __init__(self, selector: Selector, k: int = 1):
        super().__init__()
        self.selector = _check_selector(selector)
        check_param("EveryKEpochs", "k", k, _POSITIVE_INT)
        self.k = int(k)
        self.coreset: Coreset | None = None
        self._selected_at: int | None = None

    def reset(self) -> None:
        super().reset()
        self.coreset, self._selected_at = None, None

    def coreset_for_epoch(self, epoch: int, model) -> Coreset:
        if self.coreset is None or epoch >= self._selected_at + self.k or epoch < self._selected_at:
            self.coreset = self._timed(epoch, lambda: self.selector(model))
            self._selected_at = epoch
        return self.coreset


class WarmStart(Schedule):
    """Train on the full data for the first ``ceil(warm_fraction * epochs)`` epochs, then ask ``inner``.

    CORDS (Killamsetty et al.) warm-starts its adaptive selection strategies this way, because gradients of
    an untrained model are poor selection signals. CORDS also scales the warm epochs by the subset fraction
    to keep the compute budget equal: pass ``warm_fraction=kappa * fraction`` to reproduce that.

    Examples:
        >>> from lessdata.coreset import Coreset
        >>> schedule = WarmStart(SelectOnce(lambda model: Coreset(indices=[0], weights=[1.0])), 0.5, epochs=5)
        >>> [schedule.coreset_for_epoch(e, None) is None for e in range(5)]
        [True, True, True, False, False]
    """

    def __init__(self, inner: Schedule, warm_fraction: float = 0.5, epochs: int = 10):
        if not isinstance(inner, Schedule):
            raise LessdataError(f"WarmStart wraps a Schedule, got {type(inner).__name__}")
        check_param("WarmStart", "warm_fraction", warm_fraction, [Interval(float, 0, 1)])
        check_param("WarmStart", "epochs", epochs, _POSITIVE_INT)
        self.inner = inner
        self.epochs = int(epochs)
        self.warm_fraction = float(warm_fraction)
        self.warm_epochs = math.ceil(self.warm_fraction * self.epochs - 1e-9)

    # Selections happen in the inner schedule; report its counters.
    selections = property(lambda self: self.inner.selections)
    selection_seconds = property(lambda self: self.inner.selection_seconds)
    log = property(lambda self: self.inner.log)

    def reset(self) -> None:
        self.inner.reset()

    def coreset_for_epoch(self, epoch: int, model) -> Coreset | None:
        if epoch < self.warm_epochs:
            return None
        return self.inner.coreset_for_epoch(epoch, model)


class RS2Rounds(Schedule):
    """One RS2 round per epoch (Okanovic et al., 2023): a fresh subset each epoch, without replacement.

    Either give ``selector(model, round) -> Coreset``, or let the schedule sample the rounds itself from
    ``n`` and one of ``fraction`` / ``budget`` (uniform weights, stateless in ``(seed, round)``). Rounds
    are numbered from 0 at the first epoch the schedule is asked about; asking twice about one epoch
    returns the same subset.

    Examples:
        >>> schedule = RS2Rounds(n=100, fraction=0.1, seed=0)
        >>> subsets = [set(schedule.coreset_for_epoch(e, None).indices.tolist()) for e in range(10)]
        >>> len(set.union(*subsets)), schedule.selections
        (100, 10)
    """

    def __init__(
        self,
        selector: Callable[[Any, int], Coreset] | None = None,
        *,
        n: int | None = None,
        fraction: float | None = None,
        budget: int | None = None,
        seed: int = 0,
        replacement: bool = False,
    ):
        super().__init__()
        check_param("RS2Rounds", "seed", seed, [Interval(int, 0, None)])
        if selector is None:
            if n is None:
                raise LessdataError("RS2Rounds needs n= (the dataset size) when no selector is given")
            check_param("RS2Rounds", "n", n, _POSITIVE_INT)
            self.budget = resolve_budget(n, fraction=fraction, budget=budget)
            selector = self._sample
        elif n is not None or fraction is not None or budget is not None:
            raise LessdataError("give RS2Rounds either a selector or n= with fraction= / budget=, not both")
        self.selector = _check_selector(selector)
        self.n, self.seed, self.replacement = n, seed, replacement
        self.round = 0  # the round the next new epoch gets
        self.coreset: Coreset | None = None
        self._epoch: int | None = None

    def _sample(self, model, round_: int) -> Coreset:
        from ..methods.rs2 import Rs2Method

        return Rs2Method(round=round_, replacement=self.replacement)(
            None, self.budget, labels=None, seed=self.seed, n=self.n
        )

    def reset(self) -> None:
        super().reset()
        self.round, self.coreset, self._epoch = 0, None, None

    def coreset_for_epoch(self, epoch: int, model) -> Coreset:
        if self.coreset is None or epoch != self._epoch:
            round_ = self.round
            self.coreset = self._timed(epoch, lambda: self.selector(model, round_))
            self._epoch, self.round = epoch, round_ + 1
        return self.coreset
