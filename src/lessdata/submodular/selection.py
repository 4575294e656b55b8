"""Facility-location selection on features: similarity → objective → optimizer → weights, for one part."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import LessdataError
from .functions import FacilityLocation
from .optimizers import maximize
from .partition import PartResult
from .similarity import (
    DEFAULT_MEMORY_CAP,
    DEFAULT_NEIGHBORS,
    ImplicitSimilarity,
    build_similarity,
    check_precomputed,
    dense_bytes,
    nearest_selected,
)


def facility_location_part(
    X: np.ndarray | None,
    budget: int,
    *,
    metric: str = "euclidean",
    optimizer: str = "lazy",
    epsilon: float = 0.01,
    seed: int = 0,
    precomputed=None,
    memory_cap: int = DEFAULT_MEMORY_CAP,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    point_weights: np.ndarray | None = None,
    progress=None,
    on_demand_above: int | None = None,
    device=None,
) -> PartResult:
    """Pick ``budget`` points of one part by facility location; weights are CRAIG cluster sizes.

    Dense similarities over ``on_demand_above`` bytes are never stored whole (see
    :class:`~lessdata.submodular.similarity.ImplicitSimilarity`); ``None`` (default) stores them: faster
    when they fit, since storing the live entries after one pick costs about as much as the whole matrix.
    ``device`` (a torch device name such as ``"cuda"``): the similarity and the gains live on that device
    (:class:`~lessdata.submodular.device.DeviceFacilityLocation`); the dense similarity must fit ``memory_cap``.
    """
    if device is not None:
        S = None
        objective = _device_objective(X, metric, precomputed, memory_cap, point_weights, device)
    else:
        S = build_similarity(X, metric=metric, precomputed=precomputed, memory_cap=memory_cap,
                             n_neighbors=n_neighbors, seed=seed, on_demand_above=on_demand_above)
        objective = FacilityLocation(S, weights=point_weights)
    result = maximize(objective, budget, optimizer, epsilon=epsilon, seed=seed, progress=progress)
    if sp.issparse(S) and precomputed is None:
        # the k-NN graph only approximates the objective; the weights stay exact: every point goes to its
        # most similar pick, found by a flat search over the picks, so they sum to the part's (weighted) size
        owner = nearest_selected(X, result.indices, metric)
        w = np.ones(len(owner)) if point_weights is None else np.asarray(point_weights, dtype=np.float64)
        weights = np.bincount(owner, weights=w, minlength=len(result.indices)).astype(np.float32)
        info = {"storage": "knn", "n_neighbors": int(n_neighbors)}
    else:
        weights = objective.cluster_sizes(result.indices)
        info = {"storage": "precomputed" if precomputed is not None else
                "on_demand" if isinstance(S, ImplicitSimilarity) else "dense"}
        if device is not None:
            info["device"] = str(objective.device)
    return PartResult(indices=result.indices, weights=weights, gains=result.gains, objective=objective.value(),
                      info=info)


def _device_objective(X, metric, precomputed, memory_cap, point_weights, device):
    from .device import DeviceFacilityLocation, device_similarity

    if metric == "precomputed":
        S = check_precomputed(precomputed)
        if hasattr(S, "toarray"):
            raise LessdataError("the device path takes a dense precomputed similarity, not a sparse one")
        return DeviceFacilityLocation(S, device, point_weights)
    if dense_bytes(len(X), len(X)) > memory_cap:
        raise LessdataError(f"the device path keeps the dense {len(X)} x {len(X)} similarity, over memory_cap "
                            f"({memory_cap} bytes): raise memory_cap, select per part, or drop device=")
    return DeviceFacilityLocation(device_similarity(X, metric, device), device, point_weights)
