"""A small reference training loop for benchmarks and the CLI: ``fit(model, train, test, schedule=...)``.

It is one way in, not the only one: the pieces it is made of (:class:`~lessdata.training.CoresetLoader`,
:func:`~lessdata.training.weighted_loss`, a :class:`~lessdata.training.Schedule`) drop into any loop.
Each epoch it asks the schedule for a subset (timed as *selection*), trains on it with the weighted loss
(timed as *training*), then evaluates on ``test`` (timed apart, and left out of the time-to-accuracy clock,
which is the same for every method).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._validation import check_choice
from ..data.torch_data import iter_batches
from ..errors import LessdataError
from .samplers import CoresetLoader, _weighted_mean
from .schedules import FullData, Schedule

__all__ = ["fit", "evaluate", "FitResult", "Callback", "BatchResult"]

_OPTIMIZERS = ("sgd", "adam", "adamw")
_LR_SCHEDULES = ("cosine", "step")


@dataclass
class BatchResult:
    """What a callback sees after each training step (all tensors detached, on the training device
    except ``indices``, which are the batch's dataset indices on the CPU)."""

    epoch: int
    step: int  # batch number within the epoch
    indices: torch.Tensor
    outputs: torch.Tensor
    targets: torch.Tensor
    losses: torch.Tensor  # per-example, unweighted
    weights: torch.Tensor
    loss: float  # the weighted batch loss that was minimised


class Callback:
    """Hooks called by :func:`fit`; override the ones you need (any object with some of them works too).

    ``on_epoch_end`` receives the epoch's history record (a dict) and may add keys to it.
    """

    def on_fit_start(self, model, loader: CoresetLoader) -> None: ...

    def on_epoch_start(self, epoch: int, model, loader: CoresetLoader) -> None: ...

    def on_batch_end(self, epoch: int, model, batch: BatchResult) -> None: ...

    def on_epoch_end(self, epoch: int, model, record: dict[str, Any]) -> None: ...

    def on_fit_end(self, model, result: FitResult) -> None: ...


@dataclass
class FitResult:
    """Per-epoch history of a :func:`fit` run.

    Each record has: ``epoch``, ``test_accuracy``, ``test_loss``, ``train_loss`` (the weighted loss, averaged
    over the epoch's examples), ``train_accuracy`` (on the epoch's subset), ``train_seconds``,
    ``selection_seconds``, ``eval_seconds``, ``cumulative_seconds`` (training + selection so far: the
    time-to-accuracy clock), ``wall_seconds`` (everything since the start, evaluation included),
    ``subset_size`` (distinct examples), ``epoch_size`` (examples visited, counting each by its coreset
    multiplicity), ``fraction``, ``selections`` (so far) and ``lr``.
    """

    history: list[dict[str, Any]] = field(default_factory=list)
    n_train: int = 0
    schedule: str = ""

    @property
    def final_accuracy(self) -> float:
        return self.history[-1]["test_accuracy"] if self.history else float("nan")

    @property
    def best_accuracy(self) -> float:
        return max((r["test_accuracy"] for r in self.history), default=float("nan"))

    @property
    def selection_seconds(self) -> float:
        return sum(r["selection_seconds"] for r in self.history)

    @property
    def train_seconds(self) -> float:
        return sum(r["train_seconds"] for r in self.history)

    @property
    def total_seconds(self) -> float:
        """Training + selection time of the whole run (evaluation excluded)."""
        return self.history[-1]["cumulative_seconds"] if self.history else 0.0

    def seconds_to_accuracy(self, target: float) -> float | None:
        """Training + selection seconds until the test accuracy first reached ``target`` (None: never)."""
        for record in self.history:
            if record["test_accuracy"] >= target:
                return record["cumulative_seconds"]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "schedule": self.schedule,
            "final_accuracy": self.final_accuracy,
            "best_accuracy": self.best_accuracy,
            "train_seconds": self.train_seconds,
            "selection_seconds": self.selection_seconds,
            "total_seconds": self.total_seconds,
            "history": [dict(r) for r in self.history],
        }


@torch.no_grad()
def evaluate(
    model: nn.Module, data, batch_size: int = 512, device: str | torch.device = "cpu"
) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``model`` on a dataset yielding ``(x, y)``.

    ``data`` is anything :func:`~lessdata.data.iter_batches` reads (a Dataset, a non-shuffling DataLoader, an
    ``(X, y)`` pair...); batches are fetched with one index where the dataset allows it.

    Examples:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> model = torch.nn.Linear(2, 2)
        >>> sorted(evaluate(model, TensorDataset(torch.randn(8, 2), torch.zeros(8, dtype=torch.long))))
        ['accuracy', 'loss']
    """
    was_training = model.training
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    try:
        for x, y in iter_batches(data, batch_size=batch_size):
            if y is None:
                raise LessdataError("evaluate needs labelled data: a dataset yielding (x, y), or an (X, y) pair")
            x, y = x.to(device), y.to(device)
            out = model(x)
            loss_sum += float(nn.functional.cross_entropy(out, y, reduction="sum"))
            correct += int((out.argmax(dim=1) == y).sum())
            total += int(y.shape[0])
    finally:
        model.train(was_training)
    if total == 0:
        return {"accuracy": float("nan"), "loss": float("nan")}
    return {"accuracy": correct / total, "loss": loss_sum / total}


def _make_optimizer(optimizer, params, lr: float, momentum: float, weight_decay: float):
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizer(params)
    check_choice(optimizer, _OPTIMIZERS, "optimizer")
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    cls = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, weight_decay=weight_decay)


def _make_lr_schedule(lr_schedule, optimizer, epochs: int):
    # Stepped once per epoch: a subset epoch has fewer steps, but follows the same schedule (as in CRAIG).
    if lr_schedule is None:
        return None
    if callable(lr_schedule) and not isinstance(lr_schedule, str):
        return lr_schedule(optimizer)
    check_choice(lr_schedule, _LR_SCHEDULES, "lr_schedule")
    if lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    milestones = sorted({max(1, int(epochs * 0.5)), max(1, int(epochs * 0.75))})
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)


def _hook(callbacks: Sequence, name: str, *args) -> None:
    for callback in callbacks:
        method = getattr(callback, name, None)
        if method is not None:
            method(*args)


def fit(
    model: nn.Module,
    train,
    test=None,
    *,
    schedule: Schedule | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    optimizer: str | Callable = "sgd",
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    lr_schedule: str | Callable | None = "cosine",
    loss_fn: Callable | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    num_workers: int = 0,
    eval_batch_size: int = 512,
    callbacks: Sequence = (),
    batch_selector=None,
    progress=None,
) -> FitResult:
    """Train ``model`` on ``train`` (a dataset of ``(x, y)``), each epoch on the subset ``schedule`` picks.

    Args:
        schedule: a :class:`Schedule` (reset at the start); ``None`` trains on the full data.
        optimizer: ``"sgd"`` (with ``momentum``), ``"adam"``, ``"adamw"``, or ``factory(params) -> Optim``.
        lr_schedule: ``"cosine"`` (to zero over ``epochs``), ``"step"`` (×0.1 at 50% and 75%), ``None``, or
            ``factory(optimizer) -> LRScheduler``; stepped once per epoch.
        loss_fn: per-example loss (``reduction="none"``); cross-entropy by default.
        seed: seeds torch and the loader's shuffling, so a CPU run is reproducible.
        callbacks: objects with any of the :class:`Callback` hooks.
        batch_selector: per-step selection (e.g. :class:`~lessdata.training.rho_loss.RhoLossSelector`): each
            drawn batch of ``batch_size`` is cut to the examples ``batch_selector(model, (x, y), index=idx)``
            picks (``(positions, weights)``) before the step; its time counts as selection time.
        progress: optional tqdm-compatible object: ``.total`` is set to ``epochs`` and ``.update(1)`` is
            called after each epoch (``.set_postfix`` too, if it has one); the caller closes it.

    Returns:
        a :class:`FitResult` with one history record per epoch.

    Examples:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> X = torch.randn(64, 4); y = (X[:, 0] > 0).long()
        >>> data = TensorDataset(X, y)
        >>> result = fit(torch.nn.Linear(4, 2), data, data, epochs=2, batch_size=16)
        >>> len(result.history), 0.0 <= result.final_accuracy <= 1.0
        (2, True)
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise LessdataError(f"epochs must be a positive integer, got {epochs!r}")
    if schedule is not None and not isinstance(schedule, Schedule):
        raise LessdataError(f"schedule must be a lessdata Schedule or None, got {type(schedule).__name__}")
    schedule = FullData() if schedule is None else schedule
    schedule.reset()
    loss_fn = loss_fn or nn.CrossEntropyLoss(reduction="none")
    torch.manual_seed(seed)
    model.to(device)
    opt = _make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    scheduler = _make_lr_schedule(lr_schedule, opt, epochs)
    loader = CoresetLoader(
        train, batch_size=batch_size, shuffle=True, seed=seed, num_workers=num_workers, return_indices=True
    )
    result = FitResult(n_train=loader.size, schedule=repr(schedule))
    if progress is not None and hasattr(progress, "total"):
        progress.total = epochs
    _hook(callbacks, "on_fit_start", model, loader)
    start, clock = time.perf_counter(), 0.0
    for epoch in range(epochs):
        tick = time.perf_counter()
        coreset = schedule.coreset_for_epoch(epoch, model)
        if coreset is not loader.coreset:
            loader.set_coreset(coreset)
        loader.set_epoch(epoch)
        selection_seconds = time.perf_counter() - tick

        _hook(callbacks, "on_epoch_start", epoch, model, loader)
        tick = time.perf_counter()
        model.train()
        loss_sum, correct, seen, step_selection = 0.0, 0, 0, 0.0
        for step, (x, y, w, idx) in enumerate(loader):
            x, y, w = x.to(device), y.to(device), w.to(device)
            if batch_selector is not None and batch_selector.budget_for(len(y)) < len(y):
                pick_start = time.perf_counter()
                picks, pick_weights = batch_selector(model, (x, y), index=idx)
                x, y, w, idx = x[picks], y[picks], w[picks] * pick_weights.to(w), idx[picks.cpu()]
                step_selection += time.perf_counter() - pick_start
            out = model(x)
            losses = loss_fn(out, y)
            loss = _weighted_mean(losses, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            batch_loss = float(loss.detach())
            loss_sum += batch_loss * y.shape[0]
            if out.ndim == 2 and y.ndim == 1:  # a classifier: count hits; otherwise accuracy stays NaN
                correct += int((out.detach().argmax(dim=1) == y).sum())
            else:
                correct = float("nan")
            seen += int(y.shape[0])
            if callbacks:
                _hook(
                    callbacks,
                    "on_batch_end",
                    epoch,
                    model,
                    BatchResult(epoch, step, idx, out.detach(), y, losses.detach(), w, batch_loss),
                )
        lr_now = opt.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        train_seconds = time.perf_counter() - tick - step_selection
        selection_seconds += step_selection
        clock += train_seconds + selection_seconds

        tick = time.perf_counter()
        scores = (
            evaluate(model, test, eval_batch_size, device)
            if test is not None
            else {"accuracy": float("nan"), "loss": float("nan")}
        )
        eval_seconds = time.perf_counter() - tick
        record = {
            "epoch": epoch,
            "test_accuracy": scores["accuracy"],
            "test_loss": scores["loss"],
            "train_loss": loss_sum / seen if seen else float("nan"),
            "train_accuracy": correct / seen if seen else float("nan"),
            "train_seconds": train_seconds,
            "selection_seconds": selection_seconds,
            "eval_seconds": eval_seconds,
            "cumulative_seconds": clock,
            "wall_seconds": time.perf_counter() - start,
            "subset_size": len(loader.indices),
            "epoch_size": loader.epoch_size,
            "fraction": len(loader.indices) / loader.size,
            "selections": schedule.selections,
            "lr": lr_now,
        }
        _hook(callbacks, "on_epoch_end", epoch, model, record)
        result.history.append(record)
        if progress is not None:
            progress.update(1)
            if hasattr(progress, "set_postfix"):
                progress.set_postfix(acc=f"{record['test_accuracy']:.4f}", loss=f"{record['train_loss']:.4f}")
    _hook(callbacks, "on_fit_end", model, result)
    return result
