"""Weighted data loading: train on a :class:`~lessdata.Coreset` and get each example's weight with its batch.

CRAIG (Mirzasoleiman et al., 2020, "Coresets for Data-efficient Training of Machine Learning Models") trains
on the selected subset with per-element step sizes equal to the selected points' weights (the sizes of the
clusters they represent). In a mini-batch loop that is a per-example weighted loss::

    for x, y, w in loader:
        loss = (loss_fn_none(model(x), y) * w).mean()   # loss_fn_none = nn.CrossEntropyLoss(reduction="none")

Weights are rescaled to mean 1 within the coreset, so a uniform coreset trains exactly like plain SGD on the
subset and the learning rate keeps its meaning.

A Coreset's ``multiplicities`` say how many times each example is visited per epoch: an example with
multiplicity ``m`` appears ``m`` times in every shuffled epoch, each time with its (unchanged) weight.

:class:`CoresetLoader` wraps a ``torch.utils.data.DataLoader`` over the user's own dataset. The subset lives
only in the main process (in the sampler and in an index -> weight table): worker processes just read
``dataset[i]``. So :meth:`CoresetLoader.set_coreset` can swap the subset between epochs without rebuilding
the dataset, the DataLoader or (persistent) workers.

Batches are fetched whole where the dataset allows it (a lessdata ``ArrayDataset``, a ``TensorDataset``, a
``Subset`` of one, or any dataset with ``__getitems__``; see :func:`lessdata.data.torch_data.batch_fetcher`):
one index array per batch instead of one ``dataset[i]`` per example. Without workers (and without
``pin_memory`` or a ``collate_fn`` of your own) an ``ArrayDataset`` or ``TensorDataset`` is even indexed
directly, with no DataLoader in between. The batches are the same, element for element, either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.dataloader import default_collate

from ..coreset import Coreset
from ..data.torch_data import batch_fetcher
from ..errors import LessdataError

__all__ = ["CoresetLoader", "CoresetSampler", "replica_share", "weighted_loss"]


def weighted_loss(
    loss_fn_none: Callable, out: torch.Tensor, y: torch.Tensor, w: torch.Tensor
) -> torch.Tensor:
    """Mean of per-example losses multiplied by per-example weights: ``(loss_fn_none(out, y) * w).mean()``.

    ``loss_fn_none`` must return one loss per example (``reduction="none"``); losses with extra dimensions
    (e.g. per token) are weighted along the batch dimension and averaged over everything.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> out, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
        >>> w = torch.ones(2)
        >>> bool(torch.isclose(weighted_loss(nn.CrossEntropyLoss(reduction="none"), out, y, w),
        ...                    nn.CrossEntropyLoss()(out, y)))
        True
    """
    return _weighted_mean(loss_fn_none(out, y), w)


def _weighted_mean(losses: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    if losses.ndim == 0:
        raise LessdataError(
            "the loss function returned a single number; weighted training needs one loss per example "
            "(construct it with reduction='none')"
        )
    if losses.shape[0] != w.shape[0]:
        raise LessdataError(f"got {losses.shape[0]} per-example losses but {w.shape[0]} weights")
    w = w.to(device=losses.device, dtype=losses.dtype).reshape((-1,) + (1,) * (losses.ndim - 1))
    return (losses * w).mean()


def replica_share(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """``(num_replicas, rank)``: as given, else from an initialised ``torch.distributed`` process group, else
    ``(1, 0)`` (one process)."""
    if num_replicas is None and rank is None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size(), dist.get_rank()
        return 1, 0
    if num_replicas is None or rank is None:
        raise LessdataError("give both num_replicas= and rank=, or neither (then torch.distributed decides)")
    for name, value, low in (("num_replicas", num_replicas, 1), ("rank", rank, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise LessdataError(f"{name} must be an integer ≥ {low}, got {value!r}")
    if rank >= num_replicas:
        raise LessdataError(f"rank {rank} is out of range for {num_replicas} replicas")
    return int(num_replicas), int(rank)


class CoresetSampler(Sampler[int]):
    """Yields the dataset indices of the current subset, reshuffled each epoch from ``(seed, epoch)``.

    With ``multiplicities`` (positive integers, one per index), index ``i`` appears ``multiplicities[i]``
    times in every epoch, its copies shuffled among the rest.

    Distributed training: with ``num_replicas`` / ``rank`` (or, when both are ``None``, an initialised
    ``torch.distributed`` process group) every process builds the same shuffled epoch from ``(seed, epoch)``
    and takes every ``num_replicas``-th position from ``rank`` on, so the processes' shares are disjoint and
    together are exactly one epoch. Like ``DistributedSampler``, when the epoch does not divide evenly its
    first positions are repeated to pad it (``drop_last=False``) or its tail is dropped (``drop_last=True``),
    so every process runs the same number of steps.

    The epoch advances by one each time the sampler is iterated; :meth:`set_epoch` pins it (PyTorch
    Lightning calls it before every epoch, as it does for ``DistributedSampler``).
    """

    def __init__(
        self, indices: np.ndarray, shuffle: bool = True, seed: int = 0, multiplicities: np.ndarray | None = None,
        *, num_replicas: int | None = None, rank: int | None = None, drop_last: bool = False,
    ):
        self.indices = np.asarray(indices, dtype=np.int64)
        self.multiplicities = None if multiplicities is None else np.asarray(multiplicities, dtype=np.int64)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.epoch = 0
        self.drop_last = bool(drop_last)
        if num_replicas is not None or rank is not None:
            replica_share(num_replicas, rank)  # check now; an unset pair is read from torch.distributed later
        self._replicas = (num_replicas, rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def replicas(self) -> tuple[int, int]:
        """``(num_replicas, rank)`` of this process."""
        return replica_share(*self._replicas)

    def _epoch_length(self) -> int:
        return int(self.indices.shape[0]) if self.multiplicities is None else int(self.multiplicities.sum())

    def __len__(self) -> int:
        replicas, _ = self.replicas
        total = self._epoch_length()
        return total // replicas if self.drop_last else math.ceil(total / replicas)

    def __iter__(self) -> Iterator[int]:
        return iter(self.next_order().tolist())

    def next_order(self) -> np.ndarray:
        """The indices of the next pass, in the order it visits them (advances the epoch like iterating)."""
        epoch, self.epoch = self.epoch, self.epoch + 1
        if self.multiplicities is None:
            order = self.indices.copy()
        else:
            if self.multiplicities.shape != self.indices.shape:
                raise LessdataError(
                    f"{self.multiplicities.shape[0]} multiplicities for {self.indices.shape[0]} indices"
                )
            order = np.repeat(self.indices, self.multiplicities)
        if self.shuffle:
            order = order[np.random.default_rng([self.seed, epoch]).permutation(order.shape[0])]
        replicas, rank = self.replicas
        if replicas == 1:
            return order
        share = len(self)
        if self.drop_last:
            order = order[: share * replicas]
        elif share * replicas > len(order):  # pad with the epoch's first positions, repeated as needed
            order = np.resize(order, share * replicas)
        return order[rank::replicas]


class _Collated:
    """A batch fetched and collated in one go, with its dataset indices (see ``_Indexed.__getitems__``)."""

    def __init__(self, sample, indices):
        self.sample, self.indices = sample, indices


class _Indexed(Dataset):
    """``dataset[i]`` paired with ``i``, so the main process can look up the weight of every example.

    DataLoader fetches a whole batch through ``__getitems__``: one batched index when the dataset allows it
    (:func:`~lessdata.data.torch_data.batch_fetcher`), one ``dataset[i]`` per item otherwise.
    """

    def __init__(self, dataset, collate_fn: Callable | None):
        self.dataset = dataset
        self.fetch = batch_fetcher(dataset, collate_fn)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i], i

    def __getitems__(self, indices):
        if self.fetch.batched is None:
            return [(self.dataset[i], i) for i in indices]
        return _Collated(self.fetch(indices), indices)


class _CollateWithIndex:
    """Collate the samples with the user's collate function and the indices into a LongTensor."""

    def __init__(self, collate_fn: Callable):
        self.collate_fn = collate_fn

    def __call__(self, items):
        if isinstance(items, _Collated):
            return items.sample, torch.as_tensor(items.indices, dtype=torch.long)
        samples, indices = zip(*items, strict=True)
        return self.collate_fn(list(samples)), torch.as_tensor(indices, dtype=torch.long)


class CoresetLoader:
    """Iterate mini-batches of a coreset (or of the full data) with per-example weights.

    Each batch is ``(x, y, w)`` — the fields of the user's samples followed by ``w``, a float32 tensor of
    weights (mean 1 over the coreset; all ones when training on the full data). An example whose coreset
    multiplicity is ``m`` comes ``m`` times per epoch, with the same weight each time. With
    ``return_indices=True`` the batch also ends with ``idx``, the LongTensor of dataset indices, for
    callbacks that record per-example training dynamics.

    Args:
        dataset: any map-style dataset (``len`` and ``__getitem__``), typically yielding ``(x, y)``.
        coreset: the subset to train on; ``None`` trains on every example with weight 1.
        batch_size, drop_last, num_workers, pin_memory, persistent_workers, collate_fn: as for
            ``torch.utils.data.DataLoader``.
        shuffle: reshuffle the subset every epoch, deterministically from ``(seed, epoch)``.
        seed: seed of the shuffling.
        return_indices: also yield the dataset indices of the batch.
        num_replicas, rank: distributed training: this process's share of every epoch (see
            :class:`CoresetSampler`); by default read from an initialised ``torch.distributed`` process group
            at each epoch, so the same loader works in one process, under ``torchrun`` and under Lightning DDP.
            Every process must hold the same coreset (a deterministic selector with the same seed and the
            same model does).
        **dataloader_kwargs: passed on to ``DataLoader`` (e.g. ``prefetch_factor``, ``worker_init_fn``).

    Examples:
        >>> import numpy as np, torch
        >>> from torch.utils.data import TensorDataset
        >>> from lessdata.coreset import Coreset
        >>> data = TensorDataset(torch.randn(10, 3), torch.arange(10) % 2)
        >>> coreset = Coreset(indices=[1, 4, 7], weights=[1.0, 2.0, 3.0], n=10)
        >>> loader = CoresetLoader(data, coreset, batch_size=8)
        >>> x, y, w = next(iter(loader))
        >>> x.shape, sorted(w.tolist())
        (torch.Size([3, 3]), [0.5, 1.0, 1.5])
        >>> loader.set_coreset(None)        # next epoch: the full data, all weights 1
        >>> len(loader.indices)
        10
    """

    def __init__(
        self,
        dataset,
        coreset: Coreset | None = None,
        batch_size: int = 128,
        shuffle: bool = True,
        seed: int = 0,
        num_workers: int = 0,
        *,
        drop_last: bool = False,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        collate_fn: Callable | None = None,
        return_indices: bool = False,
        num_replicas: int | None = None,
        rank: int | None = None,
        **dataloader_kwargs: Any,
    ):
        try:
            self.size = len(dataset)
        except TypeError:
            raise LessdataError("CoresetLoader needs a map-style dataset with len() and indexing") from None
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise LessdataError(f"batch_size must be a positive integer, got {batch_size!r}")
        for bad in ("sampler", "batch_sampler", "shuffle", "generator"):
            if bad in dataloader_kwargs:
                raise LessdataError(f"CoresetLoader chooses the examples itself; do not pass {bad}=")
        self.dataset = dataset
        self.batch_size = batch_size
        self.return_indices = bool(return_indices)
        self.sampler = CoresetSampler(np.arange(self.size), shuffle=shuffle, seed=seed, num_replicas=num_replicas,
                                      rank=rank, drop_last=drop_last)
        indexed = _Indexed(dataset, collate_fn)
        # one batched index per batch straight from the dataset, with no DataLoader in between
        self._direct = indexed.fetch if indexed.fetch.batched == "take" and num_workers == 0 and not pin_memory \
            else None
        self._loader = DataLoader(
            indexed,
            batch_size=batch_size,
            sampler=self.sampler,
            num_workers=num_workers,
            drop_last=drop_last,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers and num_workers > 0,
            collate_fn=_CollateWithIndex(collate_fn or default_collate),
            **dataloader_kwargs,
        )
        self.coreset: Coreset | None = None
        self._weight_of: np.ndarray | None = None  # dense index -> weight table; None means all ones
        self.set_coreset(coreset)

    # ------------------------------------------------------------------------------------------ subset
    def set_coreset(self, coreset: Coreset | None) -> None:
        """Train on ``coreset`` from the next epoch on (``None``: the full data with weight 1)."""
        if coreset is None:
            self.sampler.indices = np.arange(self.size, dtype=np.int64)
            self.sampler.multiplicities = None
            self._weight_of = None
            self.coreset = None
            return
        if not isinstance(coreset, Coreset):
            raise LessdataError(f"expected a lessdata Coreset or None, got {type(coreset).__name__}")
        if len(coreset) == 0:
            raise LessdataError("cannot train on an empty Coreset")
        if coreset.n is not None and coreset.n != self.size:
            raise LessdataError(
                f"Coreset was selected from {coreset.n} examples but the dataset has {self.size}"
            )
        top = int(coreset.indices.max())
        if top >= self.size:
            raise LessdataError(f"Coreset index {top} is out of range for a dataset of {self.size} examples")
        if not np.isfinite(coreset.weights).all() or (coreset.weights < 0).any():
            raise LessdataError("Coreset weights must be finite and non-negative to train with them")
        weights = coreset.normalized_weights()
        table = np.zeros(self.size, dtype=np.float32)
        table[coreset.indices] = weights
        self.sampler.indices = coreset.indices.copy()
        repeated = coreset.multiplicities is not None and bool((coreset.multiplicities != 1).any())
        self.sampler.multiplicities = coreset.multiplicities.copy() if repeated else None
        self._weight_of = table
        self.coreset = coreset

    def set_epoch(self, epoch: int) -> None:
        """Fix the epoch whose shuffle the next iteration uses (it otherwise advances by one per pass)."""
        self.sampler.set_epoch(epoch)

    @property
    def indices(self) -> np.ndarray:
        """Dataset indices of the current subset (selection order, before shuffling), each once."""
        return self.sampler.indices

    @property
    def epoch_size(self) -> int:
        """Examples visited per epoch by all processes together: the subset size, counting each example by its
        multiplicity."""
        return self.sampler._epoch_length()

    def weights_of(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        """Training weights of the given dataset indices (0 for examples outside the current subset)."""
        idx = np.asarray(indices, dtype=np.int64)
        if self._weight_of is None:
            return np.ones(idx.shape, dtype=np.float32)
        return self._weight_of[idx]

    # ------------------------------------------------------------------------------------- iteration
    def __len__(self) -> int:
        """Number of batches per epoch for the current subset."""
        k = len(self.sampler)
        return k // self.batch_size if self._loader.drop_last else math.ceil(k / self.batch_size)

    def __iter__(self):
        # A generator: the subset is read at the first batch, not when iter() is called, so a subset swapped
        # in between the two (as Lightning does at epoch start) is the one trained on.
        for sample, idx in self._batches():
            w = torch.from_numpy(self.weights_of(idx.numpy()))
            fields = tuple(sample) if isinstance(sample, (tuple, list)) else (sample,)
            yield (*fields, w, idx) if self.return_indices else (*fields, w)

    def _batches(self):
        if self._direct is None:
            yield from self._loader
            return
        order, size = self.sampler.next_order(), self.batch_size
        stop = len(order) - len(order) % size if self._loader.drop_last else len(order)
        for start in range(0, stop, size):
            idx = torch.from_numpy(order[start: start + size])
            yield self._direct(idx), idx

    def __repr__(self) -> str:
        what = "full data" if self.coreset is None else f"coreset {self.coreset.method or 'subset'}"
        size = f"{len(self.sampler.indices)} of {self.size} examples"
        if self.epoch_size != len(self.sampler.indices):
            size += f", {self.epoch_size} per epoch"
        replicas, rank = self.sampler.replicas
        if replicas > 1:
            size += f", rank {rank} of {replicas}"
        return f"CoresetLoader({what}: {size}, batch_size={self.batch_size})"
