import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lessdata import Coreset, LessdataError


def make(k=5, n=20, partition=True, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.choice(n, size=k, replace=False)
    return Coreset(
        indices=idx,
        weights=rng.random(k) * 3 + 0.1,
        gains=rng.random(k),
        objective=1.5,
        partition=rng.integers(0, 3, size=k) if partition else None,
        method="craig",
        params={"metric": "euclidean", "partition_labels": ["a", "b", "c"]},
        seed=seed,
        seconds=0.25,
        n=n,
    )


@given(k=st.integers(0, 50), partition=st.booleans(), seed=st.integers(0, 100),
       suffix=st.sampled_from([".npz", ".parquet"]))
def test_save_load_round_trip(tmp_path_factory, k, partition, seed, suffix):
    cs = make(k, 60, partition, seed)
    path = cs.save(tmp_path_factory.mktemp("cs") / f"c{suffix}")
    back = Coreset.load(path)
    assert back == cs
    assert back.indices.dtype == np.int64 and back.weights.dtype == np.float32
    assert back.seconds == cs.seconds


def test_save_is_atomic_and_rejects_bad_suffix(tmp_path):
    with pytest.raises(LessdataError, match="use a .npz or .parquet"):
        make().save(tmp_path / "c.csv")
    assert list(tmp_path.iterdir()) == []


def test_load_errors(tmp_path):
    with pytest.raises(LessdataError, match="no such file"):
        Coreset.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(LessdataError, match="not a readable lessdata Coreset"):
        Coreset.load(bad)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(LessdataError, match="not a lessdata Coreset"):
        Coreset.load(tmp_path / "other.parquet")


def test_validation():
    with pytest.raises(LessdataError, match="duplicates"):
        Coreset(indices=[1, 1], weights=[1, 1])
    with pytest.raises(LessdataError, match="weights has 1 entries but there are 2"):
        Coreset(indices=[1, 2], weights=[1])
    with pytest.raises(LessdataError, match="out of range for n=2"):
        Coreset(indices=[1, 2], weights=[1, 1], n=2)
    with pytest.raises(LessdataError, match="non-negative"):
        Coreset(indices=[-1], weights=[1])


def test_normalized_weights_and_summary():
    cs = Coreset(indices=[3, 1, 2], weights=[1, 2, 3], partition=[0, 0, 1], n=10, method="x")
    np.testing.assert_allclose(cs.normalized_weights(), [0.5, 1.0, 1.5])
    s = cs.summary()
    assert s["size"] == 3 and s["fraction"] == 0.3 and s["weights"]["sum"] == 6
    assert s["partition_counts"] == {0: 2, 1: 1}


def test_to_subset_and_sampler():
    data = torch.utils.data.TensorDataset(torch.arange(20).float(), torch.arange(20))
    cs = Coreset(indices=[4, 9, 2], weights=[0.0, 1.0, 3.0], n=20)
    sub = cs.to_subset(data)
    assert [int(sub[i][1]) for i in range(3)] == [4, 9, 2]
    gen = torch.Generator().manual_seed(0)
    sampler = cs.to_sampler(data, num_samples=4000, generator=gen)
    draws = np.array(list(sampler))
    assert len(sampler) == 4000 and set(draws) <= {9, 2}  # weight 0 is never drawn
    assert abs((draws == 2).mean() - 0.75) < 0.03
    with pytest.raises(LessdataError, match="out of range for a dataset of 5"):
        Coreset(indices=[7], weights=[1]).to_subset(torch.utils.data.TensorDataset(torch.zeros(5)))
    with pytest.raises(LessdataError, match="selected from 20 examples but the dataset has 5"):
        Coreset(indices=[1], weights=[1], n=20).to_sampler(torch.utils.data.TensorDataset(torch.zeros(5)))
    with pytest.raises(LessdataError, match="without replacement"):
        cs.to_sampler(num_samples=10, replacement=False)
