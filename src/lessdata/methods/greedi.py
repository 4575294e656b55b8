"""GreeDi: facility location for a part too large for one machine (shards on a backend, then a merge)."""

from __future__ import annotations

from .._validation import BOOL, Interval, Options
from ..submodular.greedi import greedi
from ..submodular.optimizers import OPTIMIZERS
from ..submodular.partition import PartResult
from ..submodular.similarity import DEFAULT_MEMORY_CAP, DEFAULT_NEIGHBORS
from ._partitioned import partitioned_coreset
from .registry import BACKEND, BUDGET_POLICY, EPSILON, FEATURE_METRIC, MEMORY_CAP, N_NEIGHBORS, Method, register


@register
class GreediMethod(Method):
    """Facility location by RandGreeDi (Mirzasoleiman et al., NeurIPS 2013; Barbosa et al., ICML 2015): each
    part of ``labels`` (the whole set when none) is split into ``n_shards`` random shards, greedy runs on
    every shard through ``backend``, greedy runs again on the merged picks, and the better of the merged and
    the best shard solution on the full objective is kept. Weights are cluster sizes on the full part."""

    name = "greedi"
    description = "GreeDi: facility location over random shards (local or Ray), merged; weights = cluster sizes"
    signals = ("features", "embeddings", "last_layer_gradients")
    partitioned = True
    defaults = {
        "n_shards": 4,
        "kappa": None,
        "metric": "euclidean",
        "optimizer": "lazy",
        "epsilon": 0.01,
        "budget_policy": "proportional",
        "memory_cap": DEFAULT_MEMORY_CAP,
        "n_neighbors": DEFAULT_NEIGHBORS,
        "weighted_merge": True,
        "evaluation": "auto",
        "compare_centralized": False,
        "backend": "local",
    }

    parameter_constraints = {
        "n_shards": [Interval(int, 1, None)],
        "kappa": [Interval(int, 1, None), None],
        "metric": FEATURE_METRIC,
        "optimizer": [Options(*(o for o in OPTIMIZERS if o != "random_greedy"))],  # GreeDi needs a monotone greedy
        "epsilon": EPSILON,
        "budget_policy": BUDGET_POLICY,
        "memory_cap": MEMORY_CAP,
        "n_neighbors": N_NEIGHBORS,
        "weighted_merge": [BOOL],
        "evaluation": [Options("auto", "exact", "knn")],
        "compare_centralized": [BOOL],
        "backend": BACKEND,
    }

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        diagnostics = {}  # by part id: the local backend may run parts on threads

        def select_part(part):
            res = greedi(
                X[part.indices] if labels is not None else X,
                part.budget,
                p["n_shards"],
                metric=p["metric"],
                kappa=p["kappa"],
                optimizer=p["optimizer"],
                epsilon=p["epsilon"],
                seed=part.seed,
                backend=p["backend"],
                memory_cap=p["memory_cap"],
                n_neighbors=p["n_neighbors"],
                weighted_merge=p["weighted_merge"],
                evaluation=p["evaluation"],
                compare_centralized=p["compare_centralized"],
                progress=progress if labels is None else None,
            )
            diagnostics[part.id] = res.summary()
            if labels is not None and progress is not None:
                progress.update(part.budget)
            return PartResult(indices=res.indices, weights=res.weights, gains=res.gains, objective=res.objective)

        # the parts run here (the local backend); each part's shards run on the chosen backend
        cs = partitioned_coreset(select_part, n, budget, labels, seed, p["budget_policy"], "local")
        ordered = [diagnostics[i] for i in sorted(diagnostics)]
        cs.params["greedi"] = ordered[0] if labels is None else ordered
        return cs
