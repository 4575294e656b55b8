"""Data corruption carried out on arrays: label noise, a BadNets patch backdoor, and image–text poisoning.

Everything here is plain numpy and seeded: the same input and seed always give the same corruption, and every
function also returns which examples it changed, so a defence can be scored on what it kept or dropped.

- :func:`symmetric_label_noise` flips exactly ``round(rate · n)`` labels, each to a different class drawn
  uniformly ("agnostic" noise in the CRUST reference code, snap-stanford/crust ``mislabel_cifar.py``).
- :func:`asymmetric_label_noise` flips exactly ``round(rate · n)`` labels through a fixed class map (by default
  a random derangement of the classes, as the CRUST reference's ``asym`` noise).
- :func:`badnets` stamps a patch trigger on a share of the images of the other classes and relabels them to a
  target class (Gu, Dolan-Gavitt, Garg, "BadNets", 2017); :func:`attack_success_rate` is the share of
  triggered test images of the other classes predicted as the target.
- :func:`targeted_image_text_poison` appends copies of target images paired with captions that name an
  adversarial class; :func:`image_text_backdoor` stamps the trigger on a share of the images and gives them
  captions naming the target class (the two attacks on CLIP measured by SafeCLIP, Yang et al., ICML 2024).

Examples:
    >>> import numpy as np
    >>> noisy, flipped = symmetric_label_noise(np.arange(10) % 2, rate=0.2, seed=0)
    >>> int(flipped.sum()), bool((noisy[flipped] != (np.arange(10) % 2)[flipped]).all())
    (2, True)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import LessdataError

__all__ = [
    "Backdoor",
    "ImageTextPoison",
    "asymmetric_label_noise",
    "attack_success_rate",
    "badnets",
    "check_noise_rate",
    "checkerboard_trigger",
    "image_text_backdoor",
    "stamp_trigger",
    "symmetric_label_noise",
    "targeted_image_text_poison",
]

CORNERS = ("bottom_right", "bottom_left", "top_right", "top_left")


# ------------------------------------------------------------------------------------------ checks
def check_noise_rate(rate, what: str = "the label-noise rate") -> float:
    """``rate`` as a float in ``[0, 1)``, or one clear error.

    Examples:
        >>> check_noise_rate(0.2)
        0.2
    """
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise LessdataError(f"{what} must be a number in [0, 1), got {rate!r}")
    if not 0.0 <= float(rate) < 1.0:  # NaN fails this too
        raise LessdataError(f"{what} must be in [0, 1), got {rate!r}")
    return float(rate)


def _labels(labels, num_classes=None) -> tuple[np.ndarray, int]:
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer):
        raise LessdataError(f"labels must be a non-empty 1-D array of integer classes, got {y.dtype} {y.shape}")
    if y.min() < 0:
        raise LessdataError("labels must be non-negative class ids")
    if num_classes is None:
        classes = int(y.max()) + 1
    else:
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
            raise LessdataError(f"num_classes must be a positive integer, got {num_classes!r}")
        classes = int(num_classes)
    if classes <= int(y.max()):
        raise LessdataError(f"num_classes={classes} but the labels go up to {int(y.max())}")
    return y.astype(np.int64), classes


def _target(target, classes: int) -> int:
    if isinstance(target, bool) or not isinstance(target, numbers.Integral) or not 0 <= target < classes:
        raise LessdataError(f"the target class must be one of the {classes} classes 0..{classes - 1}, got {target!r}")
    return int(target)


def _mask(n: int, chosen: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return mask


# ------------------------------------------------------------------------------------------ label noise
def symmetric_label_noise(labels, rate: float, seed: int = 0,
                          num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly ``round(rate * n)`` labels, each to a different class drawn uniformly; return
    ``(noisy_labels, flipped)`` where ``flipped`` is the boolean mask of the changed examples.

    Which examples and which new classes are drawn from ``numpy.random.default_rng(seed)``.
    ``num_classes`` defaults to ``labels.max() + 1``.

    Examples:
        >>> noisy, flipped = symmetric_label_noise([0, 1, 2, 0, 1, 2], rate=0.5, seed=1)
        >>> int(flipped.sum()), bool((noisy != np.array([0, 1, 2, 0, 1, 2]))[flipped].all())
        (3, True)
    """
    rate = check_noise_rate(rate)
    y, classes = _labels(labels, num_classes)
    count = int(round(rate * y.size))
    if count and classes < 2:
        raise LessdataError("flipping labels needs at least two classes")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(y.size, size=count, replace=False)
    noisy = y.copy()
    noisy[chosen] = (noisy[chosen] + rng.integers(1, classes, size=count)) % classes  # never the same class
    return noisy, _mask(y.size, chosen)


def asymmetric_label_noise(labels, rate: float, seed: int = 0, mapping=None,
                           num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly ``round(rate * n)`` labels, example ``i`` to ``mapping[labels[i]]``; return
    ``(noisy_labels, flipped)``.

    ``mapping`` is a sequence with one class per class and ``mapping[c] != c``; by default a random
    derangement drawn with ``seed`` (the CRUST reference's ``asym`` noise). Class-dependent maps such as
    CIFAR-10's truck→automobile, bird→airplane are passed explicitly.

    Examples:
        >>> noisy, flipped = asymmetric_label_noise([0, 1, 2, 3], rate=0.5, mapping=[1, 2, 3, 0])
        >>> bool(((noisy - np.array([0, 1, 2, 3])) % 4 == 1)[flipped].all()), int(flipped.sum())
        (True, 2)
    """
    rate = check_noise_rate(rate)
    y, classes = _labels(labels, num_classes)
    rng = np.random.default_rng(seed)
    if mapping is None:
        if classes < 2:
            raise LessdataError("asymmetric label noise needs at least two classes")
        while True:  # a derangement: no class maps to itself
            perm = rng.permutation(classes)
            if not (perm == np.arange(classes)).any():
                break
        table = perm.astype(np.int64)
    else:
        table = np.asarray(mapping)
        if table.shape != (classes,) or not np.issubdtype(table.dtype, np.integer):
            raise LessdataError(f"mapping must give one integer class for each of the {classes} classes")
        if table.min() < 0 or table.max() >= classes:
            raise LessdataError(f"mapping must map to classes 0..{classes - 1}")
        if (table == np.arange(classes)).any():
            raise LessdataError("mapping must send every class to a different class (mapping[c] != c)")
        table = table.astype(np.int64)
    count = int(round(rate * y.size))
    chosen = rng.choice(y.size, size=count, replace=False)
    noisy = y.copy()
    noisy[chosen] = table[y[chosen]]
    return noisy, _mask(y.size, chosen)


# ------------------------------------------------------------------------------------------ triggers
def checkerboard_trigger(size: int = 3, high: float = 255.0, low: float = 0.0) -> np.ndarray:
    """A ``size × size`` checkerboard patch (``high`` on the corners), the usual BadNets trigger.

    Examples:
        >>> checkerboard_trigger(3, high=1.0).astype(int).tolist()
        [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise LessdataError(f"the trigger size must be a positive integer, got {size!r}")
    grid = (np.add.outer(np.arange(size), np.arange(size)) % 2 == 0)
    return np.where(grid, high, low).astype(np.float64)


def _images(images) -> np.ndarray:
    X = np.asarray(images)
    if X.ndim not in (3, 4) or X.shape[0] == 0:
        raise LessdataError(f"images must be an array (n, H, W) or (n, H, W, C) with n > 0, got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise LessdataError(f"images must be numeric, got dtype {X.dtype}")
    return X


def _position(position, patch_shape, image_shape) -> tuple[int, int]:
    (ph, pw), (h, w) = patch_shape, image_shape
    if ph > h or pw > w:
        raise LessdataError(f"the trigger ({ph}x{pw}) is larger than the images ({h}x{w})")
    if isinstance(position, str):
        if position not in CORNERS:
            raise LessdataError(f"position must be one of {', '.join(CORNERS)} or (row, col), got {position!r}")
        row = h - ph if position.startswith("bottom") else 0
        col = w - pw if position.endswith("right") else 0
        return row, col
    try:
        row, col = (int(v) for v in position)
    except (TypeError, ValueError):
        raise LessdataError(f"position must be a corner name or (row, col), got {position!r}") from None
    if not (0 <= row <= h - ph and 0 <= col <= w - pw):
        raise LessdataError(f"a {ph}x{pw} trigger at (row, col)=({row}, {col}) does not fit in {h}x{w} images")
    return row, col


def stamp_trigger(images, trigger=None, position="bottom_right") -> np.ndarray:
    """A copy of ``images`` (``(n, H, W)`` or channels-last ``(n, H, W, C)``) with ``trigger`` pasted over
    each at ``position`` (a corner name or the ``(row, col)`` of the patch's top-left pixel).

    ``trigger`` is an ``(h, w)`` or ``(h, w, C)`` patch; by default a 3×3 checkerboard at the dtype's maximum
    (255 for integer images, 1.0 for float images). Values are cast to the images' dtype.

    Examples:
        >>> stamp_trigger(np.zeros((1, 4, 4), dtype=np.uint8))[0, 1:, 1:].tolist()
        [[255, 0, 255], [0, 255, 0], [255, 0, 255]]
    """
    X = _images(images)
    high = 255.0 if np.issubdtype(X.dtype, np.integer) else 1.0
    patch = checkerboard_trigger(3, high=high) if trigger is None else np.asarray(trigger, dtype=np.float64)
    if patch.ndim not in (2, 3) or patch.size == 0:
        raise LessdataError(f"the trigger must be an (h, w) or (h, w, C) patch, got shape {patch.shape}")
    if patch.ndim == 3 and (X.ndim != 4 or patch.shape[2] != X.shape[3]):
        raise LessdataError(f"a trigger of shape {patch.shape} does not match images of shape {X.shape[1:]}")
    if not np.isfinite(patch).all():
        raise LessdataError("the trigger must be finite")
    row, col = _position(position, patch.shape[:2], X.shape[1:3])
    out = X.copy()
    ph, pw = patch.shape[:2]
    if patch.ndim == 2 and X.ndim == 4:
        patch = patch[:, :, None]
    out[:, row:row + ph, col:col + pw] = patch.astype(X.dtype)
    return out


@dataclass
class Backdoor:
    """A poisoned training set (see :func:`badnets`): ``images``, ``labels`` (poisons relabelled to
    ``target``), ``poisoned`` (boolean mask of the stamped examples) and the attack's ``target``, ``trigger``
    and ``position`` (to build the triggered test set with :meth:`triggered`)."""

    images: np.ndarray
    labels: np.ndarray
    poisoned: np.ndarray
    target: int
    trigger: np.ndarray
    position: object

    def triggered(self, images, labels) -> tuple[np.ndarray, np.ndarray]:
        """The test images not of the target class, with the trigger stamped, and their true labels:
        the inputs of :func:`attack_success_rate`."""
        X = _images(images)
        y, _ = _labels(labels)
        if len(y) != len(X):
            raise LessdataError(f"there are {len(y)} labels but {len(X)} images")
        keep = y != self.target
        return stamp_trigger(X[keep], self.trigger, self.position), y[keep]


def badnets(images, labels, rate: float, target: int, *, seed: int = 0, trigger=None,
            position="bottom_right", num_classes: int | None = None) -> Backdoor:
    """BadNets (Gu et al., 2017): stamp ``trigger`` on exactly ``round(rate · n)`` training images drawn from
    the classes other than ``target`` and relabel them ``target``.

    Examples:
        >>> X, y = np.zeros((10, 8, 8), dtype=np.uint8), np.arange(10) % 5
        >>> attack = badnets(X, y, rate=0.2, target=0, seed=0)
        >>> int(attack.poisoned.sum()), set(attack.labels[attack.poisoned].tolist())
        (2, {0})
    """
    rate = check_noise_rate(rate, "the poison rate")
    X = _images(images)
    y, classes = _labels(labels, num_classes)
    if len(y) != len(X):
        raise LessdataError(f"there are {len(y)} labels but {len(X)} images")
    target = _target(target, classes)
    count = int(round(rate * len(y)))
    candidates = np.flatnonzero(y != target)
    if count > len(candidates):
        raise LessdataError(f"{count} poisons asked for but only {len(candidates)} images are not of the target class")
    high = 255.0 if np.issubdtype(X.dtype, np.integer) else 1.0
    trigger = checkerboard_trigger(3, high=high) if trigger is None else np.asarray(trigger, dtype=np.float64)
    chosen = np.sort(np.random.default_rng(seed).choice(candidates, size=count, replace=False))
    out_x, out_y = X.copy(), y.copy()
    if count:
        out_x[chosen] = stamp_trigger(X[chosen], trigger, position)
    else:
        stamp_trigger(X[:1], trigger, position)  # still reject a trigger that does not fit
    out_y[chosen] = target
    return Backdoor(out_x, out_y, _mask(len(y), chosen), target, trigger, position)


def attack_success_rate(predictions, labels, target: int) -> float:
    """Share of the examples whose true label is not ``target`` that are predicted as ``target``
    (on triggered test images this is the backdoor's attack success rate).

    Examples:
        >>> attack_success_rate([0, 0, 1, 0], [1, 2, 1, 0], target=0)
        0.6666666666666666
    """
    p = np.asarray(predictions).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if p.shape != y.shape:
        raise LessdataError(f"there are {p.size} predictions but {y.size} labels")
    others = y != target
    if not others.any():
        raise LessdataError("no example of a class other than the target: the attack success rate is undefined")
    return float((p[others] == target).mean())


# ------------------------------------------------------------------------------------------ image–text
@dataclass
class ImageTextPoison:
    """An image–caption training set with poisons (see :func:`targeted_image_text_poison` and
    :func:`image_text_backdoor`): ``images``, ``captions`` (a list), ``labels`` (the true class of each
    image, poisons included) and ``poisoned`` (boolean mask).

    A targeted attack also sets ``target_images`` / ``target_labels`` (the images to be misclassified and
    their true classes) and ``adversarial_classes`` (the class each should be taken for); a backdoor sets
    ``target_class``, ``trigger`` and ``position`` (see :meth:`Backdoor.triggered` for the test side)."""

    images: np.ndarray
    captions: list[str]
    labels: np.ndarray
    poisoned: np.ndarray
    target_images: np.ndarray | None = None
    target_labels: np.ndarray | None = None
    adversarial_classes: np.ndarray | None = None
    target_class: int | None = None
    trigger: np.ndarray | None = None
    position: object = None


def _captions(captions, n: int) -> list[str]:
    if isinstance(captions, str) or not isinstance(captions, (Sequence, np.ndarray)):
        raise LessdataError("captions must be a sequence of strings, one per image")
    texts = [str(c) for c in captions]
    if len(texts) != n:
        raise LessdataError(f"there are {len(texts)} captions but {n} images; give one caption per image")
    return texts


def _class_names(class_names, classes: int) -> list[str]:
    names = [str(c) for c in class_names]
    if len(names) < classes:
        raise LessdataError(f"{len(names)} class names given but the labels go up to {classes - 1}")
    return names


def _templates(templates) -> list[str]:
    if isinstance(templates, str):
        templates = [templates]
    out = [str(t) for t in templates]
    if not out or any("{name}" not in t for t in out):
        raise LessdataError("every caption template must contain {name}")
    return out


def _fill(template: str, name: str) -> str:
    # templates may carry an {adj} slot (as the contrastive captions do): left empty in a poison caption
    return " ".join(template.format(name=name.lower(), adj="").split())


def targeted_image_text_poison(images, captions, labels, *, target_images, target_labels, adversarial_classes,
                               n_poisons: int, class_names: Sequence[str],
                               templates: Sequence[str] = ("a photo of a {name}",),
                               seed: int = 0) -> ImageTextPoison:
    """Targeted poisoning of image–text data (Carlini & Terzis, 2022; the SafeCLIP threat model): for each
    target image (typically from the test set), append ``n_poisons`` copies of it paired with captions naming
    its adversarial class (each caption a template drawn with ``seed``), so that a CLIP model learns to
    classify that image as that class. The clean pairs are kept unchanged, in order, before the poisons.

    Attack success = share of the target images zero-shot classified as their adversarial class.

    Examples:
        >>> X, y = np.zeros((4, 2, 2)), np.array([0, 1, 2, 0])
        >>> out = targeted_image_text_poison(X, ["a"] * 4, y, target_images=np.ones((1, 2, 2)), target_labels=[1],
        ...                                  adversarial_classes=[2], n_poisons=3, class_names=["x", "y", "z"])
        >>> len(out.captions), out.captions[-1], int(out.poisoned.sum()), out.labels[-1].item()
        (7, 'a photo of a z', 3, 1)
    """
    X = _images(images)
    y, classes = _labels(labels)
    texts = _captions(captions, len(X))
    if len(y) != len(X):
        raise LessdataError(f"there are {len(y)} labels but {len(X)} images")
    names = _class_names(class_names, classes)
    forms = _templates(templates)
    T = _images(target_images)
    if T.shape[1:] != X.shape[1:]:
        raise LessdataError(f"target images of shape {T.shape[1:]} do not match the images' {X.shape[1:]}")
    t_labels, _ = _labels(target_labels, len(names))
    adversarial, _ = _labels(adversarial_classes, len(names))
    if not len(t_labels) == len(adversarial) == len(T):
        raise LessdataError(f"give one target label and one adversarial class per target image ({len(T)}), got "
                            f"{len(t_labels)} and {len(adversarial)}")
    if (adversarial == t_labels).any():
        raise LessdataError("each adversarial class must differ from its target image's own class")
    if isinstance(n_poisons, bool) or not isinstance(n_poisons, numbers.Integral) or n_poisons < 1:
        raise LessdataError(f"n_poisons must be a positive integer, got {n_poisons!r}")
    k = int(n_poisons)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(forms), size=k * len(T))
    poisons = [_fill(forms[picks[i]], names[adversarial[i // k]]) for i in range(k * len(T))]
    out_x = np.concatenate([X, np.repeat(T.astype(X.dtype), k, axis=0)])
    out_y = np.concatenate([y, np.repeat(t_labels, k)])
    poisoned = np.concatenate([np.zeros(len(X), dtype=bool), np.ones(k * len(T), dtype=bool)])
    return ImageTextPoison(out_x, texts + poisons, out_y, poisoned, target_images=T, target_labels=t_labels,
                           adversarial_classes=adversarial)


def image_text_backdoor(images, captions, labels, *, rate: float, target: int, class_names: Sequence[str],
                        templates: Sequence[str] = ("a photo of a {name}",), trigger=None,
                        position="bottom_right", seed: int = 0) -> ImageTextPoison:
    """Backdoor on image–text data (Carlini & Terzis, 2022): stamp ``trigger`` on exactly ``round(rate · n)``
    images of classes other than ``target`` and replace their captions by captions naming ``target``.
    Attack success = share of triggered test images of other classes zero-shot classified as ``target``.

    Examples:
        >>> X, y = np.zeros((10, 6, 6), dtype=np.uint8), np.arange(10) % 2
        >>> out = image_text_backdoor(X, ["c"] * 10, y, rate=0.2, target=0, class_names=["cat", "dog"])
        >>> int(out.poisoned.sum()), sorted({out.captions[i] for i in np.flatnonzero(out.poisoned)})
        (2, ['a photo of a cat'])
    """
    rate = check_noise_rate(rate, "the poison rate")
    X = _images(images)
    y, classes = _labels(labels)
    texts = _captions(captions, len(X))
    if len(y) != len(X):
        raise LessdataError(f"there are {len(y)} labels but {len(X)} images")
    names = _class_names(class_names, classes)
    forms = _templates(templates)
    attack = badnets(X, y, rate, target, seed=seed, trigger=trigger, position=position, num_classes=len(names))
    rng = np.random.default_rng([seed, 1])
    chosen = np.flatnonzero(attack.poisoned)
    picks = rng.integers(0, len(forms), size=len(chosen))
    for i, form in zip(chosen, picks):
        texts[i] = _fill(forms[form], names[attack.target])
    return ImageTextPoison(attack.images, texts, y, attack.poisoned, target_class=attack.target,
                           trigger=attack.trigger, position=attack.position)
