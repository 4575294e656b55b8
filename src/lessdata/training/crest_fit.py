"""The reference training loop of :class:`~lessdata.training.CrestTrainer` (:meth:`CrestTrainer.fit`).

Split out of :mod:`lessdata.training.crest`: the same loop as :func:`lessdata.training.fit` (same
:class:`~lessdata.training.FitResult` records and callbacks), where an epoch is ``steps_per_epoch`` CREST steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..errors import LessdataError
from .fit import BatchResult, FitResult, _hook, _make_lr_schedule, _make_optimizer, evaluate
from .samplers import _weighted_mean

__all__: list[str] = []


def _crest_fit(trainer, test, *, epochs: int, optimizer: str | Callable, lr: float, momentum: float,
               weight_decay: float, lr_schedule: str | Callable | None, callbacks: Sequence, progress) -> FitResult:
    """:meth:`CrestTrainer.fit <lessdata.training.CrestTrainer.fit>` for ``trainer`` (see its docs)."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise LessdataError(f"epochs must be a positive integer, got {epochs!r}")
    torch.manual_seed(trainer.seed)
    model, device = trainer.model, trainer.device
    opt = _make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    trainer.watch(opt)
    scheduler = _make_lr_schedule(lr_schedule, opt, epochs)
    result = FitResult(n_train=trainer.n, schedule=repr(trainer))
    if progress is not None and hasattr(progress, "total"):
        progress.total = epochs
    _hook(callbacks, "on_fit_start", model, trainer.loader)
    start, clock = time.perf_counter(), 0.0
    for epoch in range(epochs):
        _hook(callbacks, "on_epoch_start", epoch, model, trainer.loader)
        tick, overhead = time.perf_counter(), trainer.overhead_seconds
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(trainer.steps_per_epoch):
            x, y, w, idx = trainer.next_batch()
            x, y, w = x.to(device), y.to(device), w.to(device)
            out = model(x)
            losses = nn.functional.cross_entropy(out, y, reduction="none")
            loss = _weighted_mean(losses, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            batch_loss = float(loss.detach())
            loss_sum += batch_loss * y.shape[0]
            correct += int((out.detach().argmax(dim=1) == y).sum())
            seen += int(y.shape[0])
            if callbacks:
                _hook(callbacks, "on_batch_end", epoch, model,
                      BatchResult(epoch, step, idx, out.detach(), y, losses.detach(), w, batch_loss))
        lr_now = opt.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        elapsed = time.perf_counter() - tick
        selection_seconds = trainer.overhead_seconds - overhead
        clock += elapsed
        tick = time.perf_counter()
        scores = (evaluate(model, test, trainer.eval_batch_size, device) if test is not None
                  else {"accuracy": float("nan"), "loss": float("nan")})
        record = {
            "epoch": epoch,
            "test_accuracy": scores["accuracy"],
            "test_loss": scores["loss"],
            "train_loss": loss_sum / seen if seen else float("nan"),
            "train_accuracy": correct / seen if seen else float("nan"),
            "train_seconds": elapsed - selection_seconds,
            "selection_seconds": selection_seconds,
            "eval_seconds": time.perf_counter() - tick,
            "cumulative_seconds": clock,
            "wall_seconds": time.perf_counter() - start,
            "subset_size": len(trainer.coreset) if trainer.coreset is not None else trainer.n,
            "fraction": trainer.fraction,
            "selections": trainer.selections,
            "lr": lr_now,
            "checks": trainer.checks,
            "check_interval": trainer.check_interval,
            "subsets": trainer.subsets,
            "pool_size": len(trainer.pool),
        }
        _hook(callbacks, "on_epoch_end", epoch, model, record)
        result.history.append(record)
        if progress is not None:
            progress.update(1)
            if hasattr(progress, "set_postfix"):
                progress.set_postfix(acc=f"{record['test_accuracy']:.4f}", loss=f"{record['train_loss']:.4f}")
    result.schedule = repr(trainer)
    _hook(callbacks, "on_fit_end", model, result)
    return result
