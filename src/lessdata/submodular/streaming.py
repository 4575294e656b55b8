"""Sieve-streaming: pick ``k`` rows of data seen once, in chunks, with memory bounded by the budget.

Badanidiyuru, Mirzasoleiman, Karbasi, Krause, "Streaming Submodular Maximization: Massive Data
Summarization on the Fly", KDD 2014 (Algorithm "Sieve-Streaming" with the maximum singleton value ``m``
learnt from the stream). For a monotone submodular ``f`` and a cardinality budget ``k`` it returns a set with

    f(S) ≥ (1/2 − ε) · OPT

after one pass, keeping ``O(log(k)/ε)`` partial solutions ("sieves", one per threshold
``v = (1+ε)^i ∈ [m, 2km]``), each of at most ``k`` rows. A sieve adds an element when its marginal gain is at
least ``(v/2 − f(S_v)) / (k − |S_v|)``; the answer is the best sieve.

The objective must be defined by the selection alone (not by the whole data set, which a stream never
holds): feature-based coverage of the picked rows, or facility location over a fixed *reference* sample
(the points to be represented, e.g. a random sample kept up front). Thresholds are updated once per chunk
(the largest singleton value of the chunk is known before its elements are sieved); this only creates
sieves earlier than the element-by-element algorithm, which the guarantee allows. Chunks are sieved in
windows: each sieve computes the gains of a window at once, and only an element whose (possibly stale,
hence upper-bound) gain passes the threshold is re-evaluated, so the result is exactly the sequential
algorithm's.

Sources: a 2-D array (cut into ``chunk_size`` rows), any iterable of 2-D arrays, or a path to a Parquet
file or a folder of them (read in sorted file order, ``chunk_size`` rows at a time), which includes a signals
folder written by :func:`lessdata.signals.pipeline.compute_signals` (its ``signal`` column).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LessdataError
from .functions import _DUMMY_DATA, _DUMMY_IDX, _DUMMY_PTR, _gains_batch
from .objectives import CONCAVE, FeatureBased, check_non_negative
from .similarity import ImplicitSimilarity

STREAM_OBJECTIVES = ("feature_based", "facility_location")
_WINDOW = 1024


@dataclass
class StreamResult:
    indices: np.ndarray  # int64 stream positions (0-based over all rows seen), in the order picked
    features: np.ndarray  # the picked rows, float32 (k, d)
    gains: np.ndarray  # marginal gain of each pick in its sieve
    value: float  # f of the picks
    n_seen: int
    threshold: float  # the winning sieve's v
    max_sieves: int  # most sieves alive at once
    state_bytes: int  # largest memory the sieves held at once (picks, their rows, objective states)


# ----------------------------------------------------------------------------------------- objectives
class _FeatureBasedStream:
    """Feature-based coverage of the picked rows (non-negative features)."""

    def __init__(self, concave="sqrt", feature_weights=None):
        if concave not in CONCAVE:
            raise LessdataError(f"unknown concave function {concave!r}; choose one of: {', '.join(CONCAVE)}")
        self.concave, self.feature_weights = concave, feature_weights

    def bind(self, d: int) -> None:
        self.d = d

    def encode(self, rows: np.ndarray) -> np.ndarray:
        check_non_negative(rows, "feature-based functions")
        return rows

    def new_state(self):
        return FeatureBased(None, self.concave, self.feature_weights, n_features=self.d)


class _MemoState:
    """Facility location over a fixed reference set: the state is each reference point's best similarity."""

    def __init__(self, r: int):
        self.memo = np.zeros(r, dtype=np.float32)
        self.w = np.ones(r, dtype=np.float32)
        self._value = 0.0
        self.nbytes = self.memo.nbytes

    def gains_rows(self, P: np.ndarray) -> np.ndarray:
        return _gains_batch(False, P, _DUMMY_PTR, _DUMMY_PTR, _DUMMY_IDX, _DUMMY_DATA,
                            np.arange(P.shape[0], dtype=np.int64), self.memo, self.w)

    def add_row(self, p: np.ndarray) -> None:
        self._value += float(self.gains_rows(p.reshape(1, -1))[0])
        np.maximum(self.memo, p, out=self.memo)

    def value(self) -> float:
        return self._value


class _FacilityLocationStream:
    """``f(S) = Σ_{r∈R} max(0, max_{j∈S} s(r, j))`` for a reference sample ``R`` (cosine or rbf)."""

    def __init__(self, reference, metric="cosine"):
        if reference is None:
            raise LessdataError("streaming facility location needs reference= (the points to represent)")
        if metric not in ("cosine", "rbf"):
            raise LessdataError(f"streaming facility location takes metric 'cosine' or 'rbf', got {metric!r} "
                                "(euclidean's max(d) - d needs the largest distance of the whole stream)")
        self.R = _check_chunk(reference, "reference")
        self.metric = metric

    def bind(self, d: int) -> None:
        if self.R.shape[1] != d:
            raise LessdataError(f"reference has {self.R.shape[1]} features but the stream has {d}")

    def encode(self, rows: np.ndarray) -> np.ndarray:
        return np.maximum(ImplicitSimilarity(self.R, rows, self.metric).rows(np.arange(len(rows))), 0)

    def new_state(self):
        return _MemoState(self.R.shape[0])


def _make_objective(objective, params):
    if not isinstance(objective, str):
        return objective  # any object with bind / encode / new_state
    if objective == "feature_based":
        return _FeatureBasedStream(params.get("concave", "sqrt"), params.get("feature_weights"))
    if objective == "facility_location":
        return _FacilityLocationStream(params.get("reference"), params.get("metric", "cosine"))
    raise LessdataError(f"unknown streaming objective {objective!r}; choose one of: {', '.join(STREAM_OBJECTIVES)}")


# -------------------------------------------------------------------------------------------- sources
def _check_chunk(chunk, what) -> np.ndarray:
    arr = np.asarray(chunk)
    if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise LessdataError(f"{what} must be a numeric 2-D array, got shape {arr.shape} dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise LessdataError(f"{what} contains NaN or infinite values")
    return arr


def _parquet_batches(path: Path, chunk_size: int, column: str | None):
    """Rows of the Parquet file(s) under ``path``: the list column ``column`` (default ``signal`` when there
    is one, as in a signals folder), else every numeric column but ``id`` / ``label``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    if not files:
        raise LessdataError(f"no .parquet files in {path}")
    for file in files:
        schema = pq.read_schema(file)
        if column is not None and column not in schema.names:
            raise LessdataError(f"{file.name} has no column {column!r} (columns: {', '.join(schema.names)})")
        name = column or ("signal" if "signal" in schema.names else None)
        if name:
            columns = [name]
        else:
            columns = [f.name for f in schema if f.name not in ("id", "label")
                       and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))]
            if not columns:
                raise LessdataError(f"{file.name} has no numeric feature columns")
        for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_size, columns=columns):
            if name and (pa.types.is_fixed_size_list(batch.column(0).type) or pa.types.is_list(batch.column(0).type)):
                col = batch.column(0)
                widths = set(np.diff(np.asarray(col.offsets)).tolist()) if pa.types.is_list(col.type) else None
                if widths is not None and len(widths) > 1:
                    raise LessdataError(f"{file.name}: rows of column {name!r} have different lengths")
                values = col.flatten().to_numpy(zero_copy_only=False)
                yield values.reshape(len(col), -1)
            else:
                yield np.column_stack([batch.column(i).to_numpy(zero_copy_only=False)
                                       for i in range(batch.num_columns)])


def iter_chunks(source, chunk_size: int = 65536, column: str | None = None):
    """Yield ``(start, rows)`` with ``rows`` float32 2-D, all of the same width (else one clear error)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise LessdataError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise LessdataError(f"{path} does not exist")
        chunks = _parquet_batches(path, chunk_size, column)
    elif isinstance(source, np.ndarray):
        if source.ndim != 2:
            raise LessdataError(f"the data must be 2-D, got shape {source.shape}")
        chunks = (source[a:a + chunk_size] for a in range(0, len(source), chunk_size))
    else:
        try:
            chunks = iter(source)
        except TypeError:
            raise LessdataError(f"cannot stream from a {type(source).__name__}: give an array, an iterable of "
                                "arrays, or a Parquet file / folder") from None
    start, width = 0, None
    for t, chunk in enumerate(chunks):
        rows = _check_chunk(chunk, f"chunk {t}")
        if width is None:
            width = rows.shape[1]
        elif rows.shape[1] != width:
            raise LessdataError(f"chunk {t} has {rows.shape[1]} columns but the earlier chunks have {width}")
        if len(rows):
            yield start, rows
        start += len(rows)


# ---------------------------------------------------------------------------------------------- sieves
class _Sieve:
    def __init__(self, v: float, state):
        self.v, self.state = v, state
        self.picks: list[int] = []
        self.rows: list[np.ndarray] = []
        self.gains: list[float] = []

    def threshold(self, k: int) -> float:
        return (self.v / 2.0 - self.state.value()) / (k - len(self.picks))

    def nbytes(self) -> int:
        state = getattr(self.state, "nbytes", 0) or sum(
            a.nbytes for a in vars(self.state).values() if isinstance(a, np.ndarray))
        return state + sum(r.nbytes for r in self.rows) + 24 * len(self.picks)

    def offer(self, P: np.ndarray, raw: np.ndarray, start: int, k: int) -> None:
        """Sieve the encoded rows ``P`` (stream positions ``start..``) in windows, exactly as one by one."""
        for a in range(0, len(P), _WINDOW):
            if len(self.picks) == k:
                return
            window = P[a:a + _WINDOW]
            gains = self.state.gains_rows(window)
            fresh, pos = True, 0
            while pos < len(window) and len(self.picks) < k:
                tau = self.threshold(k)
                passing = np.flatnonzero(gains[pos:] >= tau)
                if not len(passing):
                    break
                e = pos + int(passing[0])
                if fresh:
                    gain = float(gains[e])
                else:  # stale bound passed: the exact gain decides; refresh the rest of the window once
                    gains[e:] = self.state.gains_rows(window[e:])
                    fresh, gain = True, float(gains[e])
                if gain >= tau:
                    self.state.add_row(window[e])
                    self.picks.append(start + a + e)
                    self.rows.append(raw[a + e].copy())
                    self.gains.append(gain)
                    fresh = False
                pos = e + 1


def sieve_streaming(source, k: int, objective="feature_based", *, epsilon: float = 0.1,
                    chunk_size: int = 65536, column: str | None = None, progress=None,
                    **params) -> StreamResult:
    """One pass of sieve-streaming over ``source``; see the module docstring.

    ``objective``: ``"feature_based"`` (``concave=``, ``feature_weights=``) or ``"facility_location"``
    (``reference=`` rows to represent, ``metric=`` ``"cosine"`` / ``"rbf"``). ``progress`` is advanced by
    the rows of each chunk.

    >>> X = np.random.default_rng(0).random((1000, 4)).astype(np.float32)
    >>> r = sieve_streaming(X, 10, chunk_size=256)
    >>> len(r.indices), r.n_seen
    (10, 1000)
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise LessdataError(f"k must be a positive integer, got {k!r}")
    if not 0 < epsilon < 1:
        raise LessdataError(f"epsilon must be in (0, 1), got {epsilon}")
    obj = _make_objective(objective, params)
    log1e = math.log1p(epsilon)
    sieves: dict[int, _Sieve] = {}
    m, n_seen, max_sieves, peak = 0.0, 0, 0, 0
    empty = None
    for start, rows in iter_chunks(source, chunk_size, column):
        if empty is None:
            obj.bind(rows.shape[1])
            empty = obj.new_state()
        P = obj.encode(rows)
        m = max(m, float(empty.gains_rows(P).max()))
        n_seen = start + len(rows)
        if m > 0:
            lo, hi = math.ceil(math.log(m) / log1e - 1e-9), math.floor(math.log(2 * k * m) / log1e + 1e-9)
            for i in [i for i in sieves if i < lo]:
                del sieves[i]
            for i in range(lo, hi + 1):
                if i not in sieves:
                    sieves[i] = _Sieve(math.exp(i * log1e), obj.new_state())
            for sieve in sieves.values():
                sieve.offer(P, rows, start, k)
        max_sieves = max(max_sieves, len(sieves))
        peak = max(peak, sum(s.nbytes() for s in sieves.values()))
        if progress is not None:
            progress.update(len(rows))
    if empty is None:
        raise LessdataError("the stream is empty")
    best = max(sieves.values(), key=lambda s: (s.state.value(), -s.v), default=None)
    if best is None or not best.picks:
        d = empty.d if hasattr(empty, "d") else 0
        return StreamResult(np.zeros(0, np.int64), np.zeros((0, d), np.float32), np.zeros(0), 0.0, n_seen, 0.0,
                            max_sieves, peak)
    return StreamResult(np.asarray(best.picks, dtype=np.int64), np.stack(best.rows), np.asarray(best.gains),
                        best.state.value(), n_seen, best.v, max_sieves, peak)
