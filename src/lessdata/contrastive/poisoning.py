"""Attack, then pre-train: a tiny CLIP vs SafeCLIP on Fashion-MNIST captions with targeted poisons or a
backdoor (the runs behind ``lessdata contrastive safeclip`` and ``benchmarks/robust_clip.py``).

- ``targeted``: ``n_targets`` test images (from beyond the evaluation split), each with a random adversarial
  class, appended ``n_poisons`` times with captions naming that class
  (:func:`lessdata.data.targeted_image_text_poison`); attack success = share of the targets zero-shot
  classified as their adversarial class.
- ``backdoor``: a checkerboard trigger on ``poison_rate`` of the training images (other classes than
  ``target``), their captions replaced by captions naming ``target`` (:func:`lessdata.data.image_text_backdoor`);
  attack success = share of triggered test images of other classes zero-shot classified as ``target``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .._validation import POSITIVE_INT, Interval, check_choice, check_param
from ..data import (
    attack_success_rate,
    check_noise_rate,
    checkerboard_trigger,
    fashion_mnist,
    image_text_backdoor,
    stamp_trigger,
    targeted_image_text_poison,
)
from ..errors import LessdataError
from .captions import CAPTION_TEMPLATES, FASHION_MNIST_NAMES, make_captions
from .clip import train_clip, zero_shot_accuracy, zero_shot_classify
from .safeclip import train_safeclip

__all__ = ["ARMS", "ATTACKS", "clip_poisoning_run"]

ARMS = ("clip", "safeclip")
ATTACKS = ("targeted", "backdoor")


def clip_poisoning_run(arm: str = "safeclip", attack: str = "targeted", *, train_size: int = 5000,
                       test_size: int = 2000, epochs: int = 15, unimodal_epochs: int = 3,
                       clip_warmup_epochs: int = 1, n_targets: int = 10, n_poisons: int = 10,
                       poison_rate: float = 0.01, target: int = 0, trigger_size: int = 3, batch_size: int = 256,
                       lr: float = 2e-3, seed: int = 0, device: str = "cpu", progress=None) -> dict[str, Any]:
    """Poison the captioned training set, pre-train one arm, report attack success and zero-shot accuracy."""
    check_choice(arm, ARMS, "arm")
    check_choice(attack, ATTACKS, "attack")
    check_param("clip_poisoning_run", "train_size", train_size, [Interval(int, 2, None)])
    for name, value in (("n_targets", n_targets), ("n_poisons", n_poisons), ("epochs", epochs)):
        check_param("clip_poisoning_run", name, value, POSITIVE_INT)
    check_noise_rate(poison_rate, "the poison rate")
    check_param("clip_poisoning_run", "target", target, [Interval(int, 0, len(FASHION_MNIST_NAMES) - 1)])
    if trigger_size > 28:
        raise LessdataError(f"the trigger ({trigger_size}x{trigger_size}) is larger than the images (28x28)")
    checkerboard_trigger(trigger_size)  # rejects sizes below 1
    X, y = fashion_mnist(split="train")
    Xt, yt = fashion_mnist(split="test")
    keep = np.sort(np.random.default_rng(0).permutation(len(X))[:train_size])
    X, y = X[keep], y[keep]
    if not isinstance(test_size, int) or isinstance(test_size, bool) or not 1 <= test_size <= len(Xt) - n_targets:
        raise LessdataError(f"test_size must be an integer in [1, {len(Xt) - n_targets}], got {test_size!r}")
    Xe, ye = Xt[:test_size], yt[:test_size]
    caps = make_captions(y, mismatch=0.0, seed=seed).texts
    rng = np.random.default_rng([seed, 7])
    if attack == "targeted":
        pool = np.arange(test_size, len(Xt))  # targets never in the evaluation split
        chosen = rng.choice(pool, size=n_targets, replace=False)
        t_labels = yt[chosen]
        adversarial = (t_labels + rng.integers(1, 10, size=n_targets)) % 10
        poisoned = targeted_image_text_poison(X, caps, y, target_images=Xt[chosen], target_labels=t_labels,
                                              adversarial_classes=adversarial, n_poisons=n_poisons,
                                              class_names=FASHION_MNIST_NAMES, templates=CAPTION_TEMPLATES,
                                              seed=seed)
    else:
        poisoned = image_text_backdoor(X, caps, y, rate=poison_rate, target=target, class_names=FASHION_MNIST_NAMES,
                                       templates=CAPTION_TEMPLATES, trigger=checkerboard_trigger(trigger_size),
                                       seed=seed)
    common = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "device": device,
              "progress": progress}
    start = time.process_time()
    info: dict[str, Any] = {}
    if arm == "clip":
        model = train_clip(poisoned.images, poisoned.captions, **common).model
    else:
        run = train_safeclip(poisoned.images, poisoned.captions, unimodal_epochs=unimodal_epochs,
                             clip_warmup_epochs=clip_warmup_epochs, poisoned=poisoned.poisoned, **common)
        model = run.model
        info = {"safe_ratios": run.safe_ratios, "poisons_in_safe": run.poisons_in_safe, "phases": run.phases}
    if attack == "targeted":
        predicted = zero_shot_classify(model, poisoned.target_images)
        success = float((predicted == poisoned.adversarial_classes).mean())
    else:
        others = ye != target
        triggered = stamp_trigger(Xe[others], poisoned.trigger, poisoned.position)
        success = attack_success_rate(zero_shot_classify(model, triggered), ye[others], target)
    return {
        "arm": arm, "attack": attack, "seed": seed, "train_size": train_size, "test_size": test_size,
        "epochs": epochs, "unimodal_epochs": unimodal_epochs, "clip_warmup_epochs": clip_warmup_epochs,
        "poisons": int(poisoned.poisoned.sum()), "n_targets": n_targets if attack == "targeted" else None,
        "n_poisons": n_poisons if attack == "targeted" else None,
        "poison_rate": poison_rate if attack == "backdoor" else None,
        "attack_success_rate": success, "zero_shot_accuracy": zero_shot_accuracy(model, Xe, ye),
        "cpu_seconds": time.process_time() - start, **info,
    }
