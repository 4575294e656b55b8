"""SimCLR (Chen, Kornblith, Norouzi & Hinton, ICML 2020): training, embeddings and the linear-probe evaluation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._validation import POSITIVE_INT, POSITIVE_NUMBER, Interval, check_param
from ..errors import LessdataError
from ..training import probe_accuracy
from ._common import _batched, _device_of, _labels, _resolve_device, _subset_and_weights
from .images import augment, image_tensor
from .loop import ContrastiveRun, _seeded, _train
from .losses import nt_xent
from .models import SimCLR, TinyCLIP

__all__ = ["embed", "linear_probe", "train_simclr"]


def train_simclr(images, *, subset=None, weights=None, epochs: int = 20, batch_size: int = 512,
                 temperature: float = 0.5, lr: float = 2e-3, weight_decay: float = 1e-4, width: int = 32,
                 projection_dim: int = 64, device: str | torch.device = "cpu", seed: int = 0,
                 snapshots: Sequence[int] = (), amp: bool | None = None, progress=None) -> ContrastiveRun:
    """Train SimCLR (Chen et al., 2020) from scratch on ``images`` (or on ``subset`` of them).

    Args:
        images: the whole image set, e.g. uint8 ``(n, 28, 28)`` (see :func:`image_tensor`); it is moved to
            ``device`` once and augmented there, batch by batch.
        subset: a :class:`~lessdata.Coreset` or an index array: train on those rows only.
        weights: optional per-example weights aligned with ``subset`` (e.g. ``coreset.weights``): the NT-Xent
            loss of each anchor is weighted (normalised to mean 1).
        epochs, batch_size, lr, weight_decay: AdamW with a cosine schedule over all steps; each epoch sees
            the training examples once in ``n // batch_size`` full batches (one batch when fewer).
        temperature: NT-Xent temperature (0.5, SimCLR's choice for small batches).
        width, projection_dim: encoder width (features ``4·width``) and projection size.
        snapshots: epochs after which to keep a copy of the model (``run.snapshots``).
        amp: bfloat16 autocast (default: on for CUDA).
        progress: tqdm-compatible object, advanced once per step.

    Examples:
        >>> X = np.random.default_rng(0).integers(0, 255, size=(64, 28, 28), dtype=np.uint8)
        >>> run = train_simclr(X, epochs=1, batch_size=32, width=4)
        >>> len(run.losses), run.steps, run.encoder.out_features
        (1, 2, 16)
    """
    device = _resolve_device(device)
    data = image_tensor(images, device)
    idx, w = _subset_and_weights(len(data), subset, weights)
    temperature = float(check_param("train_simclr", "temperature", temperature, POSITIVE_NUMBER))
    model = _seeded(seed, lambda: SimCLR(width=width, projection_dim=projection_dim,
                                         in_channels=data.shape[1])).to(device)
    idx_t = torch.from_numpy(idx).to(device)
    w_t = None if w is None else torch.from_numpy(w).to(device)
    aug_rng = torch.Generator(device=device).manual_seed(seed + 1)

    def step_loss(positions):
        x = data[idx_t[positions]]
        views = torch.cat([augment(x, aug_rng), augment(x, aug_rng)])
        z1, z2 = model(views).chunk(2)
        return nt_xent(z1, z2, temperature, None if w_t is None else w_t[positions])

    return _train(model, len(idx), step_loss, epochs=epochs, batch_size=batch_size, lr=lr,
                  weight_decay=weight_decay, seed=seed, device=device, amp=device.type == "cuda" if amp is None
                  else bool(amp), snapshots=snapshots, progress=progress)


@torch.no_grad()
def embed(encoder: nn.Module, images, *, augmentations: int = 0, batch_size: int = 1024, seed: int = 0,
          **augment_kwargs) -> np.ndarray:
    """Encoder features of ``images`` as float32 numpy ``(n, features)``, in eval mode.

    ``augmentations=k > 0`` returns the mean feature of ``k`` random augmented views of each image
    (:func:`augment`, seeded): SAS (Joshi & Mirzasoleiman, 2023) approximates the augmentation distance
    between examples by a proxy model's embeddings of their augmented views. A :class:`SimCLR` model or a
    :class:`TinyCLIP` may be passed for their image encoder.

    Examples:
        >>> from lessdata.contrastive import ConvEncoder
        >>> enc = ConvEncoder(width=4)
        >>> embed(enc, np.zeros((3, 28, 28), np.uint8), augmentations=2).shape
        (3, 16)
    """
    encoder = encoder.encoder if isinstance(encoder, SimCLR) else encoder
    encoder = encoder.image_encoder if isinstance(encoder, TinyCLIP) else encoder
    augmentations = int(check_param("embed", "augmentations", augmentations, [Interval(int, 0, None)]))
    batch_size = int(check_param("embed", "batch_size", batch_size, POSITIVE_INT))
    device = _device_of(encoder)
    data = image_tensor(images, device)
    was_training = encoder.training
    encoder.eval()
    try:
        if not augmentations:
            out = _batched(lambda s: encoder(data[s]), len(data), batch_size)
        else:
            rng = torch.Generator(device=device).manual_seed(seed)
            out = sum(_batched(lambda s: encoder(augment(data[s], rng, **augment_kwargs)), len(data), batch_size)
                      for _ in range(augmentations)) / augmentations
    finally:
        encoder.train(was_training)
    return out.cpu().numpy().astype(np.float32)


def linear_probe(encoder: nn.Module, train, test, *, max_iter: int = 200, weight_decay: float = 1e-4,
                 batch_size: int = 1024) -> float:
    """Test accuracy of a linear classifier on frozen encoder features (the standard SimCLR evaluation).

    ``train`` and ``test`` are ``(images, labels)`` pairs. Features are standardised with the training
    mean and std; multinomial logistic regression (L2 penalty ``weight_decay``) is fitted from zero by
    full-batch L-BFGS on the encoder's device: deterministic, and a second or two for 60,000 examples.

    Examples:
        >>> X = np.random.default_rng(0).integers(0, 255, size=(40, 28, 28), dtype=np.uint8)
        >>> y = np.arange(40) % 2
        >>> from lessdata.contrastive import ConvEncoder
        >>> 0.0 <= linear_probe(ConvEncoder(width=4), (X, y), (X, y), max_iter=5) <= 1.0
        True
    """
    for name, pair in (("train", train), ("test", test)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise LessdataError(f"{name} must be an (images, labels) pair")
    max_iter = int(check_param("linear_probe", "max_iter", max_iter, POSITIVE_INT))
    device = _device_of(encoder.encoder if isinstance(encoder, SimCLR) else encoder)
    Z = torch.from_numpy(embed(encoder, train[0], batch_size=batch_size)).to(device)
    Zt = torch.from_numpy(embed(encoder, test[0], batch_size=batch_size)).to(device)
    y = _labels(train[1], len(Z), "train").to(device)
    yt = _labels(test[1], len(Zt), "test").to(device)
    return probe_accuracy(Z, y, Zt, yt, weight_decay=weight_decay, max_iter=max_iter)
