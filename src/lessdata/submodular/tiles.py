"""Passes over a similarity computed from features in tiles, never stored whole.

A pass splits the candidate rows into one contiguous range per core. Each thread walks its range in blocks
of rows and each block in tiles of columns: one single-threaded BLAS product fills a tile small enough to
stay in the core's cache, and one compiled kernel turns it into similarities and consumes it there. The
matrix itself never reaches main memory.

Two passes make facility location's on-demand storage:

- :func:`row_sums`: every candidate's weighted similarity sum (the first greedy gains) and, for the
  euclidean metric, the largest distance, whose value CRAIG's similarity ``max(d) - d`` needs;
- :func:`live_entries`: after the first pick, only the entries that can still raise some point's best
  similarity, written per thread into a reserved address range that the system backs with memory only
  where entries land.

Every value is computed in a fixed order per row whatever the number of threads, so results are
bit-identical across machines with the same BLAS.
"""

from __future__ import annotations

import mmap
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from .._threads import single_threaded_blas
from ..errors import LessdataError

EUCLIDEAN, COSINE, RBF = 0, 1, 2
METRIC_CODES = {"euclidean": EUCLIDEAN, "cosine": COSINE, "rbf": RBF}
TILE_COLS = 1024  # 256 rows x 1024 columns x 4 bytes: one tile fits a core's L2 cache
_BLOCK_BYTES = 48 * 2**20  # per-thread scratch for one block of rows' live entries (touched only as used)
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform.startswith("linux") else 0)


# ------------------------------------------------------------------------------------------ kernels
@njit(fastmath=True, nogil=True, cache=True)
def to_distances(G, sq_r, sq_c, diag):
    """In place: G (rows @ cols.T of centred features) -> euclidean distances; ``diag[r] >= 0`` is row r's own
    column, set to exactly 0. Returns the largest distance."""
    m, n = G.shape
    best = np.float32(0.0)
    for r in range(m):
        a = sq_r[r]
        for c in range(n):  # separate loops: each vectorises on its own, not fused
            G[r, c] = np.sqrt(max(a + sq_c[c] - np.float32(2.0) * G[r, c], np.float32(0.0)))
        if diag[r] >= 0:
            G[r, diag[r]] = np.float32(0.0)
        b = np.float32(0.0)
        for c in range(n):
            b = G[r, c] if G[r, c] > b else b
        best = b if b > best else best
    return best


@njit(fastmath=True, nogil=True, cache=True)
def _tile_sums(G, sq_r, sq_c, diag, w, metric, scale, sums):
    """Add each row's Σ_c w_c·v_c to ``sums`` (v: the distance for euclidean, else max(0, similarity));
    returns the tile's largest distance (euclidean) or 0."""
    m, n = G.shape
    best = to_distances(G, sq_r, sq_c, diag) if metric == EUCLIDEAN else np.float32(0.0)
    if metric == RBF:
        to_distances(G, sq_r, sq_c, diag)
    for r in range(m):
        if metric == RBF:
            for c in range(n):
                G[r, c] = np.exp(-G[r, c] * scale)
        elif metric == COSINE:
            for c in range(n):
                G[r, c] = max(G[r, c], np.float32(0.0))
        acc = 0.0
        for c in range(n):
            acc += w[c] * G[r, c]
        sums[r] += acc
    return best


@njit(fastmath=True, nogil=True, cache=True)
def _tile_live(G, sq_r, sq_c, diag, skip, metric, scale, top, memo, thr, c0, t, counts, out_i, out_d, q, near, gap):
    """Append the live entries (similarity > memo of their point) of each row of a tile to ``out_*`` from
    position ``q``; ``counts[r, t]`` gets how many. Rows with ``skip[r]`` (selected candidates) keep nothing.

    Each row takes two steps. A vectorised sweep writes a margin per column into ``gap`` and a branch-free
    one lists the columns where it is positive: for cosine the margin is ``s − memo`` itself; for the
    distance-based metrics it is ``thr − d²``, ``thr`` being a squared distance a little above where the
    similarity equals the point's memo, so that no live entry is missed. The exact test then decides each
    listed column."""
    m, n = G.shape
    for r in range(m):
        start = q
        if skip[r]:
            counts[r, t] = 0
            continue
        a = sq_r[r]
        if metric == COSINE:
            for c in range(n):
                gap[c] = G[r, c] - memo[c0 + c]
        else:
            for c in range(n):
                gap[c] = thr[c] - (a + sq_c[c] - np.float32(2.0) * G[r, c])
            if diag[r] >= 0:
                gap[diag[r]] = np.float32(1.0)
        k = 0
        for c in range(n):
            near[k] = c
            k += np.int64(gap[c] > 0)
        for j in range(k):
            c = near[j]
            if metric == COSINE:
                s = G[r, c]
            else:
                v = a + sq_c[c] - np.float32(2.0) * G[r, c]
                d = np.float32(0.0) if c == diag[r] else np.sqrt(max(v, np.float32(0.0)))
                s = top - d if metric == EUCLIDEAN else np.exp(-d * scale)
            if s > memo[c0 + c]:
                out_i[q] = c0 + c
                out_d[q] = s
                q += 1
        counts[r, t] = q - start
    return q


@njit(fastmath=True, nogil=True, cache=True)
def sparse_gain(starts, ends, indices, data, c, memo, w):
    """Facility location's marginal gain of candidate ``c`` from its stored entries: Σ w_i·max(0, s_ci − memo_i).
    The one kernel every sparse gain goes through, so that values agree bit for bit wherever computed."""
    total = np.float32(0.0)
    for p in range(starts[c], ends[c]):
        i = indices[p]
        total += w[i] * max(data[p] - memo[i], np.float32(0.0))
    return np.float64(total)


@njit(nogil=True, cache=True)
def _gather_rows(counts, src_i, src_d, dst_i, dst_d, pos, starts, ends, r0, memo, w, gains):
    """Copy a block's entries from tile-major order (tile, row) to row-major order at ``pos``, and compute
    each row's gain from what was stored (while it is in cache)."""
    m, T = counts.shape
    offset = np.empty((m, T), dtype=np.int64)
    o = 0
    for t in range(T):
        for r in range(m):
            offset[r, t] = o
            o += counts[r, t]
    for r in range(m):
        starts[r0 + r] = pos
        for t in range(T):
            s = offset[r, t]
            for p in range(counts[r, t]):
                dst_i[pos] = src_i[s + p]
                dst_d[pos] = src_d[s + p]
                pos += 1
        ends[r0 + r] = pos
        gains[r0 + r] = sparse_gain(starts, ends, dst_i, dst_d, r0 + r, memo, w)
    return pos


# ------------------------------------------------------------------------------------------ driver
def _workers() -> int:
    return max(1, os.cpu_count() or 1)


def _ranges(m: int, parts: int):
    bounds = np.linspace(0, m, min(parts, max(1, m)) + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _diag(r0: int, r1: int, c0: int, c1: int, square: bool) -> np.ndarray:
    """Column (within the tile) of each row's own point, or -1."""
    rows = np.arange(r0, r1, dtype=np.int64)
    if not square:
        return np.full(r1 - r0, -1, dtype=np.int64)
    return np.where((rows >= c0) & (rows < c1), rows - c0, -1)


def _tiles(n: int):
    return [(c0, min(c0 + TILE_COLS, n)) for c0 in range(0, n, TILE_COLS)]


def _run(ranges, fn, one_tile: bool):
    """``fn(lo, hi)`` on each row range, one thread each. BLAS runs single-threaded unless the whole pass
    is one tile: many small products on BLAS's own threads are slow, and very slow on a busy machine."""
    if one_tile:
        return [fn(ranges[0][0], ranges[-1][1])]
    with single_threaded_blas():
        if len(ranges) == 1:
            return [fn(*ranges[0])]
        with ThreadPoolExecutor(len(ranges)) as pool:
            return list(pool.map(lambda b: fn(*b), ranges))


def _block_rows(n_points: int, block_rows: int) -> int:
    return int(max(8, min(block_rows, _BLOCK_BYTES // (8 * max(1, n_points)))))


def row_sums(Y, X, sq_y, sq_x, square, metric, scale, w, block_rows=256):
    """Σ_c w_c·v_rc for every row r of the tiled similarity (float64; v as in :func:`_tile_sums`) and the
    largest distance (euclidean; else 0)."""
    code = METRIC_CODES[metric]
    m, n = Y.shape[0], X.shape[0]
    sums = np.zeros(m, dtype=np.float64)
    tiles = _tiles(n)
    dummy = np.zeros(1, dtype=np.float32)

    def run(lo, hi):
        bufs = {width: np.empty((block_rows, width), dtype=np.float32) for width in {b - a for a, b in tiles}}
        part = np.zeros(block_rows, dtype=np.float64)
        best = np.float32(0.0)
        for r0 in range(lo, hi, block_rows):
            r1 = min(r0 + block_rows, hi)
            part[:] = 0.0
            for c0, c1 in tiles:
                G = bufs[c1 - c0][: r1 - r0]
                np.matmul(Y[r0:r1], X[c0:c1].T, out=G)
                sr = sq_y[r0:r1] if sq_y is not None else dummy
                sc = sq_x[c0:c1] if sq_x is not None else dummy
                best = max(best, _tile_sums(G, sr, sc, _diag(r0, r1, c0, c1, square), w[c0:c1], code, scale,
                                            part[: r1 - r0]))
            sums[r0:r1] = part[: r1 - r0]
        return best

    tops = _run(_ranges(m, _workers()), run, m <= block_rows and n <= TILE_COLS)
    return sums, np.float32(max(tops))


def mapped(size: int, dtype, lazy: bool) -> np.ndarray | None:
    """A 1-D array of ``size`` elements in an anonymous mapping backed by transparent huge pages where the
    system has them (a fresh page then faults in per 2 MiB rather than per 4 KiB); ``lazy``: without a
    reservation, so memory is committed only where written. ``None`` where no such mapping can be made."""
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | (_MAP_NORESERVE if lazy else 0)
    try:
        buf = mmap.mmap(-1, int(size) * np.dtype(dtype).itemsize, flags=flags)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            buf.madvise(mmap.MADV_HUGEPAGE)
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    return np.frombuffer(buf, dtype=dtype, count=int(size))


def reserve(size: int, dtype) -> np.ndarray:
    """A 1-D array of ``size`` elements whose memory the system provides only where it is written."""
    nbytes = int(size) * np.dtype(dtype).itemsize
    if nbytes == 0:
        return np.empty(0, dtype=dtype)
    out = mapped(size, dtype, lazy=True)
    if out is not None:
        return out
    try:
        return np.empty(int(size), dtype=dtype)  # malloc'd large blocks are committed lazily too
    except MemoryError:
        raise LessdataError(f"cannot reserve {nbytes / 2**30:.1f} GiB of address space for the live similarity "
                            "entries; lower memory_cap so the sparse k-NN path is used") from None


def _thresholds(code: int, memo: np.ndarray, top, scale) -> np.ndarray:
    """Per point, a squared distance from which no entry can beat the point's memo: the distance at which the
    similarity equals the memo, plus a margin far above float32 rounding, so that this cheap test never
    drops an entry the exact test would keep."""
    memo = memo.astype(np.float64)
    if code == EUCLIDEAN:  # top - d > memo  <=>  d < top - memo
        near = np.maximum(float(top) - memo, 0.0) * (1 + 1e-4) + 1e-5 * float(top) + 1e-30
    else:  # rbf: exp(-d·scale) > memo  <=>  d < -ln(memo) / scale  (every distance when memo <= 0)
        with np.errstate(divide="ignore"):
            near = -np.log(np.maximum(memo, 1e-300)) / float(scale) * (1 + 1e-4) + 1e-5 / float(scale)
    return np.minimum(near * near, np.finfo(np.float32).max).astype(np.float32)


def live_entries(Y, X, sq_y, sq_x, square, metric, scale, top, memo, w, skip, index_dtype, block_rows=256):
    """The entries of the tiled similarity above ``memo`` of their column, rows ``skip`` left empty.

    Returns ``(starts, ends, indices, data, gains)``: row r's entries are ``indices[starts[r]:ends[r]]``
    (columns, ascending) and ``data[...]`` (similarities); ``gains[r]`` is :func:`sparse_gain` of row r
    (weights ``w``). Each thread writes its rows into its own part of one
    reserved range, so no entry is copied after the pass and only the written part takes memory."""
    code = METRIC_CODES[metric]
    m, n = Y.shape[0], X.shape[0]
    block_rows = _block_rows(n, block_rows)
    ranges = _ranges(m, _workers())
    indices, data = reserve(m * n, index_dtype), reserve(m * n, np.float32)
    starts, ends = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
    gains = np.zeros(m, dtype=np.float64)
    tiles = _tiles(n)
    dummy = np.zeros(1, dtype=np.float32)
    thr = dummy if code == COSINE else _thresholds(code, memo, top, scale)

    def run(lo, hi):
        bufs = {width: np.empty((block_rows, width), dtype=np.float32) for width in {b - a for a, b in tiles}}
        scratch_i = np.empty(block_rows * n, dtype=index_dtype)
        scratch_d = np.empty(block_rows * n, dtype=np.float32)
        counts = np.zeros((block_rows, len(tiles)), dtype=np.int64)
        near = np.empty(TILE_COLS, dtype=np.int64)
        gap = np.empty(TILE_COLS, dtype=np.float32)
        pos = lo * n
        for r0 in range(lo, hi, block_rows):
            r1 = min(r0 + block_rows, hi)
            q = 0
            for t, (c0, c1) in enumerate(tiles):
                G = bufs[c1 - c0][: r1 - r0]
                np.matmul(Y[r0:r1], X[c0:c1].T, out=G)
                sr = sq_y[r0:r1] if sq_y is not None else dummy
                sc = sq_x[c0:c1] if sq_x is not None else dummy
                tc = thr[c0:c1] if code != COSINE else dummy
                q = _tile_live(G, sr, sc, _diag(r0, r1, c0, c1, square), skip[r0:r1], code, scale, top, memo,
                               tc, c0, t, counts, scratch_i, scratch_d, q, near, gap)
            pos = _gather_rows(counts[: r1 - r0], scratch_i, scratch_d, indices, data, pos, starts, ends, r0,
                               memo, w, gains)
        return pos

    _run(ranges, run, m <= block_rows and n <= TILE_COLS)
    return starts, ends, indices, data, gains
