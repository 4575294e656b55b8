"""Input checks shared by the library and the CLI: each failure is one clear :class:`LessdataError`."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .errors import LessdataError


def check_features(X, name: str = "features") -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 2-D array, or raise naming what is wrong."""
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise LessdataError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise LessdataError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise LessdataError(f"{name} must be a 2-D array (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise LessdataError(f"{name} is empty (shape {arr.shape})")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise LessdataError(f"{name} contain NaN or infinite values (first in row {bad})")
    return arr


def check_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as a 1-D array of length ``n`` (any hashable dtype numpy can sort)."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise LessdataError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise LessdataError(f"{name} has length {arr.shape[0]} but there are {n} points")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise LessdataError(f"{name} contain NaN or infinite values")
    return arr


def resolve_budget(n: int, fraction: float | None = None, budget: int | None = None) -> int:
    """Turn exactly one of ``fraction`` / ``budget`` into a number of points in ``[1, n]``."""
    if (fraction is None) == (budget is None):
        raise LessdataError("give exactly one of fraction= or budget=")
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.number)):
            raise LessdataError(f"fraction must be a number in (0, 1], got {fraction!r}")
        if not (0.0 < float(fraction) <= 1.0) or math.isnan(float(fraction)):
            raise LessdataError(f"fraction must be in (0, 1], got {fraction}")
        return max(1, min(n, int(math.ceil(float(fraction) * n - 1e-9))))
    if isinstance(budget, Mapping):
        total = sum(int(v) for v in budget.values())
        return resolve_budget(n, budget=total)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise LessdataError(f"budget must be an integer, got {budget!r}")
    if budget < 1:
        raise LessdataError(f"budget must be at least 1, got {budget}")
    if budget > n:
        raise LessdataError(f"budget {budget} is larger than the number of points ({n})")
    return int(budget)


def check_choice(value: str, choices, what: str) -> str:
    """Raise a one-line error listing the valid names when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise LessdataError(f"unknown {what} {value!r}; choose one of: {', '.join(sorted(choices))}")
    return value
