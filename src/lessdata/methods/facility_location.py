"""Facility-location coresets: the generic method and CRAIG."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._validation import NUMBERS, Interval, Options, Satisfies
from ..errors import LessdataError
from ..submodular.selection import facility_location_part
from ..submodular.similarity import (
    AUTO_ON_DEMAND_ABOVE,
    AUTO_ON_DEMAND_MAX_FEATURES,
    AUTO_ON_DEMAND_NARROW,
    AUTO_ON_DEMAND_WIDE_ABOVE,
    DEFAULT_MEMORY_CAP,
    DEFAULT_NEIGHBORS,
)
from ._partitioned import partitioned_coreset
from .registry import BACKEND, BUDGET_POLICY, EPSILON, MEMORY_CAP, METRIC, N_NEIGHBORS, OPTIMIZER, Method, register

#: ``dense`` stores each part's similarity (under ``memory_cap``); ``on_demand`` never stores it whole: the
#: first gains come from one pass over cache-sized tiles, which also keeps the entries that a first pick
#: guessed from a sample of the points would leave live (a second pass runs only when the guess is not the
#: first pick; benchmarks/results/engine_storage.md). ``auto`` (default) takes
#: ``on_demand`` for euclidean and rbf parts whose dense similarity would exceed
#: :data:`~lessdata.submodular.similarity.AUTO_ON_DEMAND_ABOVE` bytes (160 MiB, n ≈ 6,500) with at most
#: :data:`~lessdata.submodular.similarity.AUTO_ON_DEMAND_NARROW` (128) feature columns, or above
#: :data:`~lessdata.submodular.similarity.AUTO_ON_DEMAND_WIDE_ABOVE` (256 MiB, n ≈ 8,200) with at most
#: :data:`~lessdata.submodular.similarity.AUTO_ON_DEMAND_MAX_FEATURES` (256), and ``dense`` otherwise
#: (cosine keeps most entries live after one pick, so storing them gains nothing).
STORAGE = ("auto", "dense", "on_demand")


@register
class FacilityLocationMethod(Method):
    """Facility location (Cornuéjols et al. 1977) per part of ``labels`` (the whole set when none), with
    weights = the number of points each selected point represents (its cluster size).

    ``storage="on_demand"`` selects without ever storing a part's dense similarity; ``"auto"`` (default) does
    so where that is faster (see :data:`STORAGE`)."""

    name = "facility_location"
    description = "facility location per part (cosine by default); weights = cluster sizes"
    signals = ("features", "embeddings")
    partitioned = True
    defaults = {
        "metric": "cosine",
        "optimizer": "lazy",
        "epsilon": 0.01,
        "budget_policy": "proportional",
        "memory_cap": DEFAULT_MEMORY_CAP,
        "n_neighbors": DEFAULT_NEIGHBORS,
        "similarity": None,
        "backend": "local",
        "storage": "auto",
        "device": None,
    }
    parameter_constraints = {
        "metric": METRIC,
        "optimizer": OPTIMIZER,
        "epsilon": EPSILON,
        "budget_policy": BUDGET_POLICY,
        "memory_cap": MEMORY_CAP,
        "n_neighbors": N_NEIGHBORS,
        "similarity": [NUMBERS, None],
        "backend": BACKEND,
        "storage": [Options(*STORAGE)],
        # a torch device ("cuda", "cuda:1", "cpu"...): similarity and gains on that device
        "device": [Satisfies("a torch device name", lambda v: isinstance(v, str) or hasattr(v, "type")), None],
    }

    @property
    def needs_features(self):
        return self.params["metric"] != "precomputed"

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        precomputed = p["similarity"]
        if p["metric"] == "precomputed" and labels is not None:
            raise LessdataError("metric='precomputed' works on the whole set; select per part yourself")

        def select_part(part):
            part_progress = progress
            if progress is not None:  # name the phase on the bar: building the similarity, then picking
                from .._progress import PhaseProgress

                where = f"{self.name}" if labels is None else f"{self.name}, part {part.label}"
                part_progress = PhaseProgress(progress, f"{where}: ").start()
            return facility_location_part(
                None if X is None else X[part.indices],
                part.budget,
                metric=p["metric"],
                optimizer=p["optimizer"],
                epsilon=p["epsilon"],
                seed=part.seed,
                precomputed=precomputed,
                memory_cap=p["memory_cap"],
                n_neighbors=p["n_neighbors"],
                progress=part_progress,
                on_demand_above=on_demand_above(p["storage"], p["metric"], None if X is None else X.shape[1]),
                device=p["device"],
            )

        return partitioned_coreset(select_part, n, budget, labels, seed, p["budget_policy"], p["backend"],
                                   progress)


def on_demand_above(storage: str, metric: str, features: int | None) -> int | None:
    """Dense-similarity size (bytes) above which a part's similarity is computed on demand under ``storage``
    (see :data:`STORAGE`), for ``features`` feature columns (None: a precomputed similarity); None: never."""
    if storage == "on_demand":
        return 0
    features = features or 0
    if storage != "auto" or metric not in ("euclidean", "rbf") or features > AUTO_ON_DEMAND_MAX_FEATURES:
        return None
    return AUTO_ON_DEMAND_ABOVE if features <= AUTO_ON_DEMAND_NARROW else AUTO_ON_DEMAND_WIDE_ABOVE


@register
class CraigMethod(FacilityLocationMethod):
    """CRAIG (Mirzasoleiman, Bilmes, Leskovec, "Coresets for Data-efficient Training of Machine Learning
    Models", ICML 2020): per-class facility location with similarity ``max(d) − d`` on the features (raw
    inputs for convex models, last-layer gradients for deep nets); each selected point is weighted by the
    size of the cluster it represents, and training uses weighted incremental gradient steps.

    Checked against: baharanm/craig (``util.get_orders_and_weights`` and ``train_resnet.py``): per-class
    facility location (``equal_num`` there splits the budget equally over classes; here ``budget_policy``,
    proportional by default), euclidean distances, weights = cluster sizes (normalised to mean 1 for training,
    as :meth:`Coreset.normalized_weights` does). Departure, off by default: ``max_weight_ratio`` caps every
    weight at that multiple of the mean weight (one pass, after selection), because on saturated classes of a
    trained network a few medoids represent clusters 40-90x the mean size and dominate the weighted loss; the
    reference does not cap (measured on Fashion-MNIST with LeNet: a cap of 10 gave 82.8% against 82.2%
    uncapped, random 81.7%, one seed pair)."""

    name = "craig"
    description = "CRAIG: per-class facility location on features/gradients (max d - d); weights = cluster sizes"
    signals = ("features", "last_layer_gradients")
    defaults = {**FacilityLocationMethod.defaults, "metric": "euclidean", "max_weight_ratio": None}
    parameter_constraints = {**FacilityLocationMethod.parameter_constraints,
                             "max_weight_ratio": [Interval(float, 1, None), None]}

    def run(self, X, budget, labels, seed, n, progress=None):
        coreset = super().run(X, budget, labels, seed, n, progress)
        ratio = self.params["max_weight_ratio"]
        if ratio is None or len(coreset.weights) == 0:
            return coreset
        weights = np.asarray(coreset.weights, dtype=np.float64)
        capped = np.minimum(weights, ratio * weights.mean()).astype(coreset.weights.dtype)
        return dataclasses.replace(coreset, weights=capped)
