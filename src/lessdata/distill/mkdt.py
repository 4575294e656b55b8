"""MKDT: dataset distillation for self-supervised pre-training via knowledge distillation (Joshi, Ni &
Mirzasoleiman, ICLR 2025, "Dataset Distillation via Knowledge Distillation: Towards Efficient
Self-Supervised Pre-training of Deep Networks"); checked against the authors' code
(``sjoshi804/mkdt-data-distill-ssl``, ``src/mkdt/distill.py``, ``buffer.py``; also published as
``jiayini1119/MKDT``).

1. A teacher encoder trained with SSL (any ``nn.Module`` mapping images to vectors) gives each real image a
   target representation.
2. Students (the distillation ConvNet with a ``d``-dimensional head) regress those targets with MSE; their
   trajectories form the buffer (:func:`train_experts` with float targets).
3. Initialisation: the ``size`` real images with the **highest** KD loss (student MSE to the teacher,
   averaged over the experts' final networks). The paper finds the high-loss subset gives better distilled
   sets than random or low-loss ones: easy images are fitted early and their trajectories carry little
   information about later training, while hard ones keep driving the parameters.
4. Trajectory matching with the MSE inner loss optimises images **and** their target representations
   (initialised to the teacher's) and the step size.
5. Evaluation (:func:`evaluate_mkdt`): pre-train a fresh encoder with KD (MSE to the distilled targets) on the
   distilled set, then fit a linear probe on its frozen features with 1% / 5% of the labels.

Reference defaults used by :meth:`MKDTConfig`: 40 unrolled steps, 5 expert epochs, max start epoch 5, pixel lr
1000, step-size lr 1e-4, starting step size 0.1, target lr 1, ``batch_syn`` 256. The reference's
``--no_aug`` flag is ``type=bool`` with default ``True``, so augmentation during distillation is always off
there; we keep it off by default (``augment=False``) and say so.

Departures: the linear probe is full-batch L-BFGS logistic regression on standardised features (the reference
trains a linear layer with SGD); no warm-up of the KD students' learning rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LessdataError
from ..training import probe_accuracy
from ._core import FlatModel, check_class_labels, check_images, positive_int, resolve_device
from .buffer import ExpertBuffer
from .distilled import DistilledSet
from .evaluate import EvaluationReport, train_network
from .mtt import MTTConfig, match_trajectories


def mkdt_config(**overrides) -> MTTConfig:
    """The reference's MKDT settings (see the module docstring), then ``overrides``."""
    base = dict(ipc=1, syn_steps=40, expert_epochs=5, max_start_epoch=5, lr_img=1000.0, lr_lr=1e-4, lr_teacher=0.1,
                lr_targets=1.0, batch_syn=256, augment=False)
    return MTTConfig(**{**base, **overrides})


@torch.no_grad()
def teacher_representations(encoder: nn.Module, images, *, batch_size: int = 512, device=None) -> torch.Tensor:
    """The teacher's representation of every image, ``(n, d)`` float32 on the CPU."""
    images = check_images(images)
    dev = resolve_device(device)
    encoder = encoder.to(dev).eval()
    out = [encoder(images[i:i + batch_size].to(dev)).float().cpu() for i in range(0, len(images), batch_size)]
    reps = torch.cat(out)
    if reps.dim() != 2 or len(reps) != len(images):
        raise LessdataError(f"the teacher must map a batch of images to (batch, d) vectors, got {tuple(reps.shape)}")
    if not bool(torch.isfinite(reps).all()):
        raise LessdataError("the teacher's representations contain NaN or infinite values")
    return reps


@torch.no_grad()
def kd_losses(buffer: ExpertBuffer, model_factory: Callable[[], nn.Module], images, targets, *,
              batch_size: int = 1024, device=None) -> torch.Tensor:
    """Per-image KD loss (MSE to ``targets``) averaged over the buffer's experts at their last epoch."""
    dev = resolve_device(device)
    images = check_images(images)
    net = FlatModel(model_factory().to(dev))
    buffer.check_model(net.model, images.shape[1:])
    total = torch.zeros(len(images))
    for trajectory in buffer.trajectories:
        model = net.load(trajectory[-1].to(dev)).eval()
        for i in range(0, len(images), batch_size):
            out = model(images[i:i + batch_size].to(dev)).cpu()
            total[i:i + batch_size] += F.mse_loss(out, targets[i:i + batch_size], reduction="none").mean(1)
    return total / len(buffer.trajectories)


def distill_mkdt(images, targets, buffer: ExpertBuffer, model_factory: Callable[[], nn.Module], size: int,
                 config: MTTConfig | None = None, *, seed: int = 0, device=None, progress=None, checkpoint=None,
                 checkpoint_every: int = 100, resume: bool = False) -> DistilledSet:
    """Distil unlabeled ``images`` with teacher ``targets`` (``(n, d)``) into ``size`` images and learned
    target representations. ``buffer`` holds KD-student trajectories (:func:`train_experts` on the same
    images and targets); ``config.ipc`` is ignored (``size`` is the total)."""
    config = (config or mkdt_config()).validate()
    images = check_images(images)
    if not isinstance(targets, torch.Tensor) or targets.dim() != 2 or not targets.is_floating_point():
        raise LessdataError("MKDT targets must be float teacher representations shaped (n, d)")
    if len(targets) != len(images):
        raise LessdataError(f"targets have {len(targets)} rows but there are {len(images)} images")
    size = positive_int(size, "size")
    if size > len(images):
        raise LessdataError(f"size {size} is larger than the {len(images)} images")
    losses = kd_losses(buffer, model_factory, images, targets, device=device)
    picks = torch.argsort(losses, descending=True)[:size]
    result = match_trajectories(images[picks], targets[picks], buffer, model_factory, config, learn_targets=True,
                                seed=seed, device=device, progress=progress, checkpoint=checkpoint,
                                checkpoint_every=checkpoint_every, resume=resume, fingerprint={"method": "mkdt"})
    provenance = {"method": "mkdt", "size": size, "settings": asdict(config), "seed": seed,
                  "source_shape": list(images.shape), "buffer": str(buffer.path), "seconds": result["seconds"],
                  "peak_memory_bytes": result["peak_memory_bytes"], "peak_memory_kind": result["peak_memory_kind"],
                  "init_indices": picks.tolist(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return DistilledSet(result["images"], targets=result["targets"], learning_rates=torch.tensor([result["lr"]]),
                        provenance=provenance)


@torch.no_grad()
def _features(encoder: nn.Module, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    dev = next(encoder.parameters()).device
    encoder.eval()
    batches = range(0, len(images), batch_size)
    return torch.cat([encoder(images[i:i + batch_size].to(dev)).float().cpu() for i in batches])


def linear_probe_accuracy(encoder: nn.Module, train_images, train_labels, test_images, test_labels, *,
                          weight_decay: float = 1e-4, max_iter: int = 200) -> float:
    """Test accuracy of multinomial logistic regression (L-BFGS, L2 ``weight_decay``) on frozen, standardised
    ``encoder`` features."""
    Z, Zt = _features(encoder, train_images), _features(encoder, test_images)
    return probe_accuracy(Z, train_labels, Zt, test_labels, weight_decay=weight_decay, max_iter=max_iter)


def label_fraction_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A class-balanced random ``fraction`` of the labelled images (at least one per class)."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for c in range(int(labels.max()) + 1):
        idx = (labels == c).nonzero().flatten()
        k = max(1, round(fraction * len(idx)))
        out.append(idx[torch.randperm(len(idx), generator=generator)[:k]])
    return torch.cat(out)


def evaluate_mkdt(pretrain_sets: dict, model_factory: Callable[[], nn.Module],
                  encoder_of: Callable[[nn.Module], nn.Module], real_images, real_labels, test_images, test_labels, *,
                  label_fractions: Sequence[float] = (0.01, 0.05),
                  seeds: Sequence[int] = (0, 1, 2), epochs: int = 20, lr: float | None = None,
                  device=None) -> EvaluationReport:
    """Pre-train one encoder per seed on each set of ``pretrain_sets`` (name -> :class:`DistilledSet` with
    targets, or ``None`` for no pre-training), then linear-probe it with each fraction of the labels.

    ``encoder_of(model)`` returns the part of a trained model whose output the probe reads (e.g. the ConvNet's
    ``features`` flattened). KD pre-training: MSE to the set's targets, at its learned step size (or ``lr``).
    Report keys: ``"{name}@{fraction}"``.
    """
    real_images = check_images(real_images, "real images")
    real_labels = check_class_labels(real_labels, len(real_images), "real labels")
    test_images = check_images(test_images, "test images")
    test_labels = check_class_labels(test_labels, len(test_images), "test labels")
    report = EvaluationReport()
    for seed in seeds:
        row = {}
        for name, ds in pretrain_sets.items():
            if ds is None:
                torch.manual_seed(seed)
                model = model_factory().to(resolve_device(device))
            else:
                if ds.targets is None:
                    raise LessdataError(f"pre-training set {name!r} has no target representations")
                model = train_network(ds.images, ds.targets, model_factory,
                                      lr=lr if lr is not None else ds.learning_rates.tolist()[0], epochs=epochs,
                                      augment_images=True, seed=seed, device=device)
            encoder = encoder_of(model)
            for fraction in label_fractions:
                idx = label_fraction_subset(real_labels, fraction, seed)
                row[f"{name}@{fraction:g}"] = linear_probe_accuracy(encoder, real_images[idx], real_labels[idx],
                                                                    test_images, test_labels)
        report.add(**row)
    return report
