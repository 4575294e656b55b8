"""Per-example training dynamics: one recorder that every score-based method reads from.

:class:`DynamicsRecorder` keeps, for each of ``n`` training examples and each *column* (an epoch of
training, or a checkpoint at which the model was evaluated), the example's

- ``loss``: its per-example loss (for a sequence model, the mean over the non-batch dimensions);
- ``correct``: 1.0 when the arg-max of the logits is the label, else 0.0;
- ``confidence``: the softmax probability of the true class;
- ``error_norm``: ``||softmax(logits) - onehot(y)||_2``, the EL2N score of Paul et al. (2021);
- optionally the ``logits`` themselves (``logits=True``; ``n × T × C``, so only for modest ``n · C``).

Each is a float32 (or ``dtype="float16"``, half the memory) array of shape ``(n, T)`` with NaN where the
example was not seen in that column (e.g. it was outside the epoch's coreset). Within one column a later
sighting overwrites an earlier one. ``targets`` holds the last label seen per example (-1: never seen).

Readers: forgetting events (Toneva et al., 2019) read ``correct``; dataset cartography (Swayamdipta et al.,
2020) reads ``confidence``; EL2N reads ``error_norm``; uncertainty and USEFUL-style clustering read
``logits``; S2L-style loss-trajectory clustering reads ``loss`` (see :meth:`DynamicsRecorder.trajectory`).

Ways to fill it:

- ``fit(..., callbacks=[recorder])``: a :func:`~lessdata.training.fit` callback, one column per epoch,
  recorded from the training batches as they are trained on (the logits before that step's update);
- Lightning: ``lessdata.training.DynamicsCallback(recorder)`` (see it for the ``training_step`` contract);
- any loop: ``recorder.start_column(epoch)`` then ``recorder.update(indices, logits=..., targets=...,
  losses=...)`` per batch (the Hugging Face Trainer hook will call exactly this);
- :func:`record_checkpoint` / :meth:`DynamicsRecorder.record_checkpoint`: evaluate a model on a whole
  dataset (eval mode, no gradients) and add one column (S2L-style trajectories, EL2N at an epoch).

It also computes the model-based scores of Paul et al. (2021), "Deep Learning on a Data Diet: Finding
Important Examples Early in Training": :func:`el2n_scores` and :func:`grand_scores`;
:func:`lessdata.training.early_training_scores` averages either over several short training runs.

Examples:
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> from lessdata.training import fit
    >>> X = torch.randn(64, 4); y = (X[:, 0] > 0).long()
    >>> recorder = DynamicsRecorder()
    >>> _ = fit(torch.nn.Linear(4, 2), TensorDataset(X, y), epochs=3, batch_size=16, callbacks=[recorder])
    >>> recorder.loss.shape, recorder.columns
    ((64, 3), [0, 1, 2])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.torch_data import iter_batches
from ..errors import LessdataError
from .dynamics_grand import (
    _as_targets,
    _gradient_norms_loop,  # noqa: F401  (tests import it from here)
    grand_scores,
)
from .dynamics_io import _DTYPES, _FORMAT_VERSION, _load, _save  # noqa: F401  (_FORMAT_VERSION: kept here too)
from .gradients import _size, model_device
from .statistics import cartography_statistics, forgetting_events

FIELDS = ("loss", "correct", "confidence", "error_norm")

__all__ = [
    "FIELDS",
    "DynamicsRecorder",
    "el2n_scores",
    "grand_scores",
    "record_checkpoint",
]


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise LessdataError(f"the number of examples n must be a positive integer, got {n!r}")
    return int(n)


class DynamicsRecorder:
    """Record per-example loss, correctness, true-class probability (and optionally logits) per column.

    Args:
        n: number of training examples; inferred at the start of training (from ``fit``'s loader, or the
            Lightning train dataloader) when not given.
        logits: also keep the logits, an ``(n, T, C)`` array.
        fields: which of :data:`FIELDS` to keep (all by default); drop some to save memory.
        dtype: ``"float32"`` (default) or ``"float16"`` (half the memory; ~3 significant digits).
        columns: expected number of columns (e.g. epochs), to allocate once; the arrays grow when exceeded.

    Attributes:
        loss, correct, confidence, error_norm: ``(n, T)`` views (``None`` for a field not kept).
        logits: ``(n, T, C)`` view or ``None``.
        targets: int64 ``(n,)`` last label seen per example, -1 if never seen.
        columns: one label per column: the epoch number for training columns, the ``name`` given to
            :meth:`record_checkpoint` for checkpoint columns.
    """

    def __init__(self, n: int | None = None, *, logits: bool = False, fields: Sequence[str] = FIELDS,
                 dtype: str = "float32", columns: int | None = None):
        if dtype not in _DTYPES:
            raise LessdataError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        if isinstance(fields, str):
            fields = (fields,)
        fields = tuple(fields)
        unknown = [f for f in fields if f not in FIELDS]
        if unknown or len(set(fields)) != len(fields):
            raise LessdataError(f"fields must be distinct names among {', '.join(FIELDS)}; got {list(fields)}")
        if not fields and not logits:
            raise LessdataError("the recorder keeps nothing: give at least one field or logits=True")
        if columns is not None and (isinstance(columns, bool) or not isinstance(columns, (int, np.integer))
                                    or columns < 1):
            raise LessdataError(f"columns must be a positive integer, got {columns!r}")
        self.fields = fields
        self.keep_logits = bool(logits)
        self.dtype = dtype
        self.columns: list = []
        self._capacity = int(columns) if columns is not None else 8
        self._n: int | None = None
        self._data: dict[str, np.ndarray] = {}
        self._logits: np.ndarray | None = None
        self.targets: np.ndarray | None = None
        if n is not None:
            self._allocate(_check_n(n))

    # ------------------------------------------------------------------------------------ storage
    def _allocate(self, n: int) -> None:
        self._n = n
        np_dtype = _DTYPES[self.dtype]
        self._data = {f: np.full((n, self._capacity), np.nan, dtype=np_dtype) for f in self.fields}
        self.targets = np.full(n, -1, dtype=np.int64)

    def set_n(self, n: int) -> None:
        """Fix the number of examples (allocating the arrays); an error if the recorder already holds another."""
        n = _check_n(n)
        if self._n is None:
            self._allocate(n)
        elif self._n != n:
            raise LessdataError(f"the recorder holds {self._n} examples but the data has {n}")

    def _grow(self, needed: int) -> None:
        if needed <= self._capacity:
            return
        capacity = max(needed, 2 * self._capacity)
        for name, arr in self._data.items():
            grown = np.full((arr.shape[0], capacity), np.nan, dtype=arr.dtype)
            grown[:, : arr.shape[1]] = arr
            self._data[name] = grown
        if self._logits is not None:
            grown = np.full((self._logits.shape[0], capacity, self._logits.shape[2]), np.nan, self._logits.dtype)
            grown[:, : self._logits.shape[1]] = self._logits
            self._logits = grown
        self._capacity = capacity

    @property
    def n(self) -> int | None:
        """Number of examples (``None`` until known)."""
        return self._n

    @property
    def num_columns(self) -> int:
        return len(self.columns)

    def _view(self, name: str) -> np.ndarray | None:
        arr = self._data.get(name)
        return None if arr is None else arr[:, : len(self.columns)]

    loss = property(lambda self: self._view("loss"), doc="``(n, T)`` per-example loss (NaN: not seen).")
    correct = property(lambda self: self._view("correct"), doc="``(n, T)`` 1.0 / 0.0 correct (NaN: not seen).")
    confidence = property(lambda self: self._view("confidence"),
                          doc="``(n, T)`` probability of the true class (NaN: not seen).")
    error_norm = property(lambda self: self._view("error_norm"),
                          doc="``(n, T)`` ``||softmax - onehot||_2``, the EL2N score (NaN: not seen).")

    @property
    def logits(self) -> np.ndarray | None:
        """``(n, T, C)`` logits (NaN: not seen), or ``None`` when not kept / nothing recorded yet."""
        return None if self._logits is None else self._logits[:, : len(self.columns)]

    def field(self, name: str) -> np.ndarray:
        """The ``(n, T)`` array of one of :data:`FIELDS`; a clear error when it was not kept."""
        if name not in FIELDS:
            raise LessdataError(f"unknown dynamics field {name!r}; choose one of: {', '.join(FIELDS)}")
        if name not in self._data:
            why = "nothing was recorded yet" if self._n is None else f"the recorder keeps only {list(self.fields)}"
            raise LessdataError(f"the recorder has no {name!r}: {why}")
        return self._view(name)

    @property
    def seen(self) -> np.ndarray:
        """``(n, T)`` bool: whether each example was recorded in each column."""
        if self._n is None:
            raise LessdataError("the recorder is empty: nothing was recorded yet")
        T = len(self.columns)
        seen = np.zeros((self._n, T), dtype=bool)
        for arr in self._data.values():
            seen |= ~np.isnan(arr[:, :T])
        if self._logits is not None:
            seen |= ~np.isnan(self._logits[:, :T, 0])
        return seen

    def __repr__(self) -> str:
        return (f"DynamicsRecorder(n={self._n}, columns={len(self.columns)}, fields={list(self.fields)}, "
                f"logits={self.keep_logits}, dtype={self.dtype!r})")

    # ---------------------------------------------------------------------------------- recording
    def start_column(self, label=None) -> int:
        """Open a new column (an epoch or a checkpoint) and return its position.

        ``label`` names it (default: its position). Starting the column that is already the last one again
        (same label) is a no-op, so a loop that calls this at every epoch start is safe to resume.
        """
        label = len(self.columns) if label is None else label
        if isinstance(label, np.generic):
            label = label.item()
        if not isinstance(label, (int, str)) or isinstance(label, bool):
            raise LessdataError(f"a column label must be an int or a string, got {label!r}")
        if self.columns and self.columns[-1] == label:
            return len(self.columns) - 1
        self._grow(len(self.columns) + 1)
        self.columns.append(label)
        return len(self.columns) - 1

    def update(self, indices, *, logits=None, targets=None, losses=None) -> None:
        """Record one batch into the current column (the first column is opened if none is).

        Args:
            indices: dataset indices of the batch's examples, shape ``(b,)``.
            logits: ``(b, C)`` classifier outputs; with ``targets`` they give ``correct``, ``confidence``,
                ``error_norm`` (and ``loss`` = cross-entropy when ``losses`` is not given).
            targets: ``(b,)`` integer class labels.
            losses: per-example losses ``(b, ...)`` (averaged over non-batch dimensions): the loss actually
                trained on. Enough on its own for loss trajectories of non-classifiers.
        """
        idx = _as_index_array(indices)
        if self._n is None:
            raise LessdataError("the recorder does not know the number of examples: pass n= to DynamicsRecorder")
        if len(idx) and (idx.min() < 0 or idx.max() >= self._n):
            raise LessdataError(f"index {int(idx.max() if idx.max() >= self._n else idx.min())} is out of "
                                f"range for a recorder of {self._n} examples")
        if not self.columns:
            self.start_column(0)
        col = len(self.columns) - 1
        b = len(idx)
        if logits is None and losses is None:
            raise LessdataError("update() needs logits (with targets) or per-example losses")
        loss_values = None
        if losses is not None:
            losses = torch.as_tensor(losses).detach()
            if losses.ndim == 0 or losses.shape[0] != b:
                raise LessdataError(f"losses must have one entry per example ({b}), got shape {tuple(losses.shape)}")
            loss_values = losses.float().reshape(b, -1).mean(dim=1).cpu().numpy()
        if logits is not None:  # validate everything before writing anything
            logits = torch.as_tensor(logits).detach()
            if logits.ndim != 2 or logits.shape[0] != b:
                raise LessdataError(f"logits must have shape (batch={b}, classes), got {tuple(logits.shape)}")
            if targets is None and losses is None:
                raise LessdataError("update() with logits needs targets= (or per-example losses=)")
            y = None if targets is None else _as_targets(targets, b, logits.shape[1])
            self._record_logits(idx, col, logits)
            if y is not None:
                self.targets[idx] = y.cpu().numpy()
                logits32 = logits.float()
                log_probs = torch.log_softmax(logits32, dim=1)
                probs = log_probs.exp()
                rows = torch.arange(b, device=logits.device)
                y = y.to(logits.device)
                true_prob = probs[rows, y]
                stats = {
                    "correct": (logits32.argmax(dim=1) == y).float(),
                    "confidence": true_prob,
                    # ||p - e_y||^2 = sum p^2 - 2 p_y + 1
                    "error_norm": (probs.square().sum(dim=1) - 2 * true_prob + 1).clamp_min(0).sqrt(),
                }
                for name, values in stats.items():
                    if name in self._data:
                        self._data[name][idx, col] = values.cpu().numpy()
                if loss_values is None:
                    loss_values = (-log_probs[rows, y]).cpu().numpy()
        if loss_values is not None and "loss" in self._data:
            self._data["loss"][idx, col] = loss_values

    def _record_logits(self, idx: np.ndarray, col: int, logits) -> None:
        if not self.keep_logits:
            return
        num_classes = int(logits.shape[1])
        if self._logits is not None and self._logits.shape[2] != num_classes:
            raise LessdataError(f"logits have {num_classes} classes but earlier batches had {self._logits.shape[2]}")
        if self._logits is None:
            self._logits = np.full((self._n, self._capacity, num_classes), np.nan, dtype=_DTYPES[self.dtype])
        self._logits[idx, col] = logits.float().cpu().numpy()

    # fit() callback hooks -----------------------------------------------------------------------
    def on_fit_start(self, model, loader) -> None:
        self.set_n(loader.size)

    def on_epoch_start(self, epoch: int, model, loader) -> None:
        self.start_column(int(epoch))

    def on_batch_end(self, epoch: int, model, batch) -> None:
        if _is_classification(batch.outputs, batch.targets):
            self.update(batch.indices, logits=batch.outputs, targets=batch.targets, losses=batch.losses)
        else:  # e.g. a regression or sequence model: only the loss is defined
            self.update(batch.indices, losses=batch.losses)

    def record_checkpoint(self, model, data, labels=None, *, name=None, loss_fn: Callable | None = None,
                          batch_size: int = 512, device=None, progress=None) -> int:
        """Evaluate ``model`` on every example of ``data`` (in order) and record one new column.

        The model runs in eval mode under ``torch.no_grad()``; each module's mode is restored afterwards.
        ``data`` is anything :func:`lessdata.data.iter_batches` reads (arrays with ``labels``, an ``(X, y)``
        pair, a Dataset, a non-shuffling DataLoader). ``loss_fn`` (``reduction="none"``) replaces the
        cross-entropy as the recorded loss. Returns the new column's position.
        """
        label = f"checkpoint {len(self.columns)}" if name is None else name
        if label in self.columns:
            raise LessdataError(f"a column named {label!r} already exists")
        size = _size(data, labels)
        if size is not None:
            self.set_n(size)
        elif self._n is None:
            raise LessdataError("cannot tell how many examples the data has: pass n= to DynamicsRecorder")
        if progress is not None and hasattr(progress, "total"):
            progress.total = self._n
        device = model_device(model) if device is None else torch.device(device)
        modes = {module: module.training for module in model.modules()}
        col = self.start_column(label)
        offset = 0
        try:
            model.eval()
            with torch.no_grad():
                for x, y in iter_batches(data, labels, batch_size=batch_size):
                    if offset + len(x) > self._n:
                        raise LessdataError(f"the data has more than the recorder's {self._n} examples")
                    out = model(x.to(device))
                    y = None if y is None else y.to(device)
                    losses = None if loss_fn is None else loss_fn(out, y)
                    indices = np.arange(offset, offset + len(x))
                    if _is_classification(out, y):
                        self.update(indices, logits=out, targets=y, losses=losses)
                    elif losses is not None:
                        self.update(indices, losses=losses)
                    else:
                        raise LessdataError(
                            "record_checkpoint needs class labels (labels= or (x, y) data) and a model returning "
                            "(batch, classes) logits, or a per-example loss_fn="
                        )
                    offset += len(x)
                    if progress is not None:
                        progress.update(len(x))
        finally:
            for module, training in modes.items():
                module.train(training)
        if offset != self._n:
            raise LessdataError(f"the data has {offset} examples but the recorder holds {self._n}")
        return col

    # --------------------------------------------------------------------------------- reading
    def column_index(self, column: int) -> int:
        """The non-negative position of ``column`` (an integer position; negative counts from the end)."""
        T = len(self.columns)
        if isinstance(column, bool) or not isinstance(column, (int, np.integer)) or not -T <= column < T:
            raise LessdataError(f"column must be an integer position in [-{T}, {T}) (the recorder has {T} columns), "
                                f"got {column!r}")
        return int(column) % T

    def trajectory(self, name: str = "loss", fill: str | float | None = None) -> np.ndarray:
        """A float32 ``(n, T)`` copy of one field, with NaNs (unseen) optionally filled.

        ``fill``: ``None`` keeps NaN; ``"forward"`` carries each example's last observation forward (and its
        first one backward over leading gaps); a number replaces every NaN. Rows never seen stay NaN unless
        ``fill`` is a number.
        """
        values = self.field(name).astype(np.float32)
        if fill is None:
            return values
        if isinstance(fill, str):
            if fill != "forward":
                raise LessdataError(f"fill must be None, 'forward' or a number, got {fill!r}")
            return _fill_forward(values)
        if isinstance(fill, bool) or not isinstance(fill, (int, float, np.number)):
            raise LessdataError(f"fill must be None, 'forward' or a number, got {fill!r}")
        values[np.isnan(values)] = float(fill)
        return values

    def probabilities(self, column: int = -1) -> np.ndarray:
        """float32 ``(n, C)`` softmax of the logits of one column (NaN rows: not seen there)."""
        if self._logits is None:
            raise LessdataError("the recorder kept no logits: create it with DynamicsRecorder(logits=True)")
        z = self.logits[:, self.column_index(column)].astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)

    def forgetting_events(self) -> np.ndarray:
        """Forgetting events per example (Toneva et al., 2019): see
        :func:`~lessdata.signals.statistics.forgetting_events`."""
        return forgetting_events(self.field("correct"))

    def cartography(self) -> tuple[np.ndarray, np.ndarray]:
        """``(confidence, variability)`` per example (Swayamdipta et al., 2020): the mean and standard deviation
        of the true-class probability over the columns where the example was seen (NaN: never seen)."""
        return cartography_statistics(self.field("confidence"))

    # ------------------------------------------------------------------------------- save / load
    def save(self, path: str | os.PathLike) -> Path:
        """Write to an ``.npz`` file atomically; :meth:`load` reads it back."""
        return _save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> DynamicsRecorder:
        """Read a recorder written by :meth:`save`."""
        return _load(cls, path)


# ---------------------------------------------------------------------------------- helpers
def _is_classification(outputs, targets) -> bool:
    return (isinstance(outputs, torch.Tensor) and outputs.ndim == 2 and isinstance(targets, torch.Tensor)
            and targets.ndim == 1 and not targets.is_floating_point())


def _as_index_array(indices) -> np.ndarray:
    if hasattr(indices, "detach"):
        indices = indices.detach().cpu().numpy()
    idx = np.asarray(indices)
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        raise LessdataError(f"indices must be a 1-D array of integer dataset indices, got shape {idx.shape} "
                            f"dtype {idx.dtype}")
    return idx.astype(np.int64)


def _fill_forward(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    n, T = out.shape
    last = np.full(n, np.nan, dtype=out.dtype)
    for t in range(T):
        seen = ~np.isnan(out[:, t])
        last[seen] = out[seen, t]
        out[~seen, t] = last[~seen]
    first = np.full(n, np.nan, dtype=out.dtype)  # leading gaps take the first observation
    for t in range(T - 1, -1, -1):
        seen = ~np.isnan(values[:, t])
        first[seen] = values[seen, t]
    lead = np.isnan(out)
    out[lead] = np.broadcast_to(first[:, None], out.shape)[lead]
    return out


def record_checkpoint(model, data, labels=None, *, recorder: DynamicsRecorder | None = None, name=None,
                      logits: bool = False, loss_fn: Callable | None = None, batch_size: int = 512,
                      device=None, progress=None) -> DynamicsRecorder:
    """Evaluate ``model`` on ``data`` and record one column: into ``recorder``, or a new one (returned).

    Called once per saved checkpoint of a (small, proxy) model, this builds the per-example loss
    trajectories of S2L (Yang et al., 2024, "SmallToLarge (S2L): Scalable Data Selection for Fine-tuning
    Large Language Models by Summarizing Training Trajectories of Small Models"). ``logits=True`` keeps the
    logits in a new recorder. See :meth:`DynamicsRecorder.record_checkpoint` for the arguments.

    Examples:
        >>> import numpy as np, torch
        >>> X = np.random.default_rng(0).normal(size=(10, 3)).astype("float32"); y = np.arange(10) % 2
        >>> rec = record_checkpoint(torch.nn.Linear(3, 2), X, y, name="step 0")
        >>> rec.loss.shape, rec.columns
        ((10, 1), ['step 0'])
    """
    if recorder is None:
        recorder = DynamicsRecorder(logits=logits)
    elif not isinstance(recorder, DynamicsRecorder):
        raise LessdataError(f"recorder must be a DynamicsRecorder, got {type(recorder).__name__}")
    recorder.record_checkpoint(model, data, labels, name=name, loss_fn=loss_fn, batch_size=batch_size,
                               device=device, progress=progress)
    return recorder


# ------------------------------------------------------------------ EL2N and GraNd (Paul et al.)
def el2n_scores(model, data, labels=None, *, batch_size: int = 512, device=None) -> np.ndarray:
    """EL2N (Paul et al., 2021): ``||softmax(f(x)) - onehot(y)||_2`` per example, float32 ``(n,)``.

    Higher = harder. The model is evaluated (eval mode, no gradients) on ``data`` in order.
    Paul et al. average it over 10 models trained for a short while (20 of 200 epochs on CIFAR-10); see
    :func:`lessdata.training.early_training_scores`.
    """
    rec = record_checkpoint(model, data, labels, recorder=DynamicsRecorder(fields=("error_norm",)),
                            batch_size=batch_size, device=device)
    return rec.error_norm[:, 0].astype(np.float32)
