"""Bridges between numpy arrays and PyTorch: a Dataset over arrays, batch iteration, and back to arrays.

Batches are fetched with one index array wherever the dataset allows it (:class:`ArrayDataset`, a torch
``TensorDataset``, a ``Subset`` of either, or any dataset with ``__getitems__``): :func:`batch_fetcher`.

Examples:
    >>> import numpy as np
    >>> X = np.zeros((5, 28, 28), dtype=np.uint8); y = np.arange(5)
    >>> ds = ArrayDataset(X, y, shape=(1, 28, 28))
    >>> x0, y0 = ds[0]
    >>> tuple(x0.shape), x0.dtype, int(y0)
    ((1, 28, 28), torch.float32, 0)
    >>> Xa, ya = as_arrays(ds)
    >>> Xa.shape, ya.tolist()
    ((5, 1, 28, 28), [0, 1, 2, 3, 4])
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset, TensorDataset
from torch.utils.data.dataloader import default_collate

from ..errors import LessdataError


class ArrayDataset(Dataset):
    """A map-style torch Dataset over an array of inputs and (optionally) integer labels.

    Items are ``(x, y)`` (or ``x`` alone when ``y`` is ``None``) with ``x`` float32: uint8 inputs (images)
    are scaled to ``[0, 1]`` by dividing by 255, other dtypes are cast. The array is kept in its own dtype
    and converted per item, so a uint8 image set stays 4x smaller in memory.

    Args:
        X: numpy array or torch tensor, first axis = examples.
        y: integer labels, one per example, or ``None``.
        shape: optional shape of one item, e.g. ``(1, 28, 28)`` to feed flat 784-pixel rows to a CNN.
    """

    def __init__(self, X, y=None, *, shape: tuple[int, ...] | None = None):
        self.X = _as_tensor(X, "X")
        if self.X.ndim == 0:
            raise LessdataError("X must have at least one dimension (one row per example)")
        self.y = None if y is None else _label_tensor(y, len(self.X))
        self.shape = tuple(shape) if shape is not None else None
        if self.shape is not None and int(np.prod(self.shape)) != int(np.prod(self.X.shape[1:])):
            raise LessdataError(f"cannot view items of shape {tuple(self.X.shape[1:])} as {self.shape}")

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index):
        x = self._convert(self.X[index])
        return x if self.y is None else (x, self.y[index])

    def batch(self, start: int, stop: int):
        """Rows ``start:stop`` as one batch, converted exactly as items are (fast path for iteration)."""
        x = self._convert(self.X[start:stop], batched=True)
        return x if self.y is None else (x, self.y[start:stop])

    def take(self, indices):
        """Rows ``indices`` (any order, repeats allowed) as one collated batch, with one index and one conversion.

        Equal, element for element, to ``default_collate([self[i] for i in indices])`` (a list ``[x, y]``
        when there are labels, as ``default_collate`` makes of tuples).

        Examples:
            >>> ds = ArrayDataset(np.arange(12, dtype=np.uint8).reshape(4, 3), [0, 1, 0, 1])
            >>> x, y = ds.take([3, 0])
            >>> (x * 255).tolist(), y.tolist()
            ([[9.0, 10.0, 11.0], [0.0, 1.0, 2.0]], [1, 0])
        """
        idx = _rows(_index_tensor(indices), len(self.X))
        x = self._convert(torch.index_select(self.X, 0, idx), batched=True)
        return x if self.y is None else [x, torch.index_select(self.y, 0, idx)]

    def __getitems__(self, indices):
        """Items ``indices`` as a list of samples (torch's DataLoader calls this for a whole batch)."""
        if not _plain(self, ArrayDataset):  # a subclass with its own __getitem__ keeps it
            return [self[i] for i in indices]
        batch = self.take(indices)
        return list(batch.unbind(0)) if self.y is None else list(zip(batch[0].unbind(0), batch[1].unbind(0)))

    def _convert(self, x: torch.Tensor, batched: bool = False) -> torch.Tensor:
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        if self.shape is not None:
            x = x.reshape((len(x), *self.shape) if batched else self.shape)
        return x


def _index_tensor(indices) -> torch.Tensor:
    """Dataset indices (list, numpy array or tensor) as a 1-D int64 CPU tensor."""
    if isinstance(indices, torch.Tensor):
        if indices.is_floating_point() or indices.is_complex():
            raise LessdataError(f"dataset indices must be integers, got {indices.dtype}")
        return indices.detach().to("cpu", torch.int64).reshape(-1)
    idx = np.asarray(indices)
    if idx.size and idx.dtype.kind not in "iu":
        raise LessdataError(f"dataset indices must be integers, got dtype {idx.dtype}")
    return torch.from_numpy(idx.astype(np.int64, copy=False).reshape(-1))


def _rows(idx: torch.Tensor, n: int) -> torch.Tensor:
    """``idx`` with negative entries counted from the end, as ``dataset[i]`` does; IndexError when out of range."""
    if idx.numel() and (int(idx.min()) < -n or int(idx.max()) >= n):
        bad = int(idx.min()) if int(idx.min()) < -n else int(idx.max())
        raise IndexError(f"index {bad} is out of range for a dataset of {n} examples")
    return torch.where(idx < 0, idx + n, idx) if idx.numel() and int(idx.min()) < 0 else idx


def _plain(dataset, cls) -> bool:
    """``dataset`` is a ``cls`` whose items are ``cls.__getitem__``'s (a subclass may change them)."""
    return isinstance(dataset, cls) and type(dataset).__getitem__ is cls.__getitem__


class BatchFetcher:
    """``fetch(indices)`` returns ``collate_fn([dataset[i] for i in indices])``, fetched as one batch when it can.

    ``batched`` says how: ``"take"`` (an :class:`ArrayDataset`, a ``TensorDataset`` or a ``Subset`` of one: one
    index array, already collated; only with the default collate), ``"getitems"`` (the dataset's own
    ``__getitems__``, as torch's DataLoader uses it, then ``collate_fn``) or ``None`` (one ``dataset[i]`` per
    item). Made by :func:`batch_fetcher`; picklable when the dataset is, so it can travel to worker processes.
    """

    def __init__(self, dataset, collate_fn=None):
        self.dataset = dataset
        self.collate_fn = collate_fn or default_collate
        self._root, self._rows = dataset, None  # for a Subset chain: the innermost dataset and the index map
        while _plain(self._root, Subset):
            rows = torch.as_tensor(np.asarray(self._root.indices, dtype=np.int64))
            self._rows = rows if self._rows is None else rows[self._rows]
            self._root = self._root.dataset
        if collate_fn is None and (_plain(self._root, ArrayDataset) or _plain(self._root, TensorDataset)):
            self.batched = "take"
        elif callable(getattr(dataset, "__getitems__", None)):
            self.batched = "getitems"
        else:
            self.batched = None

    def __call__(self, indices):
        if self.batched == "take":
            idx = _index_tensor(indices)
            if self._rows is not None:
                idx = torch.index_select(self._rows, 0, _rows(idx, len(self._rows)))
            if isinstance(self._root, ArrayDataset):
                return self._root.take(idx)
            idx = _rows(idx, len(self._root))
            return [torch.index_select(t, 0, idx.to(t.device)) for t in self._root.tensors]  # a list, as
            # default_collate makes of tuples
        items = indices.tolist() if isinstance(indices, (np.ndarray, torch.Tensor)) else list(indices)
        if self.batched == "getitems":
            return self.collate_fn(self.dataset.__getitems__(items))
        return self.collate_fn([self.dataset[i] for i in items])


def batch_fetcher(dataset, collate_fn=None) -> BatchFetcher:
    """A :class:`BatchFetcher`: ``fetch(indices)`` is ``collate_fn([dataset[i] for i in indices])``, with one
    batched index instead of one ``dataset[i]`` call per item when the dataset supports it.

    Examples:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> fetch = batch_fetcher(TensorDataset(torch.arange(10.0), torch.arange(10) % 2))
        >>> x, y = fetch([7, 2]); fetch.batched, x.tolist(), y.tolist()
        ('take', [7.0, 2.0], [1, 0])
    """
    return BatchFetcher(dataset, collate_fn)


def _label_tensor(y, n: int | None) -> torch.Tensor:
    """Integer class labels as an int64 tensor, or raise naming what is wrong."""
    labels = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if labels.ndim != 1 or (n is not None and len(labels) != n):
        raise LessdataError(f"labels must be 1-D with one label per example ({n}), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        whole = labels.dtype.kind == "f" and bool(np.all(labels == np.round(labels)))
        if not whole:
            raise LessdataError(
                f"labels must be integer class ids (got dtype {labels.dtype}); map class "
                "names to 0..C-1 first, e.g. np.unique(y, return_inverse=True)"
            )
    return torch.from_numpy(labels.astype(np.int64))


def dataset_labels(data, labels=None, batch_size: int = 512) -> np.ndarray:
    """``labels`` as a 1-D int64 array, or, when ``labels`` is ``None``, the labels read once (in order) from
    ``data`` yielding ``(x, y)`` (anything :func:`iter_batches` reads).

    Examples:
        >>> dataset_labels((np.zeros((3, 2)), np.array([2, 0, 1]))).tolist()
        [2, 0, 1]
    """
    if labels is not None:
        return _label_tensor(labels, None).numpy()
    ys = [y for _, y in iter_batches(data, batch_size=batch_size)]
    if not ys or any(y is None for y in ys):
        raise LessdataError("pass labels=, or data that yields (x, y)")
    return np.concatenate([y.numpy() for y in ys]).astype(np.int64)


def _as_tensor(X, name: str) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        return X.detach()
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged input and the like
        raise LessdataError(f"{name} could not be read as an array: {exc}") from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise LessdataError(f"{name} must be numeric, got dtype {arr.dtype}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def _as_dataset(data) -> Dataset | DataLoader:
    """Turn any supported input (see :func:`iter_batches`) into a Dataset or DataLoader."""
    if isinstance(data, (Dataset, DataLoader)):
        return data
    if isinstance(data, (str, os.PathLike)):
        from .arrays import read_table

        return ArrayDataset(*read_table(data))
    if isinstance(data, tuple) and len(data) == 2:
        return ArrayDataset(data[0], data[1])
    if isinstance(data, (np.ndarray, torch.Tensor)):
        return ArrayDataset(data)
    raise LessdataError(
        f"cannot read examples from a {type(data).__name__}; pass numpy arrays (X, y), a "
        "torch Dataset, a DataLoader, or a file path"
    )


def split_batch(batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(x, y)`` from one batch a dataset or loader yields: a tensor (``y`` is ``None``) or ``(x, y, ...)``."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        y = batch[1] if len(batch) > 1 else None
        return batch[0], (torch.as_tensor(y) if y is not None else None)
    raise LessdataError(
        f"dataset items must be tensors or (x, y) tuples, got a batch of type {type(batch).__name__}"
    )


def iter_batches(
    data, labels=None, *, batch_size: int = 512
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield ``(x, y)`` torch batches in dataset order (``y`` is ``None`` when there are no labels).

    ``data`` may be a numpy array or tensor (with ``labels``), an ``(X, y)`` pair, a torch Dataset
    yielding ``x`` or ``(x, y, ...)`` (extra fields are ignored), a non-shuffling DataLoader, or a file
    path readable by :func:`~lessdata.data.read_table`. ``labels``, when given, replaces the data's labels.

    Examples:
        >>> import numpy as np
        >>> [tuple(x.shape) for x, _ in iter_batches(np.ones((5, 3)), batch_size=2)]
        [(2, 3), (2, 3), (1, 3)]
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise LessdataError(f"batch_size must be a positive integer, got {batch_size!r}")
    source = _as_dataset(data)
    if isinstance(source, DataLoader) and isinstance(source.sampler, RandomSampler):
        raise LessdataError(
            "the DataLoader shuffles, so rows would not line up with dataset indices; "
            "pass one built with shuffle=False (or the Dataset itself)"
        )
    label_tensor = None
    if labels is not None:
        label_tensor = _label_tensor(labels, _length(source))
    offset = 0
    for x, y in _raw_batches(source, batch_size):
        if label_tensor is not None:
            y = label_tensor[offset : offset + len(x)]
            if len(y) != len(x):
                raise LessdataError(f"labels has {len(label_tensor)} entries but the data has more examples")
        offset += len(x)
        yield x, y
    if label_tensor is not None and offset != len(label_tensor):
        raise LessdataError(f"labels has {len(label_tensor)} entries but the data has {offset} examples")


def _raw_batches(source, batch_size: int):
    if isinstance(source, ArrayDataset):
        for start in range(0, len(source), batch_size):
            yield split_batch(source.batch(start, start + batch_size))
        return
    fetch = batch_fetcher(source) if isinstance(source, (Subset, TensorDataset)) else None
    if fetch is not None and fetch.batched == "take":
        n = len(source)
        for start in range(0, n, batch_size):
            yield split_batch(fetch(torch.arange(start, min(start + batch_size, n))))
        return
    loader = source if isinstance(source, DataLoader) else DataLoader(source, batch_size=batch_size)
    for batch in loader:
        yield split_batch(batch)


def _length(source) -> int | None:
    """Number of examples, when the source knows it without iterating."""
    dataset = source.dataset if isinstance(source, DataLoader) else source
    try:
        return len(dataset)
    except TypeError:  # an IterableDataset without __len__
        return None


def as_arrays(data, *, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray | None]:
    """Return ``(X, y)`` numpy arrays from an ``(X, y)`` pair, an array, a torch Dataset/DataLoader or a path.

    Arrays and files come back as stored (files via :func:`~lessdata.data.read_table`); datasets are
    iterated in order in batches and stacked, so ``X`` holds exactly what the dataset yields. ``y`` is
    ``None`` when there are no labels.

    Examples:
        >>> import numpy as np
        >>> X, y = as_arrays((np.ones((4, 2)), [0, 1, 0, 1]))
        >>> X.shape, y.tolist()
        ((4, 2), [0, 1, 0, 1])
    """
    if isinstance(data, (str, os.PathLike)):
        from .arrays import read_table

        return read_table(data)
    if isinstance(data, tuple) and len(data) == 2:
        X, y = np.asarray(data[0]), (None if data[1] is None else np.asarray(data[1]))
        if y is not None and (y.ndim != 1 or len(y) != len(X)):
            raise LessdataError(f"y must be 1-D with one label per row of X ({len(X)}), got shape {y.shape}")
        return X, y
    if isinstance(data, np.ndarray):
        return data, None
    if isinstance(data, torch.Tensor):
        return data.detach().cpu().numpy(), None
    xs, ys = [], []
    for x, y in iter_batches(data, batch_size=batch_size):
        xs.append(x.detach().cpu().numpy())
        if y is not None:
            ys.append(y.detach().cpu().numpy())
    if not xs:
        raise LessdataError("the dataset is empty")
    if ys and len(ys) != len(xs):
        raise LessdataError("some batches have labels and some do not")
    return np.concatenate(xs), (np.concatenate(ys) if ys else None)
