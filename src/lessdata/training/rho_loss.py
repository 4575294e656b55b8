"""RHO-LOSS: train each step on the points of a large batch that are learnable, worth learning and not yet learnt.

Mindermann, Brauner, Razzak, Sharma, Kirsch, Xu, Höltgen, Gomez, Morisot, Farquhar, Gal, "Prioritized
Training on Points that are Learnable, Worth Learning, and Not Yet Learnt" (ICML 2022). Checked against the
reference code OATML/RHO-Loss (``src/curricula/selection_methods.py``: ``reducible_loss_selection``;
``src/models/MultiModels.py``: ``training_step``).

At every step a large batch ``B`` is drawn; each point's **reducible loss** is

    reducible(x, y) = L[y | x; current model] − L[y | x; irreducible-loss model]

and the ``b`` points with the largest reducible loss are trained on (unweighted mean loss). The
*irreducible-loss model* is a small model trained on a **holdout split** that is disjoint from the training
data (:func:`train_irreducible_model`); its losses are computed once per training example
(:func:`irreducible_losses`, the reference's precomputed table) or per batch (pass the model itself).
Noisy labels have a high irreducible loss (never learnable), points the model already fits have a low
training loss: both rank low.

Reference defaults kept: ``b = 10%`` of ``B`` (``percent_train = 0.1``); the selection forward runs without
gradients with the model in **train mode** (``selection_train_mode = True``: batch-norm layers then update
their running statistics with the large batch, as in the reference); ties are broken by batch position.
Deliberate departures: the irreducible loss of a language-model example is its mean response-token
cross-entropy (the reference's NLP variant classifies sequences); a short last batch with ``b`` or fewer
examples is trained on whole.

Three ways in, one selector (:class:`RhoLossSelector`, ``selector(model, batch) -> (indices, weights)``):

- a custom loop: ``idx = selector.select_batch(model, (x, y), b, index=batch_indices)``;
- :func:`~lessdata.training.fit`: ``fit(model, train, test, batch_size=B, batch_selector=selector)``;
- Hugging Face: :class:`~lessdata.training.transformers.RhoLossTrainer` (the per-step selection mechanism of
  :class:`~lessdata.training.transformers.ColmTrainer`).

Example::

    irreducible_model = train_irreducible_model(make_model(), holdout, train=train)
    table = irreducible_losses(irreducible_model, train)                # one number per training example
    selector = RhoLossSelector(table, fraction=0.1)
    result = fit(make_model(), train, test, batch_size=320, batch_selector=selector)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Subset

from ..data.torch_data import iter_batches
from ..errors import LessdataError
from ..signals.zeroth_order import response_losses
from .fit import fit

__all__ = ["RhoLossSelector", "check_holdout", "irreducible_losses", "select_batch", "train_irreducible_model"]


def _is_int(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def example_losses(model, batch) -> torch.Tensor:
    """Per-example loss of ``model`` on a batch: cross-entropy for an ``(x, y)`` batch, mean response-token
    cross-entropy for a mapping with ``input_ids`` and ``labels`` (a causal LM)."""
    if isinstance(batch, Mapping):
        if "input_ids" not in batch or "labels" not in batch:
            raise LessdataError("a mapping batch needs 'input_ids' and 'labels'")
        device = next(model.parameters()).device
        mask = batch.get("attention_mask")
        logits = model(input_ids=batch["input_ids"].to(device),
                       attention_mask=None if mask is None else mask.to(device)).logits
        return response_losses(logits, batch["labels"].to(device))
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise LessdataError("a batch must be (x, y) or a mapping with 'input_ids' and 'labels'")
    x, y = batch[0], batch[1]
    return F.cross_entropy(model(x), y, reduction="none")


def _batch_size(batch) -> int:
    if isinstance(batch, Mapping):
        ids = batch.get("input_ids")
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
            raise LessdataError("the batch must have a 2-D 'input_ids' tensor (batch, length)")
        return int(ids.shape[0])
    if isinstance(batch, (tuple, list)) and len(batch) >= 2 and isinstance(batch[0], torch.Tensor):
        return int(batch[0].shape[0])
    raise LessdataError("a batch must be (x, y) tensors or a mapping with 'input_ids' and 'labels'")


@torch.no_grad()
def irreducible_losses(model: nn.Module, data, *, batch_size: int = 512, device=None) -> np.ndarray:
    """Per-example loss of the irreducible-loss model on every example of ``data``, in dataset order.

    ``data``: anything :func:`~lessdata.data.iter_batches` reads with labels (a Dataset of ``(x, y)``, an
    ``(X, y)`` pair...). The model runs in eval mode (restored afterwards) on ``device`` (default: its own).

    Examples:
        >>> X = torch.randn(6, 3); y = torch.zeros(6, dtype=torch.long)
        >>> irreducible_losses(torch.nn.Linear(3, 2), (X, y)).shape
        (6,)
    """
    device = next(model.parameters()).device if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    out = []
    try:
        for x, y in iter_batches(data, batch_size=batch_size):
            if y is None:
                raise LessdataError("irreducible losses need labelled data: (x, y) examples")
            out.append(F.cross_entropy(model(x.to(device)), y.to(device), reduction="none").float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def _subset_indices(data):
    return (data.dataset, np.asarray(data.indices)) if isinstance(data, Subset) else (None, None)


def check_holdout(holdout, train=None, *, holdout_indices=None, train_indices=None, min_size: int = 50) -> int:
    """Check that a holdout split can train an irreducible-loss model; returns its size.

    Too small (fewer than ``min_size`` examples) or overlapping the training data is an error. Overlap is
    detected from ``holdout_indices`` / ``train_indices`` (positions in one underlying dataset) when given,
    else when both are ``torch.utils.data.Subset`` views of the same dataset.

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> full = TensorDataset(torch.randn(200, 2), torch.zeros(200, dtype=torch.long))
        >>> check_holdout(Subset(full, range(100)), Subset(full, range(100, 200)))
        100
    """
    try:
        size = len(holdout)
    except TypeError:
        raise LessdataError("the holdout split must have a length (a Dataset or an (X, y) pair)") from None
    if isinstance(holdout, tuple) and len(holdout) == 2:
        size = len(holdout[0])
    if not _is_int(min_size) or min_size < 1:
        raise LessdataError(f"min_size must be a positive integer, got {min_size!r}")
    if size < min_size:
        raise LessdataError(f"the holdout split has {size} examples, fewer than min_size={min_size}: an irreducible-"
                            "loss model trained on it would not estimate the irreducible loss")
    if holdout_indices is None and train is not None:
        base_h, idx_h = _subset_indices(holdout)
        base_t, idx_t = _subset_indices(train)
        if base_h is not None and base_h is base_t:
            holdout_indices, train_indices = idx_h, idx_t
    if holdout_indices is not None and train_indices is not None:
        shared = np.intersect1d(np.asarray(holdout_indices), np.asarray(train_indices))
        if len(shared):
            raise LessdataError(f"the holdout split overlaps the training data in {len(shared)} example(s) "
                                f"(e.g. index {int(shared[0])}): the irreducible loss must come from held-out data")
    return int(size)


def train_irreducible_model(model: nn.Module, holdout, *, train=None, holdout_indices=None, train_indices=None,
                            min_size: int = 50, epochs: int = 10, batch_size: int = 128, optimizer="adamw",
                            lr: float = 1e-3, weight_decay: float = 0.01, device="cpu", seed: int = 0,
                            progress=None) -> nn.Module:
    """Train ``model`` on the holdout split (checked with :func:`check_holdout`) and return it in eval mode.

    Uses :func:`~lessdata.training.fit` on the full holdout (AdamW by default, cosine schedule). The paper
    trains the irreducible-loss model on a holdout set only (it may be small and cheaper than the target).
    """
    check_holdout(holdout, train, holdout_indices=holdout_indices, train_indices=train_indices, min_size=min_size)
    fit(model, holdout, None, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
        weight_decay=weight_decay, device=device, seed=seed, progress=progress)
    return model.eval()


class RhoLossSelector:
    """Pick the ``b`` examples of a batch with the largest reducible loss (RHO-LOSS), one call per step.

    Args:
        irreducible: the irreducible-loss model (an ``nn.Module``, evaluated on each batch), or a 1-D array /
            tensor of per-example irreducible losses indexed by dataset index (then every call needs ``index``).
        b: examples kept per batch; by default ``max(1, int(fraction · B))`` (the reference's rule).
        fraction: share of the batch kept when ``b`` is not given (reference default 0.1).
        train_mode: run the selection forward with the model in train mode (reference default) or eval mode.

    ``history`` holds one record per call: ``batch_size``, ``selected``, ``seconds``, ``mean_reducible``
    (of the picks) and ``mean_irreducible`` (of the picks).

    Examples:
        >>> model = torch.nn.Linear(3, 2)
        >>> selector = RhoLossSelector(np.zeros(8, dtype="float32"), b=2)
        >>> x, y = torch.randn(8, 3), torch.zeros(8, dtype=torch.long)
        >>> idx = selector.select_batch(model, (x, y), 2, index=torch.arange(8))
        >>> losses = F.cross_entropy(model(x), y, reduction="none")
        >>> bool(set(idx.tolist()) == set(torch.topk(losses, 2).indices.tolist()))
        True
    """

    def __init__(self, irreducible, *, b: int | None = None, fraction: float = 0.1, train_mode: bool = True):
        if b is not None and (not _is_int(b) or b < 1):
            raise LessdataError(f"b must be a positive integer, got {b!r}")
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise LessdataError(f"fraction must be in (0, 1), got {fraction!r}")
        if isinstance(irreducible, nn.Module):
            self.model, self.table = irreducible, None
        else:
            table = torch.as_tensor(np.asarray(irreducible, dtype=np.float32))
            if table.dim() != 1 or table.numel() == 0:
                raise LessdataError("irreducible must be an nn.Module or a non-empty 1-D array of per-example losses")
            if not torch.isfinite(table).all():
                raise LessdataError("the irreducible losses must be finite")
            self.model, self.table = None, table
        self.b, self.fraction, self.train_mode = b, float(fraction), bool(train_mode)
        self.history: list[dict[str, Any]] = []

    def budget_for(self, batch_size: int) -> int:
        """Examples kept from a batch of ``batch_size``: ``b``, or ``max(1, int(fraction · B))``."""
        return self.b if self.b is not None else max(1, int(batch_size * self.fraction))

    @torch.no_grad()
    def reducible_losses(self, model, batch, index=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(reducible, irreducible)`` loss of every example of ``batch`` (training loss − irreducible loss)."""
        size = _batch_size(batch)
        was_training = model.training
        model.train(self.train_mode)
        try:
            losses = example_losses(model, batch).float()
        finally:
            model.train(was_training)
        if self.table is not None:
            if index is None:
                raise LessdataError("a precomputed irreducible-loss table needs the batch's dataset indices (index=)")
            index = torch.as_tensor(index).long().reshape(-1).cpu()
            if index.shape[0] != size:
                raise LessdataError(f"index has {index.shape[0]} entries but the batch has {size} examples")
            if int(index.min()) < 0 or int(index.max()) >= self.table.shape[0]:
                raise LessdataError(f"a batch index is outside the irreducible-loss table ({self.table.shape[0]} "
                                    "examples): was it computed on this training set?")
            irreducible = self.table[index].to(losses.device)
        else:
            irreducible = example_losses(self.model, batch).float().to(losses.device)
        return losses - irreducible, irreducible

    def __call__(self, model, batch, sources=None, b: int | None = None, index=None):
        """Select from ``batch``; returns ``(indices, weights)`` on the batch's device (weights all 1).

        ``sources`` is accepted for the per-step selector protocol and ignored.
        """
        size = _batch_size(batch)
        b = self.budget_for(size) if b is None else b
        if not _is_int(b) or b < 1:
            raise LessdataError(f"b must be a positive integer, got {b!r}")
        if b > size:
            raise LessdataError(f"b={b} is larger than the batch it is selected from ({size} examples)")
        start = time.perf_counter()
        reducible, irreducible = self.reducible_losses(model, batch, index)
        if not torch.isfinite(reducible).all():
            raise LessdataError("the training losses are not finite: cannot rank the batch")
        picks = torch.argsort(-reducible, stable=True)[:b]  # largest first, ties by batch position
        self.history.append({"batch_size": size, "selected": int(b), "seconds": time.perf_counter() - start,
                             "mean_reducible": float(reducible[picks].mean()),
                             "mean_irreducible": float(irreducible[picks].mean())})
        return picks, torch.ones(b, device=picks.device)

    def select_batch(self, model, batch, b: int | None = None, index=None) -> torch.Tensor:
        """The batch positions of the ``b`` largest reducible losses, largest first."""
        return self(model, batch, b=b, index=index)[0]


def select_batch(model, batch, b: int, *, irreducible, index=None, train_mode: bool = True) -> torch.Tensor:
    """One-call RHO-LOSS selection: batch positions of the ``b`` largest reducible losses (largest first).

    ``irreducible``: the irreducible-loss model or the per-example table (then give ``index``).

    Examples:
        >>> model = torch.nn.Linear(3, 2)
        >>> x, y = torch.randn(10, 3), torch.zeros(10, dtype=torch.long)
        >>> select_batch(model, (x, y), 3, irreducible=torch.nn.Linear(3, 2)).shape
        torch.Size([3])
    """
    return RhoLossSelector(irreducible, train_mode=train_mode).select_batch(model, batch, b, index=index)
