"""The greedy family, over any :class:`~lessdata.submodular.functions.Objective`.

All optimizers are deterministic given ``seed`` and break ties toward the lowest candidate index, so that
``lazy``, ``stochastic`` with ``epsilon → 0`` and ``lazier_than_lazy`` with ``epsilon → 0`` pick exactly what
``naive`` picks.

- ``naive``: evaluate every remaining candidate at every step (Nemhauser, Wolsey, Fisher 1978).
- ``lazy``: priority queue of stale upper bounds (Minoux 1978); exact for submodular objectives.
- ``stochastic``: each step evaluates a uniform sample of ``(n/k)·ln(1/ε)`` remaining candidates
  ("Lazier than lazy greedy", Mirzasoleiman, Badanidiyuru, Karbasi, Vondrák, Krause, AAAI 2015).
- ``lazier_than_lazy``: the same sample, evaluated lazily against cached upper bounds; picks what
  ``stochastic`` picks with far fewer evaluations.
- ``random_greedy``: for non-monotone objectives (Buchbinder, Feldman, Naor, Schwartz, SODA 2014): each step
  picks uniformly among the ``k`` best candidates padded with zero-gain dummies; a dummy adds nothing, so the
  result may hold fewer than ``k`` elements. 1/e-approximation in expectation.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .._validation import check_choice
from ..errors import LessdataError
from .functions import FacilityLocation, _add, _gain

OPTIMIZERS = ("naive", "lazy", "stochastic", "lazier_than_lazy", "random_greedy")
_EARLY_BATCH = 256  # stale bounds re-evaluated together during lazy greedy's first, evaluation-heavy picks


@dataclass
class GreedyResult:
    indices: np.ndarray  # int64, selection order
    gains: np.ndarray  # float64, marginal gain of each pick
    evaluations: int  # number of single-candidate gain evaluations


def maximize(objective, k: int, optimizer="lazy", *, epsilon: float = 0.01, seed: int = 0,
             progress=None) -> GreedyResult:
    """Greedily pick ``k`` candidates maximising ``objective`` (which is left holding the selection).

    ``optimizer`` is one of :data:`OPTIMIZERS`, or your own object with
    ``run(objective, k, n, rng, epsilon, progress) -> (picks, gains, evaluations)`` (``n`` candidates, ``rng``
    a numpy Generator seeded from ``seed``; call ``objective.gains(candidates)`` and ``objective.add(j)``).

    >>> import numpy as np
    >>> from lessdata.submodular.functions import FacilityLocation
    >>> S = np.array([[1, .9, 0], [.9, 1, 0], [0, 0, 1]], dtype=np.float32)
    >>> maximize(FacilityLocation(S), 2).indices
    array([0, 2])
    """
    if isinstance(optimizer, str):
        check_choice(optimizer, OPTIMIZERS, "optimizer")
    elif not callable(getattr(optimizer, "run", None)):
        raise LessdataError(f"optimizer must be one of {', '.join(OPTIMIZERS)} or an object with run(), "
                            f"got {type(optimizer).__name__}")
    n = int(objective.n_candidates)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise LessdataError(f"cannot pick {k} of {n} candidates")
    if optimizer in ("stochastic", "lazier_than_lazy") and not 0 < epsilon < 1:
        raise LessdataError(f"epsilon must be in (0, 1), got {epsilon}")
    if optimizer in ("lazy", "lazier_than_lazy") and not getattr(objective, "diminishing", True):
        raise LessdataError(f"{type(objective).__name__} is not submodular, so {optimizer} greedy's stale bounds "
                            "are wrong for it; use optimizer='naive' or 'stochastic'")
    if progress is not None and hasattr(progress, "total") and progress.total is None:
        progress.total = k
    if isinstance(optimizer, str) and hasattr(objective, "best_first"):
        objective.best_first = optimizer in ("naive", "lazy")  # the others pick first from a random sample
    run = optimizer.run if not isinstance(optimizer, str) else {
        "naive": _naive,
        "lazy": _lazy,
        "stochastic": _stochastic,
        "lazier_than_lazy": _lazier_than_lazy,
        "random_greedy": _random_greedy,
    }[optimizer]
    picks, gains, evals = run(objective, int(k), n, np.random.default_rng(seed), epsilon, progress)
    picks, gains = np.asarray(picks, dtype=np.int64).reshape(-1), np.asarray(gains, dtype=np.float64).reshape(-1)
    if len(picks) > k or len(gains) != len(picks) or len(np.unique(picks)) != len(picks) or (
            len(picks) and not 0 <= picks.min() <= picks.max() < n):
        raise LessdataError(f"optimizer {type(optimizer).__name__} returned {len(picks)} picks / {len(gains)} "
                            f"gains; expected at most {k} distinct candidates in [0, {n}) with one gain each")
    return GreedyResult(picks, gains, int(evals))


def _tick(progress):
    if progress is not None:
        progress.update(1)


def _naive(obj, k, n, rng, epsilon, progress):
    remaining = np.ones(n, dtype=bool)
    picks, gains, evals = [], [], 0
    for _ in range(k):
        cands = np.flatnonzero(remaining)
        g = obj.gains(cands)
        evals += len(cands)
        best = int(np.argmax(g))  # first maximum = lowest index
        j = int(cands[best])
        obj.add(j)
        remaining[j] = False
        picks.append(j)
        gains.append(float(g[best]))
        _tick(progress)
    return picks, gains, evals


# ------------------------------------------------------------------ lazy greedy, compiled fast path
@njit(cache=True, inline="always")
def _before(key, idx, a, b):
    """Heap order: larger gain first, ties to the lower index."""
    return key[a] > key[b] or (key[a] == key[b] and idx[a] < idx[b])


@njit(cache=True)
def _sift_down(key, idx, size, pos):
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and _before(key, idx, child + 1, child):
            child += 1
        if not _before(key, idx, child, pos):
            return
        key[pos], key[child] = key[child], key[pos]
        idx[pos], idx[child] = idx[child], idx[pos]
        pos = child


@njit(cache=True)
def _heapify(key, idx):
    for pos in range(key.shape[0] // 2 - 1, -1, -1):
        _sift_down(key, idx, key.shape[0], pos)


@njit(nogil=True, cache=True)
def _lazy_segment(sparse, S, starts, ends, indices, data, memo, w, assign, key, idx, size, fresh, step, stop,
                  picks, pgains):
    """Lazy greedy steps ``step..stop-1`` on a heap of stale bounds; re-evaluates the top in place."""
    evals = 0
    while step < stop and size > 0:
        j = idx[0]
        if fresh[j] == step:
            _add(sparse, S, starts, ends, indices, data, j, memo, assign)
            picks[step] = j
            pgains[step] = key[0]
            step += 1
            size -= 1
            key[0], idx[0] = key[size], idx[size]
            _sift_down(key, idx, size, 0)
        else:
            key[0] = _gain(sparse, S, starts, ends, indices, data, j, memo, w)
            fresh[j] = step
            evals += 1
            _sift_down(key, idx, size, 0)
    return size, step, evals


@njit(cache=True)
def _sift_up(key, idx, pos):
    while pos > 0:
        parent = (pos - 1) // 2
        if not _before(key, idx, pos, parent):
            return
        key[pos], key[parent] = key[parent], key[pos]
        idx[pos], idx[parent] = idx[parent], idx[pos]
        pos = parent


@njit(cache=True)
def _pop_stale(key, idx, size, fresh, step, most):
    """Pop up to ``most`` entries off the heap top while the top is stale; returns (their ids, new size)."""
    out = np.empty(most, dtype=np.int64)
    t = 0
    while t < most and size > 0 and fresh[idx[0]] != step:
        out[t] = idx[0]
        t += 1
        size -= 1
        key[0], idx[0] = key[size], idx[size]
        _sift_down(key, idx, size, 0)
    return out[:t], size


@njit(cache=True)
def _push(key, idx, size, ids, gains, fresh, step):
    for t in range(ids.shape[0]):
        key[size], idx[size] = gains[t], ids[t]
        fresh[ids[t]] = step
        _sift_up(key, idx, size)
        size += 1
    return size


def _lazy_batched(obj, k, n, progress, batch=64):
    """Lazy greedy re-evaluating up to ``batch`` stale heap tops per call (for objectives whose gains cost a
    round trip, e.g. on a torch device). Each value is the exact gain at its step, so the first fresh top is
    still exactly naive greedy's pick."""
    key = np.asarray(obj.gains(np.arange(n, dtype=np.int64)), dtype=np.float64)
    idx = np.arange(n, dtype=np.int64)
    _heapify(key, idx)
    fresh = np.zeros(n, dtype=np.int64)
    picks, gains, evals, size = [], [], n, n
    for step in range(k):
        j, gain, size, e = _batched_pick(obj, key, idx, size, fresh, step, batch)
        evals += e
        obj.add(j)
        picks.append(j)
        gains.append(gain)
        _tick(progress)
    return picks, gains, evals


def _batched_pick(obj, key, idx, size, fresh, step, batch):
    """One lazy-greedy pick on the heap arrays, re-evaluating up to ``batch`` stale tops per ``obj.gains``
    call: the first fresh top, taken off the heap (not yet added to ``obj``). Returns ``(pick, its gain, heap
    size, evaluations)``."""
    evals = 0
    while fresh[idx[0]] != step:
        ids, size = _pop_stale(key, idx, size, fresh, step, batch)
        size = _push(key, idx, size, ids, np.asarray(obj.gains(ids), dtype=np.float64), fresh, step)
        evals += len(ids)
    j, gain = int(idx[0]), float(key[0])
    size -= 1
    key[0], idx[0] = key[size], idx[size]
    _sift_down(key, idx, size, 0)
    return j, gain, size, evals


def _take(obj, key, idx, size, fresh, step, picks, pgains, batch, progress):
    """Pick number ``step`` with :func:`_batched_pick`, record it in ``picks`` / ``pgains`` and add it to
    ``obj``. Returns ``(heap size, evaluations)``."""
    j, pgains[step], size, evals = _batched_pick(obj, key, idx, size, fresh, step, batch)
    picks[step] = j
    obj.add(j)
    _tick(progress)
    return size, evals


def _lazy_early_picks(obj: FacilityLocation, k, key, idx, size, fresh, step, picks, pgains, evals, progress):
    """Lazy greedy's first picks, re-evaluating the ``_EARLY_BATCH`` best stale bounds at a time, the work split
    over cores (:meth:`FacilityLocation.gains`).

    Right after the first pick nearly every bound is far above its candidate's gain and the stored rows are
    still long, so each of the next picks takes thousands of evaluations (about 27,000 for picks 2-14 at
    n = 20,000 in the engine benchmark). A batch evaluates at most ``_EARLY_BATCH - 1`` candidates that
    one-at-a-time lazy greedy would not, and every value is the candidate's exact gain at this step, so the
    pick is the same: the first fresh heap top, ties to the lowest index. Ends once a pick needs fewer than
    ``2 * _EARLY_BATCH`` evaluations, where the extra evaluations would outweigh the second core."""
    while step < k:
        size, e = _take(obj, key, idx, size, fresh, step, picks, pgains, _EARLY_BATCH, progress)
        evals += e
        step += 1
        if 0 < e < 2 * _EARLY_BATCH:
            break
    return size, step, evals


def _lazy_facility_location(obj: FacilityLocation, k, n, progress):
    """Lazy greedy with the heap and the evaluations compiled; pauses at the objective's pruning checks."""
    key = obj.gains(np.arange(n, dtype=np.int64))
    idx = np.arange(n, dtype=np.int64)
    _heapify(key, idx)
    fresh = np.zeros(n, dtype=np.int64)
    picks = np.empty(k, dtype=np.int64)
    pgains = np.empty(k, dtype=np.float64)
    size, step, evals = n, 0, n
    report_every = max(1, k // 100)
    while step < k and obj.rows is None:  # on-demand similarity: the first picks, before rows are stored
        size, e = _take(obj, key, idx, size, fresh, step, picks, pgains, 1, progress)
        evals += e
        step += 1
    if obj.scan_gains is not None and step < k:
        # storing the live entries computed every open candidate's exact gain: a heap of fresh values
        # instead of stale bounds that would each be re-evaluated at the next pick
        idx = np.flatnonzero(~obj.selected_mask).astype(np.int64)
        key = obj.scan_gains[idx]
        _heapify(key, idx)
        size = len(idx)
        fresh[idx] = step
        evals += size
        obj.scan_gains = None
    size, step, evals = _lazy_early_picks(obj, k, key, idx, size, fresh, step, picks, pgains, evals, progress)
    while step < k:
        stop = min(k, obj._next_check, step + report_every)
        size, new_step, e = _lazy_segment(*obj.rows, obj.memo, obj.w, obj.assignment,
                                          key, idx, size, fresh, step, stop, picks, pgains)
        evals += e
        obj.selected_mask[picks[step:new_step]] = True
        obj.n_selected = new_step
        obj.checkpoint()
        if progress is not None:
            progress.update(new_step - step)
        step = new_step
    return picks, pgains, evals


def _lazy(obj, k, n, rng, epsilon, progress):
    if k == 0:
        return [], [], 0
    if type(obj) is FacilityLocation and obj.n_selected == 0:
        return _lazy_facility_location(obj, k, n, progress)
    if getattr(obj, "batch_gains", False):
        return _lazy_batched(obj, k, n, progress)
    g = obj.gains(np.arange(n))
    # heap entries (-gain, index): the smallest tuple is the largest gain, ties to the lowest index
    heap = list(zip((-g).tolist(), range(n)))
    heapq.heapify(heap)
    fresh = np.zeros(n, dtype=np.int64)  # step at which the entry's bound was computed
    picks, gains, evals, step = [], [], n, 0
    while step < k:
        neg, j = heapq.heappop(heap)
        if fresh[j] == step:
            obj.add(j)
            picks.append(j)
            gains.append(-neg)
            step += 1
            _tick(progress)
            continue
        gain = float(obj.gains(np.array([j]))[0])
        evals += 1
        fresh[j] = step
        heapq.heappush(heap, (-gain, j))
    return picks, gains, evals


def _sample_size(n, k, epsilon):
    return max(1, int(math.ceil(n / max(k, 1) * math.log(1.0 / epsilon))))


class _Pool:
    """The remaining candidates, with O(1) removal and uniform sampling without replacement."""

    def __init__(self, n):
        self.items = np.arange(n, dtype=np.int64)
        self.pos = np.arange(n, dtype=np.int64)
        self.size = n

    def sample(self, rng, s):
        if s >= self.size:
            return np.sort(self.items[: self.size])
        return np.sort(self.items[rng.choice(self.size, size=s, replace=False)])

    def remove(self, j):
        p, last = self.pos[j], self.items[self.size - 1]
        self.items[p], self.pos[last] = last, p
        self.size -= 1


def _stochastic(obj, k, n, rng, epsilon, progress):
    pool, s = _Pool(n), _sample_size(n, k, epsilon)
    picks, gains, evals = [], [], 0
    for _ in range(k):
        cands = pool.sample(rng, s)
        g = obj.gains(cands)
        evals += len(cands)
        best = int(np.argmax(g))
        j = int(cands[best])
        obj.add(j)
        pool.remove(j)
        picks.append(j)
        gains.append(float(g[best]))
        _tick(progress)
    return picks, gains, evals


def _lazier_than_lazy(obj, k, n, rng, epsilon, progress):
    pool, s = _Pool(n), _sample_size(n, k, epsilon)
    bound = np.full(n, np.inf)
    fresh = np.full(n, -1, dtype=np.int64)
    picks, gains, evals = [], [], 0
    for step in range(k):
        cands = pool.sample(rng, s)
        # visit the sample by decreasing bound (ties: lowest index), stop when no bound can beat the best
        order = cands[np.lexsort((cands, -bound[cands]))]
        best_j, best_g = -1, -np.inf
        for j in order:
            if best_j >= 0 and bound[j] < best_g:
                break
            if best_j >= 0 and bound[j] == best_g and j > best_j:
                continue
            if fresh[j] != step:
                bound[j] = float(obj.gains(np.array([j]))[0])
                fresh[j] = step
                evals += 1
            g = bound[j]
            if g > best_g or (g == best_g and j < best_j):
                best_j, best_g = int(j), g
        obj.add(best_j)
        pool.remove(best_j)
        picks.append(best_j)
        gains.append(float(best_g))
        _tick(progress)
    return picks, gains, evals


def _random_greedy(obj, k, n, rng, epsilon, progress):
    remaining = np.ones(n, dtype=bool)
    picks, gains, evals = [], [], 0
    for _ in range(k):
        cands = np.flatnonzero(remaining)
        g = obj.gains(cands)
        evals += len(cands)
        # the k best with positive gain (ties: lowest index); the other slots are zero-gain dummies
        order = np.lexsort((cands, -g))[:k]
        order = order[g[order] > 0]
        slot = int(rng.integers(k))
        if slot < len(order):
            j = int(cands[order[slot]])
            gain = float(g[order[slot]])
            obj.add(j)
            remaining[j] = False
            picks.append(j)
            gains.append(gain)
        _tick(progress)
    return picks, gains, evals
