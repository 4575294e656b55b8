"""EPIC: drop the points that sit in tiny gradient clusters (poisons are isolated in gradient space).

Yang, Liu, Mirzasoleiman, "Not All Poisons are Created Equal: Robust Training against Data Poisoning"
(ICML 2022). Effective poisons have gradients unlike those of their (claimed) class, so when each class is
covered by facility-location medoids they end up alone, or nearly, in their medoid's cluster. This module is
the selection step: it returns the points to *keep*; the training loop that repeats it every ``subset_freq``
epochs and drops points for good is :class:`lessdata.robust.EpicTrainer`.

Checked against the reference code YuYang0901/EPIC (``train_poison_epic.py: get_subset``,
``utils/coreset.py``): per class, facility location on last-layer gradients (``softmax − one-hot``;
euclidean by default, lazy greedy) with a budget of ``subset_size · N`` medoids split over the classes in
proportion to their sizes; every point of the class is assigned to its most similar medoid; medoids whose
cluster has at most ``cluster_thresh`` (1) points lose their whole cluster; everything else is kept.

Deliberate departures:

- Cluster ids are the medoids' positions in the whole selection. The reference numbers them
  ``c · num_per_class + j``, which points at the wrong medoid's size whenever classes get different
  budgets (its proportional split does that); here every point looks up its own medoid.
- The budget split is lessdata's exact proportional split (the reference rounds every class up and takes
  the excess back from random classes).
- The similarity is lessdata's (euclidean ``max(d) − d``, or cosine); the reference uses submodlib's
  ``1 / (1 + d)``. The assignment (nearest medoid) is the same for both, and so is the facility-location
  argmax order up to ties in most cases, but the picks can differ.

Examples:
    >>> import numpy as np, lessdata
    >>> G = np.r_[np.zeros((20, 2)), [[9.0, 9.0]]].astype(np.float32)
    >>> G[:20] += np.random.default_rng(0).normal(scale=0.1, size=(20, 2)).astype(np.float32)
    >>> cs = lessdata.select(G, budget=3, method="epic")
    >>> 20 in cs.indices, len(cs)
    (False, 20)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._validation import Interval, Options
from ..errors import LessdataError
from ..submodular.partition import PartResult, split_budget
from ..submodular.selection import facility_location_part
from ._partitioned import partitioned_coreset
from .crust import _squared_distances
from .registry import BACKEND, BUDGET_POLICY, EPSILON, OPTIMIZER, Method, register

__all__ = ["EpicMethod", "assign_to_medoids", "small_cluster_mask"]

_BLOCK = 4096  # points per block of the assignment


def assign_to_medoids(X, medoids, metric: str = "euclidean") -> np.ndarray:
    """For every row of ``X``, the position (in ``medoids``) of its most similar medoid: the nearest in
    euclidean distance, or the highest cosine similarity; ties go to the earliest medoid.

    Examples:
        >>> assign_to_medoids(np.array([[0.0], [1.0], [5.0]]), [0, 2]).tolist()
        [0, 0, 1]
    """
    X = np.asarray(X, dtype=np.float64)
    picks = np.asarray(medoids, dtype=np.int64).reshape(-1)
    if X.ndim != 2 or len(picks) == 0:
        raise LessdataError("assign_to_medoids needs a 2-D array and at least one medoid")
    if picks.min() < 0 or picks.max() >= len(X):
        raise LessdataError(f"medoid indices must be in [0, {len(X)})")
    if metric == "cosine":
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    elif metric != "euclidean":
        raise LessdataError(f"unknown metric {metric!r}; choose one of: cosine, euclidean")
    M = X[picks]
    out = np.empty(len(X), dtype=np.int64)
    for start in range(0, len(X), _BLOCK):
        block = X[start:start + _BLOCK]
        score = block @ M.T if metric == "cosine" else -_squared_distances(block, M)
        out[start:start + len(block)] = np.argmax(score, axis=1)
    out[picks] = np.arange(len(picks))  # a medoid is its own cluster's member (also under duplicate points)
    return out


def small_cluster_mask(assignment, n_medoids: int, cluster_thresh: float = 1.0) -> np.ndarray:
    """True for the points whose cluster (as given by ``assignment``) has at most ``cluster_thresh``
    members: the points EPIC drops.

    Examples:
        >>> small_cluster_mask(np.array([0, 0, 1, 0]), 2).tolist()
        [False, False, True, False]
    """
    sizes = np.bincount(np.asarray(assignment, dtype=np.int64), minlength=int(n_medoids))
    return sizes[assignment] <= cluster_thresh


def _at_least_one_each(budget, labels, policy):
    # a class without a medoid would be dropped whole: every class gets at least one
    if labels is None:
        return budget
    names, sizes = np.unique(labels, return_counts=True)
    if isinstance(budget, Mapping):
        counts = split_budget(sizes, budget, policy, labels=names)
    else:
        counts = split_budget(sizes, int(budget), policy)
    counts = np.maximum(counts, 1)
    return {name.item() if isinstance(name, np.generic) else name: int(c) for name, c in zip(names, counts)}


@register
class EpicMethod(Method):
    """EPIC (Yang, Liu, Mirzasoleiman, ICML 2022; reference YuYang0901/EPIC): per-class facility location
    on last-layer gradients with ``budget`` medoids; returns every point *not* in a cluster of at most
    ``cluster_thresh`` points (weights 1). ``params["dropped"]`` counts the rest. Every class gets at least
    one medoid (a class without one would be dropped whole). See the module docstring
    for the departures."""

    name = "epic"
    description = "EPIC: keep all points except those in gradient clusters of size <= cluster_thresh"
    signals = ("last_layer_gradients",)
    partitioned = True
    defaults = {"cluster_thresh": 1.0, "metric": "euclidean", "optimizer": "lazy", "epsilon": 0.01,
                "budget_policy": "proportional", "backend": "local"}
    parameter_constraints = {
        "cluster_thresh": [Interval(float, 0, None)],
        "metric": [Options("euclidean", "cosine")],
        "optimizer": OPTIMIZER,
        "epsilon": EPSILON,
        "budget_policy": BUDGET_POLICY,
        "backend": BACKEND,
    }

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params

        def select_part(part):
            G = X[part.indices]
            medoids = facility_location_part(G, part.budget, metric=p["metric"], optimizer=p["optimizer"],
                                             epsilon=p["epsilon"], seed=part.seed, progress=progress).indices
            drop = small_cluster_mask(assign_to_medoids(G, medoids, p["metric"]), len(medoids),
                                      p["cluster_thresh"])
            keep = np.flatnonzero(~drop)
            return PartResult(indices=keep, weights=np.ones(len(keep), dtype=np.float32),
                              gains=np.full(len(keep), np.nan))

        coreset = partitioned_coreset(select_part, n, _at_least_one_each(budget, labels, p["budget_policy"]),
                                      labels, seed, p["budget_policy"], p["backend"], progress)
        if len(coreset) == 0:  # nothing to train on: say so rather than return an empty subset
            raise LessdataError(f"epic: every point is in a gradient cluster of at most cluster_thresh="
                                f"{p['cluster_thresh']:g} points, so all would be dropped; lower cluster_thresh or the "
                                "budget (fewer medoids, larger clusters)")
        coreset.params["dropped"] = int(n - len(coreset))
        return coreset
