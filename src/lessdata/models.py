"""Small reference models for 28x28 single-channel images (Fashion-MNIST, MNIST), fast on a CPU.

Each model's last module (in ``model.modules()`` order) is the ``nn.Linear`` that produces the logits:
:func:`lessdata.signals.last_layer_gradients` relies on it. Inputs may be flat ``(n, 784)`` rows,
``(n, 28, 28)`` images or ``(n, 1, 28, 28)`` batches; each model reshapes what it needs.

Examples:
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

from ._validation import POSITIVE_INT, check_param, check_params
from .errors import LessdataError


class MLP(nn.Sequential):
    """Fully connected network: flatten, then ``Linear-ReLU`` per hidden width, then a ``Linear`` head.

    Args:
        in_features: input size after flattening (784 for 28x28 images).
        hidden: widths of the hidden layers (may be empty: logistic regression).
        num_classes: number of outputs (logits).
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (256, 128), num_classes: int = 10):
        check_params("MLP", {"in_features": in_features, "num_classes": num_classes},
                     {"in_features": POSITIVE_INT, "num_classes": POSITIVE_INT})
        widths = [int(in_features), *(int(check_param("MLP", "each hidden width", h, POSITIVE_INT)) for h in hidden)]
        layers: list[nn.Module] = [nn.Flatten()]
        for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], int(num_classes)))
        super().__init__(*layers)


class LeNet(nn.Module):
    """LeNet-5-style CNN (LeCun et al., 1998, "Gradient-based learning applied to document recognition"):
    conv(6, 5x5, pad 2)-ReLU-maxpool, conv(16, 5x5)-ReLU-maxpool, then fc 400-120-84-``num_classes``.

    About 62k parameters; the logits come from ``fc3``.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        check_param("LeNet", "num_classes", num_classes, POSITIVE_INT)
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


class ConvNet(nn.Module):
    """The standard ConvNet of dataset distillation (Gidaris & Komodakis, 2018; used by DC, DSA, DM and MTT,
    Cazenavette et al., 2022, "Dataset Distillation by Matching Training Trajectories"): ``depth`` blocks of
    conv(3x3, ``width``, pad 1)-instance norm-ReLU-avg pool(2), then a linear head.

    Instance norm is ``GroupNorm(width, width)`` with learnable affine parameters, as in the reference code
    (``mtt-distillation/networks.py``), so the network has no running statistics and its whole state is its
    parameters, which makes flattened-parameter trajectories exact. 28x28 inputs end at 3x3, 32x32 at 4x4.

    Args:
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR).
        image_size: height and width of the (square) input images.
        num_classes: number of outputs.
        width: channels of every conv layer (128 in the papers).
        depth: number of conv blocks (3 in the papers).

    Examples:
        >>> import torch
        >>> ConvNet(width=8)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10, width: int = 128,
                 depth: int = 3):
        super().__init__()
        sizes = {"in_channels": in_channels, "image_size": image_size, "num_classes": num_classes, "width": width,
                 "depth": depth}
        check_params("ConvNet", sizes, dict.fromkeys(sizes, POSITIVE_INT))
        if image_size >> depth < 1:
            raise LessdataError(f"image_size {image_size} is too small for depth {depth} (halved {depth} times)")
        self.in_channels, self.image_size = in_channels, image_size
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(depth):
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.GroupNorm(width, width, affine=True),
                       nn.ReLU(), nn.AvgPool2d(2, 2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * (image_size >> depth) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, self.in_channels, self.image_size, self.image_size)
        return self.classifier(torch.flatten(self.features(x), 1))


def logistic_regression(in_features: int = 784, num_classes: int = 10) -> nn.Sequential:
    """Multinomial logistic regression: flatten, then a single ``nn.Linear`` (the convex model of CRAIG,
    Mirzasoleiman et al., 2020, "Coresets for Data-efficient Training of Machine Learning Models").

    Examples:
        >>> import torch
        >>> logistic_regression(64, 10)(torch.zeros(3, 64)).shape
        torch.Size([3, 10])
    """
    return MLP(in_features, hidden=(), num_classes=num_classes)
