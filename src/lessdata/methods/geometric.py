"""Geometric selection on embeddings: k-center greedy, herding, and self-supervised prototypes.

All three take ``X`` = per-example embeddings (typically a trained network's penultimate features; see
:func:`lessdata.signals.features` for raw inputs), select per class when ``labels`` are given (the budget
split by ``budget_policy``), and weight each pick by ``n_c / k_c`` unless noted. None ever builds an
``n × n`` matrix: k-center greedy and herding cost ``O(n · k · d)`` time and ``O(n)`` extra memory, one
streaming pass over the embeddings per pick.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._validation import C_COUNT, Interval, Options, check_param, check_params
from ..errors import LessdataError
from ..submodular.partition import PartResult
from ._partitioned import partitioned_coreset
from .registry import BACKEND, BUDGET_POLICY, Method, register

__all__ = ["herding", "kcenter_greedy", "prototype_distances"]


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})  # vectorised sums; inf stays inf
def _squared_distances(X, center, out):  # pragma: no cover - compiled
    """``out[i] = ||X[i] - center||²`` in float64, one streaming pass over ``X``."""
    m, d = X.shape
    for i in range(m):
        total = 0.0
        for f in range(d):
            diff = np.float64(X[i, f]) - center[f]
            total += diff * diff
        out[i] = total


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})  # vectorised sums; inf stays inf
def _relax(X, j, t, nearest, assign):  # pragma: no cover - compiled
    """Add ``X[j]`` as center number ``t``: shrink each point's squared distance to its nearest center."""
    m, d = X.shape
    for i in range(m):
        if nearest[i] < 0.0:  # already a center
            continue
        total = 0.0
        for f in range(d):
            diff = np.float64(X[i, f]) - np.float64(X[j, f])
            total += diff * diff
        if total < nearest[i]:
            nearest[i] = total
            assign[i] = t


def _check_embeddings(X) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise LessdataError(f"embeddings must be a non-empty 2-D array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise LessdataError("embeddings contain NaN or infinite values")
    return X


def _check_k(k, m: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= m:
        raise LessdataError(f"the number of picks must be an integer in [1, {m}], got {k!r}")
    return int(k)


def kcenter_greedy(X, k: int, *, seed: int = 0, init: str = "random", progress=None):
    """Farthest-point greedy for k-center (Gonzalez, 1985), as used for core-sets by Sener & Savarese
    (2018), "Active Learning for Convolutional Neural Networks: A Core-Set Approach" (ICLR).

    Start from one point (``init="random"``: a seeded random point; ``"mean"``: the point nearest the mean),
    then repeatedly add the point farthest (Euclidean) from its nearest chosen center: a 2-approximation of
    the minimax covering radius. Returns ``(indices, gains, assign)``: picks in order; ``gains[t]`` the
    distance of pick ``t`` to the nearest earlier pick (NaN for the first); ``assign[i]`` the position of the
    pick nearest to point ``i`` (its Voronoi cell).

    Examples:
        >>> X = np.array([[0.0], [1.0], [10.0], [4.0]])
        >>> idx, gains, _ = kcenter_greedy(X, 3, init="mean")
        >>> idx.tolist(), gains.tolist()
        ([3, 2, 0], [nan, 6.0, 4.0])
    """
    X = _check_embeddings(X)
    m = X.shape[0]
    k = _check_k(k, m)
    check_param("kcenter_greedy", "init", init, [Options("random", "mean")])
    nearest = np.full(m, np.inf)
    assign = np.zeros(m, dtype=np.int64)
    if init == "random":
        first = int(np.random.default_rng(seed).integers(m))
    else:
        _squared_distances(X, X.mean(axis=0, dtype=np.float64), nearest)
        first = int(np.argmin(nearest))
        nearest[:] = np.inf
    picks = np.empty(k, dtype=np.int64)
    gains = np.full(k, np.nan)
    j = first
    for t in range(k):
        if t:
            j = int(np.argmax(nearest))
            gains[t] = np.sqrt(nearest[j])
        picks[t] = j
        nearest[j] = -1.0  # marks a center: never picked again, never relaxed
        assign[j] = t
        _relax(X, j, t, nearest, assign)
        if progress is not None:
            progress.update(1)
    return picks, gains, assign


def herding(X, k: int, *, progress=None):
    """Herding (Welling, 2009, "Herding Dynamical Weights to Learn", ICML; Chen, Welling & Smola, 2010,
    "Super-Samples from Kernel Herding", UAI) with the linear kernel: greedily add the point that brings the
    mean of the picks closest to the mean embedding ``μ``, i.e. at step ``t`` the unpicked ``x`` minimising
    ``||(t + 1) μ - S_t - x||`` where ``S_t`` is the sum of the picks so far (as in iCaRL, Rebuffi et al.,
    2017). Deterministic (ties: lowest index). Returns ``(indices, gains)``, ``gains[t]`` =
    ``||μ - mean(picks[:t + 1])||``.

    Examples:
        >>> X = np.array([[0.0], [2.0], [4.0], [10.0]])   # mean 4
        >>> idx, gains = herding(X, 2)
        >>> idx.tolist(), gains.tolist()
        ([2, 1], [0.0, 1.0])
    """
    X = _check_embeddings(X)
    m = X.shape[0]
    k = _check_k(k, m)
    mean = X.mean(axis=0, dtype=np.float64)
    total = np.zeros(X.shape[1])
    available = np.ones(m, dtype=bool)
    dist = np.empty(m)
    picks = np.empty(k, dtype=np.int64)
    gains = np.empty(k)
    for t in range(k):
        _squared_distances(X, (t + 1) * mean - total, dist)
        dist[~available] = np.inf
        j = int(np.argmin(dist))
        picks[t] = j
        available[j] = False
        total += X[j]
        gains[t] = np.linalg.norm(mean - total / (t + 1))
        if progress is not None:
            progress.update(1)
    return picks, gains


def prototype_distances(X, clusters: int, *, metric: str = "cosine", seed: int = 0, iterations: int = 20,
                        restarts: int = 3):
    """Distance of each embedding to its nearest k-means centroid (faiss), float64 ``(n,)``.

    The self-supervised prototype metric of Sorscher et al. (2022), "Beyond neural scaling laws: beating
    power law scaling via data pruning" (NeurIPS): cluster self-supervised embeddings with k-means; examples
    far from their prototype are hard, close ones easy. ``metric="cosine"`` (the paper's choice) runs
    spherical k-means on unit-normalised embeddings and returns ``1 - cos``; ``"euclidean"`` plain k-means
    and the Euclidean distance. faiss seeds k-means with random points, so it runs ``restarts`` times and
    keeps the clustering with the lowest objective (one run can leave an outlier as its own cluster).

    Examples:
        >>> X = np.array([[0.0, 1.0], [0.0, 1.1], [5.0, 0.0], [5.2, 0.0]], dtype="float32")
        >>> d = prototype_distances(X, 2, metric="euclidean")
        >>> d.round(2).tolist()
        [0.05, 0.05, 0.1, 0.1]
    """
    import faiss

    X = _check_embeddings(X)
    check_params("prototype_distances", {"metric": metric, "clusters": clusters, "iterations": iterations,
                                         "restarts": restarts},
                 {"metric": [Options("cosine", "euclidean")], "clusters": [Interval(int, 1, len(X))],
                  "iterations": C_COUNT, "restarts": C_COUNT})
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = np.ascontiguousarray(X / np.where(norms > 0, norms, 1.0), dtype=np.float32)
    kmeans = faiss.Kmeans(X.shape[1], int(clusters), niter=int(iterations), seed=int(seed) % (1 << 31),
                          nredo=int(restarts), spherical=metric == "cosine", verbose=False,
                          min_points_per_centroid=1)
    kmeans.train(X)
    centroids = kmeans.centroids.astype(np.float64)
    _, nearest = kmeans.index.search(X, 1)
    c = centroids[nearest[:, 0]]
    if metric == "cosine":
        return np.clip(1.0 - np.einsum("ij,ij->i", X.astype(np.float64), c), 0.0, 2.0)
    return np.linalg.norm(X.astype(np.float64) - c, axis=1)


class _EmbeddingMethod(Method):
    signals = ("embeddings", "features")
    partitioned = True
    base_defaults = {"budget_policy": "proportional", "backend": "local"}
    base_constraints = {"budget_policy": BUDGET_POLICY, "backend": BACKEND}

    def _uniform(self, size: int, budget: int) -> np.ndarray:
        return np.full(budget, size / budget, dtype=np.float32)


@register
class KCenterGreedyMethod(_EmbeddingMethod):
    """k-center greedy (Sener & Savarese, 2018, "Active Learning for Convolutional Neural Networks: A Core-Set
    Approach"): farthest-point greedy on the embeddings, per class with ``labels``
    (see :func:`kcenter_greedy`). ``init``: ``"random"`` (default, seeded) or ``"mean"``. ``weights``:
    ``"uniform"`` (default, ``n_c / k_c``) or ``"cluster"`` (the size of each pick's Voronoi cell, as CRAIG
    weighs its medoids). Gains: each pick's distance to the nearest earlier pick (NaN for a part's first).

    Checked against: DeepCore (``methods/kcentergreedy.py``): a random first point, then farthest-first on
    Euclidean distances, as ``init="random"`` here. Departures: weights ``n_c / k_c`` (DeepCore returns none) or
    ``weights="cluster"``; per class with ``labels`` (DeepCore's default ``balance=False``).
    """

    name = "kcenter_greedy"
    description = "k-center greedy (Sener & Savarese 2018) on embeddings: farthest-point picks; weights n_c/k_c"
    defaults = {**_EmbeddingMethod.base_defaults, "init": "random", "weights": "uniform"}
    parameter_constraints = {**_EmbeddingMethod.base_constraints, "init": [Options("random", "mean")],
                             "weights": [Options("uniform", "cluster")]}

    def run(self, X, budget, labels, seed, n, progress=None):
        def select_part(part):
            picks, gains, assign = kcenter_greedy(X[part.indices], part.budget, seed=part.seed,
                                                  init=self.params["init"], progress=progress)
            if self.params["weights"] == "cluster":
                weights = np.bincount(assign, minlength=part.budget).astype(np.float32)
            else:
                weights = self._uniform(len(part.indices), part.budget)
            return PartResult(indices=picks, weights=weights, gains=gains)

        return partitioned_coreset(select_part, n, budget, labels, seed, self.params["budget_policy"],
                                   self.params["backend"])


@register
class HerdingMethod(_EmbeddingMethod):
    """Herding (Welling, 2009; Chen, Welling & Smola, 2010): greedily match the mean embedding, per class with
    ``labels`` (see :func:`herding`). Deterministic. Gains: the distance between the part's mean embedding and
    the mean of its picks so far.

    Checked against: Welling (2009) and iCaRL (Rebuffi et al., 2017): each step takes the unpicked point *closest*
    to ``(t + 1) μ − S_t``. DeepCore (``methods/herding.py``) takes the *farthest* one (``argmax`` of the same
    Euclidean distance), which inverts herding; lessdata follows the papers. Per class with ``labels`` (DeepCore's
    default ``balance=False``).
    """

    name = "herding"
    description = "herding (Welling 2009): greedily match the mean embedding; weights n_c/k_c"
    defaults = dict(_EmbeddingMethod.base_defaults)
    parameter_constraints = dict(_EmbeddingMethod.base_constraints)

    def run(self, X, budget, labels, seed, n, progress=None):
        def select_part(part):
            picks, gains = herding(X[part.indices], part.budget, progress=progress)
            return PartResult(indices=picks, weights=self._uniform(len(part.indices), part.budget), gains=gains)

        return partitioned_coreset(select_part, n, budget, labels, seed, self.params["budget_policy"],
                                   self.params["backend"])


@register
class PrototypesMethod(_EmbeddingMethod):
    """Self-supervised prototypes (Sorscher, Geirhos, Shekhar, Ganguli & Morcos, 2022, "Beyond neural scaling
    laws: beating power law scaling via data pruning", NeurIPS): k-means (faiss) on the embeddings of all
    examples, score = distance to the nearest centroid (see :func:`prototype_distances`).

    ``keep``: ``"hard"`` (default; farthest from their prototype first) or ``"easy"`` (closest first). The
    paper's rule: keep hard examples when data is abundant, easy ones when it is scarce (small datasets or
    aggressive pruning). ``clusters``: number of k-means clusters; default the number of distinct ``labels``
    when given, else 10 (the paper finds the metric robust to the choice). ``metric``: ``"cosine"`` (default,
    spherical k-means) or ``"euclidean"``; ``iterations``: k-means iterations (20); ``restarts``: k-means runs,
    the best kept (3). Clustering ignores the
    labels; with ``labels`` the selection is class-balanced. Gains: the distances.

    Checked against: the paper (no reference code checked). Departures: ``restarts`` (the best of several k-means
    runs, against outlier clusters); ``keep="hard"`` by default, the paper's rule for abundant data — use
    ``keep="easy"`` at small budgets, where the paper finds easy examples better; per class with ``labels``.
    """

    name = "prototypes"
    description = "self-supervised prototypes (Sorscher et al. 2022): k-means distance, keep hard or easy"
    defaults = {**_EmbeddingMethod.base_defaults, "clusters": None, "keep": "hard", "metric": "cosine",
                "iterations": 20, "restarts": 3}
    parameter_constraints = {**_EmbeddingMethod.base_constraints, "clusters": [Interval(int, 1, None), None],
                             "keep": [Options("hard", "easy")], "metric": [Options("cosine", "euclidean")],
                             "iterations": C_COUNT, "restarts": C_COUNT}

    def run(self, X, budget, labels, seed, n, progress=None):
        from .scores import rank

        clusters = self.params["clusters"]
        if clusters is None:
            clusters = len(np.unique(labels)) if labels is not None else 10
            clusters = min(clusters, n)
        distances = prototype_distances(X, clusters, metric=self.params["metric"], seed=seed,
                                        iterations=self.params["iterations"], restarts=self.params["restarts"])
        descending = self.params["keep"] == "hard"

        def select_part(part):
            part_scores = distances[part.indices]
            picks = rank(part_scores, descending, part.seed)[: part.budget]
            if progress is not None:
                progress.update(part.budget)
            return PartResult(indices=picks, weights=self._uniform(len(part_scores), part.budget),
                              gains=part_scores[picks])

        cs = partitioned_coreset(select_part, n, budget, labels, seed, self.params["budget_policy"],
                                 self.params["backend"])
        cs.params["clusters"] = int(clusters)
        return cs
