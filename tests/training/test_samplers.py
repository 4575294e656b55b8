import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from lessdata.coreset import Coreset
from lessdata.data import ArrayDataset
from lessdata.errors import LessdataError
from lessdata.training import CoresetLoader, evaluate, weighted_loss


def _coreset(indices, weights=None, n=None):
    weights = np.ones(len(indices)) if weights is None else weights
    return Coreset(indices=indices, weights=weights, n=n)


def _epoch(loader):
    """(indices, weights, x) of one pass, concatenated in batch order."""
    idx, w, x = [], [], []
    for batch in loader:
        x.append(batch[0])
        w.append(batch[-2])
        idx.append(batch[-1])
    return torch.cat(idx).numpy(), torch.cat(w).numpy(), torch.cat(x).numpy()


# ---------------------------------------------------------------------------------------------- weighted_loss
def test_weighted_loss_with_unit_weights_equals_unweighted_loss():
    torch.manual_seed(0)
    out, y = torch.randn(16, 5), torch.randint(0, 5, (16,))
    ones = torch.ones(16)
    got = weighted_loss(nn.CrossEntropyLoss(reduction="none"), out, y, ones)
    assert torch.allclose(got, nn.CrossEntropyLoss()(out, y))
    # per-element losses with extra dimensions (e.g. per token) are weighted along the batch dimension
    pred, target = torch.randn(16, 3, 4), torch.randn(16, 3, 4)
    assert torch.allclose(
        weighted_loss(nn.MSELoss(reduction="none"), pred, target, ones), nn.MSELoss()(pred, target)
    )


def test_weighted_loss_weights_each_example():
    out, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    w = torch.tensor([0.0, 2.0, 1.0, 1.0])
    per_example = nn.functional.cross_entropy(out, y, reduction="none")
    expected = (per_example * w).sum() / 4
    assert torch.allclose(weighted_loss(nn.CrossEntropyLoss(reduction="none"), out, y, w), expected)


def test_weighted_loss_rejects_an_already_reduced_loss():
    out, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(LessdataError, match="reduction='none'"):
        weighted_loss(nn.CrossEntropyLoss(), out, y, torch.ones(4))


# ---------------------------------------------------------------------------------------------- loader
def test_loader_yields_exactly_the_coreset_with_normalized_weights_every_epoch(identity_data):
    data = identity_data(50)
    cs = _coreset([3, 17, 4, 40, 22, 9, 31], weights=[1, 2, 3, 4, 5, 6, 7], n=50)
    loader = CoresetLoader(data, cs, batch_size=3, return_indices=True)
    expected = dict(zip(cs.indices.tolist(), cs.normalized_weights().tolist(), strict=True))
    assert np.isclose(np.mean(list(expected.values())), 1.0)
    orders = []
    for _ in range(3):
        idx, w, x = _epoch(loader)
        assert sorted(idx.tolist()) == sorted(cs.indices.tolist())  # each exactly once
        assert np.allclose(w, [expected[i] for i in idx])
        assert np.array_equal(x[:, 0], idx.astype(np.float32))  # the samples really are those examples
        orders.append(idx.tolist())
    assert len({tuple(o) for o in orders}) > 1  # reshuffled between epochs


def test_loader_without_coreset_is_the_full_data_with_unit_weights(identity_data):
    loader = CoresetLoader(identity_data(20), batch_size=8, return_indices=True)
    idx, w, _ = _epoch(loader)
    assert sorted(idx.tolist()) == list(range(20))
    assert np.all(w == 1.0)
    assert len(loader) == 3


def test_default_batches_are_x_y_w(identity_data):
    loader = CoresetLoader(identity_data(10), _coreset([1, 2], n=10), batch_size=4)
    x, y, w = next(iter(loader))
    assert x.shape == (2, 2) and y.dtype == torch.long and w.dtype == torch.float32


def test_samples_that_are_not_pairs_are_passed_through():
    loader = CoresetLoader(TensorDataset(torch.arange(6.0)), batch_size=6, shuffle=False)
    (x, w) = next(iter(loader))
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] and w.tolist() == [1.0] * 6


def test_shuffle_is_deterministic_per_seed_and_epoch(identity_data):
    data = identity_data(30)
    a = CoresetLoader(data, batch_size=7, seed=5, return_indices=True)
    b = CoresetLoader(data, batch_size=7, seed=5, return_indices=True)
    assert [_epoch(a)[0].tolist() for _ in range(2)] == [_epoch(b)[0].tolist() for _ in range(2)]
    b.set_epoch(1)  # replay epoch 1
    a.set_epoch(1)
    assert _epoch(a)[0].tolist() == _epoch(b)[0].tolist()
    unshuffled = CoresetLoader(data, _coreset([5, 1, 9], n=30), shuffle=False, return_indices=True)
    assert _epoch(unshuffled)[0].tolist() == [5, 1, 9]  # selection order


def test_set_coreset_swaps_the_subset_without_rebuilding_the_dataset(identity_data):
    data = identity_data(40)
    loader = CoresetLoader(data, _coreset([0, 1, 2, 3], n=40), batch_size=16, return_indices=True)
    inner = loader._loader
    assert sorted(_epoch(loader)[0].tolist()) == [0, 1, 2, 3]
    second = _coreset([10, 20, 30], weights=[1.0, 1.0, 4.0], n=40)
    loader.set_coreset(second)
    idx, w, _ = _epoch(loader)
    assert sorted(idx.tolist()) == [10, 20, 30]
    assert dict(zip(idx.tolist(), w.tolist(), strict=True)) == {10: 0.5, 20: 0.5, 30: 2.0}
    assert loader.coreset is second and len(loader) == 1
    loader.set_coreset(None)
    assert sorted(_epoch(loader)[0].tolist()) == list(range(40))
    assert loader.dataset is data and loader._loader is inner


def test_set_coreset_reaches_persistent_workers(identity_data):
    loader = CoresetLoader(
        identity_data(12),
        _coreset([1, 2], n=12),
        batch_size=4,
        num_workers=1,
        persistent_workers=True,
        return_indices=True,
    )
    assert sorted(_epoch(loader)[0].tolist()) == [1, 2]
    loader.set_coreset(_coreset([7, 8, 9], weights=[1.0, 1.0, 2.0], n=12))
    idx, w, _ = _epoch(loader)
    assert sorted(idx.tolist()) == [7, 8, 9] and sorted(w.tolist()) == [0.75, 0.75, 1.5]


def test_len_counts_batches_of_the_current_subset(identity_data):
    data = identity_data(25)
    assert len(CoresetLoader(data, batch_size=10)) == 3
    assert len(CoresetLoader(data, batch_size=10, drop_last=True)) == 2
    loader = CoresetLoader(data, _coreset(list(range(11)), n=25), batch_size=5, drop_last=True)
    assert len(loader) == 2 == len(list(loader))


@pytest.mark.parametrize(
    "coreset, message",
    [
        (Coreset(indices=[0, 12], weights=[1.0, 1.0]), "out of range"),
        (Coreset(indices=[0, 1], weights=[1.0, 1.0], n=11), "selected from 11 examples"),
        (Coreset(indices=[0, 1], weights=[1.0, -1.0], n=10), "non-negative"),
        (Coreset(indices=[], weights=[], n=10), "empty"),
        (np.array([0, 1]), "expected a lessdata Coreset"),
    ],
)
def test_loader_rejects_a_coreset_that_does_not_fit(identity_data, coreset, message):
    with pytest.raises(LessdataError, match=message):
        CoresetLoader(identity_data(10), coreset)
    loader = CoresetLoader(identity_data(10))
    with pytest.raises(LessdataError, match=message):
        loader.set_coreset(coreset)
    assert loader.coreset is None and len(loader.indices) == 10  # a rejected swap changes nothing


def test_loader_rejects_bad_arguments(identity_data):
    with pytest.raises(LessdataError, match="batch_size"):
        CoresetLoader(identity_data(10), batch_size=0)
    with pytest.raises(LessdataError, match="sampler"):
        CoresetLoader(identity_data(10), sampler=range(10))
    with pytest.raises(LessdataError, match="map-style"):
        CoresetLoader(iter(range(3)))


# ---------------------------------------------------------------------------------------------- batched fetch
class PerItem(torch.utils.data.Dataset):
    """Items of another dataset, one ``__getitem__`` at a time: the loader's per-item path."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i]


class WithGetitems(PerItem):
    def __getitems__(self, indices):
        return [self.dataset[i] for i in indices]


def _batches(loader, epochs=2):
    return [[t.clone() for t in batch] for _ in range(epochs) for batch in loader]


@pytest.mark.parametrize("kind", ["array", "tensor", "subset", "getitems"])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batched_loading_yields_exactly_the_per_item_batches(kind, drop_last):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(40, 4, 4), dtype=np.uint8)
    y = rng.integers(0, 3, size=40)
    array = ArrayDataset(X, y, shape=(16,))
    data = {"array": array, "tensor": TensorDataset(torch.from_numpy(X).float(), torch.from_numpy(y)),
            "subset": Subset(array, list(range(39, -1, -1))), "getitems": WithGetitems(array)}[kind]
    cs = _coreset([3, 17, 4, 39, 22, 9, 31, 0, 12, 25, 26], weights=np.arange(1.0, 12.0), n=40)
    kw = {"batch_size": 4, "seed": 3, "return_indices": True, "drop_last": drop_last}
    fast, slow = CoresetLoader(data, cs, **kw), CoresetLoader(PerItem(data), cs, **kw)
    assert (fast._direct is not None) == (kind != "getitems") and slow._direct is None
    got, expected = _batches(fast), _batches(slow)
    assert len(got) == len(expected) == (4 if drop_last else 6)
    for a, b in zip(got, expected, strict=True):
        assert len(a) == len(b) == 4  # x, y, w, idx
        for s, t in zip(a, b, strict=True):
            assert s.dtype == t.dtype and torch.equal(s, t)
    fast.set_coreset(None)  # the full data, weight 1, still batched
    slow.set_coreset(None)
    assert all(torch.equal(s, t) for a, b in zip(_batches(fast, 1), _batches(slow, 1), strict=True)
               for s, t in zip(a, b, strict=True))


def test_loading_with_workers_or_a_collate_function_goes_through_the_dataloader():
    X = np.arange(60, dtype=np.float32).reshape(20, 3)
    data = ArrayDataset(X, np.arange(20) % 2)
    cs = _coreset([1, 5, 7, 11, 19], weights=[1.0, 2.0, 3.0, 4.0, 5.0], n=20)
    expected = _batches(CoresetLoader(PerItem(data), cs, batch_size=2, return_indices=True), 1)
    workers = CoresetLoader(data, cs, batch_size=2, num_workers=1, return_indices=True)
    assert workers._direct is None
    for a, b in zip(_batches(workers, 1), expected, strict=True):
        assert all(torch.equal(s, t) for s, t in zip(a, b, strict=True))
    user_collate = CoresetLoader(data, cs, batch_size=2, collate_fn=lambda items: (torch.stack([x for x, _ in items]),
                                 torch.tensor([int(y) for _, y in items])), return_indices=True)
    assert user_collate._direct is None
    for a, b in zip(_batches(user_collate, 1), expected, strict=True):
        assert all(torch.equal(s, t) for s, t in zip(a, b, strict=True))


def test_evaluate_reads_batches_in_one_go_and_matches_a_plain_loop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    rng = np.random.default_rng(1)
    X, y = rng.integers(0, 256, size=(30, 4, 4), dtype=np.uint8), rng.integers(0, 3, size=30)
    data = ArrayDataset(X, y)
    with torch.no_grad():
        out = model(data.take(np.arange(30))[0])
    expected_loss = float(nn.functional.cross_entropy(out, torch.from_numpy(y)))
    expected_acc = float((out.argmax(1).numpy() == y).mean())
    for source in (data, PerItem(data), Subset(data, list(range(30))), (X.astype(np.float32) / 255.0, y)):
        scores = evaluate(model, source, batch_size=7)
        assert scores["accuracy"] == pytest.approx(expected_acc)
        assert scores["loss"] == pytest.approx(expected_loss, rel=1e-5)
    model.train()
    with pytest.raises(LessdataError, match="evaluate needs labelled data"):
        evaluate(model, ArrayDataset(X))
    assert model.training  # the model's mode is restored even when evaluation fails
