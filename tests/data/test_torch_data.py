import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.dataloader import default_collate

from lessdata.data import ArrayDataset, as_arrays, digits, iter_batches
from lessdata.data.torch_data import batch_fetcher
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


# ---------------------------------------------------------------------------------------------- batched fetch
class PerItem(torch.utils.data.Dataset):
    """Items of another dataset, one ``__getitem__`` at a time (no batched path)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i]


class WithGetitems(PerItem):
    """A dataset with its own ``__getitems__`` (as Hugging Face datasets have), counting the batched calls."""

    calls = 0

    def __getitems__(self, indices):
        WithGetitems.calls += 1
        return [self.dataset[i] for i in indices]


class Doubled(ArrayDataset):
    """A subclass with its own items: the batched path must not bypass them."""

    def __getitem__(self, index):
        x, y = super().__getitem__(index)
        return 2 * x, y


def assert_same(a, b):
    """Exactly equal collated batches: same structure, dtypes, shapes and values."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
        return
    assert type(a) is type(b) and len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert_same(x, y)


def datasets():
    X, y = images(12, seed=3)
    flat = torch.from_numpy(X.reshape(12, -1).astype(np.float32))
    return {
        "array uint8 with shape": ArrayDataset(X, y, shape=(1, 28, 28)),
        "array float64, no labels": ArrayDataset(np.arange(36, dtype=np.float64).reshape(12, 3)),
        "tensor dataset": TensorDataset(flat, torch.from_numpy(y), torch.arange(12.0)),
        "subset of a subset": torch.utils.data.Subset(
            torch.utils.data.Subset(ArrayDataset(X, y), list(range(11, -1, -1))), [0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11]
        ),
    }


@given(order=st.lists(st.integers(-12, 11), min_size=1, max_size=30), name=st.sampled_from(sorted(datasets())))
def test_batched_fetch_equals_collating_item_by_item(order, name):
    ds = datasets()[name]
    fetch = batch_fetcher(ds)
    assert fetch.batched == "take"
    expected = default_collate([ds[i] for i in order])
    for indices in (order, np.array(order), torch.tensor(order)):
        assert_same(fetch(indices), expected)
    if isinstance(ds, ArrayDataset):
        assert_same(ds.take(order), expected)
        assert_same(default_collate(ds.__getitems__(order)), expected)


def test_batch_fetcher_falls_back_where_it_must():
    X, y = images(6)
    base = ArrayDataset(X, y)
    order = [5, 0, 3, 3]
    cases = {
        "per item": (PerItem(base), None, None),
        "own __getitems__": (WithGetitems(base), None, "getitems"),
        "subclass with its own items": (Doubled(X, y), None, "getitems"),  # its __getitems__ goes item by item
        "a collate function of one's own": (base, lambda items: [x for x, _ in items], "getitems"),
    }
    for name, (ds, collate, mode) in cases.items():
        fetch = batch_fetcher(ds, collate)
        assert fetch.batched == mode, name
        assert_same(fetch(order), (collate or default_collate)([ds[i] for i in order]))
    WithGetitems.calls = 0
    batch_fetcher(WithGetitems(base))(order)
    assert WithGetitems.calls == 1
    # a DataLoader over an ArrayDataset now fetches each batch through __getitems__, with the same batches
    doubled = list(DataLoader(Doubled(X, y), batch_size=4))
    assert torch.equal(doubled[0][0], 2 * base.take([0, 1, 2, 3])[0])


def test_batched_fetch_errors():
    ds = ArrayDataset(*images(4))
    with pytest.raises(IndexError, match="index 4 is out of range"):
        ds.take([0, 4])
    with pytest.raises(IndexError, match="index -5 is out of range"):
        batch_fetcher(TensorDataset(torch.ones(4)))([-5])
    with pytest.raises(LessdataError, match="indices must be integers"):
        ds.take(np.array([0.5]))


def test_iter_batches_fetches_tensor_datasets_and_subsets_in_batches():
    X, y = images(10)
    inner = ArrayDataset(X, y)
    subset = torch.utils.data.Subset(inner, [9, 1, 4, 4])
    batches = list(iter_batches(subset, batch_size=3))
    assert [len(x) for x, _ in batches] == [3, 1]
    assert torch.equal(torch.cat([x for x, _ in batches]), inner.take([9, 1, 4, 4])[0])
    assert torch.cat([y for _, y in batches]).tolist() == [y_ for y_ in np.asarray(y)[[9, 1, 4, 4]].tolist()]
