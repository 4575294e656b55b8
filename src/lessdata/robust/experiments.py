"""Attack, then train: the runs behind ``lessdata robust`` and ``benchmarks/robust_*.py``.

- :func:`noisy_label_run`: flip a share of the labels (:func:`lessdata.data.symmetric_label_noise` or
  :func:`~lessdata.data.asymmetric_label_noise`), train one arm (``standard``, ``crust``, ``craig``,
  ``random``) and report the clean test accuracy and, for the subset arms, each coreset's clean share.
  The subset arms share one budget: ``fl_ratio`` of every class, reselected every epoch after the same
  ``warmup`` epochs on all data.
- :func:`backdoor_run`: stamp a BadNets trigger on a share of the images (:func:`lessdata.data.badnets`),
  train one arm (``standard`` or ``epic``) and report clean accuracy, attack success rate and the share of
  poisons among the points EPIC dropped.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np

from .._validation import check_choice
from ..data import (
    ArrayDataset,
    asymmetric_label_noise,
    attack_success_rate,
    badnets,
    check_noise_rate,
    digits,
    fashion_mnist,
    symmetric_label_noise,
)
from ..errors import LessdataError
from ..methods import select
from ..training import EveryKEpochs, WarmStart, evaluate, fit, gradient_selector
from ._common import check_fraction
from .crust import CrustTrainer
from .epic import EpicTrainer

__all__ = ["BACKDOOR_ARMS", "DATASETS", "NOISE_ARMS", "backdoor_run", "load_images", "make_model", "noisy_label_run"]

DATASETS = ("fashion-mnist", "digits")
NOISE_ARMS = ("standard", "crust", "craig", "random")
BACKDOOR_ARMS = ("standard", "epic")


def load_images(dataset: str = "fashion-mnist", train_size: int | None = 5000, test_size: int | None = 2000):
    """``(X, y, Xt, yt)``: images ``(n, H, W)`` (uint8 for Fashion-MNIST, float in [0, 1] for digits), a fixed
    random training subsample (seed 0, the same for every run) and the first ``test_size`` test images
    (digits: a fixed 70/30 split)."""
    check_choice(dataset, DATASETS, "dataset")
    for name, value in (("train_size", train_size), ("test_size", test_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise LessdataError(f"{name} must be a positive integer, got {value!r}")
    if dataset == "digits":
        X, y = digits()
        X = (X / 16.0).reshape(-1, 8, 8).astype(np.float32)
        order = np.random.default_rng(0).permutation(len(X))
        cut = int(0.7 * len(X))
        tr, te = np.sort(order[:cut]), np.sort(order[cut:])
        X, y, Xt, yt = X[tr], y[tr], X[te], y[te]
    else:
        X, y = fashion_mnist(split="train")
        Xt, yt = fashion_mnist(split="test")
    if train_size is not None and train_size < len(X):
        keep = np.sort(np.random.default_rng(0).permutation(len(X))[:train_size])
        X, y = X[keep], y[keep]
    if test_size is not None:
        Xt, yt = Xt[:test_size], yt[:test_size]
    return X, y, Xt, yt


def make_model(dataset: str, seed: int):
    """LeNet for 28×28 images, an MLP for the 8×8 digits; initialised from ``seed``."""
    import torch

    from ..models import MLP, LeNet

    torch.manual_seed(seed)
    return LeNet() if dataset == "fashion-mnist" else MLP(in_features=64, hidden=(64,))


def _dataset(X, y):
    return ArrayDataset(X, y, shape=(1, *X.shape[1:]))


def _fit_kwargs(epochs, lr, batch_size, device):
    return {"epochs": epochs, "lr": lr, "batch_size": batch_size, "device": device}  # seed: each caller's


def noisy_label_run(arm: str = "crust", *, dataset: str = "fashion-mnist", noise: float = 0.2,
                    noise_type: str = "symmetric", train_size: int | None = 5000, test_size: int | None = 2000,
                    epochs: int = 10, warmup: int = 3, fl_ratio: float = 0.5, radius: float = 2.0,
                    lr: float = 0.05, batch_size: int = 128, seed: int = 0, device: str = "cpu",
                    progress=None) -> dict[str, Any]:
    """Train one arm on labels with ``noise`` flipped; returns a JSON-ready dict (accuracy, clean shares,
    per-epoch history, timings)."""
    check_choice(arm, NOISE_ARMS, "arm")
    check_choice(noise_type, ("symmetric", "asymmetric"), "noise type")
    noise = check_noise_rate(noise)
    fl_ratio = check_fraction(fl_ratio, "fl_ratio")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise LessdataError(f"epochs must be a positive integer, got {epochs!r}")
    if arm != "standard" and not (isinstance(warmup, int) and 0 <= warmup < epochs):
        raise LessdataError(f"warmup must be an integer in [0, epochs), got {warmup!r}")
    if not (isinstance(radius, (int, float)) and not isinstance(radius, bool) and np.isfinite(radius)
            and radius > 0):
        raise LessdataError(f"the radius must be a positive number, got {radius!r}")
    X, y, Xt, yt = load_images(dataset, train_size, test_size)
    flip = symmetric_label_noise if noise_type == "symmetric" else asymmetric_label_noise
    noisy, flipped = flip(y, noise, seed=seed)
    train, test = _dataset(X, noisy), _dataset(Xt, yt)
    model = make_model(dataset, seed)
    kwargs = _fit_kwargs(epochs, lr, batch_size, device)
    start = time.process_time()
    shares: list[float] = []
    weight_shares: list[float] = []
    if arm == "crust":
        trainer = CrustTrainer(train, noisy, true_labels=y, fl_ratio=fl_ratio, radius=radius, warmup=warmup,
                               seed=seed, device=device)
        result = trainer.fit(model, test, progress=progress, seed=seed, **kwargs)
        shares, weight_shares = trainer.clean_shares, trainer.schedule.clean_weight_shares
    else:
        schedule = None
        if arm != "standard":
            classes, sizes = np.unique(noisy, return_counts=True)
            budget = {int(c): max(1, int(fl_ratio * s)) for c, s in zip(classes, sizes)}
            log: list = []
            if arm == "craig":
                inner = gradient_selector(train, noisy, budget=budget, method="craig", seed=seed, device=device)
            else:
                draws = itertools.count(1)

                def inner(model):  # a fresh class-stratified sample every epoch
                    return select(None, n=len(noisy), budget=budget, method="random", labels=noisy,
                                  seed=seed * 1000 + next(draws))

            def selector(model):
                coreset = inner(model)
                log.append(coreset)
                return coreset

            schedule = WarmStart(EveryKEpochs(selector, k=1), warm_fraction=warmup / epochs, epochs=epochs)
        result = fit(model, train, test, schedule=schedule, seed=seed, progress=progress, **kwargs)
        if arm != "standard":
            for coreset in log:
                clean = noisy[coreset.indices] == y[coreset.indices]
                shares.append(float(clean.mean()))
                weight_shares.append(float(coreset.weights[clean].sum() / coreset.weights.sum()))
    return {
        "arm": arm, "dataset": dataset, "noise": noise, "noise_type": noise_type, "seed": seed,
        "train_size": len(y), "test_size": len(yt), "epochs": epochs, "warmup": warmup, "fl_ratio": fl_ratio,
        "radius": radius, "flipped": int(flipped.sum()),
        "final_accuracy": result.final_accuracy, "best_accuracy": result.best_accuracy,
        "clean_share": float(np.mean(shares)) if shares else None,
        "clean_weight_share": float(np.mean(weight_shares)) if weight_shares else None,
        "clean_shares": shares, "clean_weight_shares": weight_shares,
        "cpu_seconds": time.process_time() - start,
        "history": [{k: v for k, v in r.items()} for r in result.history],
    }


def backdoor_run(arm: str = "epic", *, dataset: str = "fashion-mnist", poison_rate: float = 0.01,
                 target: int = 0, trigger_size: int = 3, train_size: int | None = 5000,
                 test_size: int | None = 2000, epochs: int = 10, subset_size: float = 0.2, subset_freq: int = 2,
                 drop_after: int = 3, cluster_thresh: float = 1.0, lr: float = 0.05, batch_size: int = 128,
                 seed: int = 0, device: str = "cpu", progress=None) -> dict[str, Any]:
    """Train one arm on a BadNets-poisoned training set; returns a JSON-ready dict (clean accuracy, attack
    success rate, poisons among the dropped points, history)."""
    import torch

    from ..data import checkerboard_trigger

    check_choice(arm, BACKDOOR_ARMS, "arm")
    X, y, Xt, yt = load_images(dataset, train_size, test_size)
    high = 255.0 if X.dtype == np.uint8 else 1.0
    attack = badnets(X, y, poison_rate, target, seed=seed, trigger=checkerboard_trigger(trigger_size, high=high))
    train, test = _dataset(attack.images, attack.labels), _dataset(Xt, yt)
    Xtrig, ytrig = attack.triggered(Xt, yt)
    model = make_model(dataset, seed)
    kwargs = _fit_kwargs(epochs, lr, batch_size, device)
    start = time.process_time()
    dropped, share, log = 0, None, []
    if arm == "epic":
        trainer = EpicTrainer(train, attack.labels, poisoned=attack.poisoned, subset_size=subset_size,
                              subset_freq=subset_freq, drop_after=drop_after, cluster_thresh=cluster_thresh,
                              seed=seed, device=device)
        result = trainer.fit(model, test, progress=progress, seed=seed, **kwargs)
        dropped = int((~trainer.schedule.alive).sum())
        share = None if dropped == 0 else trainer.dropped_poison_share
        log = [dict(entry) for entry in trainer.schedule.log]
    else:
        result = fit(model, train, test, seed=seed, progress=progress, **kwargs)
    with torch.no_grad():
        model.eval()
        predictions = model(torch.as_tensor(_dataset(Xtrig, ytrig).take(np.arange(len(ytrig)))[0])).argmax(1)
    clean = evaluate(model, test, device=device)["accuracy"]
    return {
        "arm": arm, "dataset": dataset, "poison_rate": poison_rate, "poisons": int(attack.poisoned.sum()),
        "target": target, "trigger_size": trigger_size, "seed": seed, "train_size": len(y), "test_size": len(yt),
        "epochs": epochs, "subset_size": subset_size, "subset_freq": subset_freq, "drop_after": drop_after,
        "cluster_thresh": cluster_thresh, "clean_accuracy": clean,
        "attack_success_rate": attack_success_rate(predictions.numpy(), ytrig, target),
        "dropped": dropped, "dropped_poisons": None if arm != "epic" else sum(e.get("dropped_poisons", 0) for e in log),
        "dropped_poison_share": share, "selections": log, "cpu_seconds": time.process_time() - start,
        "history": [{k: v for k, v in r.items()} for r in result.history],
    }
