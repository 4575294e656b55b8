"""The full facility-location objective of selections, blockwise over fixed row ranges (no ``n × n`` matrix).

``F(S) = Σ_i max(0, max_{j∈S} s_ij)`` is computed over ranges of ``EVAL_CHUNK_ROWS`` rows (``n × |S|``
similarities, a few megabytes at a time), through any backend, and gives the exact per-pick gains and
cluster-size weights of a selection. :func:`~lessdata.submodular.greedi.greedi` scores its candidates with it.

For ``metric="euclidean"`` the similarity is CRAIG's ``c − d``; the constant ``c`` is the double-sweep
estimate of the data's diameter (:func:`euclidean_constant`), the same for every selection evaluated on the
same ``X``.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit

from .._threads import single_threaded_blas
from .._validation import check_choice, check_features
from ..errors import LessdataError
from .similarity import _normalize_rows, check_metric

EVAL_CHUNK_ROWS = 8192  # row range of one evaluation item: fixed, so sums never depend on the backend
EXACT_EVAL_PAIRS = 5_000_000_000  # "auto" evaluation: exact up to this many point x pick similarities
KNN_FLAT_LIMIT = 4096  # "knn" evaluation: exact flat faiss index up to this many picks, IVF above
_BLOCK_ENTRIES = 1 << 21  # similarities per block (8 MB float32) inside one range
_KIND = {"euclidean": 0, "cosine": 1, "rbf": 2}


# ---------------------------------------------------------------------------------- results
@dataclass
class Evaluation:
    """One selection scored on the full data: ``value = Σ gains``; ``weights`` = cluster sizes."""

    value: float
    gains: np.ndarray  # float64, marginal gain of each pick in selection order
    weights: np.ndarray  # float32, the (point-weighted) number of points each pick represents best


@dataclass
class _Range:
    """Rows ``start..stop-1`` of the data: one evaluation item."""

    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


def _ranges(n: int) -> list[_Range]:
    rows = EVAL_CHUNK_ROWS
    return [_Range(s, min(s + rows, n)) for s in range(0, n, rows)]


def _threads() -> int:
    import numba

    return max(1, min(numba.get_num_threads(), os.cpu_count() or 1))


def _map(backend, fn, items, progress=None, *, in_order=False):
    """``backend.map``; remote backends report progress themselves as tasks finish.

    ``in_order``: on an in-process backend, run the items one after another here (each item already
    uses every core), rather than on the backend's threads.
    """
    from ..backends import get_backend

    backend = get_backend(backend)
    if getattr(backend, "in_process", True):
        if in_order:
            return [fn(item) for item in items]
        return backend.map(fn, items)
    if progress is not None:
        return backend.map(fn, items, progress=progress)
    return backend.map(fn, items)


# ----------------------------------------------------------------------------- full objective
@njit(nogil=True, cache=True)
def _accumulate(G, row_ids, col_ids, sq_rows, sq_cols, w_rows, kind, c, scale, group_ptr, group_cols, gains,
                counts):
    """Turn the block ``G = X_blk @ Y.T`` into similarities and add each row's contribution.

    For every group (a selection, as positions into the columns in selection order) and every row: the
    running maximum over the group's picks in order gives each pick's marginal gain (memo starts at 0),
    and the first pick attaining the maximum gets the row's weight (its cluster). A point's distance to
    itself is exactly 0, as on the diagonal of the dense similarity.
    """
    rows, cols = G.shape
    for r in range(rows):
        for j in range(cols):
            v = G[r, j]
            if kind != 1:
                d2 = sq_rows[r] + sq_cols[j] - np.float32(2.0) * v
                d = np.float32(math.sqrt(d2)) if d2 > 0 and col_ids[j] != row_ids[r] else np.float32(0.0)
                v = c - d if kind == 0 else np.float32(math.exp(-d * scale))
            G[r, j] = v
        w = np.float64(w_rows[r])
        for g in range(group_ptr.shape[0] - 1):
            run = np.float32(0.0)
            best = -np.inf
            arg = -1
            for t in range(group_ptr[g], group_ptr[g + 1]):
                s = G[r, group_cols[t]]
                if s > best:
                    best = s
                    arg = t
                if s > run:
                    gains[t] += w * (np.float64(s) - np.float64(run))
                    run = s
            if arg >= 0:
                counts[arg] += w


@njit(nogil=True, cache=True)
def _accumulate_knn(D, L, row_ids, sel_ids, w_rows, kind, c, scale, offset, gains, counts):
    """As :func:`_accumulate`, for one group, from each row's nearest picks only (``L``: positions in the
    selection, -1 for none; ``D``: squared distances, or inner products for cosine)."""
    rows, r = L.shape
    pos = np.empty(r, dtype=np.int64)
    sim = np.empty(r, dtype=np.float32)
    for i in range(rows):
        m = 0
        for t in range(r):
            p = L[i, t]
            if p < 0:
                continue
            v = D[i, t]
            if kind != 1:
                d = np.float32(math.sqrt(v)) if v > 0 and sel_ids[p] != row_ids[i] else np.float32(0.0)
                v = c - d if kind == 0 else np.float32(math.exp(-d * scale))
            j = m  # insertion by position: the running maximum follows the selection order
            while j > 0 and pos[j - 1] > p:
                pos[j] = pos[j - 1]
                sim[j] = sim[j - 1]
                j -= 1
            pos[j] = p
            sim[j] = v
            m += 1
        w = np.float64(w_rows[i])
        run = np.float32(0.0)
        best = -np.inf
        arg = -1
        for t in range(m):
            s = sim[t]
            if s > best:
                best = s
                arg = pos[t]
            if s > run:
                gains[offset + pos[t]] += w * (np.float64(s) - np.float64(run))
                run = s
        if arg >= 0:
            counts[offset + arg] += w


def _rows(X, points, a, b):
    """Rows ``a..b-1`` of the scored points: their features and their row ids in ``X``."""
    if points is None:
        return X[a:b], np.arange(a, b, dtype=np.int64)
    ids = points[a:b]
    return X[ids], ids


def _evaluate_range(X, points, Y, col_ids, sq_cols, kind, c, scale, group_ptr, group_cols, point_weights,
                    rng: _Range):
    """Partial gains and counts of every group over one range of points (sub-blocks summed in order)."""
    rows = max(16, min(1024, _BLOCK_ENTRIES // max(1, Y.shape[0])))
    starts = list(range(rng.start, rng.stop, rows))

    def block(start):
        stop = min(start + rows, rng.stop)
        Xb, ids = _rows(X, points, start, stop)
        if kind == 1:
            Xb = _normalize_rows(Xb)
        G = Xb @ Y.T
        sq = np.einsum("ij,ij->i", Xb, Xb, dtype=np.float32) if kind != 1 else sq_cols[:1]
        w = _weights(point_weights, ids)
        gains = np.zeros(len(group_cols), dtype=np.float64)
        counts = np.zeros(len(group_cols), dtype=np.float64)
        _accumulate(G, ids, col_ids, sq, sq_cols, w, kind, np.float32(c), np.float32(scale), group_ptr,
                    group_cols, gains, counts)
        return gains, counts

    gains = np.zeros(len(group_cols), dtype=np.float64)
    counts = np.zeros(len(group_cols), dtype=np.float64)
    with single_threaded_blas(), ThreadPoolExecutor(_threads()) as pool:
        for g, n in pool.map(block, starts):  # in order: the sums do not depend on the thread count
            gains += g
            counts += n
    return gains, counts


def _weights(point_weights, ids):
    if point_weights is None:
        return np.ones(len(ids), dtype=np.float32)
    return np.ascontiguousarray(point_weights[ids], dtype=np.float32)


_INDEXES: dict = {}  # deserialised faiss indexes of the current evaluation, per process


def _knn_index(Y, inner: bool, seed: int):
    """A faiss index over one selection: exact flat when small, IVF (as the sparse similarity) above."""
    import faiss

    m, dim = Y.shape
    if m <= KNN_FLAT_LIMIT:
        index = faiss.IndexFlatIP(dim) if inner else faiss.IndexFlatL2(dim)
    else:
        nlist = int(min(max(16, 4 * math.sqrt(m)), m // 39))
        quantizer = faiss.IndexFlatIP(dim) if inner else faiss.IndexFlatL2(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT if inner else faiss.METRIC_L2)
        index.cp.seed = int(seed) % (1 << 31)  # faiss takes a C int
        rng = np.random.default_rng(seed)
        index.train(Y[np.sort(rng.choice(m, size=min(m, 64 * nlist), replace=False))])
        index.nprobe = 16
    index.add(Y)
    return faiss.serialize_index(index)


def _evaluate_range_knn(X, points, token, blobs, sels, kind, c, scale, neighbors, offsets, total, point_weights,
                        rng: _Range):
    import faiss

    if token not in _INDEXES:
        _INDEXES.clear()
        _INDEXES[token] = [faiss.deserialize_index(b) for b in blobs]
    indexes = _INDEXES[token]
    Xb, ids = _rows(X, points, rng.start, rng.stop)
    if kind == 1:
        Xb = _normalize_rows(Xb)
    w = _weights(point_weights, ids)
    gains = np.zeros(total, dtype=np.float64)
    counts = np.zeros(total, dtype=np.float64)
    for g, index in enumerate(indexes):
        D, L = index.search(Xb, min(neighbors, len(sels[g])))
        _accumulate_knn(D, L, ids, sels[g], w, kind, np.float32(c), np.float32(scale), offsets[g], gains, counts)
    return gains, counts



def _check_features_and_evaluation(X, metric: str, evaluation: str) -> np.ndarray:
    """GreeDi and its full-objective evaluation need features (not a precomputed similarity)."""
    X = check_features(X)
    check_metric(metric)
    if metric == "precomputed":
        raise LessdataError("GreeDi and its evaluation work on features, not metric='precomputed'")
    check_choice(evaluation, ("exact", "knn", "auto"), "evaluation")
    return X

def evaluate_facility_location(X, selections, metric: str = "euclidean", *, constant: float | None = None,
                               point_weights=None, points=None, method: str = "exact",
                               n_neighbors: int = 8, backend="local", progress=None) -> list[Evaluation]:
    """Score selections on the full facility-location objective of ``X``, blockwise (no ``n × n`` matrix).

    Args:
        X: features, ``(n, d)``.
        selections: a list of index arrays (each in selection order), scored in one pass over ``X``.
        metric: ``euclidean`` (``c − d``), ``cosine`` or ``rbf`` (``exp(−d/dim)``).
        constant: ``c`` for euclidean; default :func:`euclidean_constant` of ``X``.
        point_weights: optional weight per point of ``X``.
        points: row indices of the points to score (default all ``n``): a uniform sample gives an unbiased
            estimate of the objective (times ``n / len(points)``) at a fraction of the cost.
        method: ``"exact"``: every point against every pick, in blocks of a few megabytes; ``"knn"``: every
            point against its ``n_neighbors`` nearest picks of each selection, from a faiss index (exact flat
            up to ``KNN_FLAT_LIMIT`` picks, IVF above): the value and weights are exact when the nearest pick
            is found, the gains credit only those neighbours; ``"auto"``: exact up to ``EXACT_EVAL_PAIRS``
            point × pick pairs.
        backend: ``"local"``, ``"ray"`` or a backend object; the points are scored in fixed ranges of
            ``EVAL_CHUNK_ROWS`` whose partial sums are added in order, so every backend gives the same numbers.

    Returns one :class:`Evaluation` per selection: the value, each pick's marginal gain in selection order,
    and each pick's cluster size (points go to their most similar pick, ties to the earliest).

    Examples:
        >>> X = np.array([[0.0], [1.0], [10.0]], dtype=np.float32)
        >>> [e.value for e in evaluate_facility_location(X, [[0], [0, 2]], constant=10.0)]
        [19.0, 29.0]
    """
    X = _check_features_and_evaluation(X, metric, method)
    n = X.shape[0]
    sels = [np.asarray(s, dtype=np.int64).reshape(-1) for s in selections]
    for s in sels:
        if len(s) and (s.min() < 0 or s.max() >= n):
            raise LessdataError(f"a selection holds an index outside 0..{n - 1}")
        if len(np.unique(s)) != len(s):
            raise LessdataError("a selection holds the same index twice")
    if points is not None:
        points = np.asarray(points, dtype=np.int64).reshape(-1)
        if len(points) and (points.min() < 0 or points.max() >= n):
            raise LessdataError(f"points hold an index outside 0..{n - 1}")
    if point_weights is not None:
        point_weights = np.ascontiguousarray(point_weights, dtype=np.float32).reshape(-1)
        if point_weights.shape[0] != n:
            raise LessdataError(f"got {point_weights.shape[0]} point weights for {n} points")
    columns = np.unique(np.concatenate(sels)) if sels else np.zeros(0, dtype=np.int64)
    if len(columns) == 0:
        return [Evaluation(0.0, np.zeros(0), np.zeros(0, dtype=np.float32)) for _ in sels]
    kind = _KIND[metric]
    c = 0.0
    if kind == 0:
        c = float(euclidean_constant(X, backend=backend)) if constant is None else float(constant)
    scale = 1.0 / X.shape[1]
    n_points = n if points is None else len(points)
    if method == "auto":
        method = "exact" if n_points * len(columns) <= EXACT_EVAL_PAIRS else "knn"
    group_ptr = np.zeros(len(sels) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in sels], out=group_ptr[1:])
    total = int(group_ptr[-1])

    if method == "exact":
        Y = np.ascontiguousarray(X[columns])
        if kind == 1:
            Y = _normalize_rows(Y)
        sq_cols = np.einsum("ij,ij->i", Y, Y, dtype=np.float32)
        group_cols = np.concatenate([np.searchsorted(columns, s) for s in sels]).astype(np.int64)

        def score(rng: _Range):
            return _evaluate_range(X, points, Y, columns, sq_cols, kind, c, scale, group_ptr, group_cols,
                                   point_weights, rng)
    else:
        import uuid

        blobs = []
        for s in sels:
            Y = np.ascontiguousarray(X[s])
            blobs.append(_knn_index(_normalize_rows(Y) if kind == 1 else Y, kind == 1, seed=0))
        token = uuid.uuid4().hex
        neighbors = max(1, int(n_neighbors))

        def score(rng: _Range):
            return _evaluate_range_knn(X, points, token, blobs, sels, kind, c, scale, neighbors, group_ptr, total,
                                       point_weights, rng)

    parts = _map(backend, score, _ranges(n_points), progress, in_order=True)
    _INDEXES.clear()
    gains = np.zeros(total, dtype=np.float64)
    counts = np.zeros(total, dtype=np.float64)
    for g, cnt in parts:
        gains += g
        counts += cnt
    out = []
    for a, b in zip(group_ptr[:-1], group_ptr[1:]):
        out.append(Evaluation(float(gains[a:b].sum()), gains[a:b].copy(), counts[a:b].astype(np.float32)))
    return out


def _farthest(X, origin, rng: _Range):
    diff = X[rng.start:rng.stop].astype(np.float64) - origin
    d = np.einsum("ij,ij->i", diff, diff)
    i = int(np.argmax(d))
    return float(d[i]), rng.start + i


def euclidean_constant(X, backend="local") -> float:
    """Double-sweep estimate of the diameter of ``X``: the largest distance from ``a``, the point farthest
    from row 0 (two O(nd) passes; at least half the diameter, usually within a few percent of it).

    >>> euclidean_constant(np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]], dtype=np.float32))
    5.0
    """
    X = np.asarray(X, dtype=np.float32)
    a = 0
    best = 0.0
    for _ in range(2):
        origin = X[a].astype(np.float64)
        found = _map(backend, lambda r, o=origin: _farthest(X, o, r), _ranges(X.shape[0]), in_order=True)
        best, a = max(found, key=lambda t: (t[0], -t[1]))  # ties: the lowest index
    return float(np.float32(math.sqrt(best)))
