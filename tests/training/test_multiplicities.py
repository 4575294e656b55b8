"""Repeat-aware coresets: multiplicities survive save/load and every consumer builds exactly the planned epoch."""

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import Dataset, TensorDataset
from typer.testing import CliRunner

from lessdata import Coreset, LessdataError
from lessdata.cli import app
from lessdata.training import CoresetLoader, SelectOnce, fit


def repeated(k=6, n=30, seed=0, top=4):
    rng = np.random.default_rng(seed)
    return Coreset(
        indices=rng.choice(n, size=k, replace=False),
        weights=rng.random(k) + 0.5,
        multiplicities=rng.integers(1, top + 1, size=k),
        method="useful",
        n=n,
    )


class PerItem(Dataset):
    """No batched fetch: exercises the DataLoader path of CoresetLoader."""

    def __init__(self, n):
        self.x, self.y = torch.randn(n, 3), torch.arange(n) % 2

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


# ------------------------------------------------------------------------------------------- the type
@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, 40), seed=st.integers(0, 50), suffix=st.sampled_from([".npz", ".parquet"]))
def test_multiplicities_survive_save_and_load(tmp_path_factory, k, seed, suffix):
    cs = repeated(k, 60, seed)
    back = Coreset.load(cs.save(tmp_path_factory.mktemp("m") / f"c{suffix}"))
    assert back == cs
    assert back.multiplicities.dtype == np.int64
    np.testing.assert_array_equal(back.multiplicities, cs.multiplicities)
    assert back.epoch_size == int(cs.multiplicities.sum())


def test_default_is_all_ones_and_old_files_load_with_ones(tmp_path):
    cs = Coreset(indices=[3, 1], weights=[1, 1], n=5)
    assert cs.multiplicities.tolist() == [1, 1] and cs.epoch_size == 2
    path = tmp_path / "old.npz"
    with open(path, "wb") as fh:  # written the way files were before multiplicities existed
        np.savez(fh, indices=cs.indices, weights=cs.weights, gains=cs.gains, partition=np.zeros(2, np.int64),
                 meta=np.array(cs._meta()))
    assert Coreset.load(path).multiplicities.tolist() == [1, 1]


def test_equality_and_summary_see_multiplicities():
    a = Coreset(indices=[0, 1], weights=[1, 1], multiplicities=[1, 2])
    assert a != Coreset(indices=[0, 1], weights=[1, 1])
    assert a == Coreset(indices=[0, 1], weights=[1, 1], multiplicities=np.array([1.0, 2.0]))
    summary = a.summary()
    assert summary["epoch_size"] == 3 and summary["multiplicities"] == {1: 1, 2: 1}
    assert a.epoch_indices().tolist() == [0, 1, 1]
    assert "epoch_size=3" in repr(a)


@pytest.mark.parametrize(
    "bad, fragment",
    [([0, 1], "got 0"), ([-2, 1], "got -2"), ([1.5, 1], "got 1.5"), ([np.nan, 1], "non-finite"),
     ([True, False], "dtype bool"), (["a", "b"], "dtype"), ([1, 1, 1], "3 entries but there are 2")],
)
def test_bad_multiplicities(bad, fragment):
    with pytest.raises(LessdataError, match="multiplicities") as info:
        Coreset(indices=[0, 1], weights=[1, 1], multiplicities=bad)
    assert fragment in str(info.value)


# ----------------------------------------------------------------------------------------- consumers
def epoch_counts(loader):
    counts = Counter()
    weights = {}
    for *_, w, idx in loader:
        counts.update(idx.tolist())
        for i, wi in zip(idx.tolist(), w.tolist(), strict=True):
            assert weights.setdefault(i, wi) == wi  # every copy carries the same weight
    return counts, weights


@pytest.mark.parametrize("dataset", [TensorDataset(torch.randn(30, 3), torch.arange(30) % 2), PerItem(30)],
                         ids=["batched", "per-item"])
def test_loader_epoch_is_exactly_the_plan(dataset):
    cs = repeated(8, 30, seed=3)
    loader = CoresetLoader(dataset, cs, batch_size=4, return_indices=True)
    assert loader.epoch_size == cs.epoch_size == len(loader.sampler)
    assert len(loader) == -(-cs.epoch_size // 4)
    for _ in range(2):  # each epoch, freshly shuffled, holds exactly the planned visits
        counts, weights = epoch_counts(loader)
        assert counts == dict(zip(cs.indices.tolist(), cs.multiplicities.tolist(), strict=True))
    expected = cs.normalized_weights()
    for i, w in zip(cs.indices.tolist(), expected.tolist(), strict=True):
        assert weights[i] == pytest.approx(w)  # weights are not multiplied by the multiplicity
    loader.set_coreset(None)
    assert loader.epoch_size == 30 and epoch_counts(loader)[0] == dict.fromkeys(range(30), 1)


def test_shuffle_spreads_copies_and_is_reproducible():
    cs = Coreset(indices=np.arange(10), weights=np.ones(10), multiplicities=[3] + [1] * 9, n=10)
    data = TensorDataset(torch.arange(10).float(), torch.arange(10))
    a = [idx.tolist() for *_, idx in CoresetLoader(data, cs, batch_size=12, seed=1, return_indices=True)]
    b = [idx.tolist() for *_, idx in CoresetLoader(data, cs, batch_size=12, seed=1, return_indices=True)]
    assert a == b and sorted(a[0]) == [0, 0, 0, *range(1, 10)]
    unshuffled = CoresetLoader(data, cs, batch_size=12, shuffle=False, return_indices=True)
    assert next(iter(unshuffled))[-1].tolist() == cs.epoch_indices().tolist()


def test_to_subset_repeats_by_multiplicity():
    cs = Coreset(indices=[4, 1], weights=[1.0, 1.0], multiplicities=[2, 1], n=6)
    subset = cs.to_subset(TensorDataset(torch.arange(6)))
    assert subset.indices == [4, 4, 1]


def test_to_sampler_draws_one_epoch_of_visits():
    cs = Coreset(indices=[2, 5], weights=[1.0, 1.0], multiplicities=[1, 3], n=6)
    draws = list(cs.to_sampler(generator=torch.Generator().manual_seed(0)))
    assert len(draws) == 4
    many = cs.to_sampler(num_samples=4000, generator=torch.Generator().manual_seed(0))
    share = Counter(many)[5] / 4000
    assert 0.70 < share < 0.80  # drawn in proportion to weight x multiplicity (3/4)


def test_fit_trains_on_the_planned_epoch():
    X = torch.randn(40, 4)
    data = TensorDataset(X, (X[:, 0] > 0).long())
    cs = repeated(10, 40, seed=7)
    seen = {}

    class Count:
        def on_batch_end(self, epoch, model, batch):
            seen.setdefault(epoch, Counter()).update(batch.indices.tolist())

    result = fit(nn.Linear(4, 2), data, epochs=2, batch_size=8, schedule=SelectOnce(lambda m: cs),
                 callbacks=[Count()])
    plan = dict(zip(cs.indices.tolist(), cs.multiplicities.tolist(), strict=True))
    assert seen[0] == plan and seen[1] == plan
    assert [r["epoch_size"] for r in result.history] == [cs.epoch_size] * 2
    assert [r["subset_size"] for r in result.history] == [10, 10]


def test_inspect_shows_multiplicities(tmp_path):
    path = Coreset(indices=[0, 1, 2], weights=[1, 1, 1], multiplicities=[1, 2, 2], n=5).save(tmp_path / "c.npz")
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "per epoch: 5 visits" in result.stdout
    result = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    assert '"epoch_size": 5' in result.stdout


@pytest.mark.slow  # imports Lightning
def test_lightning_callback_trains_on_the_planned_epoch():
    L = pytest.importorskip("lightning.pytorch")
    from lessdata.training import CoresetCallback

    X = torch.randn(30, 3)
    data = TensorDataset(X, (X[:, 0] > 0).long())
    cs = repeated(9, 30, seed=2)
    seen = {}

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(3, 2)
            self.loader = CoresetLoader(data, batch_size=4, return_indices=True)

        def train_dataloader(self):
            return self.loader

        def training_step(self, batch, batch_idx):
            x, y, w, idx = batch
            seen.setdefault(self.current_epoch, Counter()).update(idx.tolist())
            return (nn.functional.cross_entropy(self.net(x), y, reduction="none") * w).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    callback = CoresetCallback(SelectOnce(lambda m: cs))
    L.Trainer(max_epochs=2, callbacks=[callback], accelerator="cpu", devices=1, logger=False,
              enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit(Module())
    plan = dict(zip(cs.indices.tolist(), cs.multiplicities.tolist(), strict=True))
    assert seen[0] == plan and seen[1] == plan  # every batch of the longer epoch is run, none cut
    assert [r["epoch_size"] for r in callback.history] == [cs.epoch_size] * 2
