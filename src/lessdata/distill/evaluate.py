"""Fair evaluation of a distilled set: fresh networks trained under one protocol on the synthetic set and on
random real subsets with the same images per class, and DD-Ranking's scores (Li et al., 2025, "DD-Ranking:
Rethinking the Evaluation of Dataset Distillation"; reference ``NUS-HPC-AI-Lab/DD-Ranking``,
``ddranking/metrics/``).

Protocol (MTT's ``evaluate_synset``): SGD with momentum 0.9, weight decay 5e-4, batch 256, the learning rate
divided by 10 halfway, DSA augmentation, test accuracy at the end. Distilled sets train at their learned step
size; real subsets at ``random_lr`` (0.01, the experts' rate). A PDD set trains one network stage by stage on
the cumulative unions, each stage with its own learned step size.

Scores, on accuracies as **fractions** in [0, 1]:

- HLR = acc(full real data) − acc(distilled), hard labels (lower is better);
- IOR = acc(distilled) − acc(random real subset of the same size) (higher is better);
- LRS = (exp(λ·IOR − (1 − λ)·HLR) − e⁻¹) / (e − e⁻¹), λ = 0.5, in [0, 1] since IOR, HLR ∈ [−1, 1];
- ARS = (exp(λ·IOR_aug + (1 − λ)·IOR_no-aug) − e⁻¹) / (e − e⁻¹), λ = 0.5.

DD-Ranking's own code computes HLR/IOR from accuracies in percent and feeds them to the same exponential,
so its LRS/ARS leave [0, 1] (an IOR of 20 points gives exp(10)); we use fractions, which keeps the scores
in [0, 1] as the paper intends. Departures: no learning-rate search for the random subsets (one fixed rate,
the experts'), test accuracy after the last epoch rather than the best of the last 20% of epochs, and the
full-data accuracy is supplied by the caller (e.g. the experts' final test accuracy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import LessdataError
from ._core import augment, check_class_labels, check_images, positive_float, positive_int, resolve_device
from .buffer import inner_loss
from .distilled import DistilledSet

_E, _INV_E = math.e, math.exp(-1)


def _fraction(value, name: str, low: float = 0.0) -> float:
    v = float(value)
    if not math.isfinite(v) or not (low <= v <= 1.0):
        raise LessdataError(f"{name} must be in [{low:g}, 1] (accuracies are fractions, not percent), got {value!r}")
    return v


def hard_label_recovery(full_accuracy: float, distilled_accuracy: float) -> float:
    """HLR = full-data accuracy − distilled accuracy (fractions)."""
    return _fraction(full_accuracy, "full_accuracy") - _fraction(distilled_accuracy, "distilled_accuracy")


def improvement_over_random(distilled_accuracy: float, random_accuracy: float) -> float:
    """IOR = distilled accuracy − random-subset accuracy (fractions)."""
    return _fraction(distilled_accuracy, "distilled_accuracy") - _fraction(random_accuracy, "random_accuracy")


def _exp_normalise(x: float) -> float:
    return (math.exp(x) - _INV_E) / (_E - _INV_E)


def label_robust_score(hlr: float, ior: float, weight: float = 0.5) -> float:
    """LRS = (exp(w·IOR − (1−w)·HLR) − e⁻¹) / (e − e⁻¹); HLR, IOR are differences of fractions.

    Examples:
        >>> round(label_robust_score(0.0, 0.0), 4)    # distilled = full = random
        0.2689
    """
    w = _fraction(weight, "weight")
    return _exp_normalise(w * _fraction(ior, "IOR", -1.0) - (1 - w) * _fraction(hlr, "HLR", -1.0))


def augmentation_robust_score(ior_with_aug: float, ior_without_aug: float, weight: float = 0.5) -> float:
    """ARS = (exp(w·IOR_aug + (1−w)·IOR_no-aug) − e⁻¹) / (e − e⁻¹)."""
    w = _fraction(weight, "weight")
    return _exp_normalise(w * _fraction(ior_with_aug, "IOR with augmentation", -1.0)
                          + (1 - w) * _fraction(ior_without_aug, "IOR without augmentation", -1.0))


def train_network(images: torch.Tensor, targets: torch.Tensor, model_factory: Callable[[], nn.Module], *,
                  lr: float | Sequence[float], epochs: int, stages: torch.Tensor | None = None,
                  batch_size: int = 256, momentum: float = 0.9, weight_decay: float = 5e-4,
                  augment_images: bool = True, seed: int = 0, device=None, model: nn.Module | None = None) -> nn.Module:
    """Train a fresh ``model_factory()`` (or ``model``) on (``images``, ``targets``): labels -> cross-entropy,
    float targets -> MSE. With ``stages``, stage ``k`` trains ``epochs`` epochs on the union of stages
    ``0..k`` at ``lr[k]`` (PDD's evaluation); the learning rate drops 10x halfway through each stage."""
    dev = resolve_device(device)
    epochs = positive_int(epochs, "epochs")
    lrs = [float(x) for x in (lr if isinstance(lr, (list, tuple, np.ndarray, torch.Tensor)) else [lr])]
    stages = torch.zeros(len(images), dtype=torch.long) if stages is None else stages.cpu()
    if int(stages.max()) + 1 != len(lrs):
        raise LessdataError(f"{int(stages.max()) + 1} stage(s) but {len(lrs)} learning rate(s)")
    torch.manual_seed(seed)
    net = (model if model is not None else model_factory()).to(dev)
    net.train()
    generator = torch.Generator().manual_seed(seed)
    images, targets = images.to(dev), targets.to(dev)
    for k, stage_lr in enumerate(lrs):
        rows = (stages <= k).nonzero().flatten()
        optimizer = torch.optim.SGD(net.parameters(), lr=positive_float(stage_lr, "learning rate"),
                                    momentum=momentum, weight_decay=weight_decay)
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, [max(1, epochs // 2)], gamma=0.1)
        for _ in range(epochs):
            order = rows[torch.randperm(len(rows), generator=generator)].to(dev)
            for batch in torch.split(order, batch_size):
                x = images[batch]
                if augment_images:
                    x = augment(x, generator)
                loss = inner_loss(net(x), targets[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            schedule.step()
    return net.eval()


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy (a fraction) of ``model`` on (``images``, ``labels``)."""
    dev = next(model.parameters()).device
    model.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        out = model(images[i:i + batch_size].to(dev))
        correct += int((out.argmax(1).cpu() == labels[i:i + batch_size]).sum())
    return correct / len(images)


def random_subset(labels: torch.Tensor, per_class: Sequence[int], seed: int) -> torch.Tensor:
    """Random real indices with ``per_class[c]`` images of class ``c``."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for c, k in enumerate(per_class):
        idx = (labels == c).nonzero().flatten()
        if len(idx) < k:
            raise LessdataError(f"class {c} has {len(idx)} real images, fewer than the {k} asked for")
        out.append(idx[torch.randperm(len(idx), generator=generator)[:k]])
    return torch.cat(out)


@dataclass
class EvaluationReport:
    """Per-seed accuracies and scores; :meth:`summary` gives mean and std of each."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, **kwargs) -> None:
        for k, v in kwargs.items():
            self.values.setdefault(k, []).append(float(v))

    def summary(self) -> dict[str, dict[str, float]]:
        return {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)} for k, v in self.values.items()}


def evaluate_distilled(distilled: DistilledSet, real_images, real_labels, test_images, test_labels,
                       model_factory: Callable[[], nn.Module], *, seeds: Sequence[int] = (0, 1, 2), epochs: int = 300,
                       full_accuracy: float | None = None, random_lr: float = 0.01, without_augmentation: bool = True,
                       weight: float = 0.5, device=None, progress=None) -> EvaluationReport:
    """Train fresh networks on ``distilled`` and on random real subsets with the same images per class, one
    pair per seed, and score them (accuracies on the test set; HLR/LRS need ``full_accuracy``).

    Keys of the report: ``distilled``, ``random`` (with augmentation), ``distilled_no_aug``, ``random_no_aug``
    (when ``without_augmentation``), ``IOR``, ``ARS``, and ``HLR``, ``LRS`` when ``full_accuracy`` is given.
    """
    if distilled.labels is None:
        raise LessdataError("evaluate_distilled needs a set with class labels (use the MKDT evaluation for "
                            "target representations)")
    real_images = check_images(real_images, "real images")
    real_labels = check_class_labels(real_labels, len(real_images), "real labels")
    test_images = check_images(test_images, "test images")
    test_labels = check_class_labels(test_labels, len(test_images), "test labels")
    if real_images.shape[1:] != distilled.images.shape[1:] or test_images.shape[1:] != distilled.images.shape[1:]:
        raise LessdataError(f"distilled images are {tuple(distilled.images.shape[1:])} but real/test images are "
                            f"{tuple(real_images.shape[1:])}/{tuple(test_images.shape[1:])}")
    if distilled.zca is not None:
        real_images, test_images = distilled.zca.transform(real_images), distilled.zca.transform(test_images)
    seeds = list(seeds)
    if not seeds:
        raise LessdataError("seeds must name at least one seed")
    per_class = torch.bincount(distilled.labels, minlength=int(real_labels.max()) + 1).tolist()
    report = EvaluationReport()
    if progress is not None:
        progress.total = len(seeds) * (4 if without_augmentation else 2)
    arms = [True, False] if without_augmentation else [True]
    for seed in seeds:
        subset = random_subset(real_labels, per_class, seed)
        row = {}
        for aug in arms:
            suffix = "" if aug else "_no_aug"
            net = train_network(distilled.images, distilled.labels, model_factory, lr=distilled.learning_rates.tolist(),
                                stages=distilled.stages, epochs=epochs, augment_images=aug, seed=seed, device=device)
            row["distilled" + suffix] = accuracy(net, test_images, test_labels)
            net = train_network(real_images[subset], real_labels[subset], model_factory, lr=random_lr, epochs=epochs,
                                augment_images=aug, seed=seed, device=device)
            row["random" + suffix] = accuracy(net, test_images, test_labels)
            if progress is not None:
                progress.update(2)
        row["IOR"] = improvement_over_random(row["distilled"], row["random"])
        if without_augmentation:
            row["ARS"] = augmentation_robust_score(row["IOR"], improvement_over_random(
                row["distilled_no_aug"], row["random_no_aug"]), weight)
        if full_accuracy is not None:
            row["HLR"] = hard_label_recovery(full_accuracy, row["distilled"])
            row["LRS"] = label_robust_score(row["HLR"], row["IOR"], weight)
        report.add(**row)
    return report
