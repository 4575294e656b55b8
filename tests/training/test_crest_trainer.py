"""CrestTrainer's data path: ∪R_p is fetched once per reset and reused by every check and the quadratic model."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from lessdata.data import ArrayDataset
from lessdata.training import CrestTrainer, weighted_loss


class Counting(Dataset):
    """Another dataset's items, one at a time, counting the reads."""

    def __init__(self, dataset):
        self.dataset, self.reads = dataset, 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        self.reads += 1
        return self.dataset[i]


def digits_arrays(digits):
    train, _ = digits
    X, y = train.tensors
    return ArrayDataset((X * 16).round().numpy().astype(np.float32) / 16, y.numpy())


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def test_checks_reuse_the_union_fetched_at_the_reset(digits):
    data = Counting(digits_arrays(digits))
    crest = CrestTrainer(mlp(), data, fraction=0.1, batch_size=32, warmup_steps=0, seed=0, adapt=False)
    reads = data.reads  # the labels, read once
    crest.reset()
    # the union once, for the selection, the quadratic model and the checks; nothing else
    assert data.reads - reads == len(crest.union)
    assert crest._union_x.shape[0] == len(crest.union)
    reads = data.reads
    results = [crest.check() for _ in range(3)]
    assert data.reads == reads and len({r.true_loss for r in results}) == 1
    # the true loss is the unweighted mean cross-entropy over the union, as a plain loop computes it
    model = crest.model.eval()
    with torch.no_grad():
        x = torch.stack([data.dataset[i][0] for i in crest.union])
        expected = nn.functional.cross_entropy(model(x), torch.from_numpy(crest.labels[crest.union]))
    assert results[0].true_loss == pytest.approx(float(expected), rel=1e-5)


def test_batched_and_per_item_data_give_the_same_run(digits):
    """Fetching whole batches (ArrayDataset) changes nothing in the run: same coresets, losses and parameters."""
    array = digits_arrays(digits)

    def run(data):
        model = mlp(1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        crest = CrestTrainer(model, data, fraction=0.1, batch_size=32, warmup_steps=0, seed=4, check_threshold=0.0,
                             optimizer=opt)
        for x, y, w, _ in crest.batches(steps=6):
            opt.zero_grad()
            weighted_loss(nn.CrossEntropyLoss(reduction="none"), model(x), y, w).backward()
            opt.step()
        events = [(e["event"], e["step"], e.get("true_loss"), e.get("coreset_loss")) for e in crest.log]
        return crest, events, torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    (a, events_a, params_a), (b, events_b, params_b) = run(array), run(Counting(array))
    assert a.selections >= 2 and a.coreset == b.coreset
    assert events_a == events_b and torch.equal(params_a, params_b)


def test_a_union_too_large_for_the_device_stays_on_the_host(digits, monkeypatch):
    import lessdata.training.crest as crest_module

    monkeypatch.setattr(crest_module, "_DEVICE_CACHE_BYTES", 0)
    crest = CrestTrainer(mlp(), digits_arrays(digits), fraction=0.1, batch_size=32, warmup_steps=0, seed=0,
                         eval_batch_size=100)
    crest.reset()
    assert crest._union_x.device.type == "cpu" and crest.check().true_loss > 0
