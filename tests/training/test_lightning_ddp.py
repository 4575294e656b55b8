"""The Lightning callback under DDP on two CPU processes: each trains on its disjoint share of the coreset."""

import collections
import json
import subprocess
import sys

import pytest

pytest.importorskip("lightning")

SCRIPT = """
import json, sys
import torch, lightning.pytorch as L
from torch import nn
from torch.utils.data import TensorDataset
from lessdata.coreset import Coreset
from lessdata.training import CoresetLoader, SelectOnce, weighted_loss
from lessdata.training.lightning import CoresetCallback

N = 40
data = TensorDataset(torch.arange(N, dtype=torch.float32).reshape(N, 1), torch.arange(N) % 3)
cs = Coreset(indices=[3, 7, 11, 20, 25, 31, 38], weights=[1, 2, 3, 4, 5, 6, 7],
             multiplicities=[1, 2, 1, 3, 1, 1, 2], n=N)


class Module(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(1, 3)
        self.loader = CoresetLoader(data, batch_size=4, return_indices=True)
        self.seen = []

    def train_dataloader(self):
        return self.loader

    def training_step(self, batch, i):
        x, y, w, idx = batch
        self.seen += idx.tolist()
        return weighted_loss(nn.CrossEntropyLoss(reduction="none"), self.net(x), y, w)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_train_end(self):
        out = [None] * self.trainer.world_size
        torch.distributed.all_gather_object(out, self.seen)
        if self.trainer.global_rank == 0:
            json.dump(out, open(sys.argv[1], "w"))


L.Trainer(max_epochs=1, accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_checkpointing=False,
          enable_progress_bar=False, enable_model_summary=False,
          callbacks=[CoresetCallback(SelectOnce(lambda model: cs))]).fit(Module())
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_coreset_callback_under_ddp_splits_the_epoch(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / "seen.json"
    subprocess.run([sys.executable, str(script), str(out)], check=True, cwd=tmp_path, timeout=580,
                   capture_output=True)
    rank0, rank1 = json.loads(out.read_text())
    assert len(rank0) == len(rank1) == 6  # 11 visits per epoch, padded to 12
    expected = collections.Counter({3: 1, 7: 2, 11: 1, 20: 3, 25: 1, 31: 1, 38: 2})
    together = collections.Counter(rank0 + rank1)
    assert sum((together - expected).values()) == 1 and not expected - together
