"""Distributed coreset loading: two real processes on the gloo backend share every epoch disjointly."""

import collections
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from lessdata.coreset import Coreset
from lessdata.errors import LessdataError
from lessdata.training import CoresetLoader
from lessdata.training.samplers import CoresetSampler

N = 40
CORESET = Coreset(indices=[3, 7, 11, 20, 25, 31, 38], weights=[1, 2, 3, 4, 5, 6, 7],
                  multiplicities=[1, 2, 1, 3, 1, 1, 2], n=N)  # 11 visits per epoch: does not divide by 2


def _dataset():
    return TensorDataset(torch.arange(N, dtype=torch.float32).reshape(N, 1), torch.arange(N) % 3)


def _epochs(loader, epochs=2):
    """Per epoch: the (index, weight) pairs this process visited."""
    out = []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        seen = []
        for x, _, w, idx in loader:
            assert torch.equal(x[:, 0].long(), idx)  # the batch holds the examples it says
            seen += list(zip(idx.tolist(), w.tolist()))
        out.append(seen)
    return out


WORKER = """
import json, sys
import torch, torch.distributed as dist
from torch.utils.data import TensorDataset
from lessdata.coreset import Coreset
from lessdata.training import CoresetLoader

rank, world, init, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
dist.init_process_group("gloo", init_method="file://" + init, rank=rank, world_size=world)
coreset = Coreset(**json.loads(sys.argv[5]))
n = coreset.n
data = TensorDataset(torch.arange(n, dtype=torch.float32).reshape(n, 1), torch.arange(n) % 3)
loader = CoresetLoader(data, coreset, batch_size=4, seed=5, return_indices=True)  # rank from torch.distributed
epochs = []
for epoch in range(2):
    loader.set_epoch(epoch)
    epochs.append([[int(i), float(w)] for x, _, w, idx in loader for i, w in zip(idx.tolist(), w.tolist())])
gathered = [None] * world
dist.all_gather_object(gathered, epochs)
if rank == 0:
    json.dump({"gathered": gathered, "batches": len(loader), "replicas": list(loader.sampler.replicas)},
              open(out, "w"))
dist.destroy_process_group()
"""


@pytest.mark.timeout(180)
def test_two_gloo_processes_split_each_epoch_disjointly(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    spec = json.dumps({"indices": CORESET.indices.tolist(), "weights": CORESET.weights.tolist(),
                       "multiplicities": CORESET.multiplicities.tolist(), "n": N})
    procs = [subprocess.Popen([sys.executable, str(script), str(r), "2", str(tmp_path / "init"),
                               str(tmp_path / "out.json"), spec]) for r in range(2)]
    assert [p.wait(timeout=150) for p in procs] == [0, 0]
    result = json.loads((tmp_path / "out.json").read_text())
    gathered = [[[tuple(pair) for pair in epoch] for epoch in rank] for rank in result["gathered"]]
    assert result["replicas"] == [2, 0] and result["batches"] == 2  # 11 visits -> 6 per rank -> 2 batches
    single = [[(i, w) for i, w in epoch] for epoch in
              _epochs(CoresetLoader(_dataset(), CORESET, batch_size=4, seed=5, return_indices=True))]
    for epoch in range(2):
        rank0, rank1 = gathered[0][epoch], gathered[1][epoch]
        assert len(rank0) == len(rank1) == 6
        together = collections.Counter(rank0 + rank1)
        expected = collections.Counter(single[epoch])
        # one epoch exactly, plus one padded repeat of the epoch's first position
        assert sum(together.values()) == 12 and together - expected == collections.Counter([single[epoch][0]])
        assert expected - together == collections.Counter()
    assert [i for i, _ in gathered[0][0]] != [i for i, _ in gathered[0][1]]  # reshuffled per epoch


def test_shares_are_disjoint_and_cover_the_epoch_in_one_process():
    for replicas in (1, 2, 3, 4):
        for drop_last in (False, True):
            shares = [CoresetSampler(CORESET.indices, seed=1, multiplicities=CORESET.multiplicities,
                                     num_replicas=replicas, rank=r, drop_last=drop_last).next_order()
                      for r in range(replicas)]
            full = CoresetSampler(CORESET.indices, seed=1, multiplicities=CORESET.multiplicities).next_order()
            assert len({len(s) for s in shares}) == 1  # every process takes the same number of steps
            joined = np.concatenate(shares)
            if drop_last:
                assert len(joined) == (11 // replicas) * replicas
                assert collections.Counter(joined.tolist()) <= collections.Counter(full.tolist())
            else:
                assert collections.Counter(full.tolist()) <= collections.Counter(joined.tolist())
                assert len(joined) - len(full) < replicas


@pytest.mark.parametrize("kwargs, message", [
    ({"num_replicas": 2}, "both num_replicas= and rank="),
    ({"num_replicas": 2, "rank": 2}, "out of range"),
    ({"num_replicas": 0, "rank": 0}, "num_replicas must be an integer ≥ 1"),
    ({"num_replicas": 2, "rank": -1}, "rank must be an integer ≥ 0"),
    ({"num_replicas": 2.0, "rank": 0}, "num_replicas must be an integer"),
])
def test_bad_replica_arguments(kwargs, message):
    with pytest.raises(LessdataError, match=message):
        CoresetLoader(_dataset(), CORESET, **kwargs)
