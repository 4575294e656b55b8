"""AdaCore's preconditioning of per-example gradients by a Hessian diagonal, in plain numpy (no torch).

:func:`lessdata.signals.precondition` takes tensors too; the ``adacore`` method calls this on its arrays.
"""

from __future__ import annotations

import numpy as np

from ..errors import LessdataError

__all__ = ["precondition_gradients"]


def precondition_gradients(X: np.ndarray, curvature, damping: float = 0.01) -> np.ndarray:
    """Rows of ``X`` divided by ``curvature + damping * mean(curvature)`` (numpy; see
    :func:`lessdata.signals.precondition`, which also takes tensors)."""
    D = np.asarray(curvature, dtype=np.float64).reshape(-1)
    if D.shape[0] != X.shape[1]:
        raise LessdataError(f"curvature has {D.shape[0]} entries but the gradients have {X.shape[1]} columns")
    if not np.isfinite(D).all() or (D < 0).any():
        raise LessdataError("curvature must be finite and non-negative (an estimate of the Hessian diagonal)")
    if isinstance(damping, bool) or not isinstance(damping, (int, float)) or not 0 <= damping < float("inf"):
        raise LessdataError(f"damping must be a non-negative number, got {damping!r}")
    denom = D + float(damping) * float(D.mean())
    if (denom <= 0).any():
        raise LessdataError("curvature + damping must be positive everywhere: give damping > 0")
    return np.ascontiguousarray(X / denom[None, :].astype(np.float32), dtype=np.float32)
