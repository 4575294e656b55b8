"""Passes over a similarity computed from features in tiles, never stored whole.

A pass splits the candidate rows into one contiguous range per core. Each thread walks its range in blocks
of rows and each block in tiles of columns: one single-threaded BLAS product fills a tile small enough to
stay in the core's cache, and one compiled kernel turns it into similarities and consumes it there. The
matrix itself never reaches main memory.

Facility location's on-demand storage uses two kinds of pass:

- :func:`row_sums`: every candidate's weighted similarity sum (the first greedy gains) and, for the
  euclidean metric, the largest distance, whose value CRAIG's similarity ``max(d) - d`` needs. Given a
  threshold per point (``keep``), the same pass also stores the entries on the live side of it: when the
  threshold is the row of the candidate that turns out to be the first pick, these are exactly the entries
  that pick leaves live, and :func:`finish_rows` completes them once the pick is known;
- :func:`live_entries`: after the first pick, only the entries that can still raise some point's best
  similarity (the pass that :func:`row_sums` saves when its threshold was the right one).

Stored rows are written per thread into a reserved address range that the system backs with memory only
where entries land. Every value is computed in a fixed order per row whatever the number of threads, so
results are bit-identical across machines with the same BLAS.
"""

from __future__ import annotations

import mmap
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from .._threads import single_threaded_blas
from ..errors import LessdataError

EUCLIDEAN, COSINE, RBF = 0, 1, 2
METRIC_CODES = {"euclidean": EUCLIDEAN, "cosine": COSINE, "rbf": RBF}
TILE_COLS = 1024  # 256 rows x 1024 columns x 4 bytes = 1 MiB: a core's L2 on many server CPUs, else L3
_RANGES_PER_WORKER = 8  # row ranges per thread in a pass, taken by whichever thread is free
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
def _tile_keep(G, below, thr, c0, t, counts, out_i, out_d, q, near, mask):
    """Append the entries of each row of a tile (values as :func:`_tile_sums` left them) that are below
    ``thr`` of their column (``below``) or above it, from position ``q``; ``counts[r, t]`` gets how many.
    The comparison runs vectorised into ``mask``; listing the marked columns then has no branch (a compare
    inside the listing loop compiles to a mispredicted branch)."""
    m, n = G.shape
    for r in range(m):
        if below:
            for c in range(n):
                mask[c] = G[r, c] < thr[c]
        else:
            for c in range(n):
                mask[c] = G[r, c] > thr[c]
        k = 0
        for c in range(n):
            near[k] = c
            k += np.int64(mask[c])
        for j in range(k):
            out_i[q + j] = c0 + near[j]
            out_d[q + j] = G[r, near[j]]
        q += k
        counts[r, t] = k
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
def _gather_rows(counts, src_i, src_d, dst_i, dst_d, pos, starts, ends, r0, memo, w, gains, score):
    """Copy a block's entries from tile-major order (tile, row) to row-major order at ``pos``; ``score``:
    also compute each row's gain from what was stored (while it is in cache)."""
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
        if score:
            gains[r0 + r] = sparse_gain(starts, ends, dst_i, dst_d, r0 + r, memo, w)
    return pos


@njit(nogil=True, cache=True)
def _finish(starts, ends, indices, data, r0, r1, flip, top, memo, w, gains):
    """Rows r0..r1-1 stored by :func:`row_sums`: distances to CRAIG's similarity ``top - d`` (``flip``),
    then each row's gain."""
    for r in range(r0, r1):
        if flip:
            for p in range(starts[r], ends[r]):
                data[p] = top - data[p]
        gains[r] = sparse_gain(starts, ends, indices, data, r, memo, w)


# ------------------------------------------------------------------------------------------ driver
def _workers() -> int:
    return max(1, os.cpu_count() or 1)


def _row_ranges(m: int, block: int):
    """A pass's row ranges: whole blocks of ``block`` rows counted from row 0, several ranges per thread.

    Each range is taken by whichever thread is free, so a thread that the machine slows down (another
    process, the hypervisor) delays the pass by about one range rather than by half of it. Block boundaries
    do not depend on the number of threads: BLAS rounds a row's products differently at different places
    in a block, so this keeps every value bit-identical for any number of threads."""
    n_blocks = -(-m // block)
    bounds = np.minimum(np.linspace(0, n_blocks, min(n_blocks, _workers() * _RANGES_PER_WORKER) + 1)
                        .astype(np.int64) * block, m)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _per_thread(make):
    """``get()`` returns the calling thread's own ``make()``, made on its first call: the scratch a thread
    reuses over the row ranges it takes."""
    local = threading.local()

    def get():
        if not hasattr(local, "value"):
            local.value = make()
        return local.value

    return get


def _diag(r0: int, r1: int, c0: int, c1: int, square: bool) -> np.ndarray:
    """Column (within the tile) of each row's own point, or -1."""
    rows = np.arange(r0, r1, dtype=np.int64)
    if not square:
        return np.full(r1 - r0, -1, dtype=np.int64)
    return np.where((rows >= c0) & (rows < c1), rows - c0, -1)


def _tiles(n: int):
    return [(c0, min(c0 + TILE_COLS, n)) for c0 in range(0, n, TILE_COLS)]


def _run(ranges, fn):
    """``fn(lo, hi)`` on each row range, at most one thread per core; results come back in the order of
    ``ranges``. BLAS runs single-threaded: the pass spreads its own work over the cores, and BLAS rounds
    products differently on different numbers of threads, which would make values depend on the machine."""
    with single_threaded_blas():
        if len(ranges) == 1:
            return [fn(*ranges[0])]
        with ThreadPoolExecutor(min(len(ranges), _workers())) as pool:
            return list(pool.map(lambda b: fn(*b), ranges))


def _block_rows(n_points: int, block_rows: int) -> int:
    return int(max(8, min(block_rows, _BLOCK_BYTES // (8 * max(1, n_points)))))


_NONE = np.zeros(1, dtype=np.float32)  # stands for absent squared norms (cosine) and thresholds


def _buffers(block_rows: int, tiles) -> dict:
    """One reusable product buffer per tile width (a thread's own)."""
    return {width: np.empty((block_rows, width), dtype=np.float32) for width in {b - a for a, b in tiles}}


def _block_tiles(Y, X, sq_y, sq_x, square, r0, r1, tiles, bufs):
    """The tiles of rows r0..r1-1, in column order: ``(t, c0, c1, G, sq_r, sq_c, diag)`` with ``G`` holding
    ``Y[r0:r1] @ X[c0:c1].T`` (one single-threaded BLAS product into the thread's buffer)."""
    for t, (c0, c1) in enumerate(tiles):
        G = bufs[c1 - c0][: r1 - r0]
        np.matmul(Y[r0:r1], X[c0:c1].T, out=G)
        yield (t, c0, c1, G, sq_y[r0:r1] if sq_y is not None else _NONE, sq_x[c0:c1] if sq_x is not None else _NONE,
               _diag(r0, r1, c0, c1, square))


class _Rows:
    """Rows stored by a pass: row r is ``indices/data[starts[r]:ends[r]]``. Each thread writes its range of
    rows from its own offset of one reserved range (room for every entry of its rows), so nothing is copied
    after the pass and only the written part takes memory. Each thread collects a block's entries tile by
    tile in its own scratch (:meth:`scratch`, reused over the ranges it takes), then :meth:`flush` copies
    them out row by row to the range's offset (``scratch["pos"]``, set by :meth:`start`)."""

    def __init__(self, m: int, n: int, index_dtype, block_rows: int, n_tiles: int):
        self.n, self.block_rows, self.n_tiles, self.index_dtype = n, block_rows, n_tiles, index_dtype
        self.indices, self.data = reserve(m * n, index_dtype), reserve(m * n, np.float32)
        self.starts, self.ends = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
        self.gains = np.zeros(m, dtype=np.float64)

    def scratch(self) -> dict:
        return {"i": np.empty(self.block_rows * self.n, dtype=self.index_dtype),
                "d": np.empty(self.block_rows * self.n, dtype=np.float32),
                "counts": np.zeros((self.block_rows, self.n_tiles), dtype=np.int64),
                "near": np.empty(TILE_COLS, dtype=np.int64), "mask": np.empty(TILE_COLS, dtype=np.uint8),
                "gap": np.empty(TILE_COLS, dtype=np.float32), "pos": 0}

    def start(self, sc: dict, lo: int) -> None:
        """Point the scratch ``sc`` at the range starting at row ``lo``: its rows go from entry ``lo·n`` on."""
        sc["pos"] = lo * self.n

    def flush(self, sc: dict, r0: int, r1: int, memo, w, score: bool) -> None:
        sc["pos"] = _gather_rows(sc["counts"][: r1 - r0], sc["i"], sc["d"], self.indices, self.data, sc["pos"],
                                 self.starts, self.ends, r0, memo, w, self.gains, score)

    def result(self):
        return self.starts, self.ends, self.indices, self.data


def row_sums(Y, X, sq_y, sq_x, square, metric, scale, w, keep=None, block_rows=256):
    """Σ_c w_c·v_rc for every row r of the tiled similarity (float64; v as in :func:`_tile_sums`) and the
    largest distance (euclidean; else 0).

    ``keep=(thr, index_dtype)``: the same pass also stores each row's entries below ``thr`` of their column
    (euclidean: distances, so the similarity ``max(d) − d`` is above the one ``thr`` gives) or above it
    (other metrics: similarities). They are returned third, as
    ``(starts, ends, indices, data)`` holding distances for euclidean: see :func:`finish_rows`."""
    code = METRIC_CODES[metric]
    m, n = Y.shape[0], X.shape[0]
    sums = np.zeros(m, dtype=np.float64)
    tiles = _tiles(n)
    store = None
    if keep is not None:
        thr, index_dtype = keep
        block_rows = _block_rows(n, block_rows)
        store = _Rows(m, n, index_dtype, block_rows, len(tiles))

    scratch = _per_thread(lambda: (_buffers(block_rows, tiles), np.zeros(block_rows, dtype=np.float64),
                                   store.scratch() if store is not None else None))

    def run(lo, hi):
        bufs, part, sc = scratch()
        if sc is not None:
            store.start(sc, lo)
        best = np.float32(0.0)
        for r0 in range(lo, hi, block_rows):
            r1 = min(r0 + block_rows, hi)
            part[:] = 0.0
            q = 0
            for t, c0, c1, G, sr, sc_, diag in _block_tiles(Y, X, sq_y, sq_x, square, r0, r1, tiles, bufs):
                best = max(best, _tile_sums(G, sr, sc_, diag, w[c0:c1], code, scale, part[: r1 - r0]))
                if sc is not None:
                    q = _tile_keep(G, code == EUCLIDEAN, thr[c0:c1], c0, t, sc["counts"], sc["i"], sc["d"], q,
                                   sc["near"], sc["mask"])
            sums[r0:r1] = part[: r1 - r0]
            if sc is not None:
                store.flush(sc, r0, r1, _NONE, _NONE, False)
        return best

    tops = _run(_row_ranges(m, block_rows), run)
    top = np.float32(max(tops))
    return (sums, top) if store is None else (sums, top, store.result())


def finish_rows(rows, flip: bool, top, memo, w):
    """Complete rows stored by :func:`row_sums`: distances become ``top − d`` (``flip``: euclidean), in
    place; returns each row's gain (:func:`sparse_gain`) under ``memo``."""
    starts, ends, indices, data = rows
    gains = np.zeros(len(starts), dtype=np.float64)

    def run(lo, hi):
        _finish(starts, ends, indices, data, lo, hi, flip, np.float32(top), memo, w, gains)

    if len(starts):
        _run(_row_ranges(len(starts), 256), run)
    return gains


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
    (weights ``w``), computed as each row is stored."""
    code = METRIC_CODES[metric]
    m, n = Y.shape[0], X.shape[0]
    block_rows = _block_rows(n, block_rows)
    tiles = _tiles(n)
    store = _Rows(m, n, index_dtype, block_rows, len(tiles))
    thr = _NONE if code == COSINE else _thresholds(code, memo, top, scale)

    scratch = _per_thread(lambda: (_buffers(block_rows, tiles), store.scratch()))

    def run(lo, hi):
        bufs, sc = scratch()
        store.start(sc, lo)
        for r0 in range(lo, hi, block_rows):
            r1 = min(r0 + block_rows, hi)
            q = 0
            for t, c0, c1, G, sr, sc_, diag in _block_tiles(Y, X, sq_y, sq_x, square, r0, r1, tiles, bufs):
                tc = thr[c0:c1] if code != COSINE else _NONE
                q = _tile_live(G, sr, sc_, diag, skip[r0:r1], code, scale, top, memo, tc, c0, t, sc["counts"],
                               sc["i"], sc["d"], q, sc["near"], sc["gap"])
            store.flush(sc, r0, r1, memo, w, True)

    _run(_row_ranges(m, block_rows), run)
    return (*store.result(), store.gains)
