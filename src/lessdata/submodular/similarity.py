"""Similarity between candidates and the points they represent, computed in float32 blocks.

Every similarity here is *candidate-major*: row ``c`` holds the similarity of candidate ``c`` to every
represented point, so evaluating one candidate's marginal gain reads one contiguous row. In the usual square
case the candidates are the points themselves.

Metrics
-------
``euclidean``  CRAIG's ``max(d) - d`` (Mirzasoleiman, Bilmes, Leskovec, ICML 2020), the maximum taken over the
               block being selected (one part of a partition, never the whole dataset).
``cosine``     cosine similarity of the rows (negative values count as 0 in facility location).
``rbf``        ``exp(-d / dim)`` with ``d`` the euclidean distance, as CREST's selection uses.
``precomputed`` a dense array or a scipy sparse matrix given by the user.

Dense matrices above ``memory_cap`` bytes are never built: the engine switches to a sparse k-nearest-
neighbour graph from faiss (exact flat index up to ``EXACT_KNN_LIMIT`` candidates, IVF above) and logs it.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from .._process import proc_kib_field
from .._threads import single_threaded_blas
from ..errors import LessdataError
from . import tiles
from .tiles import mapped

logger = logging.getLogger("lessdata")

METRICS = ("euclidean", "cosine", "rbf", "precomputed")
DEFAULT_MEMORY_CAP = 2 * 2**30
#: facility location's ``storage="auto"`` computes euclidean and rbf similarities larger than this (bytes)
#: on demand instead of storing them (from n ≈ 6,500), for features of at most AUTO_ON_DEMAND_NARROW columns:
#: there on demand is faster with 47-62% of the peak memory (n = 7,000: 0.31 vs 0.38 s at d = 32, 0.41 vs
#: 0.45 s at d = 128; 10,000: 0.51 vs 0.88 s; benchmarks/results/engine_storage.md). The two cross between
#: n = 6,000 and 7,000: at 6,000 on demand was faster in that run (0.25 vs 0.29 s), storing in two others
#: (0.26 vs 0.23 s and 0.30 vs 0.27 s, medians of 5); at 6,500, 0.36 vs 0.38 s
AUTO_ON_DEMAND_ABOVE = 160 * 2**20
AUTO_ON_DEMAND_NARROW = 128
#: ... from AUTO_ON_DEMAND_NARROW to AUTO_ON_DEMAND_MAX_FEATURES columns only above this size: at d = 256 on
#: demand took 1.14-1.20x the stored time at n = 7,000 and 0.9-1.0x at 10,000
AUTO_ON_DEMAND_WIDE_ABOVE = 256 * 2**20
AUTO_ON_DEMAND_MAX_FEATURES = 256
#: a square dense similarity from at least this many feature columns is computed half and mirrored: at n = 10,000
#: the build took 1.0 s instead of 1.8-2.1 s at d = 1,024, 0.6-0.7 s instead of 0.9-1.2 s at d = 512 and
#: 0.39-0.41 s instead of 0.49-0.75 s at d = 256; at d <= 128 (bound by writing the matrix) no clear gain
SYMMETRIC_FROM_FEATURES = 256
EXACT_KNN_LIMIT = 200_000
DEFAULT_NEIGHBORS = 64
_BLOCK_ROWS = 256  # rows per block: a block stays in cache between the multiply and the transform


# ------------------------------------------------------------------------------------------ kernels
# Each worker thread multiplies one block of rows with single-threaded BLAS and transforms it while it is
# still in cache; BLAS and numba never run their own thread pools at the same time (they would fight).
@njit(fastmath=True, nogil=True, cache=True)
def _block_exp_neg_scaled(S, scale):
    """In place: S <- exp(-S * scale) (RBF similarity from distances)."""
    m, n = S.shape
    for r in range(m):
        for c in range(n):
            S[r, c] = np.float32(math.exp(-S[r, c] * scale))


@njit(fastmath=True, nogil=True, cache=True)
def _block_flip(S, top):
    """S <- top - S (CRAIG's similarity from distances)."""
    m, n = S.shape
    for r in range(m):
        for c in range(n):
            S[r, c] = top - S[r, c]


# ------------------------------------------------------------------------------------------ helpers
_HUGE_PAGES_ABOVE = 64 * 2**20


def empty_large(shape, dtype) -> np.ndarray:
    """``np.empty``, backed by transparent huge pages when large (:func:`~lessdata.submodular.tiles.mapped`):
    a fresh n × n matrix then costs one page fault per 2 MiB instead of per 4 KiB, which is most of a first
    call's time to write it."""
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    size = int(np.prod(shape))
    out = mapped(size, dtype, lazy=False) if size * np.dtype(dtype).itemsize >= _HUGE_PAGES_ABOVE else None
    return np.empty(shape, dtype=dtype) if out is None else out.reshape(shape)


_workers = tiles._workers


def _normalize_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.ascontiguousarray(X / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)


def dense_bytes(n_candidates: int, n_points: int) -> int:
    """Bytes a dense float32 candidates × points similarity would take."""
    return 4 * int(n_candidates) * int(n_points)


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise LessdataError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    return metric


# ------------------------------------------------------------------------------------------ dense
class ImplicitSimilarity:
    """A dense candidate-major similarity computed from features on demand, block by block, never stored.

    Any set of rows costs one BLAS product with the features plus an in-cache transform, so an objective can
    read the rows it needs (the first greedy picks, a scan that keeps only live entries) without the
    ``len(Y) × len(X)`` matrix ever existing. :func:`dense_similarity` is this object materialised.

    For ``euclidean`` the similarity ``max(d) − d`` needs the largest distance first: :meth:`row_sums`
    (one pass over all blocks) finds it; rows asked for before that pass trigger it.

    >>> X = np.array([[0.0, 0.0], [3.0, 4.0]], dtype=np.float32)
    >>> sim = ImplicitSimilarity(X)
    >>> sim.rows(np.array([1]))
    array([[0., 5.]], dtype=float32)
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray | None = None, metric: str = "euclidean"):
        check_metric(metric)
        if metric == "precomputed":
            raise LessdataError("metric='precomputed' takes the similarity itself, not features")
        self.square = Y is None
        Y = X if self.square else Y
        if X.shape[1] != Y.shape[1]:
            raise LessdataError(f"candidates have {Y.shape[1]} features but points have {X.shape[1]}")
        if metric == "cosine":
            X = _normalize_rows(X)
            Y = X if self.square else _normalize_rows(Y)
        else:  # distances are translation-invariant; centring shrinks the norms whose difference is taken
            center = X.mean(axis=0, dtype=np.float64).astype(np.float32)
            X = np.ascontiguousarray(X - center, dtype=np.float32)
            Y = X if self.square else np.ascontiguousarray(Y - center, dtype=np.float32)
        self.X, self.Y, self.metric = X, Y, metric
        self.shape = (Y.shape[0], X.shape[0])
        self.sq_x = np.einsum("ij,ij->i", X, X, dtype=np.float32) if metric != "cosine" else None
        self.sq_y = self.sq_x if self.square else (
            np.einsum("ij,ij->i", Y, Y, dtype=np.float32) if metric != "cosine" else None)
        self.scale = np.float32(1.0 / X.shape[1])
        self.top = None if metric == "euclidean" else np.float32(0.0)  # euclidean: the largest distance

    @property
    def nbytes_dense(self) -> int:
        return dense_bytes(*self.shape)

    def _fill(self, rows: np.ndarray, out: np.ndarray, similarity: bool = True, c0: int = 0) -> np.float32:
        """Write rows ``rows`` (columns ``c0`` on) into ``out``: similarities, or (euclidean,
        ``similarity=False``) distances.

        Returns the largest distance in the block (0 for cosine). The product runs on one BLAS thread, as in
        every pass: BLAS rounds differently on different numbers of threads."""
        with single_threaded_blas():
            np.matmul(self.Y[rows], self.X[c0:].T, out=out)
        if self.metric == "cosine":
            return np.float32(0.0)
        diag = rows - c0 if self.square else np.full(len(rows), -1, dtype=np.int64)
        top = tiles.to_distances(out, self.sq_y[rows], self.sq_x[c0:], diag)
        if self.metric == "rbf":
            _block_exp_neg_scaled(out, self.scale)
        elif similarity:
            _block_flip(out, self._top())
        return top

    def _top(self) -> np.float32:
        if self.top is None:
            self.row_sums()
        return self.top

    def rows(self, rows) -> np.ndarray:
        """Similarity rows ``rows`` as a float32 array ``(len(rows), n_points)``."""
        rows = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        for start in range(0, len(rows), _BLOCK_ROWS):
            self._fill(rows[start:start + _BLOCK_ROWS], out[start:start + _BLOCK_ROWS])
        return out

    def _fill_all(self, out: np.ndarray, similarity: bool) -> None:
        """Every row into ``out``, blocks of rows on all cores (for euclidean with ``similarity=False``:
        distances, and the largest one found on the way).

        A square similarity from wide features (``SYMMETRIC_FROM_FEATURES`` columns or more) is symmetric
        and the product dominates: each block then computes only its columns from the diagonal on and
        mirrors them below it, half the product (narrower features are bound by writing the matrix, which
        mirroring does not shrink)."""
        n = self.shape[0]
        starts = list(range(0, n, _BLOCK_ROWS))
        mirror = self.square and self.X.shape[1] >= SYMMETRIC_FROM_FEATURES

        def block(start):
            stop = min(start + _BLOCK_ROWS, n)
            if not mirror:
                return self._fill(np.arange(start, stop), out[start:stop], similarity)
            # a contiguous block, copied into place: the compiled transforms take contiguous rows (a strided
            # view of `out` would need kernels of their own)
            upper = np.empty((stop - start, n - start), dtype=np.float32)
            top = self._fill(np.arange(start, stop), upper, similarity, c0=start)
            out[start:stop, start:] = upper
            out[stop:, start:stop] = upper[:, stop - start:].T
            return top

        if len(starts) == 1:  # one block: no thread pool (it costs more than it saves)
            tops = [block(0)]
        else:
            with single_threaded_blas(), ThreadPoolExecutor(_workers()) as pool:
                tops = list(pool.map(block, starts))
        if self.top is None and not similarity:
            self.top = np.float32(max(tops))

    def row_sums(self, weights: np.ndarray | None = None, keep_for=None, index_dtype=np.int32):
        """Σ_i w_i · max(0, s_ci) for every candidate ``c`` (facility location's first gains), in one tiled
        pass (:func:`~lessdata.submodular.tiles.row_sums`).

        For ``euclidean`` this pass also finds the largest distance: ``Σ_i w_i (top − d_ci)``.

        ``keep_for``: candidates one of which is expected to be the first pick. The same pass then also stores
        every entry that any of them would leave live as the first pick (:meth:`first_pick_bound`), and
        returns ``(sums, rows)``; if one of them is picked first, :meth:`finish_rows` makes these the rows."""
        w = np.ones(self.shape[1], dtype=np.float32) if weights is None else np.ascontiguousarray(weights, np.float32)
        keep = None
        if keep_for is not None:
            keep = (self.first_pick_bound(keep_for), index_dtype)
        sums, top, *rows = tiles.row_sums(self.Y, self.X, self.sq_y, self.sq_x, self.square, self.metric,
                                          self.scale, w, keep=keep)
        if self.metric == "euclidean":
            if self.top is None:
                self.top = top
            sums = float(self.top) * float(np.sum(w, dtype=np.float64)) - sums
        return sums if keep is None else (sums, rows[0])

    def first_pick_bound(self, cands) -> np.ndarray:
        """Per point, the bound past which an entry is live once one of ``cands`` is the first pick, from
        their rows computed as :meth:`rows` computes them: the largest of their distances (euclidean; no
        largest distance needed), else the smallest of their similarities floored at 0 (the memo they set)."""
        cands = np.atleast_1d(np.asarray(cands, dtype=np.int64))
        out = np.empty((len(cands), self.shape[1]), dtype=np.float32)
        self._fill(cands, out, similarity=False)
        if self.metric == "euclidean":
            return out.max(axis=0)
        return np.maximum(out.min(axis=0), np.float32(0.0))

    def kept_share(self, cands, rows: np.ndarray) -> float:
        """The share of the entries of ``rows`` that ``row_sums(keep_for=cands)`` would store."""
        bound = self.first_pick_bound(cands)
        block = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        self._fill(np.ascontiguousarray(rows, dtype=np.int64), block, similarity=False)
        kept = block < bound if self.metric == "euclidean" else block > bound
        return float(kept.mean()) if kept.size else 0.0

    def sampled_row_sums(self, cols: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Each candidate's weighted similarity to the points ``cols`` only, larger is better (euclidean:
        minus the distances): an estimate of how :meth:`row_sums` ranks the candidates."""
        return self._scores(None, np.ascontiguousarray(cols, dtype=np.int64), w)

    def candidate_sums(self, cands: np.ndarray, w: np.ndarray) -> np.ndarray:
        """:meth:`row_sums` of the candidates ``cands`` only (up to rounding: the diagonal is not singled
        out), larger is better (euclidean: minus the distances). One tiled pass over their rows."""
        return self._scores(np.ascontiguousarray(cands, dtype=np.int64), None, w)

    def _scores(self, rows, cols, w: np.ndarray) -> np.ndarray:
        """Weighted row sums of the block ``rows`` × ``cols`` (``None``: all) in one tiled pass; euclidean:
        minus the distances."""
        def part(A, sq, idx):
            if idx is None:
                return A, sq
            return np.ascontiguousarray(A[idx]), None if sq is None else sq[idx]

        (Y, sq_y), (X, sq_x) = part(self.Y, self.sq_y, rows), part(self.X, self.sq_x, cols)
        wc = w if cols is None else w[cols]
        sums, _ = tiles.row_sums(Y, X, sq_y, sq_x, False, self.metric, self.scale,
                                 np.ascontiguousarray(wc, dtype=np.float32))
        return -sums if self.metric == "euclidean" else sums

    def finish_rows(self, rows, picked: int, memo: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Make rows stored by ``row_sums(keep_for=...)`` the live rows after first pick ``picked`` (one of
        those candidates): its own row emptied, distances turned into similarities (in place). Returns every
        row's gain under ``memo``, the memo that pick set."""
        rows[1][picked] = rows[0][picked]
        top = self._top() if self.metric == "euclidean" else np.float32(0.0)
        return tiles.finish_rows(rows, self.metric == "euclidean", top, memo, w)

    def live_entries(self, memo: np.ndarray, w: np.ndarray, skip: np.ndarray, index_dtype):
        """``(starts, ends, indices, data, gains)``: the entries above ``memo`` of their point, rows ``skip``
        empty, and each row's gain (:func:`~lessdata.submodular.tiles.live_entries`; one tiled pass)."""
        top = self._top() if self.metric == "euclidean" else np.float32(0.0)
        return tiles.live_entries(self.Y, self.X, self.sq_y, self.sq_x, self.square, self.metric, self.scale, top,
                                  memo, w, skip, index_dtype)

    def materialize(self) -> np.ndarray:
        """The whole dense float32 matrix."""
        S = empty_large(self.shape, np.float32)
        self._fill_all(S, similarity=self.metric != "euclidean")
        if self.metric == "euclidean":
            top = self.top
            with ThreadPoolExecutor(_workers()) as pool:
                list(pool.map(lambda s: _block_flip(S[s:s + _BLOCK_ROWS], top), range(0, self.shape[0], _BLOCK_ROWS)))
        return S


def dense_similarity(X: np.ndarray, Y: np.ndarray | None = None, metric: str = "euclidean") -> np.ndarray:
    """Dense float32 similarity of shape ``(len(Y), len(X))`` (``Y`` defaults to ``X``), built in blocks.

    >>> X = np.array([[0.0, 0.0], [3.0, 4.0]], dtype=np.float32)
    >>> dense_similarity(X)  # CRAIG: max distance (5) minus distance
    array([[5., 0.],
           [0., 5.]], dtype=float32)
    """
    return ImplicitSimilarity(X, Y, metric).materialize()


# ------------------------------------------------------------------------------------------ sparse
def knn_similarity(
    X: np.ndarray,
    Y: np.ndarray | None = None,
    metric: str = "euclidean",
    n_neighbors: int = DEFAULT_NEIGHBORS,
    exact_limit: int = EXACT_KNN_LIMIT,
    seed: int = 0,
) -> sp.csr_matrix:
    """Sparse candidate-major similarity: each point keeps its ``n_neighbors`` most similar candidates.

    Returns a CSR matrix of shape ``(len(Y), len(X))``; row ``c`` lists the points candidate ``c`` can
    represent. Uses a faiss exact flat index up to ``exact_limit`` candidates and an IVF index above it.
    For ``euclidean`` the maximum distance is taken over the neighbour distances that were computed.
    """
    import faiss

    check_metric(metric)
    square = Y is None
    Y = X if square else Y
    n, m, dim = X.shape[0], Y.shape[0], X.shape[1]
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 2:
        raise LessdataError(f"n_neighbors must be an int ≥ 2 (a point and one neighbour), got {n_neighbors!r}")
    k = int(min(n_neighbors, m))
    if metric == "cosine":
        X = _normalize_rows(X)
        Y = X if square else _normalize_rows(Y)
    inner = metric == "cosine"
    if m <= exact_limit:
        index = faiss.IndexFlatIP(dim) if inner else faiss.IndexFlatL2(dim)
        kind = "exact flat"
    else:
        nlist = int(min(max(64, 4 * math.sqrt(m)), m // 39))
        quantizer = faiss.IndexFlatIP(dim) if inner else faiss.IndexFlatL2(dim)
        mt = faiss.METRIC_INNER_PRODUCT if inner else faiss.METRIC_L2
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, mt)
        rng = np.random.default_rng(seed)
        train = Y[np.sort(rng.choice(m, size=min(m, 32 * nlist), replace=False))]
        index.cp.seed = int(seed) % 2**31  # faiss takes a C int; part seeds are uint32
        index.cp.niter = 10  # coarse lists only need to be roughly right; faiss default is 25
        index.train(train)
        index.nprobe = 16
        kind = f"IVF (nlist={nlist}, nprobe=16)"
    index.add(Y)
    logger.info(
        "dense %d x %d similarity over the memory cap: using a sparse %d-NN graph (%s faiss index)",
        m, n, k, kind,
    )
    rows = np.empty(n * k, dtype=np.int32 if m < 2**31 else np.int64)
    vals = np.empty(n * k, dtype=np.float32)
    chunk = 16384
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        D, I = index.search(X[start:stop], k)
        rows[start * k: stop * k] = I.reshape(-1)
        vals[start * k: stop * k] = D.reshape(-1)
    cols = np.repeat(np.arange(n, dtype=rows.dtype), k)
    valid = rows >= 0  # IVF may find fewer than k neighbours
    if not valid.all():
        rows, cols, vals = rows[valid], cols[valid], vals[valid]
    # faiss found the neighbours; their values are recomputed pair by pair in a fixed order, so the graph
    # (and every gain) is bit-identical whatever the thread count (BLAS blocking would otherwise change it)
    vals = _pair_values(X, Y, rows.astype(np.int64), cols.astype(np.int64), metric == "cosine")
    if metric == "cosine":
        sims = vals
    else:
        if metric == "euclidean":
            sims = np.float32(vals.max() if len(vals) else 0.0) - vals
        else:
            sims = np.exp(-vals / np.float32(dim)).astype(np.float32)
    if square:
        # a point always represents itself perfectly, even if an approximate index missed it
        self_sim = {"euclidean": sims.max() if len(sims) else 0.0, "rbf": 1.0, "cosine": 1.0}[metric]
        is_self = rows == cols
        sims[is_self] = self_sim
        missing = np.setdiff1d(np.arange(n), cols[is_self], assume_unique=True)
        if len(missing):
            rows = np.concatenate([rows, missing.astype(rows.dtype)])
            cols = np.concatenate([cols, missing.astype(cols.dtype)])
            sims = np.concatenate([sims, np.full(len(missing), self_sim, dtype=np.float32)])
    S = sp.csr_matrix((sims.astype(np.float32, copy=False), (rows, cols)), shape=(m, n))
    S.sum_duplicates()
    return S


@njit(parallel=True, cache=True)
def _pair_values_kernel(X, Y, rows, cols, inner):
    out = np.empty(rows.shape[0], dtype=np.float32)
    for t in prange(rows.shape[0]):
        x, y = X[cols[t]], Y[rows[t]]
        acc = np.float32(0.0)
        if inner:
            for j in range(x.shape[0]):
                acc += x[j] * y[j]
            out[t] = acc
        else:
            for j in range(x.shape[0]):
                diff = x[j] - y[j]
                acc += diff * diff
            out[t] = np.sqrt(acc)
    return out


def _pair_values(X, Y, rows, cols, inner: bool) -> np.ndarray:
    """Inner product (``inner``) or euclidean distance of ``Y[rows[t]]`` and ``X[cols[t]]``, summed in a
    fixed order per pair: the same bits on any number of threads."""
    X, Y = (np.ascontiguousarray(A, dtype=np.float32) for A in (X, Y))
    return _pair_values_kernel(X, Y, rows, cols, inner)


def nearest_selected(X: np.ndarray, selected: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Position in ``selected`` of each row's most similar selected row of ``X``, found exactly (a flat
    search over the picks, no approximation). For ``euclidean`` and ``rbf`` the most similar pick is the
    nearest; for ``cosine`` the one of largest cosine."""
    import faiss

    check_metric(metric)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if metric == "cosine":
        X = _normalize_rows(X)
    picks = np.ascontiguousarray(X[np.asarray(selected, dtype=np.int64)])
    index = faiss.IndexFlatIP(X.shape[1]) if metric == "cosine" else faiss.IndexFlatL2(X.shape[1])
    index.add(picks)
    owner = np.empty(X.shape[0], dtype=np.int64)
    for start in range(0, X.shape[0], 16384):
        _, found = index.search(X[start:start + 16384], 1)
        owner[start:start + 16384] = found[:, 0]
    return owner


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``), or ``None`` when unknown."""
    return proc_kib_field("/proc/meminfo", "MemAvailable")


def _check_fits(size: int, memory_cap: int) -> None:
    free = available_memory()
    if free is not None and size > free:
        raise LessdataError(f"the dense similarity needs {size / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB "
                            f"of memory is available; lower memory_cap (now {memory_cap:,} bytes) so the sparse "
                            "k-NN path is used, or use storage='on_demand'")


# ------------------------------------------------------------------------------------------ dispatch
def build_similarity(
    X: np.ndarray | None,
    Y: np.ndarray | None = None,
    metric: str = "euclidean",
    *,
    precomputed=None,
    memory_cap: int = DEFAULT_MEMORY_CAP,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    seed: int = 0,
    on_demand_above: int | None = None,
):
    """Dense similarity when it fits under ``memory_cap`` bytes, else a sparse k-NN graph.

    ``metric="precomputed"`` takes ``precomputed`` (dense array or scipy sparse, candidates × points).
    ``on_demand_above``: a dense similarity larger than this many bytes (and under the cap) is returned as an
    :class:`ImplicitSimilarity`, computed on demand instead of stored (for objectives that accept one).
    """
    check_metric(metric)
    if metric == "precomputed":
        return check_precomputed(precomputed)
    m = X.shape[0] if Y is None else Y.shape[0]
    size = dense_bytes(m, X.shape[0])
    if size <= memory_cap:
        if on_demand_above is not None and size > on_demand_above:
            return ImplicitSimilarity(X, Y, metric)
        _check_fits(size, memory_cap)
        try:
            return dense_similarity(X, Y, metric)
        except MemoryError:
            raise LessdataError(f"out of memory building a dense {m:,} x {X.shape[0]:,} similarity; lower "
                                "memory_cap so the sparse k-NN path is used, or use storage='on_demand'"
                                ) from None
    return knn_similarity(X, Y, metric, n_neighbors=n_neighbors, seed=seed)


def check_precomputed(S):
    """Validate a user-given similarity: 2-D, finite, float32 (dense or CSR)."""
    if S is None:
        raise LessdataError("metric='precomputed' needs a similarity matrix")
    if sp.issparse(S):
        S = sp.csr_matrix(S, dtype=np.float32)
        if S.shape[0] == 0 or S.shape[1] == 0:
            raise LessdataError(f"precomputed similarity is empty (shape {S.shape})")
        if not np.isfinite(S.data).all():
            raise LessdataError("precomputed similarity contains NaN or infinite values")
        S.sum_duplicates()
        return S
    S = np.asarray(S)
    if S.ndim != 2 or S.shape[0] == 0 or S.shape[1] == 0:
        raise LessdataError(f"precomputed similarity must be a non-empty 2-D matrix, got shape {S.shape}")
    if not np.issubdtype(S.dtype, np.number):
        raise LessdataError(f"precomputed similarity must be numeric, got dtype {S.dtype}")
    S = np.ascontiguousarray(S, dtype=np.float32)
    if not np.isfinite(S).all():
        raise LessdataError("precomputed similarity contains NaN or infinite values")
    return S
