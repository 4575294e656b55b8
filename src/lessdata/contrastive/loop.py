"""The training loop both trainers share (AdamW, cosine schedule, optional snapshots) and its result."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from .._validation import POSITIVE_INT, POSITIVE_NUMBER, Interval, check_param
from ..errors import LessdataError
from .models import SimCLR

__all__ = ["ContrastiveRun"]


@dataclass
class ContrastiveRun:
    """What :func:`train_simclr` / :func:`train_clip` return.

    Attributes:
        model: the trained :class:`SimCLR` or :class:`TinyCLIP` (on the training device, eval mode).
        losses: mean training loss of each epoch.
        seconds: wall-clock training time.
        steps: optimizer steps taken.
        n_train: number of training examples (the subset's size).
        snapshots: ``{epoch: copy of the model after that epoch}`` for the epochs asked for.
    """

    model: nn.Module
    losses: list[float]
    seconds: float
    steps: int
    n_train: int
    snapshots: dict[int, nn.Module] = field(default_factory=dict)

    @property
    def encoder(self) -> nn.Module:
        """The image encoder (what :func:`embed` and :func:`linear_probe` take)."""
        return self.model.encoder if isinstance(self.model, SimCLR) else self.model.image_encoder


def _seeded(seed: int, build):
    """Build a model from ``seed`` without touching the global torch random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _train(model: nn.Module, n_train: int, step_loss, *, epochs, batch_size, lr, weight_decay, seed, device,
           amp, snapshots, progress) -> ContrastiveRun:
    """AdamW with a cosine learning rate over all steps; ``step_loss(positions, weights_or_None)`` gives the
    loss of one batch of positions into the training subset."""
    epochs = int(check_param("contrastive training", "epochs", epochs, POSITIVE_INT))
    batch_size = int(check_param("contrastive training", "batch_size", batch_size, [Interval(int, 2, None)]))
    lr = float(check_param("contrastive training", "lr", lr, POSITIVE_NUMBER))
    snapshots = sorted({int(check_param("contrastive training", "snapshot epoch", e, POSITIVE_INT)) for e in snapshots})
    if snapshots and snapshots[-1] > epochs:
        raise LessdataError(f"snapshot epoch {snapshots[-1]} is after the last epoch ({epochs})")
    batch_size = min(batch_size, n_train)
    per_epoch = n_train // batch_size  # drop the last partial batch: a tiny batch has too few negatives
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * per_epoch)
    order_rng = torch.Generator().manual_seed(seed)
    if progress is not None:
        progress.total = epochs * per_epoch
    losses, kept, start = [], {}, time.perf_counter()
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n_train, generator=order_rng).to(device)
        total = torch.zeros((), device=device)
        for b in range(per_epoch):
            positions = order[b * batch_size:(b + 1) * batch_size]
            with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=amp):
                loss = step_loss(positions)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.detach()
            if progress is not None:
                progress.update(1)
        losses.append(float(total) / per_epoch)  # one device sync per epoch
        if not math.isfinite(losses[-1]):
            raise LessdataError(f"training diverged (loss {losses[-1]} in epoch {epoch}); lower lr")
        if epoch in snapshots:
            kept[epoch] = copy.deepcopy(model).eval()
    model.eval()
    return ContrastiveRun(model=model, losses=losses, seconds=time.perf_counter() - start,
                          steps=epochs * per_epoch, n_train=n_train, snapshots=kept)
