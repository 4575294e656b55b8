"""Expert trajectories: networks trained on real data with plain SGD, flattened parameters saved every epoch.

As in MTT (Cazenavette et al., CVPR 2022; reference ``GeorgeCazenavette/mtt-distillation/buffer.py``): SGD at a
constant learning rate (0.01), no momentum, no weight decay, batch 256, DSA augmentation of the real images,
the parameters recorded at initialisation and after each epoch. The loss is cross-entropy on class labels,
or MSE on target representations (MKDT's knowledge-distillation students).

On disk a buffer is a folder with one file per expert (``expert_0000.pt``...), each holding the trajectory
``(epochs + 1, num_params)`` and a signature (architecture, input shape, target kind, training settings).
A rerun trains only the missing experts (expert ``i`` is seeded with ``seed + i``, so an interrupted and a
straight run give identical files); a buffer whose signature differs is refused with one clear line.

Departures from the reference: one file per expert instead of ten experts per file (so an interrupted run
loses at most one expert); the parameters are stored as one float32 matrix per expert.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .._io import atomic_path
from ..errors import LessdataError
from ._core import FlatModel, augment, check_images, positive_float, positive_int, resolve_device

FORMAT = "lessdata-expert-v1"


def _signature(model: nn.Module, image_shape, target_kind: str, target_dim: int, settings: dict) -> dict:
    return {"architecture": f"{type(model).__module__}.{type(model).__qualname__}",
            "parameters": FlatModel(model).signature(), "image_shape": list(image_shape),
            "target_kind": target_kind, "target_dim": int(target_dim), "settings": settings}


def _describe_difference(old: dict, new: dict) -> str:
    for key, what in (("architecture", "architecture"), ("parameters", "parameter shapes"),
                      ("image_shape", "image shape"), ("target_kind", "targets"), ("target_dim", "target size"),
                      ("settings", "training settings")):
        if old.get(key) != new.get(key):
            return f"{what} {old.get(key)} (buffer) vs {new.get(key)} (now)"
    return "unknown difference"


@dataclass
class ExpertBuffer:
    """Expert trajectories loaded from a buffer folder: ``trajectories[i]`` is ``(epochs + 1, num_params)``."""

    path: Path
    trajectories: list[torch.Tensor]
    signature: dict

    @property
    def epochs(self) -> int:
        return min(len(t) for t in self.trajectories) - 1

    def check_horizon(self, max_start_epoch: int, expert_epochs: int) -> None:
        """Refuse a buffer too short to hold a start epoch up to ``max_start_epoch`` plus ``expert_epochs``."""
        if max_start_epoch + expert_epochs > self.epochs:
            raise LessdataError(
                f"buffer {self.path} has {self.epochs} epoch(s) per expert, too short for max_start_epoch "
                f"{max_start_epoch} + expert_epochs {expert_epochs}: train experts for at least "
                f"{max_start_epoch + expert_epochs} epochs or lower those settings")

    def check_model(self, model: nn.Module, image_shape) -> None:
        """Refuse a buffer built for another architecture or another image shape."""
        got = {"architecture": f"{type(model).__module__}.{type(model).__qualname__}",
               "parameters": FlatModel(model).signature(), "image_shape": list(image_shape)}
        for key in got:
            if self.signature[key] != got[key]:
                raise LessdataError(f"buffer {self.path} was built for another model or data: "
                                    f"{_describe_difference(self.signature, {**self.signature, **got})}")


def _read_expert(path: Path) -> dict:
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LessdataError(f"cannot read expert file {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise LessdataError(f"{path} is not a lessdata expert file")
    blob["signature"] = json.loads(blob["signature"])
    return blob


def load_buffer(path) -> ExpertBuffer:
    """Load every ``expert_*.pt`` of a buffer folder; all must share one signature.

    Examples:
        >>> buf = load_buffer("buffer/")                      # doctest: +SKIP
        >>> len(buf.trajectories), buf.epochs                 # doctest: +SKIP
        (5, 6)
    """
    path = Path(path)
    if not path.is_dir():
        raise LessdataError(f"buffer {path} is not a folder (train experts into it first)")
    files = sorted(path.glob("expert_*.pt"))
    if not files:
        raise LessdataError(f"buffer {path} holds no expert_*.pt files")
    trajectories, signature = [], None
    for f in files:
        blob = _read_expert(f)
        if signature is not None and blob["signature"] != signature:
            raise LessdataError(f"{f} was trained differently from the rest of buffer {path}: "
                                f"{_describe_difference(signature, blob['signature'])}")
        signature = blob["signature"]
        trajectories.append(blob["trajectory"])
    return ExpertBuffer(path, trajectories, signature)


def _targets(targets, n: int) -> tuple[torch.Tensor, str, int]:
    if not isinstance(targets, torch.Tensor):
        targets = torch.as_tensor(targets)
    if targets.dim() == 1 and not targets.is_floating_point():
        if len(targets) != n:
            raise LessdataError(f"labels have length {len(targets)} but there are {n} images")
        return targets.long(), "labels", int(targets.max()) + 1
    if targets.dim() == 2 and targets.is_floating_point():
        if len(targets) != n:
            raise LessdataError(f"target representations have {len(targets)} rows but there are {n} images")
        if not bool(torch.isfinite(targets).all()):
            raise LessdataError("target representations contain NaN or infinite values")
        return targets.float(), "representations", targets.shape[1]
    raise LessdataError("targets must be integer class labels (n,) or float representations (n, d), got "
                        f"{targets.dtype} of shape {tuple(targets.shape)}")


def inner_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for class labels, mean squared error for target representations (MKDT)."""
    if targets.is_floating_point():
        return F.mse_loss(outputs, targets)
    return F.cross_entropy(outputs, targets)


def train_experts(images: torch.Tensor, targets, model_factory: Callable[[], nn.Module], buffer_dir, *,
                  num_experts: int = 100, epochs: int = 50, lr: float = 0.01, batch_size: int = 256,
                  augment_images: bool = True, seed: int = 0, start: Callable[[nn.Module, int], None] | None = None,
                  start_tag: str = "", device=None, progress=None) -> ExpertBuffer:
    """Train ``num_experts`` networks from ``model_factory()`` on (``images``, ``targets``) and save their
    trajectories to ``buffer_dir``; experts already there (same signature) are kept, so a rerun resumes.

    Args:
        images: ``(n, C, H, W)`` float images (already normalised / whitened as the distillation will see them).
        targets: class labels ``(n,)`` (cross-entropy) or target representations ``(n, d)`` (MSE).
        model_factory: builds a fresh network; called with the torch seed set to ``seed + i``.
        num_experts, epochs, lr, batch_size: MTT's defaults (100, 50, 0.01, 256).
        augment_images: DSA augmentation of each real batch (on in MTT's buffer.py).
        start: optional hook ``start(model, i)`` run on each fresh network before its trajectory starts (PDD
            trains it on the earlier stages' synthetic images there); ``start_tag`` names it in the signature.
        device: ``"cpu"``, ``"cuda"``, ``None`` (CUDA when present).
        progress: tqdm-compatible object, advanced once per epoch.

    Raises:
        LessdataError: on bad input or a buffer built for another model, data shape or settings.
    """
    images = check_images(images)
    targets, kind, dim = _targets(targets, len(images))
    num_experts = positive_int(num_experts, "num_experts")
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    lr = positive_float(lr, "lr")
    dev = resolve_device(device)
    buffer_dir = Path(buffer_dir)
    if buffer_dir.exists() and not buffer_dir.is_dir():
        raise LessdataError(f"buffer {buffer_dir} exists and is not a folder")
    settings = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "augment": bool(augment_images),
                "seed": int(seed), "start": start_tag, "n": len(images)}
    probe = model_factory()
    signature = _signature(probe, images.shape[1:], kind, dim, settings)
    existing = sorted(buffer_dir.glob("expert_*.pt")) if buffer_dir.is_dir() else []
    for f in existing:
        old = _read_expert(f)["signature"]
        if old != signature:
            raise LessdataError(f"buffer {buffer_dir} was built differently ({_describe_difference(old, signature)}); "
                                "use another folder or delete it")
    if progress is not None:
        progress.total = num_experts * epochs
    images_dev, targets_dev = images.to(dev), targets.to(dev)
    for i in range(num_experts):
        out = buffer_dir / f"expert_{i:04d}.pt"
        if out.exists():
            if progress is not None:
                progress.update(epochs)
            continue
        trajectory = _train_one(images_dev, targets_dev, model_factory, seed + i, epochs, lr, batch_size,
                                augment_images, start, i, dev, progress)
        with atomic_path(out) as tmp:
            torch.save({"format": FORMAT, "signature": json.dumps(signature), "trajectory": trajectory}, tmp)
    return load_buffer(buffer_dir)


def _train_one(images, targets, model_factory, seed, epochs, lr, batch_size, augment_images, start, index, dev,
               progress) -> torch.Tensor:
    torch.manual_seed(seed)
    model = model_factory().to(dev)
    if start is not None:
        start(model, index)
    model.train()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0, weight_decay=0.0)
    flat = FlatModel(model)
    snapshots = [flat.flatten().cpu()]
    n = len(images)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(dev)
        for batch in torch.split(order, batch_size):
            x = images[batch]
            if augment_images:
                x = augment(x, generator)
            loss = inner_loss(model(x), targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        snapshots.append(flat.flatten().cpu())
        if progress is not None:
            progress.update(1)
    return torch.stack(snapshots)
