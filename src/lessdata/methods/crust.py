"""CRUST: per-class facility-location coresets on gradients, each medoid weighted by the points within a radius.

Mirzasoleiman, Cao, Leskovec, "Coresets for Robustifying Deep Neural Networks Against Noisy Labels"
(NeurIPS 2020). Medoids of the gradient clusters of a class are rarely mislabeled: a flipped label puts an
example's gradient far from its (noisy) class's clean majority. This module is the selection step; the
training loop (warm-up, reselection every epoch, mixup with a same-label partner) is
:class:`lessdata.robust.CrustTrainer`.

Checked against the reference code snap-stanford/crust (``robust_cifar_train.py``, ``fl_cifar.py``,
``lazyGreedy.py``): per class, pairwise euclidean distances ``d`` of the gradients, facility location on
``max(d) − d``, lazy greedy, budget ``int(fl_ratio · n_c)`` per class; each medoid's weight is
``#{i in its class : d(i, medoid) < r}`` (strictly less, the medoid itself included), not its cluster
size; ``r = 2.0`` by default.

Deliberate departures:

- The facility location is lessdata's (:func:`lessdata.submodular.facility_location_part`): the same
  objective, maximised by the shared lazy greedy; ties may break differently from the reference heap.
- The reference's greedy stops early when every point is "covered" (``F.curVal == len(F.D)``), a condition
  its distance-based objective never meets; here the budget is always filled.
- Budgets are whatever the caller asks (a total split over classes by ``budget_policy``, or a
  ``{class: count}`` mapping); :class:`~lessdata.robust.CrustTrainer` asks ``max(1, int(fl_ratio · n_c))``
  per class as the reference does.

Examples:
    >>> import numpy as np, lessdata
    >>> G = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    >>> cs = lessdata.select(G, budget=6, method="crust", labels=np.arange(40) % 2, radius=1.5)
    >>> len(cs), bool((cs.weights >= 1).all())
    (6, True)
"""

from __future__ import annotations

import numpy as np

from .._validation import Interval
from ..errors import LessdataError
from ..submodular.selection import facility_location_part
from ._partitioned import partitioned_coreset
from .registry import BACKEND, BUDGET_POLICY, EPSILON, OPTIMIZER, Method, register

__all__ = ["CrustMethod", "radius_weights"]

_BLOCK = 1024  # medoids per block of the distance computation


def _squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``(len(A), len(B))`` squared euclidean distances, in float64, clipped at 0."""
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    d2 = (A64 * A64).sum(1)[:, None] + (B64 * B64).sum(1)[None, :] - 2.0 * A64 @ B64.T
    return np.maximum(d2, 0.0)


def radius_weights(X, medoids, radius: float) -> np.ndarray:
    """For each medoid (a row index of ``X``), the number of rows of ``X`` strictly within euclidean
    distance ``radius`` of it, the medoid itself included: CRUST's coreset weights.

    Examples:
        >>> X = np.array([[0.0], [0.5], [3.0]])
        >>> radius_weights(X, [0, 2], radius=1.0).tolist()
        [2.0, 1.0]
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise LessdataError(f"radius_weights needs a 2-D array of gradients, got shape {X.shape}")
    r = float(radius)
    if not np.isfinite(r) or r <= 0:
        raise LessdataError(f"the radius must be a positive number, got {radius!r}")
    picks = np.asarray(medoids, dtype=np.int64).reshape(-1)
    if len(picks) and (picks.min() < 0 or picks.max() >= len(X)):
        raise LessdataError(f"medoid indices must be in [0, {len(X)})")
    out = np.zeros(len(picks), dtype=np.float32)
    for start in range(0, len(picks), _BLOCK):
        block = picks[start:start + _BLOCK]
        d2 = _squared_distances(X[block], X)
        d2[np.arange(len(block)), block] = 0.0  # a point's distance to itself is exactly 0
        out[start:start + len(block)] = (d2 < r * r).sum(axis=1)
    return out


@register
class CrustMethod(Method):
    """CRUST (Mirzasoleiman, Cao, Leskovec, NeurIPS 2020; reference snap-stanford/crust): per-class facility
    location (euclidean ``max(d) − d``) on last-layer gradients; each medoid weighted by the number of points
    of its class within ``radius`` of it. See the module docstring for the departures."""

    name = "crust"
    description = "CRUST: per-class facility location on gradients; weights = points within radius r"
    signals = ("last_layer_gradients",)
    partitioned = True
    defaults = {"radius": 2.0, "optimizer": "lazy", "epsilon": 0.01, "budget_policy": "proportional",
                "backend": "local"}
    parameter_constraints = {
        "radius": [Interval(float, 0, None, closed="neither")],
        "optimizer": OPTIMIZER,
        "epsilon": EPSILON,
        "budget_policy": BUDGET_POLICY,
        "backend": BACKEND,
    }

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params

        def select_part(part):
            G = X[part.indices]
            result = facility_location_part(G, part.budget, metric="euclidean", optimizer=p["optimizer"],
                                            epsilon=p["epsilon"], seed=part.seed, progress=progress)
            result.weights = radius_weights(G, result.indices, p["radius"])
            return result

        return partitioned_coreset(select_part, n, budget, labels, seed, p["budget_policy"], p["backend"],
                                   progress)
