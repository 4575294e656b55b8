"""CREST's selection step: mini-batch coresets from random class-balanced subsets.

Yang, Kang, Mirzasoleiman, "Towards Sustainable Learning: Coresets for Data-efficient Deep Learning", ICML
2023. One coreset over the whole data (CRAIG) only approximates the full gradient near the point where it was
selected, and training a non-convex model moves away from that point quickly. CREST instead, at each reset:

1. draws ``P`` random subsets ``R_1..R_P`` of the training pool, each class-balanced, of size ``r``
   (1% of the data in the paper; here also at least 3 mini-batches, near the paper's CIFAR-10 ratio
   ``500 / 128``, so that on a small dataset facility location still has a choice);
2. from each ``R_p`` picks a *mini-batch coreset* of ``m`` examples (the batch size) by per-class facility
   location on last-layer gradients, each pick weighted by the size of the cluster it represents; the
   similarity is ``exp(−d / dim)`` (``metric="rbf"``, submodlib's euclidean kernel, which the paper's code uses);
3. trains on the union, with the weights rescaled to mean 1.

The part that makes CREST CREST, deciding *when* to reset from a quadratic model of the loss, lives in
:class:`lessdata.training.CrestTrainer`. The registered method here is one selection on precomputed gradients:
``lessdata.select(G, budget=B, method="crest", labels=y)`` draws ``P = ceil(B / m)`` subsets (disjoint while the
data lasts) and returns their mini-batch coresets, ``B`` points in all. The Coreset's ``partition`` holds each
point's mini-batch (subset) number; ``params["random_subsets"]`` has ``P`` and ``r``.

Examples:
    >>> import numpy as np, lessdata
    >>> G = np.random.default_rng(0).normal(size=(1000, 10)).astype("float32")
    >>> cs = lessdata.select(G, budget=64, method="crest", labels=np.arange(1000) % 10, minibatch_size=32)
    >>> len(cs), cs.partition_counts(), round(float(cs.weights.mean()), 4)
    (64, {0: 32, 1: 32}, 1.0)
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import POSITIVE_INT, Interval, check_param
from ..coreset import Coreset
from ..errors import LessdataError
from ..submodular.selection import facility_location_part
from ..submodular.similarity import dense_similarity
from ._partitioned import partitioned_coreset
from .registry import EPSILON, FEATURE_METRIC, OPTIMIZER, Method, register

__all__ = ["CrestMethod", "minibatch_coresets", "random_subset_size", "random_subsets"]

#: random subsets up to this size get one similarity matrix, sliced per class
SHARED_SIMILARITY_LIMIT = 4096
#: subsets are at least this many mini-batches large (CREST's CIFAR-10 setting: r = 500, m = 128, ratio 3.9)
MIN_SUBSET_BATCHES = 3


def random_subset_size(n: int, minibatch_size: int, subset_fraction: float = 0.01,
                       subset_size: int | None = None) -> int:
    """Size ``r`` of each random subset: ``subset_size``, or ``max(ceil(subset_fraction · n), 3 m)``, at most n.

    >>> random_subset_size(50_000, 128), random_subset_size(1_400, 32)
    (500, 96)
    """
    if subset_size is not None:
        size = int(check_param("random_subset_size", "subset_size", subset_size, POSITIVE_INT))
        if size < minibatch_size:
            raise LessdataError(f"subset_size {size} is smaller than the mini-batch size {minibatch_size}")
        return min(size, n)
    check_param("random_subset_size", "subset_fraction", subset_fraction, [Interval(float, 0, 1, closed="right")])
    return min(n, max(math.ceil(subset_fraction * n - 1e-9), MIN_SUBSET_BATCHES * minibatch_size))


def random_subsets(labels: np.ndarray | None, count: int, size: int, rng: np.random.Generator,
                   pool: np.ndarray | None = None) -> list[np.ndarray]:
    """``count`` class-balanced random subsets of ``pool`` (default: every index), each of about ``size``.

    Each class present in the pool gives ``ceil(size / classes)`` examples per subset (all it has if fewer).
    Within a class the examples are consumed from one shuffled order, so the subsets are disjoint until the
    class runs out; then a fresh shuffle starts (a subset never holds an example twice).

    >>> subsets = random_subsets(np.arange(100) % 2, 3, 10, np.random.default_rng(0))
    >>> [len(s) for s in subsets], len(np.unique(np.concatenate(subsets)))
    ([10, 10, 10], 30)
    """
    n = len(labels) if labels is not None else None
    if pool is None:
        if n is None:
            raise LessdataError("random_subsets needs labels or a pool")
        pool = np.arange(n, dtype=np.int64)
    pool = np.asarray(pool, dtype=np.int64)
    if len(pool) == 0:
        raise LessdataError("the training pool is empty")
    pool_labels = np.zeros(len(pool), dtype=np.int64) if labels is None else np.asarray(labels)[pool]
    classes = np.unique(pool_labels)
    per_class = math.ceil(size / len(classes))
    streams = []
    for c in classes:
        members = pool[pool_labels == c]
        streams.append([members, rng.permutation(members), 0])
    out = []
    for _ in range(count):
        chunk = []
        for stream in streams:
            members, order, pos = stream
            take = min(per_class, len(members))
            if pos + take > len(order):  # start a fresh shuffle, without repeating within this subset
                leftover = order[pos:]
                order = np.concatenate([leftover, rng.permutation(np.setdiff1d(members, leftover))])
                pos = 0
            chunk.append(order[pos: pos + take])
            stream[1], stream[2] = order, pos + take
        out.append(np.sort(np.concatenate(chunk)))
    return out


def minibatch_coresets(
    signals: np.ndarray,
    labels: np.ndarray | None,
    subsets: list[np.ndarray],
    minibatch_size: int | list[int],
    *,
    n: int | None = None,
    metric: str = "rbf",
    optimizer: str = "lazy",
    epsilon: float = 0.01,
    seed: int = 0,
) -> Coreset:
    """From each subset pick a mini-batch coreset by per-class facility location on ``signals``.

    ``signals`` are indexed by global index (only rows in the subsets are read). ``minibatch_size`` is one
    size for all subsets or one per subset. Weights are cluster sizes rescaled to mean 1 within each mini-batch;
    an example picked from two overlapping subsets appears once, with the two weights summed. ``partition``
    holds the mini-batch number of each pick.
    """
    sizes = [minibatch_size] * len(subsets) if np.isscalar(minibatch_size) else list(minibatch_size)
    if len(sizes) != len(subsets):
        raise LessdataError(f"got {len(sizes)} mini-batch sizes for {len(subsets)} subsets")
    seeds = np.random.SeedSequence(seed).generate_state(max(len(subsets), 1), dtype=np.uint32)
    indices, weights, gains, part, objective = [], [], [], [], 0.0
    for p, (subset, m) in enumerate(zip(subsets, sizes)):
        if not 0 < m <= len(subset):
            raise LessdataError(f"cannot pick a mini-batch of {m} from a random subset of {len(subset)}")
        local = np.ascontiguousarray(signals[subset], dtype=np.float32)
        # one similarity for the whole subset, sliced per class: the engine has a fixed cost per call that
        # would dominate P x C tiny calls; for "rbf" the blocks are the same, and for "euclidean" the subset's
        # max(d) shifts each block by a constant, which changes no pick and no cluster size
        shared = dense_similarity(local, metric=metric) if len(subset) <= SHARED_SIMILARITY_LIMIT else None

        def select_part(part, local=local, shared=shared):
            if shared is None:
                return facility_location_part(local[part.indices], part.budget, metric=metric,
                                              optimizer=optimizer, epsilon=epsilon, seed=part.seed)
            return facility_location_part(None, part.budget, metric="precomputed", optimizer=optimizer,
                                          epsilon=epsilon, seed=part.seed,
                                          precomputed=shared[np.ix_(part.indices, part.indices)])

        cs = partitioned_coreset(select_part, len(subset), int(m), None if labels is None else labels[subset],
                                 int(seeds[p]))
        w = cs.weights.astype(np.float64)
        indices.append(subset[cs.indices])
        weights.append(w / w.mean() if w.mean() > 0 else np.ones_like(w))
        gains.append(cs.gains)
        part.append(np.full(len(cs), p, dtype=np.int64))
        objective += cs.objective
    idx = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    w = np.concatenate(weights) if weights else np.zeros(0)
    _, first, inverse = np.unique(idx, return_index=True, return_inverse=True)
    order = np.sort(first)  # selection order; a repeat is merged into its first occurrence
    merged_w = np.bincount(inverse, weights=w)[inverse[order]]
    return Coreset(
        indices=idx[order],
        weights=merged_w.astype(np.float32),
        gains=np.concatenate(gains)[order] if gains else None,
        objective=objective,
        partition=np.concatenate(part)[order] if part else None,
        n=n,
    )


@register
class CrestMethod(Method):
    """CREST's selection (Yang, Kang, Mirzasoleiman, ICML 2023): mini-batch coresets of ``minibatch_size``
    from ``ceil(budget / minibatch_size)`` random class-balanced subsets, by per-class facility location on the
    features (last-layer gradients); weights = cluster sizes rescaled to mean 1 per mini-batch.

    For CREST's training loop (reselect when the quadratic loss model stops holding) use
    :class:`lessdata.training.CrestTrainer`.
    """

    name = "crest"
    description = "CREST: mini-batch coresets (facility location) from random class-balanced subsets"
    signals = ("last_layer_gradients",)
    defaults = {
        "minibatch_size": 128,
        "subset_fraction": 0.01,
        "subset_size": None,
        "metric": "rbf",
        "optimizer": "lazy",
        "epsilon": 0.01,
    }

    parameter_constraints = {
        "minibatch_size": [Interval(int, 1, None)],
        "subset_fraction": [Interval(float, 0, 1, closed="right")],
        "subset_size": [Interval(int, 1, None), None],
        "metric": FEATURE_METRIC,  # it selects from random subsets of the features
        "optimizer": OPTIMIZER,
        "epsilon": EPSILON,
    }

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        m = min(int(p["minibatch_size"]), int(budget))
        count = math.ceil(budget / m)
        sizes = [m] * (count - 1) + [budget - m * (count - 1)]
        r = random_subset_size(n, m, p["subset_fraction"], p["subset_size"])
        rng = np.random.default_rng(seed)
        subsets = random_subsets(labels, count, r, rng, pool=np.arange(n, dtype=np.int64))
        sizes = [min(s, len(sub)) for s, sub in zip(sizes, subsets)]
        cs = minibatch_coresets(X, labels, subsets, sizes, n=n, metric=p["metric"], optimizer=p["optimizer"],
                                epsilon=p["epsilon"], seed=seed)
        if progress is not None:
            progress.update(len(cs))
        cs.params = {"random_subsets": {"count": count, "size": r}}
        return cs
