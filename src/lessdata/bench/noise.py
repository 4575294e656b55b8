"""Label noise for the time-to-accuracy benchmark: flip a share of the training labels, and measure how many
flipped examples each coreset method picks.

Mirzasoleiman, Cao, Leskovec, "Coresets for Robustifying Deep Neural Networks Against Noisy Labels"
(NeurIPS 2020) argue that medoids of gradient clusters (what CRAIG / CREST pick) are rarely mislabeled: a
mislabeled example's gradient sits far from its (noisy) class's clean majority. The benchmark checks it by
training every arm on labels of which a share ``rate`` were flipped to another class (uniformly at random,
seeded), evaluating on the clean test set, and recording, for every selection an arm makes, the share of
picks (and of training weight) that carry a flipped label. Uniform random selection picks ``rate`` of them
in expectation; a method that avoids noise picks fewer, one that seeks hard examples (EL2N, forgetting)
picks more.

Examples:
    >>> import numpy as np
    >>> noisy, flipped = flip_labels(np.arange(10) % 2, rate=0.2, seed=0)
    >>> int(flipped.sum()), bool((noisy[flipped] != (np.arange(10) % 2)[flipped]).all())
    (2, True)
"""

from __future__ import annotations

import numpy as np

from ..data import check_noise_rate, symmetric_label_noise
from ..errors import LessdataError

__all__ = ["NoiseTracker", "check_noise_rate", "flip_labels", "noisy_fraction"]


def flip_labels(labels, rate: float, seed: int = 0, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly ``round(rate * n)`` labels, each to a different class drawn uniformly; return
    ``(noisy_labels, flipped)``: :func:`lessdata.data.symmetric_label_noise` under the benchmark's name.

    Example:
        >>> noisy, flipped = flip_labels([0, 1, 2, 0, 1, 2], rate=0.5, seed=1)
        >>> int(flipped.sum()), bool((noisy != np.array([0, 1, 2, 0, 1, 2]))[flipped].all())
        (3, True)
    """
    return symmetric_label_noise(labels, rate, seed=seed, num_classes=num_classes)


def noisy_fraction(indices, flipped, weights=None) -> float:
    """Share of the selected ``indices`` whose label was flipped; with ``weights``, the share of the weight.

    Examples:
        >>> flipped = np.array([True, False, False, True])
        >>> noisy_fraction([0, 1], flipped), noisy_fraction([0, 1], flipped, weights=[3.0, 1.0])
        (0.5, 0.75)
    """
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    mask = np.asarray(flipped, dtype=bool).reshape(-1)
    if idx.size == 0:
        raise LessdataError("no indices: the noisy fraction of an empty selection is undefined")
    if idx.min() < 0 or idx.max() >= mask.size:
        raise LessdataError(f"indices must be in [0, {mask.size}) to match the flipped mask")
    if weights is None:
        return float(mask[idx].mean())
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != idx.shape or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise LessdataError("weights must be finite, non-negative, one per index, and not all zero")
    return float(w[mask[idx]].sum() / w.sum())


class NoiseTracker:
    """A training callback (for :func:`lessdata.training.fit` and :meth:`CrestTrainer.fit
    <lessdata.training.CrestTrainer.fit>`) that records the noisy share of every new subset the loader gets.

    It watches the loader's current Coreset at the start of every epoch and after every batch (CREST swaps
    subsets mid-epoch), so each selection is counted once however long it is trained on.
    ``fractions`` / ``weight_fractions`` hold one value per selection.

    Examples:
        >>> tracker = NoiseTracker(np.array([True, False, False, False]))
        >>> tracker.fractions
        []
    """

    def __init__(self, flipped):
        self.flipped = np.asarray(flipped, dtype=bool)
        self.fractions: list[float] = []
        self.weight_fractions: list[float] = []
        self._loader = None
        self._last = None

    def on_fit_start(self, model, loader) -> None:
        self._loader, self._last = loader, None

    def _look(self) -> None:
        coreset = getattr(self._loader, "coreset", None)
        if coreset is None or coreset is self._last:
            return
        self._last = coreset
        self.fractions.append(noisy_fraction(coreset.indices, self.flipped))
        self.weight_fractions.append(noisy_fraction(coreset.indices, self.flipped, coreset.weights))

    def on_epoch_start(self, epoch, model, loader) -> None:
        self._look()

    def on_batch_end(self, epoch, model, batch) -> None:
        self._look()
