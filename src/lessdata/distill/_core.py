"""Shared pieces of dataset distillation: input checks, devices, flat parameters, differentiable augmentation.

A network is driven *functionally* at a flat parameter vector (:class:`FlatModel`, through
``torch.func.functional_call``): unrolled SGD on the synthetic set is then a chain of plain tensor ops that
autograd can differentiate with respect to the images, the targets and the step size.

The augmentation is the DSA family (Zhao & Bilen, 2021, "Dataset Condensation with Differentiable Siamese
Augmentation"), as used by MTT: one transform drawn per call from colour / crop / cutout / flip / scale /
rotate (the reference's ``aug_mode='S'``), with per-image random parameters drawn from a seeded generator so
that two calls with equal generator states apply the same transform (the "siamese" property). Parameter
ranges are the reference's ``ParamDiffAug`` defaults.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LessdataError


def resolve_device(device) -> torch.device:
    """``None`` / ``"auto"`` -> CUDA when present, else CPU; anything else must name an available device."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise LessdataError(f"device {device!r} is not a torch device (use 'cpu', 'cuda', 'cuda:1', 'auto')") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LessdataError(f"device {device!r} was asked for but CUDA is not available here")
    return dev


def positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise LessdataError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def positive_float(value, name: str, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) < 0 or (float(value) == 0 and not allow_zero):
        raise LessdataError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} finite number, "
                            f"got {value!r}")
    return float(value)


def check_images(images, name: str = "images") -> torch.Tensor:
    """Return ``images`` as a float32 ``(n, C, H, W)`` tensor (``(n, H, W)`` gets one channel; uint8 is
    scaled to [0, 1]), or raise one line naming the problem: not images, empty, NaN/inf."""
    if isinstance(images, np.ndarray):
        if images.dtype == object or not (np.issubdtype(images.dtype, np.number) or images.dtype == bool):
            raise LessdataError(f"{name} must be numeric, got dtype {images.dtype}")
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise LessdataError(f"{name} must be a tensor or array of images, got {type(images).__name__}")
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise LessdataError(f"{name} must be images shaped (n, H, W) or (n, C, H, W), got shape "
                            f"{tuple(images.shape)}")
    n, c, h, w = images.shape
    if n == 0 or min(c, h, w) == 0:
        raise LessdataError(f"{name} is empty (shape {tuple(images.shape)})")
    if c > 4 or h < 4 or w < 4:
        raise LessdataError(f"{name} of shape {tuple(images.shape)} do not look like images (n, C<=4, H>=4, W>=4)")
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    elif not images.is_floating_point():
        images = images.float()
    images = images.float()
    finite = torch.isfinite(images.reshape(n, -1)).all(1)
    if not bool(finite.all()):
        raise LessdataError(f"{name} contain NaN or infinite values (first in image {int((~finite).nonzero()[0])})")
    return images


def check_class_labels(labels, n: int, name: str = "labels") -> torch.Tensor:
    """Integer class labels ``0..K-1`` of length ``n`` as a long tensor."""
    arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise LessdataError(f"{name} must be 1-D with one label per image ({n}), got shape {arr.shape}")
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
            arr = arr.astype(np.int64)
        else:
            raise LessdataError(f"{name} must be integer class ids 0..K-1, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise LessdataError(f"{name} must be class ids >= 0, got {int(arr.min())}")
    return torch.as_tensor(arr.astype(np.int64))


def class_indices(labels: torch.Tensor, ipc: int, what: str = "images per class") -> list[torch.Tensor]:
    """Indices of each class ``0..K-1``; every class must have at least ``ipc`` members."""
    num_classes = int(labels.max()) + 1
    out = []
    for c in range(num_classes):
        idx = (labels == c).nonzero().flatten()
        if len(idx) < ipc:
            raise LessdataError(f"{what} {ipc} is larger than class {c}, which has {len(idx)} image(s)")
        out.append(idx)
    return out


def digest(*tensors: torch.Tensor) -> str:
    """A short content hash of tensors (to tell whether a checkpoint or buffer was made from the same data)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class FlatModel:
    """Evaluate ``model`` at a flat parameter vector (``functional_call``): the basis of trajectory matching.

    Only parameters are flattened; a model with buffers (BatchNorm running statistics) keeps its own, which is
    why the distillation ConvNet uses instance norm.

    Examples:
        >>> m = FlatModel(nn.Linear(3, 2))
        >>> m.num_params, m(m.flatten(), torch.zeros(1, 3)).shape
        (8, torch.Size([1, 2]))
    """

    def __init__(self, model: nn.Module):
        self.model = model
        named = [(k, p) for k, p in model.named_parameters()]
        if not named:
            raise LessdataError(f"model {type(model).__name__} has no parameters to distil against")
        self.names = [k for k, _ in named]
        self.shapes = [tuple(p.shape) for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.num_params = sum(self.numels)

    def flatten(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.model.parameters()]).clone()

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = torch.split(flat, self.numels)
        return {k: v.view(s) for k, v, s in zip(self.names, parts, self.shapes, strict=True)}

    def load(self, flat: torch.Tensor) -> nn.Module:
        with torch.no_grad():
            for p, v in zip(self.model.parameters(), torch.split(flat, self.numels), strict=True):
                p.copy_(v.view_as(p))
        return self.model

    def signature(self) -> list:
        return [[k, list(s)] for k, s in zip(self.names, self.shapes, strict=True)]

    def __call__(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(self.model, self.unflatten(flat), (x,))


# ----------------------------------------------------------------------------------------------------------
# differentiable augmentation (DSA family)

STRATEGIES = ("color", "crop", "cutout", "flip", "scale", "rotate")
RATIO_SCALE, RATIO_ROTATE, RATIO_CROP, RATIO_CUTOUT = 1.2, 15.0, 0.125, 0.5
BRIGHTNESS, SATURATION, CONTRAST, PROB_FLIP = 1.0, 2.0, 0.5, 0.5


def _rand(n: int, generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator).to(device)


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, align_corners=True)


def augment(x: torch.Tensor, generator: torch.Generator | None = None, strategy=STRATEGIES) -> torch.Tensor:
    """Apply one randomly chosen differentiable transform from ``strategy`` to the batch ``x`` (N, C, H, W).

    Random numbers come from ``generator`` (CPU); equal generator states give equal transforms.

    Examples:
        >>> x = torch.rand(4, 1, 8, 8, requires_grad=True)
        >>> augment(x, torch.Generator().manual_seed(0)).sum().backward(); x.grad.shape
        torch.Size([4, 1, 8, 8])
    """
    n, _, h, w = x.shape
    dev = x.device
    choice = strategy[int(torch.randint(len(strategy), (1,), generator=generator))]
    if choice == "color":
        x = x + (_rand(n, generator, dev) - 0.5).view(-1, 1, 1, 1) * BRIGHTNESS
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_rand(n, generator, dev) * SATURATION).view(-1, 1, 1, 1) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * (_rand(n, generator, dev) + CONTRAST).view(-1, 1, 1, 1) + mean
    if choice == "flip":
        flip = (_rand(n, generator, dev) < PROB_FLIP).view(-1, 1, 1, 1)
        return torch.where(flip, x.flip(3), x)
    if choice == "crop":  # translate by whole pixels, zero padding
        shift_x = torch.randint(-int(w * RATIO_CROP + 0.5), int(w * RATIO_CROP + 0.5) + 1, (n,), generator=generator)
        shift_y = torch.randint(-int(h * RATIO_CROP + 0.5), int(h * RATIO_CROP + 0.5) + 1, (n,), generator=generator)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, 0, 2] = shift_x.float() * 2 / (w - 1)
        theta[:, 1, 2] = shift_y.float() * 2 / (h - 1)
        return _warp(x, theta.to(dev))
    if choice == "cutout":
        ch, cw = int(h * RATIO_CUTOUT + 0.5), int(w * RATIO_CUTOUT + 0.5)
        cy = torch.randint(0, h + (1 - ch % 2), (n,), generator=generator).to(dev)
        cx = torch.randint(0, w + (1 - cw % 2), (n,), generator=generator).to(dev)
        ys = torch.arange(h, device=dev).view(1, h, 1)
        xs = torch.arange(w, device=dev).view(1, 1, w)
        inside = ((ys - cy.view(-1, 1, 1)).abs() < ch / 2) & ((xs - cx.view(-1, 1, 1)).abs() < cw / 2)
        return x * (~inside).unsqueeze(1).to(x.dtype)
    theta = torch.zeros(n, 2, 3)
    if choice == "scale":
        theta[:, 0, 0] = torch.rand(n, generator=generator) * (RATIO_SCALE - 1 / RATIO_SCALE) + 1 / RATIO_SCALE
        theta[:, 1, 1] = torch.rand(n, generator=generator) * (RATIO_SCALE - 1 / RATIO_SCALE) + 1 / RATIO_SCALE
    else:  # rotate
        angle = (torch.rand(n, generator=generator) - 0.5) * 2 * RATIO_ROTATE / 180 * math.pi
        theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle), torch.sin(-angle)
        theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle), torch.cos(angle)
    return _warp(x, theta.to(dev))


class ZCA:
    """ZCA whitening fitted on images (MTT's optional preprocessing; ``eps=0.1`` as in its kornia call).

    ``transform`` maps images to whitened images of the same shape; ``inverse`` maps back.
    """

    def __init__(self, mean: torch.Tensor, matrix: torch.Tensor, inverse: torch.Tensor):
        self.mean, self.matrix, self.inverse_matrix = mean, matrix, inverse

    @classmethod
    def fit(cls, images: torch.Tensor, eps: float = 0.1) -> ZCA:
        X = images.reshape(len(images), -1).double()
        mean = X.mean(0)
        Xc = X - mean
        cov = Xc.T @ Xc / len(X)
        s, U = torch.linalg.eigh(cov)
        s = s.clamp(min=0)
        matrix = U @ torch.diag(1.0 / torch.sqrt(s + eps)) @ U.T
        inverse = U @ torch.diag(torch.sqrt(s + eps)) @ U.T
        return cls(mean.float(), matrix.float(), inverse.float())

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.reshape(len(images), -1)
        return ((flat - self.mean.to(flat.device)) @ self.matrix.to(flat.device)).reshape(images.shape)

    def inverse(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.reshape(len(images), -1)
        return (flat @ self.inverse_matrix.to(flat.device) + self.mean.to(flat.device)).reshape(images.shape)

    def state(self) -> dict:
        return {"mean": self.mean, "matrix": self.matrix, "inverse": self.inverse_matrix}
