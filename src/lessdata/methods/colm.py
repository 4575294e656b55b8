"""CoLM's mini-batch coreset: ``b`` of a large random batch ``B`` whose gradient matches the batch's.

Nguyen, Yang, Anand, Yang, Mirzasoleiman, "Mini-batch Coresets for Memory-efficient Language Model Training on
Data Mixtures" (ICLR 2025; "SSM" in the 2024 preprint). Given one gradient estimate per example of the large
batch (the zeroth-order, Adam-normalised estimates of :mod:`lessdata.signals.zeroth_order`) and each example's
source (the dataset it comes from in a mixture):

1. **Small sources are kept whole.** The paper shows that gradient matching rarely picks a representative of
   a source with few examples, so every example of a small source goes into the coreset. Rule used here: a
   source is small when it has fewer than ``small_source_size`` examples in this batch (default 3: with
   ``b = B/2`` proportional budgets would give it at most one pick, one medoid that cannot represent it).
   The paper does not pin a number we could verify; pass ``small_source_size=0`` to turn the rule off. If
   keeping the small sources would leave less than one pick per large source, none is treated as small.
2. **The rest of the budget is split over the large sources in proportion to their sizes** (the engine's
   :func:`~lessdata.submodular.split_budget`, exact totals).
3. **Per large source, the estimates are sparsified** to the ``zo_dim`` coordinates with the largest mean
   magnitude within that source (default 2560, capped by the dimension), then **facility location** picks
   that source's share (similarity ``max(d) − d`` on euclidean distances by default).

Weights: each facility-location pick is weighted by the size of the cluster it represents (the examples of
its source closest to it), each kept small-source example by 1, so the weights sum to the batch size ``B``.
Training divides them by their mean (:meth:`Coreset.normalized_weights`, mean 1), so the weighted mean loss of
the ``b`` picks estimates the mean loss of the whole batch.

Examples:
    >>> import numpy as np, lessdata
    >>> G = np.random.default_rng(0).normal(size=(64, 100)).astype("float32")
    >>> sources = np.r_[np.zeros(62, int), 1, 1]          # source 1 is small: both its examples are kept
    >>> cs = lessdata.select(G, budget=32, method="colm", labels=sources, zo_dim=20)
    >>> len(cs), cs.partition_counts(), float(cs.weights.sum())
    (32, {0: 30, 1: 2}, 64.0)
"""

from __future__ import annotations

import numpy as np

from .._validation import Interval
from ..coreset import Coreset
from ..submodular.selection import facility_location_part
from ._partitioned import partitioned_coreset
from .registry import BUDGET_POLICY, EPSILON, FEATURE_METRIC, OPTIMIZER, Method, register

__all__ = ["ColmMethod", "small_source_mask", "top_coordinates"]


def small_source_mask(sources, budget: int, small_source_size: int = 3) -> np.ndarray:
    """Boolean mask of the examples that belong to small sources (kept whole by CoLM).

    A source is small when it has fewer than ``small_source_size`` examples; when keeping the small sources
    would leave less than one pick per large source, none is treated as small.

    >>> small_source_mask([0, 0, 0, 0, 1, 2, 2], budget=4).tolist()
    [False, False, False, False, True, True, True]
    """
    sources = np.asarray(sources)
    _, inverse, counts = np.unique(sources, return_inverse=True, return_counts=True)
    small = counts < small_source_size
    mask = small[inverse.reshape(-1)]
    fits = int(mask.sum()) + int((~small).sum()) <= budget
    return mask if fits else np.zeros(len(sources), dtype=bool)


def top_coordinates(X: np.ndarray, k: int) -> np.ndarray:
    """Sorted indices of the ``min(k, d)`` columns of ``X`` with the largest mean absolute value.

    >>> top_coordinates(np.array([[1.0, -5.0, 0.1], [1.0, 3.0, 0.0]]), 2).tolist()
    [0, 1]
    """
    mags = np.abs(X).mean(axis=0)
    k = min(int(k), X.shape[1])
    if k == X.shape[1]:
        return np.arange(k)
    return np.sort(np.argpartition(-mags, k - 1)[:k])


@register
class ColmMethod(Method):
    """CoLM mini-batch coreset (Nguyen et al., ICLR 2025): small sources kept whole, the rest by per-source
    facility location on the top-``zo_dim`` coordinates of per-example gradient estimates; weights = cluster
    sizes (1 for kept small-source examples), summing to the batch size.

    Checked against: the paper (no reference code checked). Departures: ``small_source_size=3`` (the paper gives no
    threshold; module docs, step 1) and the per-source top-``zo_dim`` sparsification by mean magnitude.
    """

    name = "colm"
    description = "CoLM mini-batch coreset: keep small sources, per-source facility location on sparsified gradients"
    signals = ("zeroth_order_gradients",)
    defaults = {
        "zo_dim": 2560,
        "small_source_size": 3,
        "metric": "euclidean",
        "optimizer": "lazy",
        "epsilon": 0.01,
        "budget_policy": "proportional",
    }

    parameter_constraints = {
        "zo_dim": [Interval(int, 1, None)],
        "small_source_size": [Interval(int, 0, None)],
        "metric": FEATURE_METRIC,  # it computes its own similarity on the sparsified gradients
        "optimizer": OPTIMIZER,
        "epsilon": EPSILON,
        "budget_policy": BUDGET_POLICY,
    }

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        sources = np.zeros(n, dtype=np.int64) if labels is None else labels
        uniq, inverse = np.unique(sources, return_inverse=True)
        inverse = inverse.reshape(-1)
        small = small_source_mask(sources, budget, p["small_source_size"])
        keep, large = np.flatnonzero(small), np.flatnonzero(~small)
        rest = budget - len(keep)
        X_large = X[large]

        def select_part(part):
            Xs = X_large[part.indices]
            Xs = Xs[:, top_coordinates(Xs, p["zo_dim"])]
            return facility_location_part(Xs, part.budget, metric=p["metric"], optimizer=p["optimizer"],
                                          epsilon=p["epsilon"], seed=part.seed, progress=progress)

        if rest > 0:
            sub = partitioned_coreset(select_part, len(large), rest, sources[large], seed, p["budget_policy"],
                                      "local", progress)
            picks, weights, gains, objective = large[sub.indices], sub.weights, sub.gains, sub.objective
        else:
            picks, weights, gains, objective = np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0), 0.0
        if progress is not None and len(keep):
            progress.update(len(keep))
        indices = np.concatenate([keep, picks])
        return Coreset(
            indices=indices,
            weights=np.concatenate([np.ones(len(keep), dtype=np.float32), weights]),
            gains=np.concatenate([np.full(len(keep), np.nan), gains]),
            objective=objective,
            partition=None if labels is None else inverse[indices],
            params={"small_sources": [_plain(s) for s in uniq[np.unique(inverse[keep])]],
                    **({} if labels is None else {"partition_labels": [_plain(s) for s in uniq]})},
        )


def _plain(label):
    label = label.item() if isinstance(label, np.generic) else label
    return label if isinstance(label, (int, float, str)) else str(label)
