"""Images as tensors on the training device, and SimCLR's batched augmentations (no PIL)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import LessdataError

__all__ = ["augment", "image_tensor"]


def image_tensor(images, device: str | torch.device = "cpu") -> torch.Tensor:
    """Images as a float32 ``(n, C, H, W)`` tensor on ``device``.

    Accepts numpy arrays or tensors of shape ``(n, H, W)``, ``(n, C, H, W)`` or flat square ``(n, H*W)``;
    ``uint8`` images are scaled to ``[0, 1]``, other numeric types are cast.

    Examples:
        >>> image_tensor(np.zeros((2, 28, 28), dtype=np.uint8)).shape
        torch.Size([2, 1, 28, 28])
    """
    if isinstance(images, torch.Tensor):
        x = images.detach()
    else:
        arr = np.asarray(images)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise LessdataError(f"images must be a numeric array, got dtype {arr.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(arr))
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise LessdataError(f"flat images must have a square number of pixels, got {x.shape[1]}")
        x = x.reshape(len(x), 1, side, side)
    elif x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim != 4:
        raise LessdataError(f"images must have shape (n, H, W), (n, C, H, W) or (n, H*W), got {tuple(x.shape)}")
    if 0 in x.shape:
        raise LessdataError(f"images are empty (shape {tuple(x.shape)})")
    x = x.to(device)
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    if not torch.isfinite(x).all():
        raise LessdataError("images contain NaN or infinite values")
    return x.contiguous()


def augment(x: torch.Tensor, generator: torch.Generator | None = None, *, scale=(0.5, 1.0),
            ratio=(3 / 4, 4 / 3), flip: float = 0.5, jitter: float = 0.4, noise: float = 0.1) -> torch.Tensor:
    """One random view of each image of a batch ``(n, C, H, W)``, all on the batch's device (no PIL).

    Per image: a random resized crop (area share in ``scale``, aspect ratio in ``ratio``, resampled
    bilinearly to the full size), a horizontal flip with probability ``flip``, brightness and contrast
    jitter (factors in ``1 ± jitter``) and Gaussian noise with a standard deviation drawn from
    ``[0, noise]``: SimCLR's augmentations (Chen et al., 2020) for grayscale images. Returns a new tensor of
    the same shape and dtype.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> v = augment(torch.rand(4, 1, 28, 28), g)
        >>> v.shape, v.dtype
        (torch.Size([4, 1, 28, 28]), torch.float32)
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise LessdataError("augment needs a floating-point image batch of shape (n, C, H, W); "
                            "convert images with image_tensor() first")
    if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
        raise LessdataError(f"scale must satisfy 0 < min <= max <= 1 and ratio 0 < min <= max, got {scale}, "
                            f"{ratio}")
    n, dev = x.shape[0], x.device
    u = torch.rand(n, 7, generator=generator, device=dev)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    # affine_grid maps output coordinates in [-1, 1] to input ones: a crop of width sx, centred at tx
    sx = torch.sqrt(area * torch.exp(log_r)).clamp(max=1.0)
    sy = torch.sqrt(area / torch.exp(log_r)).clamp(max=1.0)
    tx, ty = (1 - sx) * (2 * u[:, 2] - 1), (1 - sy) * (2 * u[:, 3] - 1)
    sign = torch.where(u[:, 4] < flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = sx * sign, tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    contrast = (1 + jitter * (2 * u[:, 5] - 1)).view(n, 1, 1, 1).to(x.dtype)
    brightness = (1 + jitter * (2 * u[:, 6] - 1)).view(n, 1, 1, 1).to(x.dtype)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * contrast + mean) * brightness
    sigma = noise * torch.rand(n, 1, 1, 1, generator=generator, device=dev, dtype=x.dtype)
    return out + sigma * torch.randn(out.shape, generator=generator, device=dev, dtype=x.dtype)
