"""Per-example statistics of training signals, in plain numpy (no torch): forgetting events, dataset
cartography, uncertainty of a classifier's predictions.

The score-based selection methods (:mod:`lessdata.methods.scores`) rank examples by these, and a
:class:`~lessdata.signals.dynamics.DynamicsRecorder` computes them from what it recorded.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice
from ..errors import LessdataError

__all__ = [
    "UNCERTAINTY_SCORES",
    "cartography_statistics",
    "forgetting_events",
    "forgetting_scores",
    "uncertainty_scores",
]

UNCERTAINTY_SCORES = ("least_confidence", "entropy", "margin")


def forgetting_events(correct) -> np.ndarray:
    """Number of forgetting events per example (Toneva et al., 2019, "An Empirical Study of Example
    Forgetting during Deep Neural Network Learning"): transitions from correct to incorrect between
    consecutive *observed* columns of ``correct`` (``(n, T)``, 1 = correct, NaN = not seen, skipped).

    Examples:
        >>> forgetting_events([[1, 0, 1, 0], [0, 1, 1, 1], [1, np.nan, 0, 1]]).tolist()
        [2.0, 0.0, 1.0]
    """
    correct = _matrix(correct, "correct")
    events = np.zeros(correct.shape[0])
    previous = np.full(correct.shape[0], np.nan)
    for t in range(correct.shape[1]):
        column = correct[:, t]
        seen = ~np.isnan(column)
        hit = column >= 0.5
        events += seen & (previous >= 0.5) & ~hit
        previous[seen] = hit[seen]
    return events


def forgetting_scores(correct) -> np.ndarray:
    """Forgetting events per example, with examples never classified correctly ranked as most forgotten.

    As in Toneva et al. (2019), an example that was never learned counts as forgotten more often than any
    learned one: it gets ``T`` (the number of columns; an example can be forgotten at most ``T // 2``
    times). Examples never seen get NaN.

    Examples:
        >>> forgetting_scores([[1, 0, 1], [0, 0, 0], [1, 1, 1], [np.nan] * 3]).tolist()
        [1.0, 3.0, 0.0, nan]
    """
    correct = _matrix(correct, "correct")
    scores = forgetting_events(correct)
    seen = ~np.isnan(correct).all(axis=1)
    learned = (np.nan_to_num(correct, nan=0.0) >= 0.5).any(axis=1)
    scores[seen & ~learned] = correct.shape[1]
    scores[~seen] = np.nan
    return scores


def cartography_statistics(confidence) -> tuple[np.ndarray, np.ndarray]:
    """Dataset cartography (Swayamdipta et al., 2020, "Dataset Cartography: Mapping and Diagnosing Datasets
    with Training Dynamics"): per example, the *confidence* (mean over epochs of the probability of the true
    class) and the *variability* (its population standard deviation), over the columns where it was seen.

    Examples:
        >>> conf, var = cartography_statistics([[0.9, 0.9], [0.1, 0.9], [0.2, np.nan]])
        >>> conf.round(2).tolist(), var.round(2).tolist()
        ([0.9, 0.5, 0.2], [0.0, 0.4, 0.0])
    """
    confidence = _matrix(confidence, "confidence")
    seen = ~np.isnan(confidence)
    count = seen.sum(axis=1)
    filled = np.where(seen, confidence, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=1) / count
        var = np.where(seen, (confidence - mean[:, None]) ** 2, 0.0).sum(axis=1) / count
    return mean, np.sqrt(var)


def uncertainty_scores(probabilities, score: str = "least_confidence") -> np.ndarray:
    """Uncertainty of a classifier's predictions, per row of an ``(n, C)`` probability matrix.

    - ``least_confidence``: ``1 - max_c p_c`` (higher = more uncertain);
    - ``entropy``: ``-sum_c p_c log p_c`` (higher = more uncertain);
    - ``margin``: ``p_(1) - p_(2)``, the gap between the two most likely classes (*lower* = more uncertain).

    As used for data selection by Coleman et al. (2020), "Selection via Proxy: Efficient Data Selection for
    Deep Learning", after the active-learning scores of Lewis & Gale (1994), Shannon entropy, and Scheffer
    et al. (2001). NaN rows stay NaN.

    Examples:
        >>> p = [[0.5, 0.5], [0.9, 0.1]]
        >>> uncertainty_scores(p).round(2).tolist(), uncertainty_scores(p, "margin").round(2).tolist()
        ([0.5, 0.1], [0.0, 0.8])
    """
    check_choice(score, UNCERTAINTY_SCORES, "uncertainty score")
    p = _matrix(probabilities, "probabilities")
    if score == "least_confidence":
        return 1.0 - p.max(axis=1)
    if score == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        out = -terms.sum(axis=1)
        out[np.isnan(p).any(axis=1)] = np.nan
        return out
    if p.shape[1] < 2:
        raise LessdataError("the margin score needs at least two classes")
    top2 = np.sort(p, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def _matrix(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LessdataError(f"{name} must be a numeric matrix: {exc}") from None
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise LessdataError(f"{name} must be a non-empty 2-D array (examples, columns), got shape {arr.shape}")
    if np.isinf(arr).any():
        raise LessdataError(f"{name} contain infinite values")
    return arr
