"""Contrastive losses: SimCLR's NT-Xent and CLIP's symmetric InfoNCE, per example or (weighted) mean."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._validation import POSITIVE_NUMBER, check_param
from ..errors import LessdataError

__all__ = ["clip_loss", "nt_xent"]


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, weights: torch.Tensor | None = None,
            reduction: str = "mean") -> torch.Tensor:
    """NT-Xent loss of SimCLR (Chen et al., 2020) for two views ``z1[i]``, ``z2[i]`` of each example.

    Each of the ``2B`` projections is an anchor whose positive is the other view of its example and whose
    negatives are the other ``2B − 2`` projections; the similarity is cosine over ``temperature``. An
    example's loss is the mean over its two anchors. ``reduction="none"`` returns the ``B`` per-example
    losses; ``"mean"`` their mean, weighted by ``weights`` when given.

    Examples:
        >>> z = torch.eye(4)
        >>> round(float(nt_xent(z, z, temperature=0.1)), 4)   # positives identical, negatives orthogonal
        0.0003
    """
    if z1.ndim != 2 or z1.shape != z2.shape or z1.shape[0] < 2:
        raise LessdataError(f"nt_xent needs two views of the same shape (B >= 2, d), got {tuple(z1.shape)} and "
                            f"{tuple(z2.shape)}")
    temperature = float(check_param("nt_xent", "temperature", temperature, POSITIVE_NUMBER))
    b = z1.shape[0]
    with torch.autocast(device_type=z1.device.type, enabled=False):  # the loss in float32, also under amp
        z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        sim = (z @ z.T) / temperature
        sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
        positives = torch.arange(2 * b, device=z.device).roll(b)  # anchor i's positive: i + b (mod 2b)
        losses = F.cross_entropy(sim, positives, reduction="none")
        return _reduce((losses[:b] + losses[b:]) / 2, weights, reduction)


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale, weights: torch.Tensor | None = None,
              reduction: str = "mean") -> torch.Tensor:
    """CLIP's symmetric InfoNCE loss (Radford et al., 2021) for a batch of ``B`` aligned image–text pairs.

    ``logits = exp(logit_scale) · cos(image_i, text_j)``; example ``i``'s loss is the mean of the
    image→text cross-entropy of row ``i`` and the text→image cross-entropy of column ``i``.
    ``logit_scale`` (the log inverse temperature, a float or CLIP's learnable scalar) is clamped at
    ``log(100)`` as in CLIP. Reduction and ``weights`` as in :func:`nt_xent`.

    Examples:
        >>> e = torch.eye(3)
        >>> float(clip_loss(e, e, logit_scale=0.0)) > float(clip_loss(e, e, logit_scale=3.0))
        True
    """
    if image_emb.ndim != 2 or image_emb.shape != text_emb.shape or image_emb.shape[0] < 2:
        raise LessdataError(f"clip_loss needs aligned image and text embeddings of the same shape (B >= 2, d), "
                            f"got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    with torch.autocast(device_type=image_emb.device.type, enabled=False):  # the loss in float32
        scale = torch.as_tensor(logit_scale, device=image_emb.device).float().clamp(max=math.log(100))
        v, t = F.normalize(image_emb.float(), dim=1), F.normalize(text_emb.float(), dim=1)
        logits = scale.exp() * (v @ t.T)
        target = torch.arange(len(v), device=v.device)
        losses = (F.cross_entropy(logits, target, reduction="none")
                  + F.cross_entropy(logits.T, target, reduction="none")) / 2
        return _reduce(losses, weights, reduction)


def _reduce(losses: torch.Tensor, weights, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return losses
    if reduction != "mean":
        raise LessdataError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if weights is None:
        return losses.mean()
    w = torch.as_tensor(weights, dtype=losses.dtype, device=losses.device).reshape(-1)
    if w.shape[0] != losses.shape[0]:
        raise LessdataError(f"got {w.shape[0]} weights for a batch of {losses.shape[0]} examples")
    return (losses * w).sum() / w.sum().clamp(min=1e-12)
