"""A linear probe on frozen features: the standard evaluation of a self-supervised encoder (SimCLR, MKDT)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def probe_accuracy(Z: torch.Tensor, y: torch.Tensor, Zt: torch.Tensor, yt: torch.Tensor, *,
                   weight_decay: float = 1e-4, max_iter: int = 200) -> float:
    """Test accuracy of multinomial logistic regression on frozen features.

    Features are standardised with the training mean and std; the classifier (L2 penalty ``weight_decay``) is
    fitted from zero by full-batch L-BFGS on the features' device: deterministic, a second or two for 60,000
    examples. ``Z`` / ``Zt`` are float tensors, ``y`` / ``yt`` integer class tensors on the same device.

    Examples:
        >>> Z = torch.tensor([[0.0], [1.0], [2.0], [3.0]]); y = torch.tensor([0, 0, 1, 1])
        >>> probe_accuracy(Z, y, Z, y)
        1.0
    """
    mean, std = Z.mean(0), Z.std(0).clamp(min=1e-6)
    Z, Zt = (Z - mean) / std, (Zt - mean) / std
    y, yt = y.long(), yt.long()
    classes = int(max(y.max(), yt.max())) + 1
    W = torch.zeros(Z.shape[1], classes, device=Z.device, requires_grad=True)
    b = torch.zeros(classes, device=Z.device, requires_grad=True)
    lbfgs = torch.optim.LBFGS([W, b], lr=1.0, max_iter=max_iter, history_size=10, line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad()
        loss = F.cross_entropy(Z @ W + b, y) + weight_decay * (W * W).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        lbfgs.step(closure)
    with torch.no_grad():
        return float(((Zt @ W + b).argmax(1) == yt).float().mean())
