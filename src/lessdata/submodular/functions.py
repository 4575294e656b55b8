"""Set functions the optimizers maximise.

Any object with this small interface (the :class:`Objective` protocol) can be optimised by every
optimizer in :mod:`lessdata.submodular.optimizers`:

- ``n_candidates``: size of the ground set of candidates (ids ``0..n_candidates-1``);
- ``gains(candidates) -> float64 array``: marginal gains of the candidates given the current selection;
- ``add(j)``: add candidate ``j`` to the selection, updating the internal state;
- ``value() -> float``: the objective of the current selection;
- ``reset()``: back to the empty selection.

Gains must be computed the same way whichever optimizer asks, so that lazy evaluation reproduces the naive
greedy choice exactly: each kernel below is serial, and large batches are split across threads (see
:func:`_batched`) rather than compiled into a second, differently vectorised parallel kernel.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from ..errors import LessdataError

_THREAD_CHUNK = 4096  # candidates per thread task when a batch is split across cores


def _threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@functools.lru_cache(maxsize=1)
def _pool():
    return ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="lessdata-gains")


def _batched(kernel, cands, *args):
    """Run a serial ``kernel(cands, *args)`` over chunks of ``cands`` on a thread pool (numba releases the
    GIL). Every candidate's gain is computed by the same machine code whatever the batch size, so gains are
    bitwise identical between a one-candidate call (lazy greedy) and a full sweep (naive greedy)."""
    if cands.shape[0] <= _THREAD_CHUNK or _threads() == 1:
        return kernel(cands, *args)
    step = max(_THREAD_CHUNK, -(-cands.shape[0] // _threads()))
    chunks = [cands[i: i + step] for i in range(0, cands.shape[0], step)]
    return np.concatenate(list(_pool().map(lambda c: kernel(c, *args), chunks)))


class Objective(Protocol):
    n_candidates: int

    def gains(self, candidates: np.ndarray) -> np.ndarray: ...

    def add(self, j: int) -> None: ...

    def value(self) -> float: ...

    def reset(self) -> None: ...


# ---------------------------------------------------------------------------------- dense kernels
@njit(fastmath=True, nogil=True, cache=True)
def _dense_gains(cands, S, memo, w):
    out = np.empty(cands.shape[0], dtype=np.float64)
    n = memo.shape[0]
    for t in range(cands.shape[0]):
        row = S[cands[t]]
        total = np.float32(0.0)
        for i in range(n):
            total += w[i] * max(row[i] - memo[i], np.float32(0.0))
        out[t] = total
    return out


@njit(nogil=True, cache=True)
def _dense_add(S, j, memo, assign):
    for i in range(memo.shape[0]):
        v = S[j, i]
        if v > memo[i]:
            memo[i] = v
            assign[i] = j


# --------------------------------------------------------------------------------- sparse kernels
@njit(fastmath=True, nogil=True, cache=True)
def _sparse_gains(cands, indptr, indices, data, memo, w):
    out = np.empty(cands.shape[0], dtype=np.float64)
    for t in range(cands.shape[0]):
        c = cands[t]
        total = np.float32(0.0)
        for p in range(indptr[c], indptr[c + 1]):
            i = indices[p]
            total += w[i] * max(data[p] - memo[i], np.float32(0.0))
        out[t] = total
    return out


@njit(nogil=True, cache=True)
def _sparse_add(indptr, indices, data, j, memo, assign):
    for p in range(indptr[j], indptr[j + 1]):
        i = indices[p]
        if data[p] > memo[i]:
            memo[i] = data[p]
            assign[i] = j


class FacilityLocation:
    """Facility location ``F(S) = Σ_i w_i · max(0, max_{j∈S} s_ij)`` (Cornuéjols et al. 1977).

    ``similarity`` is candidate-major (rows = candidates, columns = represented points), dense float32 or
    scipy sparse; rectangular when the candidates are a separate set from the represented points. Negative
    similarities count as 0 (the per-point memo starts at 0). Keeps the per-point current maximum (memo)
    and which selected candidate attains it (``assignment``), so each gain costs one row.

    >>> S = np.array([[1.0, 0.5], [0.2, 1.0]], dtype=np.float32)
    >>> f = FacilityLocation(S)
    >>> f.gains(np.array([0, 1]))
    array([1.5, 1.2])
    >>> f.add(0); f.value()
    1.5
    """

    def __init__(self, similarity, weights: np.ndarray | None = None):
        self.sparse = sp.issparse(similarity)
        if self.sparse:
            S = sp.csr_matrix(similarity, dtype=np.float32)
            S.sort_indices()
            self._indptr = S.indptr.astype(np.int64)
            self._indices = S.indices
            self._data = S.data
        else:
            S = np.ascontiguousarray(similarity, dtype=np.float32)
            if S.ndim != 2:
                raise LessdataError(f"similarity must be 2-D, got shape {S.shape}")
        self.S = S
        self.n_candidates, self.n_points = S.shape
        if weights is None:
            self.w = np.ones(self.n_points, dtype=np.float32)
        else:
            self.w = np.ascontiguousarray(weights, dtype=np.float32).reshape(-1)
            if self.w.shape[0] != self.n_points:
                raise LessdataError(f"got {self.w.shape[0]} point weights for {self.n_points} points")
            if not np.isfinite(self.w).all() or (self.w < 0).any():
                raise LessdataError("point weights must be finite and non-negative")
        self.reset()

    def reset(self) -> None:
        self.memo = np.zeros(self.n_points, dtype=np.float32)
        self.assignment = np.full(self.n_points, -1, dtype=np.int64)

    def gains(self, candidates) -> np.ndarray:
        cands = np.ascontiguousarray(candidates, dtype=np.int64).reshape(-1)
        if self.sparse:
            return _batched(_sparse_gains, cands, self._indptr, self._indices, self._data, self.memo, self.w)
        return _batched(_dense_gains, cands, self.S, self.memo, self.w)

    def add(self, j: int) -> None:
        if self.sparse:
            _sparse_add(self._indptr, self._indices, self._data, int(j), self.memo, self.assignment)
        else:
            _dense_add(self.S, int(j), self.memo, self.assignment)

    def value(self) -> float:
        return float(np.dot(self.w.astype(np.float64), self.memo.astype(np.float64)))

    def evaluate(self, selected) -> float:
        """F(selected) from scratch, without touching the current state."""
        sel = np.asarray(selected, dtype=np.int64)
        if len(sel) == 0:
            return 0.0
        rows = self.S[sel]
        best = np.asarray(rows.max(axis=0).todense()).ravel() if self.sparse else rows.max(axis=0)
        return float(np.dot(self.w.astype(np.float64), np.maximum(best, 0).astype(np.float64)))

    def cluster_sizes(self, selected: np.ndarray) -> np.ndarray:
        """Weight of each selected candidate: the (point-weighted) number of points it represents best.

        Each point goes to its most similar selected candidate (ties: earliest in ``selected``). With a
        sparse similarity only covered points (positive similarity to some selected candidate) count.
        """
        sel = np.asarray(selected, dtype=np.int64)
        if len(sel) == 0:
            return np.zeros(0, dtype=np.float32)
        if self.sparse:
            assign = self.assignment
            covered = assign >= 0
            pos = np.full(self.n_candidates, -1, dtype=np.int64)
            pos[sel] = np.arange(len(sel))
            owner = pos[assign[covered]]
            if (owner < 0).any():
                raise LessdataError("cluster_sizes needs the selection that produced the current state")
            return np.bincount(owner, weights=self.w[covered], minlength=len(sel)).astype(np.float32)
        owner = np.empty(self.n_points, dtype=np.int64)
        for start in range(0, self.n_points, 65536):
            stop = min(start + 65536, self.n_points)
            owner[start:stop] = np.argmax(self.S[sel, start:stop], axis=0)
        return np.bincount(owner, weights=self.w, minlength=len(sel)).astype(np.float32)


# ------------------------------------------------------------------------------------- graph cut
@njit(parallel=True, cache=True)
def _graph_cut_gains(total, inside, diag, lam, cands):
    out = np.empty(cands.shape[0], dtype=np.float64)
    for t in prange(cands.shape[0]):
        c = cands[t]
        out[t] = total[c] - lam * (2.0 * inside[c] + diag[c])
    return out


class GraphCut:
    """Generalised graph cut ``f(S) = Σ_{i∈V} Σ_{j∈S} s_ij − λ Σ_{i∈S} Σ_{j∈S} s_ij`` (symmetric ``s``).

    Monotone for ``λ ≤ 1/2``, non-monotone above; the representativeness-minus-redundancy form that SAS
    (Joshi & Mirzasoleiman, ICML 2023) optimises. Gains cost O(1) each after an O(n) update per pick.
    """

    def __init__(self, similarity: np.ndarray, lam: float = 1.0):
        S = np.ascontiguousarray(similarity, dtype=np.float32)
        if S.ndim != 2 or S.shape[0] != S.shape[1]:
            raise LessdataError(f"graph cut needs a square similarity, got shape {S.shape}")
        self.S = S
        self.lam = float(lam)
        self.n_candidates = S.shape[0]
        self.total = S.sum(axis=1, dtype=np.float64)
        self.diag = np.diagonal(S).astype(np.float64)
        self.reset()

    def reset(self) -> None:
        self.inside = np.zeros(self.n_candidates, dtype=np.float64)
        self.selected: list[int] = []
        self._value = 0.0

    def gains(self, candidates) -> np.ndarray:
        cands = np.ascontiguousarray(candidates, dtype=np.int64).reshape(-1)
        return _graph_cut_gains(self.total, self.inside, self.diag, self.lam, cands)

    def add(self, j: int) -> None:
        j = int(j)
        self._value += float(self.gains(np.array([j]))[0])
        self.inside += self.S[j]
        self.selected.append(j)

    def value(self) -> float:
        return self._value

    def evaluate(self, selected) -> float:
        sel = np.asarray(selected, dtype=np.int64)
        if len(sel) == 0:
            return 0.0
        return float(self.total[sel].sum() - self.lam * self.S[np.ix_(sel, sel)].astype(np.float64).sum())
