"""kMQ: diversity-first selection by k-means, the budget spread over the clusters (and its iterative rounds).

Yu, Ustun, et al., "Diversify and Conquer: Diversity-Centric Data Selection with Iterative Refinement"
(ICLR 2025). Checked against the reference code for-ai/iterative-data-selection
(``selection/methods/kmeansrandom.py``, ``selection/methods/kmeansiter.py``, ``selection/iter.py``).

**Static kMQ** (registered method ``"kmq"``): k-means (faiss, Euclidean, ``n_clusters`` = 100 by default,
seeded) on any embeddings of the examples (e.g. :func:`lessdata.llm.sentence_embeddings`); every cluster
gets a share of the budget proportional to its size, and its picks are drawn without repeats — uniformly, or
with probability proportional to a per-example ``quality`` score (the "Q" of kMQ; the paper's scores come
from a quality scorer). Picks carry weight 1.

**Iterative kMQ** (the loop is :func:`lessdata.llm.iterative_kmq`; its resampling step is
:func:`next_round`): the budget is split over ``rounds``; the first round spreads its share evenly over
the clusters (cluster weights 1/K, as in the paper and ``kmeansiter.py``), a model is trained on what was
picked so far, each cluster is scored by how far the model still is from the gold responses of its picked
examples, and the next round's share is drawn from the clusters by the softmax of those scores, from the
examples not picked yet.

Deliberate departures from the reference code:

- the budget totals are exact: the reference's static selection floors each cluster's
  ``size / N · budget`` (dropping up to K − 1 examples), and its later rounds draw only
  ``N · portion / K / rounds`` examples — K times fewer than a round's share (its issue #8). Here every round
  draws exactly its share (``budget // rounds``, the remainder to the first rounds), and a cluster that
  runs out of unpicked examples passes its overflow to the clusters with room (by their weights), so the
  total is always the budget and nothing is picked twice;
- clusters without a scored example get the mean score of the scored ones (the reference's softmax would
  have a missing entry);
- ``weight_update="softmax"`` (default, the reference code) uses the softmax of the round's scores as the
  next weights; ``"multiplicative"`` multiplies the previous weights by it, as the paper's text describes
  (the reference's issue #10 notes the difference).
"""

from __future__ import annotations

import numpy as np

from .._validation import C_COUNT, NUMBERS, Interval, Options
from ..coreset import Coreset
from ..errors import LessdataError
from ..submodular.partition import split_budget
from .registry import Method, register
from .s2l import kmeans_clusters

__all__ = ["KMQMethod", "allocate", "cluster_scores", "next_round", "round_sizes", "sample_clusters"]


def round_sizes(budget: int, rounds: int) -> np.ndarray:
    """Split ``budget`` over ``rounds`` exactly: ``budget // rounds`` each, the remainder to the first rounds.

    Examples:
        >>> round_sizes(10, 3).tolist()
        [4, 3, 3]
    """
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 1:
        raise LessdataError(f"rounds must be a positive integer, got {rounds!r}")
    budget = int(budget)
    if budget < rounds:
        raise LessdataError(f"a budget of {budget} cannot be spread over {rounds} rounds (at least one per round)")
    sizes = np.full(int(rounds), budget // rounds, dtype=np.int64)
    sizes[: budget % rounds] += 1
    return sizes


def allocate(weights, capacity, size: int, rng: np.random.Generator) -> np.ndarray:
    """Per-cluster counts summing exactly to ``size``: multinomial draws by ``weights``, never above ``capacity``.

    What a full cluster would have taken is drawn again from the clusters that still have room (by their
    weights; uniformly among them when those weights are all zero).

    Examples:
        >>> c = allocate([0.9, 0.1], [3, 100], 10, np.random.default_rng(0))
        >>> int(c.sum()), int(c[0]) <= 3
        (10, True)
    """
    weights = np.asarray(weights, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.int64)
    size = int(size)
    if size > int(capacity.sum()):
        raise LessdataError(f"cannot draw {size} examples from clusters holding {int(capacity.sum())}")
    counts = np.zeros(len(capacity), dtype=np.int64)
    while size > counts.sum():
        room = counts < capacity
        w = np.where(room, weights, 0.0)
        w = w / w.sum() if w.sum() > 0 else room / room.sum()
        counts += rng.multinomial(size - int(counts.sum()), w)
        counts = np.minimum(counts, capacity)
    return counts


def sample_clusters(assign: np.ndarray, counts: np.ndarray, available: np.ndarray, rng: np.random.Generator,
                    quality: np.ndarray | None = None) -> np.ndarray:
    """Draw ``counts[c]`` of the ``available`` examples of cluster ``c`` without repeats (uniformly, or with
    probability proportional to ``quality``); returns indices, cluster by cluster."""
    picks = []
    for c in np.flatnonzero(counts):
        members = np.flatnonzero((assign == c) & available)
        p = None
        if quality is not None:
            q = quality[members]
            p = q / q.sum() if q.sum() > 0 and np.count_nonzero(q) >= counts[c] else None
        picks.append(rng.choice(members, size=int(counts[c]), replace=False, p=p))
    return np.concatenate(picks).astype(np.int64) if picks else np.zeros(0, dtype=np.int64)


def cluster_scores(assign: np.ndarray, picked: np.ndarray, scores: np.ndarray, n_clusters: int) -> np.ndarray:
    """Mean score of the picked examples of every cluster; clusters without a picked example get the mean of
    the others' (0 when none is scored)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(picked),) or not np.isfinite(scores).all():
        raise LessdataError(f"the round scores must be {len(picked)} finite numbers, one per picked example")
    sums = np.bincount(assign[picked], weights=scores, minlength=n_clusters)
    counts = np.bincount(assign[picked], minlength=n_clusters)
    out = np.full(n_clusters, np.nan)
    out[counts > 0] = sums[counts > 0] / counts[counts > 0]
    return np.where(np.isnan(out), np.nanmean(out) if (counts > 0).any() else 0.0, out)


def next_round(assign: np.ndarray, picked: np.ndarray, scores: np.ndarray, size: int, rng: np.random.Generator,
               *, weights: np.ndarray | None = None, temperature: float = 1.0,
               weight_update: str = "softmax") -> tuple[np.ndarray, np.ndarray]:
    """One refinement round: ``(new picks, new cluster weights)``.

    ``assign``: cluster of every example; ``picked``: examples picked so far; ``scores``: one score per picked
    example (higher = the model falls further short on it; e.g. its gold response's mean token loss);
    ``size``: examples to add, exactly, none of them picked before.

    Examples:
        >>> assign = np.repeat([0, 1], 50)
        >>> picked = np.array([0, 1, 50, 51])
        >>> new, w = next_round(assign, picked, np.array([5.0, 5.0, 0.0, 0.0]), 20, np.random.default_rng(0))
        >>> len(new), len(set(new) & set(picked)), bool(w[0] > 0.99)
        (20, 0, True)
    """
    n_clusters = int(assign.max()) + 1
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise LessdataError(f"temperature must be a positive number, got {temperature!r}")
    if weight_update not in ("softmax", "multiplicative"):
        raise LessdataError(f"weight_update must be 'softmax' or 'multiplicative', got {weight_update!r}")
    s = cluster_scores(assign, picked, scores, n_clusters) / temperature
    soft = np.exp(s - s.max())
    soft /= soft.sum()
    if weight_update == "multiplicative" and weights is not None:
        soft = np.asarray(weights, dtype=np.float64) * soft
        soft /= soft.sum()
    available = np.ones(len(assign), dtype=bool)
    available[picked] = False
    capacity = np.bincount(assign[available], minlength=n_clusters)
    counts = allocate(soft, capacity, size, rng)
    return sample_clusters(assign, counts, available, rng), soft


@register
class KMQMethod(Method):
    """kMQ (Yu et al., 2025): k-means on embeddings, the budget spread over clusters in proportion to their
    sizes (exact totals), picks drawn without repeats, uniformly or by ``quality``. See :mod:`lessdata.methods.kmq`.

    Examples:
        >>> import lessdata
        >>> E = np.random.default_rng(0).normal(size=(400, 8)).astype("float32")
        >>> cs = lessdata.select(E, budget=37, method="kmq", n_clusters=10)
        >>> len(cs), len(set(cs.indices.tolist()))
        (37, 37)
    """

    name = "kmq"
    description = "kMQ (Yu et al. 2025): k-means on embeddings, budget spread over clusters by size"
    signals = ("embeddings",)
    defaults = {"n_clusters": 100, "iterations": 20, "restarts": 1, "quality": None, "budget_policy": "proportional"}
    parameter_constraints = {"n_clusters": [Interval(int, 1, None)], "iterations": C_COUNT,
                             "restarts": C_COUNT, "quality": [NUMBERS, None],
                             "budget_policy": [Options("proportional", "equal")]}

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        quality = None
        if p["quality"] is not None:
            quality = np.asarray(p["quality"], dtype=np.float64)
            if quality.shape != (n,) or not np.isfinite(quality).all() or (quality < 0).any():
                raise LessdataError(f"quality must hold {n} finite non-negative scores, one per example")
        assign = kmeans_clusters(X, p["n_clusters"], iterations=p["iterations"], seed=seed, restarts=p["restarts"])
        sizes = np.bincount(assign)
        counts = split_budget(sizes, int(budget), p["budget_policy"])
        rng = np.random.default_rng(seed)
        picks = sample_clusters(assign, counts, np.ones(n, dtype=bool), rng, quality)
        if progress is not None:
            progress.update(len(picks))
        return Coreset(indices=picks, weights=np.ones(len(picks), dtype=np.float32),
                       partition=assign[picks], params={"clusters": int(len(sizes))})
