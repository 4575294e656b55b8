"""Small reference models for 28x28 single-channel images (Fashion-MNIST, MNIST), fast on a CPU.

Each model's last module (in ``model.modules()`` order) is the ``nn.Linear`` that produces the logits:
:func:`lessdata.signals.last_layer_gradients` relies on it. Inputs may be flat ``(n, 784)`` rows,
``(n, 28, 28)`` images or ``(n, 1, 28, 28)`` batches; each model reshapes what it needs.

Example:
    >>> import torch
    >>> LeNet()(torch.zeros(2, 784)).shape
    torch.Size([2, 10])
    >>> MLP(hidden=(32,))(torch.zeros(2, 28, 28)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .errors import LessdataError


def _check_positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LessdataError(f"{name} must be a positive integer, got {value!r}")
    return value


class MLP(nn.Sequential):
    """Fully connected network: flatten, then ``Linear-ReLU`` per hidden width, then a ``Linear`` head.

    Args:
        in_features: input size after flattening (784 for 28x28 images).
        hidden: widths of the hidden layers (may be empty: logistic regression).
        num_classes: number of outputs (logits).
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (256, 128), num_classes: int = 10):
        _check_positive(in_features, "in_features")
        _check_positive(num_classes, "num_classes")
        widths = [in_features, *(_check_positive(h, "hidden width") for h in hidden)]
        layers: list[nn.Module] = [nn.Flatten()]
        for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_classes))
        super().__init__(*layers)


class LeNet(nn.Module):
    """LeNet-5-style CNN (LeCun et al., 1998, "Gradient-based learning applied to document recognition"):
    conv(6, 5x5, pad 2)-ReLU-maxpool, conv(16, 5x5)-ReLU-maxpool, then fc 400-120-84-``num_classes``.

    About 62k parameters; the logits come from ``fc3``.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        _check_positive(num_classes, "num_classes")
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 1, 28, 28)
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def logistic_regression(in_features: int = 784, num_classes: int = 10) -> nn.Sequential:
    """Multinomial logistic regression: flatten, then a single ``nn.Linear`` (the convex model of CRAIG,
    Mirzasoleiman et al., 2020, "Coresets for Data-efficient Training of Machine Learning Models").

    Example:
        >>> import torch
        >>> logistic_regression(64, 10)(torch.zeros(3, 64)).shape
        torch.Size([3, 10])
    """
    return MLP(in_features, hidden=(), num_classes=num_classes)
