"""Facility location on a torch device: similarity blocks and gain updates where the signals already live.

``DeviceFacilityLocation`` follows the :class:`~lessdata.submodular.functions.Objective` protocol, so every
optimizer runs it unchanged; it asks for gains in batches (``batch_gains = True``), which lazy greedy uses
to re-evaluate several stale candidates per device call. The similarity (the same metrics as the CPU path:
CRAIG's ``max d − d``, cosine, rbf) is built block by block on the device and kept there; the per-point
memo lives on the device and is updated there, and only the requested gains travel back. Picks equal the
CPU path's for the same input and seed up to float32 rounding of near-ties (gains are accumulated in
float32 in a different order; exact ties — duplicated points — break toward the lowest index on both).

torch is imported here only, when a device path is asked for: ``import lessdata.submodular`` stays torch-free.
"""

from __future__ import annotations

import numpy as np

from ..errors import LessdataError

_BLOCK = 4096  # rows per similarity block on the device


def _torch():
    import torch

    return torch


def resolve_device(device):
    """A ``torch.device`` for a name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) or a device, or one clear
    error when it does not exist here."""
    torch = _torch()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise LessdataError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LessdataError(f"device {device!r} asked for, but CUDA is not available here")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise LessdataError(f"device {device!r} asked for, but MPS is not available here")
    return dev


def device_similarity(X, metric: str = "euclidean", device="cpu"):
    """Dense float32 similarity of the rows of ``X`` on ``device`` (a torch tensor), built in blocks."""
    torch = _torch()
    dev = resolve_device(device)
    if metric not in ("euclidean", "cosine", "rbf"):
        raise LessdataError(f"the device path takes metric 'euclidean', 'cosine' or 'rbf', got {metric!r}")
    Xt = torch.as_tensor(X).to(device=dev, dtype=torch.float32)
    if Xt.ndim != 2:
        raise LessdataError(f"features must be 2-D, got shape {tuple(Xt.shape)}")
    n = Xt.shape[0]
    if metric == "cosine":
        Xt = Xt / Xt.norm(dim=1, keepdim=True).clamp_min(1e-12)
    else:  # distances are translation-invariant; centring shrinks the norms whose difference is taken
        Xt = Xt - Xt.double().mean(dim=0).float()
    S = torch.empty((n, n), dtype=torch.float32, device=dev)
    sq = (Xt * Xt).sum(dim=1)
    for a in range(0, n, _BLOCK):
        b = min(n, a + _BLOCK)
        blk = S[a:b]
        torch.matmul(Xt[a:b], Xt.T, out=blk)
        if metric == "cosine":
            continue
        blk.mul_(-2.0).add_(sq[a:b, None]).add_(sq[None, :]).clamp_(min=0.0).sqrt_()
        rows = torch.arange(a, b, device=dev)
        blk[rows - a, rows] = 0.0  # a point's distance to itself is exactly 0
        if metric == "rbf":
            blk.mul_(-1.0 / Xt.shape[1]).exp_()
    if metric == "euclidean":
        top = S.max()
        torch.sub(top, S, out=S)
    return S


class DeviceFacilityLocation:
    """Facility location ``Σ_i w_i max(0, max_{j∈S} s_ij)`` with the similarity and memo on a torch device.

    ``similarity`` is a square or rectangular candidates × points tensor (or array) — e.g. from
    :func:`device_similarity` — moved to ``device``.
    """

    batch_gains = True

    def __init__(self, similarity, device="cpu", weights=None):
        torch = _torch()
        self.device = resolve_device(device)
        self.S = torch.as_tensor(similarity).to(device=self.device, dtype=torch.float32)
        if self.S.ndim != 2:
            raise LessdataError(f"similarity must be 2-D, got shape {tuple(self.S.shape)}")
        self.n_candidates, self.n_points = self.S.shape
        w = np.ones(self.n_points, np.float32) if weights is None else np.asarray(weights, np.float32).reshape(-1)
        if w.shape[0] != self.n_points or not np.isfinite(w).all() or (w < 0).any():
            raise LessdataError(f"point weights must be {self.n_points} finite non-negative numbers")
        self.w = torch.as_tensor(w, device=self.device)
        self.reset()

    def reset(self) -> None:
        torch = _torch()
        self.memo = torch.zeros(self.n_points, dtype=torch.float32, device=self.device)
        self.assignment = torch.full((self.n_points,), -1, dtype=torch.int64, device=self.device)

    def gains(self, candidates) -> np.ndarray:
        torch = _torch()
        cands = torch.as_tensor(np.ascontiguousarray(candidates, dtype=np.int64).reshape(-1), device=self.device)
        out = torch.empty(len(cands), dtype=torch.float64, device=self.device)
        for a in range(0, len(cands), _BLOCK):
            rows = self.S.index_select(0, cands[a:a + _BLOCK])
            out[a:a + _BLOCK] = ((rows - self.memo).clamp_(min=0.0) * self.w).sum(dim=1, dtype=torch.float32).double()
        return out.cpu().numpy()

    def add(self, j: int) -> None:
        row = self.S[int(j)]
        better = row > self.memo
        self.memo = torch_maximum(self.memo, row)
        self.assignment[better] = int(j)

    def value(self) -> float:
        return float((self.w.double() * self.memo.clamp(min=0.0).double()).sum())

    def evaluate(self, selected) -> float:
        torch = _torch()
        sel = torch.as_tensor(np.asarray(selected, dtype=np.int64), device=self.device)
        if len(sel) == 0:
            return 0.0
        best = self.S.index_select(0, sel).max(dim=0).values.clamp(min=0.0)
        return float((self.w.double() * best.double()).sum())

    def cluster_sizes(self, selected) -> np.ndarray:
        """Point weight each selected candidate represents best (ties: earliest pick); as the CPU path."""
        torch = _torch()
        sel = np.asarray(selected, dtype=np.int64)
        if len(sel) == 0:
            return np.zeros(0, dtype=np.float32)
        rows = self.S.index_select(0, torch.as_tensor(sel, device=self.device))
        owner = rows.argmax(dim=0).cpu().numpy()  # first maximum = earliest pick
        return np.bincount(owner, weights=self.w.cpu().numpy(), minlength=len(sel)).astype(np.float32)


def torch_maximum(a, b):
    return _torch().maximum(a, b)
