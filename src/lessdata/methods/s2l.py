"""S2L: cluster the loss trajectories of a small proxy model and sample every cluster evenly.

Yang, Mishra, Chiang, Mirzasoleiman, "SmallToLarge (S2L): Scalable Data Selection for Fine-tuning Large
Language Models by Summarizing Training Trajectories of Small Models" (NeurIPS 2024). Examples whose losses
evolve alike during the proxy's training have similar gradients for the large model too, so a subset that
covers every trajectory cluster evenly trains the large model about as well as all the data.

The features are the ``N × T`` trajectories (each example's loss at ``T`` proxy checkpoints, NaN → 0; see
:func:`lessdata.llm.loss_trajectories`) and the labels are the examples' sources (datasets). Selection:

1. **Sources** are visited from the smallest to the largest; each gets ``remaining // sources_left`` of the
   budget, or all of itself when it is smaller than that (a ``{source: count}`` budget mapping replaces this).
2. **Within a source**, faiss k-means (``n_clusters`` = 100 by default, capped by the source size;
   ``iterations`` = 20; seeded; ``restarts`` > 1 keeps the best of several random initialisations) clusters
   the trajectories (Euclidean). Clusters of at most
   ``small_cluster_size`` (2) examples are set aside.
3. The other clusters are visited from the smallest to the largest; each takes ``remaining // clusters_left``
   examples: all of a cluster smaller than that, a uniform random sample of a larger one.
4. Any shortfall (when the kept clusters hold fewer examples than the source's budget) is filled by a
   uniform random sample of the set-aside small clusters, so every source gets exactly its budget.

Weights: ``weights="uniform"`` (default) gives every pick weight 1 — S2L trains on the subset as it is;
``weights="cluster"`` gives a pick from a cluster of ``n_c`` examples with ``k_c`` picks weight ``n_c / k_c``
(the number of examples it stands for; the set-aside pool counts as one cluster). ``Coreset.partition``
holds the source ids; ``params["clusters"]`` the number of kept clusters per source.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._validation import C_COUNT, Interval, Options, check_params
from ..coreset import Coreset
from ..errors import LessdataError
from ..submodular.partition import plain_label, split_budget
from .registry import Method, check_signal, register

__all__ = ["S2LMethod", "balanced_budgets", "cluster_budgets", "kmeans_clusters"]


def balanced_budgets(sizes, budget: int) -> np.ndarray:
    """Split ``budget`` over parts of the given ``sizes``, smallest part first, each taking
    ``remaining // parts_left`` or all of itself; the total is exactly ``budget`` (at most ``sum(sizes)``).

    S2L's budget rule across sources and across clusters. Whatever the last parts cannot hold (a rare
    rounding case) goes to the largest parts with room.

    Examples:
        >>> balanced_budgets([100, 5, 40], 60).tolist()
        [28, 5, 27]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    budget = int(budget)
    if budget < 0 or budget > int(sizes.sum()):
        raise LessdataError(f"budget {budget} must be between 0 and the number of points ({int(sizes.sum())})")
    out = np.zeros(len(sizes), dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    remaining = budget
    for visited, part in enumerate(order):
        take = min(int(sizes[part]), remaining // (len(order) - visited))
        out[part] = take
        remaining -= take
    for part in order[::-1]:  # rounding leftovers: largest parts with room first
        if remaining == 0:
            break
        extra = min(remaining, int(sizes[part] - out[part]))
        out[part] += extra
        remaining -= extra
    return out


def cluster_budgets(cluster_sizes, budget: int, small_cluster_size: int = 2) -> tuple[np.ndarray, int]:
    """S2L's per-cluster budgets: clusters of at most ``small_cluster_size`` get nothing here, the others
    :func:`balanced_budgets` of what they can hold; returns ``(budgets, shortfall)`` where the shortfall is
    what the set-aside small clusters must supply.

    Examples:
        >>> cluster_budgets([2, 10, 50, 3], 20)
        (array([0, 8, 9, 3]), 0)
    """
    sizes = np.asarray(cluster_sizes, dtype=np.int64)
    kept = sizes > small_cluster_size
    out = np.zeros(len(sizes), dtype=np.int64)
    capacity = int(sizes[kept].sum())
    out[kept] = balanced_budgets(sizes[kept], min(int(budget), capacity))
    return out, int(budget) - int(out.sum())


def kmeans_clusters(X: np.ndarray, n_clusters: int, *, iterations: int = 20, seed: int = 0,
                    restarts: int = 1) -> np.ndarray:
    """Cluster id of each row of ``X`` by faiss k-means (Euclidean, seeded, random initial centroids; the best
    of ``restarts`` runs); ``n_clusters`` is capped by the number of rows.

    Examples:
        >>> X = np.array([[0, 0], [0, 0.1], [5, 5], [5, 5.1]], dtype="float32")
        >>> c = kmeans_clusters(X, 2, restarts=3)
        >>> bool(c[0] == c[1] != c[2] == c[3])
        True
    """
    import faiss

    check_params("kmeans_clusters", {"n_clusters": n_clusters, "iterations": iterations, "restarts": restarts},
                 {"n_clusters": [Interval(int, 1, None)], "iterations": C_COUNT, "restarts": C_COUNT})
    X = np.ascontiguousarray(X, dtype=np.float32)
    k = min(int(n_clusters), X.shape[0])
    if k <= 1:
        return np.zeros(X.shape[0], dtype=np.int64)
    kmeans = faiss.Kmeans(X.shape[1], k, niter=int(iterations), seed=int(seed) % (1 << 31), verbose=False,
                          nredo=int(restarts), min_points_per_centroid=1, max_points_per_centroid=1 << 30)
    kmeans.train(X)
    _, nearest = kmeans.index.search(X, 1)
    return nearest[:, 0].astype(np.int64)


@register
class S2LMethod(Method):
    """S2L (Yang et al., NeurIPS 2024): source-balanced, cluster-balanced sampling of k-means clusters of
    proxy loss trajectories. See :mod:`lessdata.methods.s2l` for the exact procedure.

    Checked against: the paper (no reference code checked). Departures: the handling of clusters of at most
    ``small_cluster_size`` examples and the random fill-up (steps 2 and 4 of the module docs) and NaN losses read
    as 0 are lessdata's; ``weights="uniform"`` (default) trains on the subset as the paper does.

    Examples:
        >>> import lessdata
        >>> traj = np.random.default_rng(0).gamma(2.0, size=(500, 5)).astype("float32")
        >>> sources = np.repeat([0, 1], [450, 50])
        >>> cs = lessdata.select(traj, budget=120, method="s2l", labels=sources, n_clusters=20)
        >>> cs.partition_counts()
        {0: 70, 1: 50}
    """

    name = "s2l"
    description = "S2L (Yang et al. 2024): k-means on proxy loss trajectories, balanced over sources and clusters"
    signals = ("loss_trajectories",)
    partitioned = True
    defaults = {"n_clusters": 100, "iterations": 20, "restarts": 1, "small_cluster_size": 2, "weights": "uniform"}

    parameter_constraints = {
        "n_clusters": [Interval(int, 1, None)],
        "iterations": C_COUNT,
        "restarts": C_COUNT,
        "small_cluster_size": [Interval(int, 0, None)],
        "weights": [Options("uniform", "cluster")],
    }

    def run(self, X, budget, labels, seed, n, progress=None):
        check_signal(X, "loss_trajectories", "method 's2l'")  # losses are >= 0: raw features are refused
        part_labels = np.zeros(n, dtype=np.int64) if labels is None else labels
        names, inverse = np.unique(part_labels, return_inverse=True)
        groups = [np.flatnonzero(inverse == i) for i in range(len(names))]
        sizes = [len(g) for g in groups]
        if isinstance(budget, Mapping):
            budgets = split_budget(sizes, budget, labels=names)
        else:
            budgets = balanced_budgets(sizes, budget)
        seeds = np.random.SeedSequence(seed).generate_state(len(names), dtype=np.uint32)
        indices, weights, part_ids, clusters = [], [], [], {}
        for part, (group, b) in enumerate(zip(groups, budgets)):
            picks, w, kept = self._select_source(X[group], int(b), int(seeds[part]))
            indices.append(group[picks])
            weights.append(w)
            part_ids.append(np.full(len(picks), part, dtype=np.int64))
            clusters[str(plain_label(names[part]))] = kept
            if progress is not None:
                progress.update(len(picks))
        params = {"clusters": clusters}
        if labels is not None:
            params["partition_labels"] = [plain_label(v) if isinstance(plain_label(v), (int, float, str)) else str(v)
                                          for v in names]
        return Coreset(indices=np.concatenate(indices), weights=np.concatenate(weights),
                       partition=None if labels is None else np.concatenate(part_ids), params=params)

    def _select_source(self, X: np.ndarray, budget: int, seed: int):
        """Local picks (in visit order), their weights, and the number of kept clusters of one source."""
        m = X.shape[0]
        p = self.params
        if budget == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), 0
        if budget >= m:  # a small source: all of it
            return np.arange(m, dtype=np.int64), np.ones(m, dtype=np.float32), 0
        rng = np.random.default_rng(seed)
        assign = kmeans_clusters(X, p["n_clusters"], iterations=p["iterations"], seed=seed, restarts=p["restarts"])
        ids, sizes = np.unique(assign, return_counts=True)
        per_cluster, shortfall = cluster_budgets(sizes, budget, p["small_cluster_size"])
        picks, weights = [], []
        for c in np.lexsort((ids, sizes)):  # smallest cluster first, ties by cluster id
            if per_cluster[c] == 0:
                continue
            members = np.flatnonzero(assign == ids[c])
            chosen = members if per_cluster[c] >= len(members) else rng.choice(members, per_cluster[c], replace=False)
            picks.append(chosen)
            weights.append(np.full(len(chosen), len(members) / len(chosen), dtype=np.float32))
        if shortfall > 0:  # fill from the set-aside small clusters (cluster_budgets: they always hold enough)
            pool = np.flatnonzero(np.isin(assign, ids[sizes <= p["small_cluster_size"]]))
            extra = rng.choice(pool, shortfall, replace=False)
            picks.append(extra)
            weights.append(np.full(shortfall, len(pool) / shortfall, dtype=np.float32))
        local = np.concatenate(picks).astype(np.int64)
        w = np.concatenate(weights) if p["weights"] == "cluster" else np.ones(len(local), dtype=np.float32)
        return local, w, int((sizes > p["small_cluster_size"]).sum())
