"""Augmented copies appended to an epoch, and the strong augmentation that makes them.

:class:`AugmentedView` turns a dataset of ``n`` examples into one of ``2n``: index ``i < n`` is example
``i`` as it is, index ``n + i`` is a freshly augmented copy of example ``i`` (a new random augmentation every
time it is read). An epoch that trains on "the data plus augmented copies of some of it" is then just a
:class:`~lessdata.Coreset` over the view, which :class:`~lessdata.training.CoresetLoader`,
:func:`~lessdata.training.fit` and the schedules already consume (:func:`appended_copies` builds it).

The augmentation is any ``augment(x) -> x'`` on a batch tensor (a generative model works); the result must
keep the batch's shape and be finite, or training stops with a :class:`~lessdata.LessdataError`.

The built-in :class:`TrivialAugment` is a batched torch version of TrivialAugment (Müller & Hutter, ICCV
2021, "TrivialAugment: Tuning-free Yet State-of-the-Art Data Augmentation"; torchvision's
``TrivialAugmentWide``): each image gets one operation drawn uniformly, at a strength drawn uniformly from 31
levels. Deliberate departures: it runs on float images in ``[0, 1]`` of any single-channel or multi-channel
size (no PIL), translations are relative (up to 32% of the side, the wide space's 32 pixels on a 100-pixel
reference), the colour operation is dropped for single-channel images, and equalize works on 256 bins. Use
:func:`torchvision_policy` to run torchvision's own policies (TrivialAugmentWide, RandAugment, AutoAugment)
where torchvision is installed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..coreset import Coreset
from ..data.torch_data import batch_fetcher
from ..errors import LessdataError

__all__ = ["AugmentedView", "TrivialAugment", "appended_copies", "check_augmented", "torchvision_policy"]

OPERATIONS = ("identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate", "brightness",
              "contrast", "sharpness", "posterize", "solarize", "autocontrast", "equalize")
LEVELS = 31


def check_augmented(x: torch.Tensor, out) -> torch.Tensor:
    """The augmentation's output, checked: a tensor of the input's shape with only finite values."""
    if not isinstance(out, torch.Tensor):
        raise LessdataError(f"the augmentation must return a tensor, got {type(out).__name__}")
    if out.shape != x.shape:
        raise LessdataError(f"the augmentation changed the batch shape from {tuple(x.shape)} to {tuple(out.shape)}")
    if out.is_floating_point() and not torch.isfinite(out).all():
        raise LessdataError("the augmentation returned NaN or infinite values")
    return out


class AugmentedView(Dataset):
    """``dataset`` (``n`` examples yielding ``(x, y)``) followed by ``n`` augmented copies: ``2n`` in all.

    ``view[i]`` is ``dataset[i]`` for ``i < n`` and ``(augment(x), y)`` of example ``i - n`` otherwise.
    Batches are fetched in one go (:func:`~lessdata.data.torch_data.batch_fetcher`) and the copies in a
    batch augmented together, so ``augment`` receives a batch ``(b, ...)``.
    """

    def __init__(self, dataset, augment: Callable[[torch.Tensor], torch.Tensor]):
        if not callable(augment):
            raise LessdataError(f"augment must be callable (batch -> batch), got {type(augment).__name__}")
        self.dataset, self.augment = dataset, augment
        self.n = len(dataset)
        self._fetch = batch_fetcher(dataset)

    def __len__(self) -> int:
        return 2 * self.n

    def __getitem__(self, i):
        return self.__getitems__([int(i)])[0]

    def __getitems__(self, indices):
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= 2 * self.n):
            raise LessdataError(f"index out of range for an augmented view of 2 x {self.n} examples")
        x, y = self._fetch(idx % self.n)[:2]
        copies = idx >= self.n
        if copies.any():
            x = x.clone()
            x[copies] = check_augmented(x[copies], self.augment(x[copies]))
        return list(zip(x.unbind(0), y.unbind(0), strict=True))


def appended_copies(n: int, main, copies, main_weights=None, *, method: str = "", params=None,
                    seed: int | None = None) -> Coreset:
    """The epoch "``main`` examples, plus one augmented copy of each of ``copies``" as a Coreset over an
    :class:`AugmentedView` of ``n`` examples.

    ``main_weights`` (default ones) are rescaled to mean 1 over the main part, as the coreset-augmentation
    reference does; copies have weight 1. The partition marks the main part (0) and the copies (1).

    Examples:
        >>> cs = appended_copies(5, main=[0, 1, 2, 3, 4], copies=[1, 3])
        >>> cs.indices.tolist(), cs.n
        ([0, 1, 2, 3, 4, 6, 8], 10)
    """
    main = np.asarray(main, dtype=np.int64).reshape(-1)
    copies = np.asarray(copies, dtype=np.int64).reshape(-1)
    for name, arr in (("main", main), ("copies", copies)):
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise LessdataError(f"{name} indices must lie in [0, {n})")
    w = np.ones(main.size) if main_weights is None else np.asarray(main_weights, dtype=np.float64).reshape(-1)
    if w.shape != main.shape or not np.isfinite(w).all() or (w < 0).any() or (w.size and w.sum() <= 0):
        raise LessdataError("main_weights must be finite, non-negative, not all zero, one per main index")
    w = w / w.mean() if w.size else w
    return Coreset(
        indices=np.concatenate([main, copies + n]),
        weights=np.concatenate([w, np.ones(copies.size)]),
        partition=np.concatenate([np.zeros(main.size, np.int64), np.ones(copies.size, np.int64)]),
        method=method, params=dict(params or {}), seed=seed, n=2 * n,
    )


class TrivialAugment:
    """TrivialAugment on a batch of float images in ``[0, 1]``, shaped ``(b, H, W)`` or ``(b, C, H, W)``.

    Randomness comes from ``generator`` (a ``torch.Generator``) or torch's global generator, which
    :func:`~lessdata.training.fit` seeds.

    Examples:
        >>> x = torch.rand(4, 28, 28)
        >>> TrivialAugment(generator=torch.Generator().manual_seed(0))(x).shape
        torch.Size([4, 28, 28])
    """

    def __init__(self, operations=OPERATIONS, generator: torch.Generator | None = None):
        unknown = [op for op in operations if op not in OPERATIONS]
        if unknown or not operations:
            raise LessdataError(f"operations must be a non-empty list among {', '.join(OPERATIONS)}; got {unknown}")
        self.operations = tuple(operations)
        self.generator = generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim not in (3, 4) or not x.is_floating_point():
            raise LessdataError(f"TrivialAugment needs float images (b, H, W) or (b, C, H, W), got {tuple(x.shape)}")
        images = x if x.ndim == 4 else x.unsqueeze(1)
        b = images.shape[0]
        ops = torch.randint(len(self.operations), (b,), generator=self.generator)
        level = torch.randint(LEVELS, (b,), generator=self.generator).float() / (LEVELS - 1)
        sign = torch.where(torch.rand(b, generator=self.generator) < 0.5, -1.0, 1.0)
        out = images.clone()
        for k, name in enumerate(self.operations):
            rows = torch.nonzero(ops == k).flatten()
            if rows.numel() and name != "identity":
                out[rows] = _apply(name, images[rows], level[rows], sign[rows]).clamp_(0.0, 1.0)
        return out if x.ndim == 4 else out.squeeze(1)


def _apply(name: str, img: torch.Tensor, level: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    b = img.shape[0]
    shape = (b, 1, 1, 1)
    if name in ("shear_x", "shear_y", "translate_x", "translate_y", "rotate"):
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        if name == "shear_x":
            theta[:, 0, 1] = sign * level * 0.99
        elif name == "shear_y":
            theta[:, 1, 0] = sign * level * 0.99
        elif name == "translate_x":
            theta[:, 0, 2] = sign * level * 0.32 * 2  # grid coordinates span 2 per side
        elif name == "translate_y":
            theta[:, 1, 2] = sign * level * 0.32 * 2
        else:
            angle = sign * level * math.radians(135.0)
            theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle), -torch.sin(angle)
            theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle), torch.cos(angle)
        grid = F.affine_grid(theta.to(img), list(img.shape), align_corners=False)
        return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    factor = (1.0 + sign * level * 0.99).view(shape).to(img)
    if name == "brightness":
        return img * factor
    if name == "contrast":
        mean = img.mean(dim=(1, 2, 3), keepdim=True)
        return mean + factor * (img - mean)
    if name == "sharpness":
        kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], dtype=img.dtype) / 13.0
        c = img.shape[1]
        smooth = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), kernel.expand(c, 1, 3, 3), groups=c)
        return smooth + factor * (img - smooth)
    if name == "posterize":
        bits = (8 - (level * 6).round()).view(shape).to(img)  # 8 down to 2 bits
        steps = 2.0 ** bits
        return torch.floor(img * (steps - 1e-6)) / (steps - 1).clamp(min=1)
    if name == "solarize":
        threshold = (1.0 - level).view(shape).to(img)
        return torch.where(img >= threshold, 1.0 - img, img)
    if name == "autocontrast":
        low = img.amin(dim=(2, 3), keepdim=True)
        high = img.amax(dim=(2, 3), keepdim=True)
        span = high - low
        return torch.where(span > 0, (img - low) / span.clamp(min=1e-12), img)
    if name == "equalize":
        return _equalize(img)
    raise LessdataError(f"unknown augmentation operation {name!r}")


def _equalize(img: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each channel of each image over 256 levels."""
    b, c, h, w = img.shape
    levels = (img * 255).round().clamp(0, 255).long().view(b * c, h * w)
    hist = torch.zeros(b * c, 256, dtype=img.dtype).scatter_add_(1, levels, torch.ones_like(levels, dtype=img.dtype))
    cdf = hist.cumsum(1)
    first = cdf.gather(1, (hist > 0).float().argmax(1, keepdim=True))
    scale = (h * w - first).clamp(min=1)
    mapped = ((cdf - first) / scale).clamp(0, 1)
    return mapped.gather(1, levels).view(b, c, h, w)


def torchvision_policy(name: str = "trivialaugment") -> Callable[[torch.Tensor], torch.Tensor]:
    """torchvision's ``TrivialAugmentWide``, ``RandAugment`` or ``AutoAugment`` as a batch augmentation on
    float images in ``[0, 1]`` (converted to uint8 and back, one image at a time). Needs torchvision."""
    try:
        from torchvision.transforms import v2
    except Exception as exc:  # missing, or a build that does not match the installed torch
        raise LessdataError(f"torchvision policies need a working torchvision ({type(exc).__name__}: {exc}); "
                            "use TrivialAugment() instead") from None
    policies = {"trivialaugment": v2.TrivialAugmentWide, "randaugment": v2.RandAugment,
                "autoaugment": v2.AutoAugment}
    if name not in policies:
        raise LessdataError(f"unknown torchvision policy {name!r}; choose one of {', '.join(policies)}")
    policy = policies[name]()

    def augment(x: torch.Tensor) -> torch.Tensor:
        images = x if x.ndim == 4 else x.unsqueeze(1)
        as_uint8 = (images.clamp(0, 1) * 255).round().to(torch.uint8)
        out = torch.stack([policy(img) for img in as_uint8]).float() / 255.0
        return out if x.ndim == 4 else out.squeeze(1)

    return augment
