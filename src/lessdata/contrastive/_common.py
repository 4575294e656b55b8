"""Checks and small helpers shared by the contrastive modules."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..coreset import Coreset
from ..errors import LessdataError


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _resolve_device(device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise LessdataError(f"unknown device {device!r}: {exc}") from None


@torch.no_grad()
def _batched(fn, n: int, batch_size: int) -> torch.Tensor:
    return torch.cat([fn(slice(s, s + batch_size)).float() for s in range(0, n, batch_size)])


def _labels(labels, n: int, what: str) -> torch.Tensor:
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise LessdataError(f"{what} labels must be 1-D with one label per image ({n}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise LessdataError(f"{what} labels must be non-negative integer class ids, got dtype {y.dtype}")
    return torch.from_numpy(y.astype(np.int64))


def _normalized(x: torch.Tensor) -> np.ndarray:
    return F.normalize(x.float(), dim=-1).cpu().numpy().astype(np.float32)


def _subset_and_weights(n: int, subset, weights) -> tuple[np.ndarray, np.ndarray | None]:
    """Training positions (into the data) and their weights (or ``None``), checked."""
    if subset is None:
        idx = np.arange(n)
    else:
        idx = np.asarray(subset.indices if isinstance(subset, Coreset) else subset)
        if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
            raise LessdataError(f"subset must be a Coreset or a 1-D array of integer indices, got {idx.dtype} "
                                f"of shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise LessdataError(f"subset index {int(idx.min() if idx.min() < 0 else idx.max())} is out of range "
                                f"for {n} examples")
        idx = idx.astype(np.int64)
    if len(idx) < 2:
        raise LessdataError(f"contrastive training needs at least 2 examples, the subset has {len(idx)}")
    if weights is None:
        return idx, None
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != len(idx):
        raise LessdataError(f"weights has {len(w)} entries but there are {len(idx)} training examples "
                            "(one weight per subset index)")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise LessdataError("weights must be finite, non-negative and not all zero")
    return idx, (w / w.mean()).astype(np.float32)
