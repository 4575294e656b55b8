"""last_layer_gradients must equal autograd's per-example gradients of the cross-entropy loss."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lessdata.data import ArrayDataset
from lessdata.errors import LessdataError
from lessdata.models import LeNet
from lessdata.signals import find_last_linear, last_layer_gradients


def small_model(bias: bool = True) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 4, bias=bias)
    )


def small_data(n: int = 37, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 4, size=n)


def autograd_gradients(model: nn.Module, X, y, layer: nn.Linear):
    """One backward pass per example, in eval mode: (d loss/d logits, d loss/d weight, d loss/d bias)."""
    model.eval()
    out_logits, out_weight, out_bias = [], [], []
    for x_i, y_i in zip(torch.from_numpy(X), torch.from_numpy(np.asarray(y)), strict=True):
        model.zero_grad()
        logits = model(x_i[None])
        logits.retain_grad()
        nn.functional.cross_entropy(logits, y_i[None].long()).backward()
        out_logits.append(logits.grad[0].clone())
        out_weight.append(layer.weight.grad.flatten().clone())
        if layer.bias is not None:
            out_bias.append(layer.bias.grad.clone())
    stack = lambda xs: torch.stack(xs).numpy() if xs else None  # noqa: E731
    return stack(out_logits), stack(out_weight), stack(out_bias)


def test_logits_gradient_matches_autograd():
    model = small_model()
    X, y = small_data()
    got = last_layer_gradients(model, X, y, batch_size=8)
    want, _, _ = autograd_gradients(model, X, y, model[4])
    assert got.dtype == np.float32 and got.shape == (37, 4)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_full_gradient_matches_autograd_weights_and_bias():
    model = small_model()
    X, y = small_data()
    got = last_layer_gradients(model, X, y, full=True, batch_size=10)
    _, weight, bias = autograd_gradients(model, X, y, model[4])
    assert got.shape == (37, 4 * (5 + 1))
    np.testing.assert_allclose(got[:, :20], weight, atol=1e-5)
    np.testing.assert_allclose(got[:, 20:], bias, atol=1e-5)


def test_full_gradient_without_bias():
    model = small_model(bias=False)
    X, y = small_data()
    got = last_layer_gradients(model, X, y, full=True)
    _, weight, _ = autograd_gradients(model, X, y, model[4])
    assert got.shape == (37, 4 * 5)
    np.testing.assert_allclose(got, weight, atol=1e-5)


def test_lenet_full_gradient_matches_autograd():
    torch.manual_seed(0)
    model = LeNet(num_classes=10)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=12)
    got = last_layer_gradients(model, X, y, full=True, batch_size=5)
    logits, weight, bias = autograd_gradients(model, X.astype(np.float32) / 255, y, model.fc3)
    np.testing.assert_allclose(got, np.hstack([weight, bias]), atol=1e-5)
    np.testing.assert_allclose(got[:, -10:], logits, atol=1e-5)


def test_train_eval_modes_are_restored():
    model = small_model()
    model.train()
    model[1].eval()  # a mixed state, e.g. frozen batch norm
    X, y = small_data()
    last_layer_gradients(model, X, y)
    assert [m.training for m in model] == [True, False, True, True, True]
    assert model.training


def test_every_data_form_gives_the_same_rows():
    model = small_model()
    X, y = small_data()
    want = last_layer_gradients(model, X, y)
    tensors = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    for data, labels in [
        ((X, y), None),
        (ArrayDataset(X, y), None),
        (ArrayDataset(X), y),
        (tensors, None),
        (DataLoader(tensors, batch_size=7), None),
        (torch.from_numpy(X), y),
    ]:
        np.testing.assert_allclose(last_layer_gradients(model, data, labels, batch_size=9), want, atol=1e-6)


def test_labels_argument_replaces_dataset_labels():
    model = small_model()
    X, y = small_data()
    other = (y + 1) % 4
    np.testing.assert_allclose(
        last_layer_gradients(model, ArrayDataset(X, y), other), last_layer_gradients(model, X, other)
    )


class Net(nn.Module):
    """The head is registered before an unused auxiliary Linear, so modules() order misleads."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 5)
        self.head = nn.Linear(5, 3)
        self.auxiliary = nn.Linear(5, 2)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def test_named_layer():
    torch.manual_seed(0)
    model = Net()
    X, y = small_data()
    y = y % 3
    with pytest.raises(LessdataError, match="'auxiliary' was not called"):
        last_layer_gradients(model, X, y)
    got = last_layer_gradients(model, X, y, layer="head", full=True)
    logits, weight, bias = autograd_gradients(model, X, y, model.head)
    np.testing.assert_allclose(got, np.hstack([weight, bias]), atol=1e-5)
    assert find_last_linear(LeNet())[0] == "fc3"
    assert find_last_linear(LeNet(), "fc2")[0] == "fc2"


def test_model_errors():
    X, y = small_data()
    with pytest.raises(LessdataError, match="no nn.Linear"):
        last_layer_gradients(nn.Sequential(nn.Flatten()), X, y)
    with pytest.raises(LessdataError, match="no layer named 'fc9'.*fc1, fc2, fc3"):
        last_layer_gradients(LeNet(), np.zeros((2, 784), np.float32), [0, 1], layer="fc9")
    with pytest.raises(LessdataError, match="'conv1' is a Conv2d, not an nn.Linear"):
        last_layer_gradients(LeNet(), np.zeros((2, 784), np.float32), [0, 1], layer="conv1")
    with pytest.raises(LessdataError, match="name the layer that produces the logits"):
        last_layer_gradients(LeNet(), np.zeros((2, 784), np.float32), [0, 1], layer="fc2")


def test_data_errors():
    model = small_model()
    X, y = small_data()
    with pytest.raises(LessdataError, match="needs class labels"):
        last_layer_gradients(model, X)
    with pytest.raises(LessdataError, match="label 4 is out of range for a model with 4 outputs"):
        last_layer_gradients(model, X, np.full(len(X), 4))
    with pytest.raises(LessdataError, match="one label per example"):
        last_layer_gradients(model, X, y[:-1])
    with pytest.raises(LessdataError, match="shuffles"):
        loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), shuffle=True)
        last_layer_gradients(model, loader)
    with pytest.raises(LessdataError, match="integer class ids"):
        last_layer_gradients(model, X, np.full(len(X), 0.5))
    with pytest.raises(LessdataError, match="batch_size"):
        last_layer_gradients(model, X, y, batch_size=0)


def test_progress_hook():
    class Bar:
        total = None
        done = 0

        def update(self, n):
            self.done += n

    bar = Bar()
    X, y = small_data()
    last_layer_gradients(small_model(), X, y, batch_size=10, progress=bar)
    assert bar.total == 37 and bar.done == 37


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 50), seed=st.integers(0, 2**16))
def test_rows_are_probabilities_minus_one_hot(n, batch_size, seed):
    model = small_model()
    X, y = small_data(n, seed)
    grad = last_layer_gradients(model, X, y, batch_size=batch_size, full=True)
    logits_grad = grad[:, -4:]
    np.testing.assert_allclose(logits_grad.sum(axis=1), 0, atol=1e-5)  # softmax sums to one
    at_label = logits_grad[np.arange(n), y]
    assert np.all((at_label <= 0) & (at_label >= -1))
    off_label = logits_grad.copy()
    off_label[np.arange(n), y] = 0
    assert np.all(off_label >= 0)
    # Independent of batching.
    np.testing.assert_allclose(grad, last_layer_gradients(model, X, y, batch_size=n, full=True), atol=1e-6)
