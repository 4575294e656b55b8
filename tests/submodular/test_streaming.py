"""Sieve-streaming against an element-by-element reference, its (1/2 − ε) guarantee, sources and bad input."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lessdata.errors import LessdataError
from lessdata.submodular import FeatureBased, maximize
from lessdata.submodular.streaming import sieve_streaming


def rows(n, d=6, seed=0):
    return np.random.default_rng(seed).random((n, d)).astype(np.float32)


def f_sqrt(X, S):
    return float(np.sqrt(X[S].astype(np.float64).sum(axis=0)).sum()) if len(S) else 0.0


def reference_sieve(X, k, eps):
    """Sieve-streaming as published, one element at a time, every gain from scratch."""
    m, sieves = 0.0, {}
    for e in range(len(X)):
        m = max(m, f_sqrt(X, [e]))
        lo = math.ceil(math.log(m) / math.log1p(eps) - 1e-9)
        hi = math.floor(math.log(2 * k * m) / math.log1p(eps) + 1e-9)
        sieves = {i: S for i, S in sieves.items() if i >= lo}
        for i in range(lo, hi + 1):
            S = sieves.setdefault(i, [])
            if len(S) < k:
                v, base = math.exp(i * math.log1p(eps)), f_sqrt(X, S)
                if f_sqrt(X, S + [e]) - base >= (v / 2 - base) / (k - len(S)):
                    S.append(e)
    return max(sieves.values(), key=lambda S: f_sqrt(X, S))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_row_chunks_equal_the_published_algorithm(seed):
    X = rows(150, seed=seed)
    got = sieve_streaming(X, 6, epsilon=0.2, chunk_size=1)
    ref = reference_sieve(X, 6, 0.2)
    assert got.indices.tolist() == ref
    assert got.value == pytest.approx(f_sqrt(X, ref), rel=1e-9)
    np.testing.assert_array_equal(got.features, X[ref])


@pytest.mark.parametrize("chunk_size", [7, 1000])
@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_guarantee_against_lazy_greedy(chunk_size, eps):
    for seed in range(3):
        X = rows(600, seed=seed) ** 3  # skewed features: greedy and sieves differ
        greedy = FeatureBased(X)
        maximize(greedy, 15, "lazy")
        got = sieve_streaming(X, 15, epsilon=eps, chunk_size=chunk_size)
        assert len(got.indices) <= 15
        assert got.value >= (0.5 - eps) * greedy.value()  # greedy ≤ OPT, so this is implied by the theorem


def test_facility_location_over_a_reference_sample():
    X = rows(800, seed=4)
    ref = X[::8]
    got = sieve_streaming(X, 10, "facility_location", reference=ref, metric="rbf", chunk_size=100)
    S = np.exp(-np.sqrt(((ref[:, None].astype(np.float64) - X[got.indices][None]) ** 2).sum(-1)) / X.shape[1])
    assert got.value == pytest.approx(S.max(axis=1).sum(), rel=1e-4)
    assert len(got.indices) == 10


def test_array_list_and_parquet_sources_agree(tmp_path):
    X = rows(600, seed=5)
    a = sieve_streaming(X, 8, chunk_size=100)
    b = sieve_streaming([X[s:s + 100] for s in range(0, 600, 100)], 8, chunk_size=100)
    folder = tmp_path / "signals"
    folder.mkdir()
    for shard in range(3):  # the layout of a signals folder: shard files with id and a list column
        part = X[shard * 200:(shard + 1) * 200]
        table = pa.table({"id": np.arange(shard * 200, (shard + 1) * 200),
                          "signal": pa.FixedSizeListArray.from_arrays(pa.array(part.reshape(-1)), X.shape[1])})
        pq.write_table(table, folder / f"shard-{shard:05d}.parquet")
    (folder / "_lessdata_signals.json").write_text(json.dumps({"n_shards": 3}))
    c = sieve_streaming(folder, 8, chunk_size=100)
    flat = tmp_path / "flat.parquet"
    pq.write_table(pa.table({f"x{j}": X[:, j] for j in range(X.shape[1])} | {"label": np.zeros(600)}), flat)
    d = sieve_streaming(flat, 8, chunk_size=100)
    for other in (b, c, d):
        assert other.indices.tolist() == a.indices.tolist()
        assert other.value == a.value


def test_memory_does_not_grow_with_the_stream():
    small = sieve_streaming(rows(2_000, seed=6), 10, chunk_size=500)
    large = sieve_streaming(rows(40_000, seed=6), 10, chunk_size=500)
    bound = large.max_sieves * (10 * (6 * 4 + 24) + 3 * 6 * 8)  # picks, their rows, the concave state
    assert large.state_bytes <= bound and small.state_bytes <= bound
    assert large.max_sieves <= math.ceil(math.log(2 * 10) / math.log1p(0.1)) + 1


# ------------------------------------------------------------------------------------------ bad input
def test_chunks_of_varying_width_are_one_clear_error():
    with pytest.raises(LessdataError, match="chunk 1 has 4 columns but the earlier chunks have 6"):
        sieve_streaming([rows(10), rows(10, d=4)], 3)


def test_other_bad_streams():
    with pytest.raises(LessdataError, match="non-negative"):
        sieve_streaming(rows(10) - 0.5, 3)
    with pytest.raises(LessdataError, match="reference has 3 features but the stream has 6"):
        sieve_streaming(rows(10), 3, "facility_location", reference=rows(5, d=3))
    with pytest.raises(LessdataError, match="empty"):
        sieve_streaming(iter([]), 3)
    with pytest.raises(LessdataError, match="NaN"):
        sieve_streaming([np.full((2, 6), np.nan, np.float32)], 3)
    with pytest.raises(LessdataError, match="does not exist"):
        sieve_streaming("/no/such/folder", 3)
    with pytest.raises(LessdataError, match="epsilon"):
        sieve_streaming(rows(10), 3, epsilon=0.0)
