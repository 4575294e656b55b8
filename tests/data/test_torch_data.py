import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lessdata.data import ArrayDataset, as_arrays, digits, iter_batches
from lessdata.errors import LessdataError


def images(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n)


def test_array_dataset_scales_uint8_and_reshapes():
    X, y = images()
    ds = ArrayDataset(X, y, shape=(1, 28, 28))
    assert len(ds) == 6
    x0, y0 = ds[2]
    assert x0.dtype == torch.float32 and x0.shape == (1, 28, 28)
    np.testing.assert_allclose(x0[0].numpy(), X[2] / 255.0, rtol=1e-6)
    assert y0.dtype == torch.int64 and int(y0) == y[2]
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 1, 28, 28) and yb.tolist() == y[:4].tolist()
    # The batch fast path converts exactly as items do.
    xs, ys = ds.batch(1, 4)
    torch.testing.assert_close(xs, torch.stack([ds[i][0] for i in range(1, 4)]))


def test_array_dataset_other_dtypes_and_no_labels():
    ds = ArrayDataset(np.arange(6, dtype=np.float64).reshape(3, 2))
    assert ds[1].dtype == torch.float32 and ds[1].tolist() == [2.0, 3.0]
    assert ArrayDataset(torch.ones(2, 3), np.array([1.0, 0.0]))[0][1].dtype == torch.int64


def test_array_dataset_errors():
    X, y = images()
    with pytest.raises(LessdataError, match="one label per example"):
        ArrayDataset(X, y[:3])
    with pytest.raises(LessdataError, match="integer class ids.*return_inverse"):
        ArrayDataset(X, np.array(["a"] * 6))
    with pytest.raises(LessdataError, match="cannot view items"):
        ArrayDataset(X, y, shape=(1, 27, 28))
    with pytest.raises(LessdataError, match="must be numeric"):
        ArrayDataset(np.array(["a", "b"]))


def test_as_arrays_from_every_source(tmp_path):
    X, y = images()
    flat = X.reshape(6, -1).astype(np.float32) / 255
    raw_X, raw_y = as_arrays((X, y))
    assert raw_X is X and raw_y.tolist() == y.tolist()
    assert as_arrays(X)[1] is None
    for source in [
        ArrayDataset(X.reshape(6, -1), y),
        TensorDataset(torch.from_numpy(flat), torch.from_numpy(y)),
        DataLoader(TensorDataset(torch.from_numpy(flat), torch.from_numpy(y)), batch_size=4),
    ]:
        got_X, got_y = as_arrays(source, batch_size=4)
        np.testing.assert_allclose(got_X, flat, rtol=1e-6)
        assert got_y.tolist() == y.tolist()
    assert as_arrays(TensorDataset(torch.from_numpy(flat)))[1] is None
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "label": [0, 1]}), path)
    got_X, got_y = as_arrays(path)  # no labels named: every numeric column is a feature
    assert got_X.shape == (2, 2) and got_y is None


def test_as_arrays_errors():
    with pytest.raises(LessdataError, match="cannot read examples from a dict"):
        as_arrays({"X": 1})
    with pytest.raises(LessdataError, match="one label per row"):
        as_arrays((np.ones((3, 2)), [0, 1]))
    with pytest.raises(LessdataError, match="empty"):
        as_arrays(TensorDataset(torch.ones(0, 2)))


def test_iter_batches_keeps_order_and_extra_fields_are_ignored():
    X = torch.arange(10.0).reshape(5, 2)
    ds = TensorDataset(X, torch.arange(5), torch.zeros(5))  # (x, y, index)-style items
    batches = list(iter_batches(ds, batch_size=2))
    assert [len(x) for x, _ in batches] == [2, 2, 1]
    assert torch.cat([y for _, y in batches]).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(LessdataError, match="labels has 3 entries but the data has more"):
        loader = DataLoader(torch.utils.data.ConcatDataset([X]), batch_size=2)
        list(iter_batches(iter_as_iterable(loader), labels=[0, 1, 2]))


def iter_as_iterable(loader):
    """An IterableDataset (no len) so the label count can only be checked while iterating."""

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            for batch in loader:
                yield from batch

    return Stream()


def test_digits():
    X, y = digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and y.dtype == np.int64
    assert sorted(set(y.tolist())) == list(range(10))
