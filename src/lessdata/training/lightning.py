"""PyTorch Lightning adapters: :class:`CoresetCallback` reselects the training subset at every epoch start;
:class:`DynamicsCallback` records per-example training dynamics into a ``DynamicsRecorder``.

Lightning is an optional extra (``pip install 'lessdata[lightning]'``); this module imports it when loaded,
and ``lessdata.training`` loads this module only when ``CoresetCallback`` or ``DynamicsCallback`` is first
used.

Usage — the LightningModule's ``train_dataloader()`` returns a :class:`~lessdata.training.CoresetLoader`
(create it once, e.g. in ``__init__`` or ``setup``) and ``training_step`` receives ``(x, y, w)`` batches::

    class Module(L.LightningModule):
        def train_dataloader(self):
            return self.loader                          # CoresetLoader(train_set, batch_size=128)

        def training_step(self, batch, batch_idx):
            x, y, w = batch
            return weighted_loss(nn.CrossEntropyLoss(reduction="none"), self(x), y, w)

    schedule = EveryKEpochs(gradient_selector(train_set, labels, fraction=0.1), k=1)
    L.Trainer(max_epochs=10, callbacks=[CoresetCallback(schedule)]).fit(Module())

Distributed training (Lightning's DDP strategies): the :class:`~lessdata.training.CoresetLoader` reads the
process's rank from ``torch.distributed`` at every epoch and yields only its disjoint share of the epoch (see
:class:`~lessdata.training.CoresetSampler`). Every process runs the schedule's selector; a deterministic
selector with the same seed on the same (synchronised) model gives every process the same subset.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..errors import LessdataError, require
from ..signals.dynamics import DynamicsRecorder
from .samplers import CoresetLoader
from .schedules import Schedule

_pl = require("lightning.pytorch", "lightning", "the Lightning callback")

__all__ = ["CoresetCallback", "DynamicsCallback"]


class CoresetCallback(_pl.Callback):
    """Ask ``schedule`` for the subset at the start of every training epoch and swap it into the loader.

    Args:
        schedule: the :class:`~lessdata.training.Schedule`; its selector is called with the LightningModule.
        loader: the :class:`~lessdata.training.CoresetLoader` to drive; by default the one the module's
            ``train_dataloader()`` returned.
        log: also log ``lessdata/subset_size`` and ``lessdata/selection_seconds`` through the module.

    ``history`` keeps one record per epoch: ``epoch``, ``subset_size``, ``epoch_size`` (examples visited,
    counting coreset multiplicities), ``selection_seconds``, ``selections``.

    Examples:
        >>> trainer = L.Trainer(max_epochs=5, callbacks=[CoresetCallback(RS2Rounds(n=60000, fraction=0.1))])
        ... # doctest: +SKIP
    """

    def __init__(self, schedule: Schedule, loader: CoresetLoader | None = None, log: bool = False):
        if not isinstance(schedule, Schedule):
            raise LessdataError(f"CoresetCallback needs a lessdata Schedule, got {type(schedule).__name__}")
        if loader is not None and not isinstance(loader, CoresetLoader):
            raise LessdataError(f"loader must be a lessdata CoresetLoader, got {type(loader).__name__}")
        self.schedule = schedule
        self.loader = loader
        self.log = log
        self.history: list[dict[str, Any]] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        self.schedule.reset()
        self.history = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        loader = self.loader if self.loader is not None else _find_loader(trainer.train_dataloader)
        epoch = trainer.current_epoch
        was_training = pl_module.training
        tick = time.perf_counter()
        coreset = self.schedule.coreset_for_epoch(epoch, pl_module)
        if coreset is not loader.coreset:
            loader.set_coreset(coreset)
        loader.set_epoch(epoch)
        seconds = time.perf_counter() - tick
        pl_module.train(was_training)  # a selector may have switched the module to eval mode
        _refresh_batch_counts(trainer)
        record = {
            "epoch": epoch,
            "subset_size": len(loader.indices),
            "epoch_size": loader.epoch_size,
            "selection_seconds": seconds,
            "selections": self.schedule.selections,
        }
        self.history.append(record)
        if self.log:
            sync = trainer.world_size > 1  # averaged over the processes (each selects the same subset)
            pl_module.log("lessdata/subset_size", float(record["subset_size"]), on_step=False, on_epoch=True,
                          sync_dist=sync)
            pl_module.log("lessdata/selection_seconds", seconds, on_step=False, on_epoch=True, sync_dist=sync)


class DynamicsCallback(_pl.Callback):
    """Fill a :class:`~lessdata.signals.dynamics.DynamicsRecorder` during ``Trainer.fit``: one column per
    training epoch, labelled with ``trainer.current_epoch``.

    Contract: ``training_step`` returns a dict with ``"loss"`` (what Lightning minimises), ``"indices"``
    (the batch's dataset indices, e.g. from ``CoresetLoader(..., return_indices=True)``), and either
    ``"logits"`` with ``"targets"`` or per-example ``"losses"`` (or all three)::

        def training_step(self, batch, batch_idx):
            x, y, w, idx = batch
            logits = self(x)
            losses = F.cross_entropy(logits, y, reduction="none")
            return {"loss": (losses * w).mean(), "indices": idx, "logits": logits, "targets": y,
                    "losses": losses}

    When the recorder has no ``n``, it is taken from the train dataloader (a ``CoresetLoader``'s ``size``, or
    ``len(dataloader.dataset)``).

    Examples:
        >>> trainer = L.Trainer(max_epochs=5, callbacks=[DynamicsCallback(recorder)])   # doctest: +SKIP
    """

    def __init__(self, recorder: DynamicsRecorder):
        if not isinstance(recorder, DynamicsRecorder):
            raise LessdataError(f"DynamicsCallback needs a DynamicsRecorder, got {type(recorder).__name__}")
        self.recorder = recorder

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self.recorder.n is None:
            self.recorder.set_n(_loader_size(trainer.train_dataloader))
        self.recorder.start_column(int(trainer.current_epoch))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not isinstance(outputs, Mapping) or "indices" not in outputs:
            raise LessdataError(
                "the dynamics callback needs training_step to return a dict with 'loss', 'indices' and "
                "'logits' + 'targets' or per-example 'losses'"
            )
        self.recorder.update(outputs["indices"], logits=outputs.get("logits"),
                             targets=outputs.get("targets"), losses=outputs.get("losses"))


def _loader_size(loader) -> int:
    if isinstance(loader, CoresetLoader):
        return loader.size
    dataset = getattr(loader, "dataset", None)
    try:
        return len(dataset)
    except TypeError:
        raise LessdataError("cannot tell the number of training examples from the train dataloader: pass n= to "
                            "DynamicsRecorder") from None


def _find_loader(train_dataloader) -> CoresetLoader:
    candidates = [train_dataloader]
    if isinstance(train_dataloader, (list, tuple)):
        candidates = list(train_dataloader)
    elif isinstance(train_dataloader, dict):
        candidates = list(train_dataloader.values())
    for candidate in candidates:
        if isinstance(candidate, CoresetLoader):
            return candidate
    raise LessdataError(
        "CoresetCallback needs train_dataloader() to return a lessdata CoresetLoader "
        f"(got {type(train_dataloader).__name__}), or pass loader= to the callback"
    )


def _refresh_batch_counts(trainer) -> None:
    """Tell the running fit loop how many batches this epoch has now that the subset may have changed size.

    Lightning counts the training batches once, when it sets up the dataloader; the epoch's length, the
    validation check interval and the progress bar are derived from that count.
    """
    fit_loop = trainer.fit_loop
    combined = getattr(fit_loop, "_combined_loader", None)
    if combined is None:
        return
    limit = trainer.limit_train_batches
    limits = []
    for dl in combined.flattened:
        length = len(dl) if hasattr(dl, "__len__") else float("inf")
        if isinstance(limit, int):
            limits.append(min(length, limit))
        elif length != float("inf"):
            limits.append(int(length * limit))
        else:
            limits.append(length)
    combined.limits = limits
    iterator = getattr(combined, "_iterator", None)  # an iterator made before the swap keeps its own copy
    if iterator is not None and hasattr(iterator, "limits"):
        iterator.limits = limits
    max_batches = max(limits) if limits else 0  # the training loop cycles to the longest loader
    fit_loop.max_batches = max_batches
    if getattr(trainer, "_val_check_time_interval", None) is None and isinstance(
        trainer.val_check_interval, float
    ):
        trainer.val_check_batch = max(1, int(max_batches * trainer.val_check_interval))
    fetcher = getattr(fit_loop, "_data_fetcher", None)
    if fetcher is not None and getattr(fetcher, "_combined_loader", None) is combined:
        fetcher.length = max_batches  # the fetcher flags the last batch from this count
