"""Generated captions for labelled images, a given fraction mismatched: noisy image–text pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import LessdataError

__all__ = ["ADJECTIVES", "CAPTION_TEMPLATES", "FASHION_MNIST_NAMES", "PROMPT_TEMPLATES", "Captions", "make_captions"]


FASHION_MNIST_NAMES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                       "ankle boot")
PROMPT_TEMPLATES = ("a photo of a {name}", "a picture of a {name}", "an image showing a {name}",
                    "a product photo of a {name}")
CAPTION_TEMPLATES = PROMPT_TEMPLATES + ("a {adj} {name}", "a {adj} {name} on a plain background",
                                        "a photo of a {adj} {name}", "close-up of a {adj} {name}",
                                        "my new {adj} {name}", "{adj} {name} for sale")
ADJECTIVES = ("black", "white", "grey", "dark", "light", "striped", "plain", "cotton", "leather", "casual",
              "vintage", "stylish")


@dataclass
class Captions:
    """Generated captions (see :func:`make_captions`).

    Attributes:
        texts: one caption per image.
        classes: int64, the class each caption names.
        mismatched: bool, True where the caption names another class than the image's label.
    """

    texts: list[str]
    classes: np.ndarray
    mismatched: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


def make_captions(labels, class_names: Sequence[str] = FASHION_MNIST_NAMES, *, mismatch: float = 0.3,
                  seed: int = 0, templates: Sequence[str] = CAPTION_TEMPLATES,
                  adjectives: Sequence[str] = ADJECTIVES) -> Captions:
    """Captions for labelled images, a given fraction of them mismatched: noisy image–text pairs.

    Each caption fills a random template (``{name}``: the class name, ``{adj}``: a random adjective, e.g.
    "a striped shirt on a plain background"). Exactly ``round(mismatch · n)`` captions, at seeded random
    positions, name a class other than the image's (uniform over the other classes), as web-scraped pairs
    whose text does not describe the image. Deterministic given ``seed``.

    Examples:
        >>> caps = make_captions(np.array([0, 1, 2, 3]), mismatch=0.5, seed=0)
        >>> int(caps.mismatched.sum()), len(caps.texts)
        (2, 4)
    """
    y = np.asarray(labels)
    n_classes = len(class_names)
    if y.ndim != 1 or len(y) == 0 or not np.issubdtype(y.dtype, np.integer):
        raise LessdataError(f"labels must be a non-empty 1-D integer array, got {y.dtype} of shape {y.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise LessdataError(f"labels must be class ids in 0..{n_classes - 1} (one per class name), got "
                            f"{int(y.min())}..{int(y.max())}")
    if isinstance(mismatch, bool) or not isinstance(mismatch, (int, float, np.number)) or not 0 <= mismatch <= 1:
        raise LessdataError(f"mismatch must be a fraction in [0, 1], got {mismatch!r}")
    if mismatch > 0 and n_classes < 2:
        raise LessdataError("mismatched captions need at least 2 class names")
    if not templates or any("{name}" not in t for t in templates):
        raise LessdataError("every caption template must contain {name}")
    if any("{adj}" in t for t in templates) and not adjectives:
        raise LessdataError("templates use {adj} but no adjectives were given")
    rng = np.random.default_rng(seed)
    n = len(y)
    mismatched = np.zeros(n, dtype=bool)
    mismatched[rng.choice(n, size=int(round(mismatch * n)), replace=False)] = True
    classes = y.astype(np.int64).copy()
    classes[mismatched] = (classes[mismatched] + rng.integers(1, max(n_classes, 2), size=mismatched.sum())) \
        % n_classes
    which = rng.integers(len(templates), size=n)
    adjective = rng.integers(max(len(adjectives), 1), size=n)
    texts = [templates[t].format(name=class_names[c], adj=adjectives[a] if adjectives else "")
             for t, c, a in zip(which, classes, adjective, strict=True)]
    return Captions(texts=texts, classes=classes, mismatched=mismatched)
