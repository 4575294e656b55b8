import pytest
import torch
from torch import nn

from lessdata.errors import LessdataError
from lessdata.models import MLP, LeNet, logistic_regression


@pytest.mark.parametrize("shape", [(3, 784), (3, 28, 28), (3, 1, 28, 28)])
@pytest.mark.parametrize("make", [MLP, LeNet, lambda: logistic_regression(784, 10)])
def test_forward_shapes(make, shape):
    model = make()
    assert model(torch.zeros(shape)).shape == (3, 10)


@pytest.mark.parametrize(
    "model", [MLP(), MLP(64, hidden=(), num_classes=3), LeNet(num_classes=5), logistic_regression(20, 4)]
)
def test_last_module_is_the_linear_head(model):
    last = list(model.modules())[-1]
    assert isinstance(last, nn.Linear)
    with torch.no_grad():
        in_features = model[1].in_features if isinstance(model, MLP) else 784
        out = model(torch.randn(2, in_features))
    assert out.shape == (2, last.out_features)


def test_sizes_stay_small():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(LeNet()) < 70_000
    assert count(MLP()) < 250_000
    assert count(logistic_regression(784, 10)) == 7850
    widths = [m.out_features for m in MLP(hidden=(32, 16)).modules() if isinstance(m, nn.Linear)]
    assert widths == [32, 16, 10]


def test_bad_arguments():
    with pytest.raises(LessdataError, match="num_classes"):
        LeNet(num_classes=0)
    with pytest.raises(LessdataError, match="hidden width"):
        MLP(hidden=(10, -1))
    with pytest.raises(LessdataError, match="in_features"):
        logistic_regression(0, 10)
