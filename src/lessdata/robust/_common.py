"""Small checks and measures shared by the robust-training loops."""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import LessdataError


def check_fraction(value, name: str) -> float:
    """A number in ``(0, 1]`` or one clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) <= 1.0:
        raise LessdataError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def check_labels_for(labels, n: int, what: str) -> np.ndarray:
    """``labels`` as int64, one non-negative class id per example, or one clear error."""
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise LessdataError(f"{what} must be 1-D with one label per example ({n}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise LessdataError(f"{what} must be non-negative integer class ids, got dtype {y.dtype}")
    return y.astype(np.int64)


def clean_share(indices, labels, true_labels, weights=None) -> float:
    """Share of ``indices`` whose training label equals the true label (of the weight, with ``weights``).

    Examples:
        >>> clean_share([0, 1, 2], np.array([0, 1, 1]), np.array([0, 1, 2]))
        0.6666666666666666
    """
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size == 0:
        raise LessdataError("the clean share of an empty selection is undefined")
    clean = np.asarray(labels)[idx] == np.asarray(true_labels)[idx]
    if weights is None:
        return float(clean.mean())
    w = np.asarray(weights, dtype=np.float64)
    return float(w[clean].sum() / w.sum())
