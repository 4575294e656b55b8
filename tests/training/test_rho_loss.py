import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Subset, TensorDataset

from lessdata.errors import LessdataError
from lessdata.training import fit
from lessdata.training.rho_loss import (
    RhoLossSelector,
    check_holdout,
    irreducible_losses,
    select_batch,
    train_irreducible_model,
)


def mlp(seed: int, d: int = 5, k: int = 3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, k))


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 5, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 1).long()
    return TensorDataset(X, y)


def direct_reducible(model, irreducible, x, y):
    """The obvious computation: per-example CE of the model minus CE of the irreducible model."""
    with torch.no_grad():
        return (F.cross_entropy(model(x), y, reduction="none")
                - F.cross_entropy(irreducible(x), y, reduction="none"))


@pytest.mark.parametrize("b", [1, 7, 31])
def test_picks_are_the_top_reducible_losses_of_a_direct_computation(data, b):
    model, irr = mlp(1), mlp(2)
    x, y = data.tensors[0][:64], data.tensors[1][:64]
    picks = select_batch(model, (x, y), b, irreducible=irr)
    expected = torch.argsort(-direct_reducible(model, irr, x, y), stable=True)[:b]
    assert picks.tolist() == expected.tolist()
    # a precomputed table gives the same picks as the model itself
    table = irreducible_losses(irr, data)
    assert np.allclose(table[:64], F.cross_entropy(irr(x), y, reduction="none").detach().numpy(), atol=1e-6)
    sel = RhoLossSelector(table)
    assert sel.select_batch(model, (x, y), b, index=torch.arange(64)).tolist() == expected.tolist()
    # the table is looked up by dataset index, not by batch position
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(3))
    got = sel.select_batch(model, (x[perm], y[perm]), b, index=perm)
    assert perm[got].tolist() == expected.tolist()


def test_reducible_loss_prefers_learnable_points_over_noise():
    # points whose label the holdout model cannot predict (noise) have high irreducible loss and rank low
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.zero_()                                          # loss log 2 everywhere
        model.bias.zero_()
    irr = nn.Linear(2, 2)
    with torch.no_grad():
        irr.weight.copy_(torch.tensor([[5.0, 0.0], [-5.0, 0.0]]))
        irr.bias.zero_()
    x = torch.tensor([[1.0, 0.0]] * 4 + [[-1.0, 0.0]] * 4)
    y = torch.tensor([0, 0, 0, 0, 0, 0, 0, 0])                         # the last four are "mislabelled"
    picks = select_batch(model, (x, y), 4, irreducible=irr)
    assert sorted(picks.tolist()) == [0, 1, 2, 3]


def test_train_mode_is_used_and_restored():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.9))
    model.eval()
    modes = []
    model.register_forward_pre_hook(lambda m, a: modes.append(m.training))
    sel = RhoLossSelector(np.zeros(10, dtype="float32"), b=2)
    x, y = torch.randn(10, 3), torch.zeros(10, dtype=torch.long)
    sel(model, (x, y), index=torch.arange(10))
    assert modes == [True] and model.training is False
    RhoLossSelector(np.zeros(10, dtype="float32"), b=2, train_mode=False)(model, (x, y), index=torch.arange(10))
    assert modes[-1] is False


def test_fit_trains_each_step_on_b_of_B(data):
    seen = []

    class Sizes:
        def on_batch_end(self, epoch, model, batch):
            seen.append(len(batch.indices))

    table = irreducible_losses(mlp(2), data)
    sel = RhoLossSelector(table, fraction=0.25)
    result = fit(mlp(1), data, data, epochs=2, batch_size=40, optimizer="adam", lr=1e-2, lr_schedule=None,
                 batch_selector=sel, callbacks=[Sizes()])
    # 300 = 7 batches of 40 + one of 20 per epoch; 25% of 40 = 10, of 20 = 5
    assert seen == [10] * 7 + [5] + [10] * 7 + [5]
    assert len(sel.history) == 16 and all(r["selected"] in (10, 5) for r in sel.history)
    assert result.history[0]["selection_seconds"] >= sum(r["seconds"] for r in sel.history[:8]) * 0.5
    assert result.final_accuracy > 0.5


def test_train_irreducible_model_and_holdout_checks(data):
    holdout, train = Subset(data, range(0, 100)), Subset(data, range(100, 300))
    model = train_irreducible_model(mlp(0), holdout, train=train, epochs=3, batch_size=50)
    assert not model.training
    assert irreducible_losses(model, train).shape == (200,)
    with pytest.raises(LessdataError, match="overlaps the training data in 50"):
        check_holdout(Subset(data, range(0, 100)), Subset(data, range(50, 300)))
    with pytest.raises(LessdataError, match="overlaps"):
        train_irreducible_model(mlp(0), data, holdout_indices=np.arange(60), train_indices=np.arange(50, 300))
    with pytest.raises(LessdataError, match="fewer than min_size=50"):
        check_holdout(Subset(data, range(10)), train)
    with pytest.raises(LessdataError, match="min_size"):
        check_holdout(holdout, train, min_size=0)


def test_bad_inputs():
    model = mlp(0)
    x, y = torch.randn(8, 5), torch.zeros(8, dtype=torch.long)
    table = np.zeros(8, dtype="float32")
    with pytest.raises(LessdataError, match="larger than the batch"):
        RhoLossSelector(table)(model, (x, y), b=9, index=torch.arange(8))
    with pytest.raises(LessdataError, match="positive integer"):
        RhoLossSelector(table, b=0)
    with pytest.raises(LessdataError, match="fraction"):
        RhoLossSelector(table, fraction=1.5)
    with pytest.raises(LessdataError, match="needs the batch's dataset indices"):
        RhoLossSelector(table)(model, (x, y), b=2)
    with pytest.raises(LessdataError, match="outside the irreducible-loss table"):
        RhoLossSelector(table)(model, (x, y), b=2, index=torch.arange(8) + 5)
    with pytest.raises(LessdataError, match="8 examples"):
        RhoLossSelector(table)(model, (x, y), b=2, index=torch.arange(7))
    with pytest.raises(LessdataError, match="finite"):
        RhoLossSelector(np.array([np.nan, 1.0]))
    with pytest.raises(LessdataError, match="1-D"):
        RhoLossSelector(np.zeros((2, 2)))
    with pytest.raises(LessdataError, match="batch"):
        RhoLossSelector(table)(model, "not a batch", b=2)
