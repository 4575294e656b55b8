"""GreeDi: facility location on data too large for one machine.

GreeDi (Mirzasoleiman, Karbasi, Sarkar, Krause, "Distributed Submodular Maximization: Identifying
Representative Elements in Massive Data", NeurIPS 2013), in its randomised form RandGreeDi (Barbosa, Ene,
Nguyen, Ward, "The Power of Randomization: Distributed Submodular Maximization on Massive Datasets", ICML
2015):

1. split the points uniformly at random into ``m`` shards;
2. run greedy on each shard for ``κ`` picks (default the full budget ``k``), each shard on its own worker,
   with a similarity local to the shard (dense when it fits the memory cap, else a sparse k-NN graph);
3. merge the ``m·κ`` picks and run greedy for ``k`` picks on the merged set, each merged point weighted by
   the number of shard points it represents (its cluster size in the shard), so that the merged objective
   is a compressed copy of the full one;
4. return the better of the merged solution and the best shard solution, evaluated on the full objective.

No step holds an ``n × n`` matrix. The full objective ``F(S) = Σ_i max(0, max_{j∈S} s_ij)`` is computed
blockwise over fixed row ranges (``n × |S|`` similarities, a few megabytes at a time), through the same
backend, and gives the exact per-pick gains and cluster-size weights of the returned solution.

For ``metric="euclidean"`` the similarity is CRAIG's ``c − d``; the constant ``c`` is the double-sweep
estimate of the data's diameter (the farthest point from the farthest point of row 0), computed in two
O(nd) passes. It plays the part of the maximum distance that the dense similarity of one part uses, for
the whole data set, and it is the same for every selection evaluated on the same ``X``.

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(2000, 8)).astype(np.float32)
>>> res = greedi(X, 20, n_shards=4, seed=0)
>>> len(res.indices), float(res.weights.sum())
(20, 2000.0)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from .._process import peak_rss_bytes
from .._validation import POSITIVE_INT, check_param
from ..errors import LessdataError
from .evaluation import (  # noqa: F401  (re-exported: they lived here before the evaluation moved out)
    EVAL_CHUNK_ROWS,
    EXACT_EVAL_PAIRS,
    KNN_FLAT_LIMIT,
    Evaluation,
    _check_features_and_evaluation,
    _map,
    euclidean_constant,
    evaluate_facility_location,
)
from .optimizers import OPTIMIZERS
from .partition import Part
from .selection import facility_location_part
from .similarity import DEFAULT_MEMORY_CAP, DEFAULT_NEIGHBORS


# ---------------------------------------------------------------------------------- results
@dataclass
class GreediResult:
    """What :func:`greedi` returns.

    Attributes:
        indices: int64 global indices of the chosen solution, in selection order.
        weights: float32 cluster sizes on the full data (they sum to ``n``).
        gains: float64 marginal gains on the full objective, in selection order.
        objective: the full objective of the chosen solution.
        chosen: ``"merged"`` or ``"shard i"``.
        merged_objective, shard_objectives: the full objective of every candidate.
        centralized_objective: the full objective of centralized greedy on all of ``X``
            (``compare_centralized=True``), else ``None``.
        n_shards, kappa: what was run (``n_shards`` may be lowered so that shards hold ``κ`` points).
        constant: ``c`` of the euclidean similarity ``c − d`` (``None`` for other metrics).
        evaluation: ``"exact"`` or ``"knn"``, how the full objective was computed.
        seconds: wall-clock seconds per stage; shard_stats: per shard ``seconds``, ``peak_rss_bytes``, ``pid``.
    """

    indices: np.ndarray
    weights: np.ndarray
    gains: np.ndarray
    objective: float
    chosen: str
    merged_objective: float
    shard_objectives: list[float]
    n_shards: int
    kappa: int
    constant: float | None = None
    evaluation: str = "exact"
    centralized_objective: float | None = None
    centralized_indices: np.ndarray | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    shard_stats: list[dict] = field(default_factory=list)

    @property
    def ratio_to_centralized(self) -> float | None:
        """``objective / centralized_objective`` when the centralized run was made."""
        if self.centralized_objective is None or self.centralized_objective == 0:
            return None
        return self.objective / self.centralized_objective

    def summary(self) -> dict:
        """JSON-friendly diagnostics (stored in the Coreset's ``params["greedi"]``)."""
        out = {
            "chosen": self.chosen,
            "n_shards": self.n_shards,
            "kappa": self.kappa,
            "evaluation": self.evaluation,
            "merged_objective": self.merged_objective,
            "shard_objectives": [float(v) for v in self.shard_objectives],
        }
        if self.constant is not None:
            out["constant"] = self.constant
        if self.centralized_objective is not None:
            out["centralized_objective"] = self.centralized_objective
            out["ratio_to_centralized"] = self.ratio_to_centralized
        return out


# ------------------------------------------------------------------------------------- GreeDi
def greedi(
    X,
    k: int,
    n_shards: int,
    *,
    metric: str = "euclidean",
    kappa: int | None = None,
    optimizer: str = "lazy",
    epsilon: float = 0.01,
    seed: int = 0,
    backend="local",
    memory_cap: int = DEFAULT_MEMORY_CAP,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    weighted_merge: bool = True,
    evaluation: str = "auto",
    compare_centralized: bool = False,
    progress=None,
) -> GreediResult:
    """Pick ``k`` rows of ``X`` by facility location with (Rand)GreeDi over ``n_shards`` random shards.

    Args:
        X: features ``(n, d)``; with ``backend="ray"`` they go to the object store once and every shard task
            reads them zero-copy.
        k: number of points to select.
        n_shards: ``m``, the number of random shards (one task each). Lowered, with a log message, when
            shards would hold fewer than ``κ`` points.
        metric: ``euclidean`` (CRAIG's ``c − d``), ``cosine`` or ``rbf``.
        kappa: picks per shard, default ``k``; the merged set has ``m·κ`` points and must hold ``k``.
        optimizer, epsilon: the greedy used on the shards and on the merged set.
        seed: fixes the shards and every greedy; the result does not depend on the backend.
        backend: ``"local"``, ``"ray"`` or a backend object; runs the shards and the evaluation.
        memory_cap, n_neighbors: as in :func:`~lessdata.submodular.build_similarity`, per shard.
        weighted_merge: weight each merged point by its shard cluster size (``False``: plain GreeDi).
        evaluation: how the candidates are scored on the full objective (see
            :func:`evaluate_facility_location`): ``"exact"`` (blocked), ``"knn"`` (each point against its
            nearest picks from a faiss index) or ``"auto"`` (exact up to ``EXACT_EVAL_PAIRS`` similarities).
        compare_centralized: also run centralized greedy on all of ``X`` (only where it fits) and score it
            with the same full objective (``result.ratio_to_centralized``).
        progress: tqdm-compatible; ``total`` becomes ``m·κ + k`` picks.
    """
    X = _check_features_and_evaluation(X, metric, evaluation)
    if optimizer not in OPTIMIZERS or optimizer == "random_greedy":
        raise LessdataError(f"GreeDi needs a monotone greedy optimizer; choose one of: "
                            f"{', '.join(o for o in OPTIMIZERS if o != 'random_greedy')}")
    n = X.shape[0]
    k = int(check_param("greedi", "k", k, POSITIVE_INT))
    if k > n:
        raise LessdataError(f"cannot pick {k} of {n} points")
    m = int(check_param("greedi", "n_shards", n_shards, POSITIVE_INT))
    kappa = k if kappa is None else int(check_param("greedi", "kappa", kappa, POSITIVE_INT))
    fitting = max(1, n // kappa)
    if m > fitting:
        import logging

        logging.getLogger("lessdata").info(
            "GreeDi: %d shards of %d points cannot each give %d picks; using %d shards", m, n // m, kappa,
            fitting)
        m = fitting
    if m * min(kappa, -(-n // m)) < k:
        raise LessdataError(f"the merged set of {m} shards x kappa={kappa} picks cannot hold k={k} points")
    if progress is not None and hasattr(progress, "total"):
        progress.total = m * kappa + k

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    streams = np.random.SeedSequence(seed).spawn(3)
    perm = np.random.default_rng(streams[0]).permutation(n)
    # seeds below 2**31: faiss takes its clustering seed as a C int
    shard_seeds = streams[1].generate_state(m, dtype=np.uint32) >> np.uint32(1)
    merge_seed = int(streams[2].generate_state(1, dtype=np.uint32)[0] >> np.uint32(1))
    shards = [Part(i, i, np.sort(chunk), int(min(kappa, len(chunk))), int(shard_seeds[i]))
              for i, chunk in enumerate(np.array_split(perm, m))]
    options = {"metric": metric, "optimizer": optimizer, "epsilon": epsilon, "memory_cap": memory_cap,
               "n_neighbors": n_neighbors}
    local_progress = progress if getattr(_backend(backend), "in_process", True) else None

    def run_shard(part: Part):
        t0 = time.perf_counter()
        res = facility_location_part(X[part.indices], part.budget, seed=part.seed, progress=local_progress,
                                     **options)
        stats = {"seconds": time.perf_counter() - t0, "pid": os.getpid(),
                 "peak_rss_bytes": peak_rss_bytes()}
        return res, stats

    outs = _map(backend, run_shard, shards, progress)
    seconds["shards"] = time.perf_counter() - start

    t0 = time.perf_counter()
    picks = [part.indices[np.asarray(res.indices, dtype=np.int64)] for part, (res, _) in zip(shards, outs)]
    merged_pool = np.concatenate(picks)
    pool_weights = np.concatenate([np.asarray(res.weights, dtype=np.float32) for res, _ in outs])
    merged = facility_location_part(X[merged_pool], k, seed=merge_seed, progress=progress,
                                    point_weights=pool_weights if weighted_merge else None, **options)
    merged_sel = merged_pool[np.asarray(merged.indices, dtype=np.int64)]
    seconds["merge"] = time.perf_counter() - t0

    central = None
    if compare_centralized:
        t0 = time.perf_counter()
        central_res = facility_location_part(X, k, seed=seed, **options)
        central = np.asarray(central_res.indices, dtype=np.int64)
        seconds["centralized"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    constant = euclidean_constant(X, backend) if metric == "euclidean" else None
    candidates = [merged_sel] + [p[:k] for p in picks] + ([central] if central is not None else [])
    columns = len(np.unique(np.concatenate(candidates)))
    if evaluation == "auto":
        evaluation = "exact" if n * columns <= EXACT_EVAL_PAIRS else "knn"
    scores = evaluate_facility_location(X, candidates, metric, constant=constant, method=evaluation,
                                        backend=backend)
    seconds["evaluate"] = time.perf_counter() - t0
    solution_scores = scores[: 1 + m]
    best = max(range(len(solution_scores)), key=lambda i: (solution_scores[i].value, -i))  # ties: merged
    chosen = scores[best]
    seconds["total"] = time.perf_counter() - start
    return GreediResult(
        indices=candidates[best],
        weights=chosen.weights,
        gains=chosen.gains,
        objective=chosen.value,
        chosen="merged" if best == 0 else f"shard {best - 1}",
        merged_objective=scores[0].value,
        shard_objectives=[s.value for s in scores[1: 1 + m]],
        n_shards=m,
        kappa=kappa,
        constant=constant,
        evaluation=evaluation,
        centralized_objective=scores[-1].value if central is not None else None,
        centralized_indices=central,
        seconds=seconds,
        shard_stats=[stats for _, stats in outs],
    )


def _backend(backend):
    from ..backends import get_backend

    return get_backend(backend)
