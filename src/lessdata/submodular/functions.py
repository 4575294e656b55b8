"""Set functions the optimizers maximise.

Any object with this small interface (the :class:`Objective` protocol) can be optimised by every
optimizer in :mod:`lessdata.submodular.optimizers`:

- ``n_candidates``: size of the ground set of candidates (ids ``0..n_candidates-1``);
- ``gains(candidates) -> float64 array``: marginal gains of the candidates given the current selection;
- ``add(j)``: add candidate ``j`` to the selection, updating the internal state;
- ``value() -> float``: the objective of the current selection;
- ``reset()``: back to the empty selection.

Gains must be computed the same way whichever optimizer asks, so that lazy evaluation reproduces the naive
greedy choice exactly: every facility-location gain is computed by one serial kernel, and large batches
are split across threads rather than compiled into a second, differently vectorised parallel kernel.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from numba import njit

from .._threads import single_threaded_blas
from ..errors import LessdataError
from .similarity import ImplicitSimilarity
from .tiles import reserve, sparse_gain


class Objective(Protocol):
    n_candidates: int

    def gains(self, candidates: np.ndarray) -> np.ndarray: ...

    def add(self, j: int) -> None: ...

    def value(self) -> float: ...

    def reset(self) -> None: ...


# --------------------------------------------------------------------------------------- kernels
# Rows are passed as (sparse, S, starts, ends, indices, data): a dense matrix S, or sparse rows once stored
# sparse, row c being indices/data[starts[c]:ends[c]] (CSR when ends[c] == starts[c + 1]; the unused side
# is a 1-element dummy). Every gain, whichever optimizer asks for it, goes
# through `_gain`, so lazy and naive greedy see bitwise-identical values.
@njit(fastmath=True, nogil=True, cache=True)
def _dense_gain(S, c, memo, w):
    row = S[c]
    total = np.float32(0.0)
    for i in range(memo.shape[0]):
        total += w[i] * max(row[i] - memo[i], np.float32(0.0))
    return np.float64(total)


@njit(nogil=True, cache=True)
def _gain(sparse, S, starts, ends, indices, data, c, memo, w):
    if sparse:
        return sparse_gain(starts, ends, indices, data, c, memo, w)
    return _dense_gain(S, c, memo, w)


@njit(nogil=True, cache=True)
def _add_row(row, j, memo, assign):
    for i in range(memo.shape[0]):
        if row[i] > memo[i]:
            memo[i] = row[i]
            assign[i] = j


@njit(nogil=True, cache=True)
def _add(sparse, S, starts, ends, indices, data, j, memo, assign):
    if sparse:
        for p in range(starts[j], ends[j]):
            i = indices[p]
            if data[p] > memo[i]:
                memo[i] = data[p]
                assign[i] = j
    else:
        _add_row(S[j], j, memo, assign)


@njit(nogil=True, cache=True)
def _gains_batch(sparse, S, starts, ends, indices, data, cands, memo, w):
    out = np.empty(cands.shape[0], dtype=np.float64)
    for t in range(cands.shape[0]):
        out[t] = _gain(sparse, S, starts, ends, indices, data, cands[t], memo, w)
    return out


# ------------------------------------------------------------------------- pruning dead entries
# memo only grows, so an entry s_ci <= memo_i can never contribute to a gain again: dropping such entries
# (and the rows of selected candidates) keeps every later gain and update exact while shrinking the rows.
@njit(nogil=True, cache=True)
def _alive_dense(S, rows, memo, removed):
    counts = np.zeros(rows.shape[0], dtype=np.int64)
    for t in range(rows.shape[0]):
        c = rows[t]
        if removed[c]:
            continue
        cnt = 0
        for i in range(memo.shape[0]):
            if S[c, i] > memo[i]:
                cnt += 1
        counts[t] = cnt
    return counts


@njit(nogil=True, cache=True)
def _alive_sparse(starts, ends, indices, data, rows, memo, removed):
    counts = np.zeros(rows.shape[0], dtype=np.int64)
    for t in range(rows.shape[0]):
        c = rows[t]
        if removed[c]:
            continue
        cnt = 0
        for p in range(starts[c], ends[c]):
            if data[p] > memo[indices[p]]:
                cnt += 1
        counts[t] = cnt
    return counts


@njit(nogil=True, cache=True)
def _prune_dense(S, memo, removed, r0, r1, starts, ends, out_idx, out_data, q):
    """Copy the live entries of rows r0..r1-1 to the buffers from position q; row c's land in
    ``[starts[c], ends[c])``. Returns the next free position."""
    for c in range(r0, r1):
        starts[c] = q
        if not removed[c]:
            row = S[c]
            for i in range(memo.shape[0]):
                if row[i] > memo[i]:
                    out_idx[q] = i
                    out_data[q] = row[i]
                    q += 1
        ends[c] = q
    return q


@njit(nogil=True, cache=True)
def _compact_rows(starts, ends, indices, data, memo, removed, r0, r1):
    """In place: keep only the live entries of rows r0..r1-1, each row compacted to the front of its own
    range (``ends`` moves back; removed rows become empty)."""
    for c in range(r0, r1):
        q = starts[c]
        if not removed[c]:
            for p in range(starts[c], ends[c]):  # branch-free: each entry is written, kept if live (q <= p)
                i = indices[p]
                s = data[p]
                indices[q] = i
                data[q] = s
                q += np.int64(s > memo[i])
        ends[c] = q


_ROW_BLOCK = 256  # on-demand rows computed per BLAS product
_SPLIT_ENTRIES = 2**18  # stored entries a batch of gains must read before it is split across cores
_FIRST_CHECK = 4  # picks before the first pruning check; later checks at 8, 16, 32, ...
_PRUNE_BELOW = 0.4  # prune when the live entries are under this share of what is stored
_SAMPLE_ROWS = 256
# facility location's first pick is guessed from every candidate's gain on _GUESS_POINTS points, then the best
# max(_GUESS_ROWS, 5%) of them on all points: those within _GUESS_TIE (relative; rounding) of the best, at most 4
_GUESS_POINTS, _GUESS_ROWS, _GUESS_TIE, _GUESS_MAX = 1024, 64, 1e-5, 4
_DUMMY_PTR, _DUMMY_IDX, _DUMMY_DATA = np.zeros(1, np.int64), np.zeros(1, np.int32), np.zeros(1, np.float32)
_DUMMY_2D = np.zeros((1, 1), dtype=np.float32)


def _threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@functools.lru_cache(maxsize=1)
def _pool():
    return ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="lessdata-gains")


class FacilityLocation:
    """Facility location ``F(S) = Σ_i w_i · max(0, max_{j∈S} s_ij)`` (Cornuéjols et al. 1977).

    ``similarity`` is candidate-major (rows = candidates, columns = represented points), dense float32 or
    scipy sparse; rectangular when the candidates are a separate set from the represented points. Negative
    similarities count as 0 (the per-point memo starts at 0). Keeps the per-point current maximum (memo)
    and which selected candidate attains it (``assignment``), so each gain costs one row.

    As picks accumulate, entries that can no longer raise any point's memo are pruned (checked at 4, 8,
    16, ... picks): the rows become short sparse lists and later gains cost a fraction of a dense row, while
    every gain stays exact. ``prune=False`` turns this off.

    ``similarity`` may also be an :class:`~lessdata.submodular.similarity.ImplicitSimilarity`: the matrix is
    then never stored whole: the first gains come from one pass of row sums, which also stores the entries a
    guessed first pick would leave live; when the guess is the first pick (checked exactly) those are the
    rows, otherwise a second pass stores the entries the actual pick left live (or, when most are still
    live, the dense matrix). Pruning compacts the stored rows in place.

    >>> S = np.array([[1.0, 0.5], [0.2, 1.0]], dtype=np.float32)
    >>> f = FacilityLocation(S)
    >>> f.gains(np.array([0, 1])).round(6)
    array([1.5, 1.2])
    >>> f.add(0); f.value()
    1.5
    """

    def __init__(self, similarity, weights: np.ndarray | None = None, prune: bool = True):
        self.source_sparse = sp.issparse(similarity)
        self.implicit = isinstance(similarity, ImplicitSimilarity)
        self._first_gains = None
        if self.implicit:
            S = similarity
        elif self.source_sparse:
            S = sp.csr_matrix(similarity, dtype=np.float32)
            S.sort_indices()
        else:
            S = np.ascontiguousarray(similarity, dtype=np.float32)
            if S.ndim != 2:
                raise LessdataError(f"similarity must be 2-D, got shape {S.shape}")
        self.S = S
        self.prune = prune
        self.best_first = True  # whether the first pick will be the best candidate (maximize sets it)
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

    # ------------------------------------------------------------------------------------ state
    def reset(self) -> None:
        self.memo = np.zeros(self.n_points, dtype=np.float32)
        self.assignment = np.full(self.n_points, -1, dtype=np.int64)
        self.selected_mask = np.zeros(self.n_candidates, dtype=np.bool_)
        self.n_selected = 0
        self.scan_gains = None  # exact gains of every candidate, when a pass over all rows just computed them
        self._next_check = _FIRST_CHECK
        self.prunings = 0
        self._early = None  # (guessed first picks, the entries they would leave live), from the first pass
        if self.source_sparse:
            indptr = self.S.indptr.astype(np.int64)  # own copies: pruning compacts rows in place
            self._set_rows(indptr[:-1].copy(), indptr[1:].copy(), self.S.indices.copy(), self.S.data.copy())
        elif self.implicit:
            self.sparse = False
            self.rows = None  # rows are computed on demand until the first pruning check stores live entries
        else:
            self._set_dense(self.S)

    def _set_dense(self, S):
        self.sparse = False
        self.rows = (False, S, _DUMMY_PTR, _DUMMY_PTR, _DUMMY_IDX, _DUMMY_DATA)

    def _set_rows(self, starts, ends, indices, data):
        """Sparse rows: row c is ``indices/data[starts[c]:ends[c]]``."""
        self.sparse = True
        self.rows = (True, _DUMMY_2D, starts, ends, indices, data)

    def stored_entries(self) -> int:
        """Similarity entries the gains currently read (all of a dense matrix; the live ones once pruned)."""
        if self.rows is None:
            return 0  # on demand: nothing stored yet
        if not self.sparse:
            return self.n_candidates * self.n_points
        return int((self.rows[3] - self.rows[2]).sum())

    # ------------------------------------------------------------------------- on-demand rows
    def _initial_gains(self) -> np.ndarray:
        """Every candidate's first gain, from one tiled pass. The likely first picks are guessed beforehand
        from a sample of the points; the same pass then also stores the entries any of them would leave live,
        so that when one of them is the pick (checked exactly) no second pass is needed."""
        if self._first_gains is None:
            guess = self._guess_first_pick()
            if guess is None:
                self._first_gains = self.S.row_sums(self.w)
            else:
                self._first_gains, rows = self.S.row_sums(self.w, keep_for=guess, index_dtype=self._index_dtype())
                self._early = (guess, rows)
        return self._first_gains

    def _guess_first_pick(self) -> np.ndarray | None:
        """The likely first picks, in two steps: every candidate's first gain estimated on a fixed sample of
        the points, then the best 5% of them (at least ``_GUESS_ROWS``) computed on all points; those within
        rounding of the best (at most ``_GUESS_MAX``) are the guess. ``None`` when the optimizer's first pick
        is not the best candidate (``best_first``: stochastic greedy picks from a sample), or when the entries
        the guesses would leave live are too many to store (the share :meth:`_leave_on_demand` requires), for
        them and for the best alone."""
        if not self.prune or not self.best_first or self.n_candidates < 2:
            return None
        cols = np.unique(np.linspace(0, self.n_points - 1, min(_GUESS_POINTS, self.n_points)).astype(np.int64))
        est = self.S.sampled_row_sums(cols, self.w)
        shortlist = np.argsort(-est, kind="stable")[: max(_GUESS_ROWS, self.n_candidates // 20)]
        exact = self.S.candidate_sums(shortlist, self.w)
        order = np.argsort(-exact, kind="stable")
        best = exact[order[0]]
        close = shortlist[order[exact[order] >= best - _GUESS_TIE * abs(best)][:_GUESS_MAX]]
        for cands in (close, close[:1]):
            rows = self._sample(np.setdiff1d(np.arange(self.n_candidates), cands))[::4]  # enough for a share
            if self.S.kept_share(cands, rows) <= _PRUNE_BELOW:
                return cands
            if len(close) == 1:
                break
        return None

    def _on_demand_gains(self, cands: np.ndarray) -> np.ndarray:
        if self.n_selected == 0:
            return self._initial_gains()[cands]
        chunks = [cands[i: i + _ROW_BLOCK] for i in range(0, cands.shape[0], _ROW_BLOCK)]

        def run(chunk):
            block = self.S.rows(chunk)
            return _gains_batch(False, block, _DUMMY_PTR, _DUMMY_PTR, _DUMMY_IDX, _DUMMY_DATA,
                                np.arange(len(chunk), dtype=np.int64), self.memo, self.w)

        if len(chunks) == 1:
            return run(chunks[0])
        with single_threaded_blas():
            return np.concatenate(list(_pool().map(run, chunks)))

    def _store_live_rows(self) -> None:
        """Second tiled pass over the on-demand similarity, keeping only the live entries; the exact gain of
        every open candidate is then read off them (the same kernel as any later evaluation, so the values
        are bitwise those lazy greedy would compute)."""
        starts, ends, indices, data, gains = self.S.live_entries(self.memo, self.w, self.selected_mask,
                                                                 self._index_dtype())
        self._set_rows(starts, ends, indices, data)
        self.scan_gains = gains

    def _index_dtype(self):
        """The narrowest integer type for a point index: stored rows are mostly read and written whole, so
        two bytes an index instead of four is a quarter less memory traffic (and memory)."""
        if self.n_points <= 2**16:
            return np.uint16
        return np.int32 if self.n_points < 2**31 else np.int64

    # --------------------------------------------------------------------------------- protocol
    def gains(self, candidates) -> np.ndarray:
        cands = np.ascontiguousarray(candidates, dtype=np.int64).reshape(-1)
        rows = self.rows
        if rows is None:
            return self._on_demand_gains(cands)
        if _threads() == 1 or cands.shape[0] < 2 or self._entries(cands) < _SPLIT_ENTRIES:
            return _gains_batch(*rows, cands, self.memo, self.w)
        step = -(-cands.shape[0] // _threads())
        chunks = [cands[i: i + step] for i in range(0, cands.shape[0], step)]
        return np.concatenate(list(_pool().map(lambda c: _gains_batch(*rows, c, self.memo, self.w), chunks)))

    def _entries(self, cands: np.ndarray) -> int:
        """How many stored entries the gains of ``cands`` read."""
        sparse, _, starts, ends = self.rows[:4]
        if sparse:
            return int((ends[cands] - starts[cands]).sum())
        return cands.shape[0] * self.n_points

    def add(self, j: int) -> None:
        j = int(j)
        if self.rows is None:
            _add_row(self.S.rows(np.array([j]))[0], j, self.memo, self.assignment)
        else:
            _add(*self.rows, j, self.memo, self.assignment)
        self.selected_mask[j] = True
        self.n_selected += 1
        self.checkpoint()

    @staticmethod
    def _sample(open_rows: np.ndarray) -> np.ndarray:
        """A fixed sample of rows on which the live share is estimated before paying for a full pass."""
        return open_rows[np.linspace(0, len(open_rows) - 1, min(_SAMPLE_ROWS, len(open_rows))).astype(np.int64)]

    def _leave_on_demand(self) -> None:
        """After the first pick of an on-demand similarity: store its live entries, or all of it.

        Reading rows on demand costs a product with the features per evaluation, far more than reading a
        stored row, so the on-demand phase ends as soon as the first pick's memo exists. When the pick is one
        the first pass guessed, the entries that pass kept become the rows; otherwise one more pass over
        blocks keeps the entries the pick left live (usually a small share), or stores the dense matrix."""
        early, self._early = self._early, None
        if early is not None and self.n_selected == 1 and self.selected_mask[early[0]].any():
            picked = int(early[0][self.selected_mask[early[0]]][0])  # a guess was the first pick
            self.scan_gains = self.S.finish_rows(early[1], picked, self.memo, self.w)
            self._set_rows(*early[1])
            self.prunings += 1
            return
        open_rows = np.flatnonzero(~self.selected_mask)
        sample = self._sample(open_rows) if len(open_rows) else open_rows
        live = _alive_dense(self.S.rows(sample), np.arange(len(sample)), self.memo,
                            self.selected_mask[sample]).sum()
        stored = len(sample) * self.n_points
        if self.prune and stored and live <= _PRUNE_BELOW * stored:
            self._store_live_rows()
            self.prunings += 1
        else:
            self._set_dense(self.S.materialize())

    def checkpoint(self) -> None:
        """Prune dead entries when ``n_selected`` reaches the next check and enough of them are dead."""
        if self.rows is None:
            if self.n_selected > 0:
                self._leave_on_demand()
            return
        if self.n_selected < self._next_check:
            return
        while self._next_check <= self.n_selected:
            self._next_check *= 2
        if not self.prune:
            return
        open_rows = np.flatnonzero(~self.selected_mask)
        if len(open_rows) == 0:
            return
        sample = self._sample(open_rows)
        _, S, starts, ends, indices, data = self.rows
        if self.sparse:
            live = _alive_sparse(starts, ends, indices, data, sample, self.memo, self.selected_mask).sum()
            stored = (ends[sample] - starts[sample]).sum()
        else:
            live = _alive_dense(S, sample, self.memo, self.selected_mask).sum()
            stored = len(sample) * self.n_points
        if stored == 0 or live > _PRUNE_BELOW * stored:
            return
        self._prune()
        self.prunings += 1

    def _prune(self) -> None:
        """Keep only live entries, in one pass with row ranges split over threads. Sparse rows are compacted
        in place, each within its own range (no new memory, nothing copied); a dense matrix is copied once
        into sparse rows, each thread writing into its own part of a reserved range."""
        _, S, starts, ends, indices, data = self.rows
        bounds = np.linspace(0, self.n_candidates, _threads() + 1).astype(np.int64)
        ranges = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
        if self.sparse:
            list(_pool().map(lambda b: _compact_rows(starts, ends, indices, data, self.memo, self.selected_mask,
                                                     *b), ranges))
            return
        starts, ends = np.zeros(self.n_candidates, np.int64), np.zeros(self.n_candidates, np.int64)
        indices, data = reserve(S.size, self._index_dtype()), reserve(S.size, np.float32)
        list(_pool().map(lambda b: _prune_dense(S, self.memo, self.selected_mask, *b, starts, ends, indices, data,
                                                b[0] * self.n_points), ranges))
        self._set_rows(starts, ends, indices, data)

    def value(self) -> float:
        return float(np.dot(self.w.astype(np.float64), self.memo.astype(np.float64)))

    def evaluate(self, selected) -> float:
        """F(selected) from scratch on the original similarity, without touching the current state."""
        sel = np.asarray(selected, dtype=np.int64)
        if len(sel) == 0:
            return 0.0
        if self.implicit:
            best = np.zeros(self.n_points, dtype=np.float32)
            for start in range(0, len(sel), _ROW_BLOCK):
                np.maximum(best, self.S.rows(sel[start:start + _ROW_BLOCK]).max(axis=0), out=best)
        else:
            rows = self.S[sel]
            best = np.asarray(rows.max(axis=0).todense()).ravel() if self.source_sparse else rows.max(axis=0)
        return float(np.dot(self.w.astype(np.float64), np.maximum(best, 0).astype(np.float64)))

    def cluster_sizes(self, selected: np.ndarray) -> np.ndarray:
        """Weight of each selected candidate: the (point-weighted) number of points it represents best.

        Each point goes to its most similar selected candidate (ties: earliest in ``selected``). With a
        sparse similarity only covered points (positive similarity to some selected candidate) count; with a
        dense one, points with no positive similarity go to their argmax too, so weights sum to ``Σ w``.
        ``selected`` must be the selection that produced the current state.
        """
        sel = np.asarray(selected, dtype=np.int64)
        if len(sel) == 0:
            return np.zeros(0, dtype=np.float32)
        pos = np.full(self.n_candidates, -1, dtype=np.int64)
        pos[sel] = np.arange(len(sel))
        owner = np.where(self.assignment >= 0, pos[np.maximum(self.assignment, 0)], -1)
        if ((self.assignment >= 0) & (owner < 0)).any():
            raise LessdataError("cluster_sizes needs the selection that produced the current state")
        if not self.source_sparse:
            lost = np.flatnonzero(owner < 0)
            if len(lost):
                if self.implicit:
                    block = np.concatenate([self.S.rows(sel[a:a + _ROW_BLOCK])[:, lost]
                                            for a in range(0, len(sel), _ROW_BLOCK)])
                else:
                    block = self.S[np.ix_(sel, lost)]
                owner[lost] = np.argmax(block, axis=0)
        covered = owner >= 0
        return np.bincount(owner[covered], weights=self.w[covered], minlength=len(sel)).astype(np.float32)


# ------------------------------------------------------------------------------------- graph cut
@njit(nogil=True, cache=True)
def _graph_cut_gains(total, inside, diag, lam, cands):
    out = np.empty(cands.shape[0], dtype=np.float64)
    for t in range(cands.shape[0]):
        c = cands[t]
        out[t] = total[c] - lam * (2.0 * inside[c] + diag[c])
    return out


class GraphCut:
    """Generalised graph cut ``f(S) = Σ_{j∈S} (m_j + Σ_{i∈V} s_ij) − λ Σ_{i∈S} Σ_{j∈S} s_ij`` (symmetric ``s``).

    With no modular term ``m`` and ``λ ≤ 1/2`` it is monotone, above non-monotone; the representativeness-
    minus-redundancy form that SAS (Joshi & Mirzasoleiman, ICML 2023) optimises, and with ``m = λ_c·diag`` the
    ClipCov objective (:func:`lessdata.submodular.coverage.clip_coverage`). Gains cost O(1) each after an
    O(n) update per pick.
    """

    def __init__(self, similarity: np.ndarray, lam: float = 1.0, modular: np.ndarray | None = None):
        S = np.ascontiguousarray(similarity, dtype=np.float32)
        if S.ndim != 2 or S.shape[0] != S.shape[1]:
            raise LessdataError(f"graph cut needs a square similarity, got shape {S.shape}")
        self.S = S
        self.lam = float(lam)
        self.n_candidates = S.shape[0]
        self.total = S.sum(axis=1, dtype=np.float64)
        if modular is not None:
            modular = np.asarray(modular, dtype=np.float64).reshape(-1)
            if modular.shape[0] != S.shape[0]:
                raise LessdataError(f"modular term has {modular.shape[0]} entries for {S.shape[0]} candidates")
            self.total = self.total + modular
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
        if self.lam:
            self.inside += self.S[j]
        self.selected.append(j)

    def value(self) -> float:
        return self._value

    def evaluate(self, selected) -> float:
        sel = np.asarray(selected, dtype=np.int64)
        if len(sel) == 0:
            return 0.0
        return float(self.total[sel].sum() - self.lam * self.S[np.ix_(sel, sel)].astype(np.float64).sum())
