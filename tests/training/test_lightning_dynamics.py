"""DynamicsCallback: a Lightning callback filling a DynamicsRecorder from training_step outputs."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from lessdata.errors import LessdataError
from lessdata.signals.dynamics import DynamicsRecorder
from lessdata.training import CoresetLoader

pytestmark = [pytest.mark.filterwarnings("ignore:.*LeafSpec.*"), pytest.mark.slow]  # slow: imports Lightning


def test_lightning_callback_records_from_training_step_outputs(digits):
    L = pytest.importorskip("lightning.pytorch")
    from lessdata.training import DynamicsCallback

    train_all, _ = digits
    X, y = train_all.tensors
    train = TensorDataset(X[:120], y[:120])

    class Module(L.LightningModule):
        def __init__(self, loader, contract=True):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
            self.loader, self.contract = loader, contract

        def train_dataloader(self):
            return self.loader

        def training_step(self, batch, batch_idx):
            x, y, w, idx = batch
            logits = self.net(x)
            losses = nn.functional.cross_entropy(logits, y, reduction="none")
            loss = (losses * w).mean()
            if not self.contract:
                return loss
            return {"loss": loss, "indices": idx, "logits": logits, "targets": y, "losses": losses}

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    def trainer(callback):
        return L.Trainer(max_epochs=2, callbacks=[callback], accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)

    torch.manual_seed(0)
    recorder = DynamicsRecorder()
    loader = CoresetLoader(train, batch_size=32, return_indices=True)
    trainer(DynamicsCallback(recorder)).fit(Module(loader))
    assert recorder.n == 120 and recorder.columns == [0, 1]
    assert not np.isnan(recorder.loss).any() and not np.isnan(recorder.confidence).any()
    np.testing.assert_allclose(recorder.loss, -np.log(recorder.confidence), rtol=1e-4, atol=1e-5)
    with pytest.raises(LessdataError, match="training_step to return a dict"):
        trainer(DynamicsCallback(DynamicsRecorder())).fit(Module(loader, contract=False))


def test_dynamics_callback_needs_a_recorder():
    pytest.importorskip("lightning.pytorch")
    from lessdata.training import DynamicsCallback

    with pytest.raises(LessdataError, match="needs a DynamicsRecorder"):
        DynamicsCallback(object())
