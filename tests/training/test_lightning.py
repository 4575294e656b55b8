import numpy as np
import pytest
import torch
from torch import nn

from lessdata.coreset import Coreset
from lessdata.errors import LessdataError
from lessdata.training import CoresetLoader, EveryKEpochs, Schedule, weighted_loss

L = pytest.importorskip("lightning.pytorch")
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
from lessdata.training import CoresetCallback  # noqa: E402


class Module(L.LightningModule):
    def __init__(self, loader, val_data=None):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        self.loader, self.val_data = loader, val_data
        self.seen = {}  # epoch -> dataset indices trained on
        self.weights = {}
        self.validations = []

    def forward(self, x):
        return self.net(x)

    def train_dataloader(self):
        return self.loader

    def training_step(self, batch, batch_idx):
        x, y, w, idx = batch
        self.seen.setdefault(self.current_epoch, []).extend(idx.tolist())
        self.weights.setdefault(self.current_epoch, []).extend(w.tolist())
        return weighted_loss(nn.CrossEntropyLoss(reduction="none"), self(x), y, w)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.val_data, batch_size=256)

    def validation_step(self, batch, batch_idx):
        if batch_idx == 0:
            self.validations.append(self.current_epoch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


class Scripted(Schedule):
    """Answers from a fixed list, one per epoch (None = full data)."""

    def __init__(self, answers):
        super().__init__()
        self.answers = answers

    def coreset_for_epoch(self, epoch, model):
        return self._timed(epoch, lambda: self.answers[epoch]) if self.answers[epoch] is not None else None


def _trainer(epochs, callback):
    return L.Trainer(
        max_epochs=epochs,
        callbacks=[callback],
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def test_two_epochs_reselect_with_the_module_and_train_on_each_subset(digits):
    train, test = digits
    calls = []

    def select(model):
        calls.append(model)
        rng = np.random.default_rng(len(calls))
        return Coreset(indices=rng.choice(1400, 200, replace=False), weights=rng.integers(1, 9, 200), n=1400)

    loader = CoresetLoader(train, batch_size=64, return_indices=True)
    module = Module(loader, test)
    callback = CoresetCallback(EveryKEpochs(select, k=1), log=True)
    _trainer(2, callback).fit(module)
    assert len(calls) == 2 and all(m is module for m in calls)
    assert [r["subset_size"] for r in callback.history] == [200, 200]
    first, second = sorted(module.seen[0]), sorted(module.seen[1])
    assert len(first) == len(set(first)) == 200 and first != second
    assert np.isclose(np.mean(module.weights[0]), 1.0, atol=1e-5)
    assert module.validations == [0, 1]  # validation still runs at the end of each shorter epoch


def test_subset_sizes_may_grow_and_shrink_between_epochs(digits):
    train, test = digits
    small = Coreset(indices=np.arange(0, 1400, 10), weights=np.ones(140), n=1400)
    other = Coreset(indices=np.arange(5, 1400, 7), weights=np.ones(200), n=1400)
    loader = CoresetLoader(
        train, small, batch_size=100, return_indices=True
    )  # Lightning counts 2 batches here
    module = Module(loader, test)
    callback = CoresetCallback(Scripted([other, None, small]), loader=loader)
    _trainer(3, callback).fit(module)
    assert sorted(module.seen[0]) == other.indices.tolist()
    assert sorted(module.seen[1]) == list(range(1400))  # the full data, not cut at the first count
    assert sorted(module.seen[2]) == small.indices.tolist()
    assert module.validations == [0, 1, 2]
    assert [r["selections"] for r in callback.history] == [1, 1, 2]


def test_callback_needs_a_coreset_loader(digits):
    train, test = digits
    module = Module(torch.utils.data.DataLoader(train, batch_size=64), test)
    with pytest.raises(LessdataError, match="CoresetLoader"):
        _trainer(1, CoresetCallback(EveryKEpochs(lambda m: None))).fit(module)
    with pytest.raises(LessdataError, match="Schedule"):
        CoresetCallback(lambda m: None)
