"""Shared plumbing for methods that select per part of a partition (``labels``) through a backend."""

from __future__ import annotations

import logging

import numpy as np

from ..coreset import Coreset
from ..submodular.partition import make_parts, run_partitioned

logger = logging.getLogger("lessdata")


def partitioned_coreset(
    select_part, n, budget, labels, seed, policy="proportional", backend="local", progress=None
) -> Coreset:
    """Split ``budget`` over the parts of ``labels`` (one part when ``None``) and run ``select_part``.

    ``budget`` is a total or a ``{label: count}`` mapping. ``select_part(part) -> PartResult`` works in the
    part's local indexing, ticking ``progress`` itself; pass ``progress`` here too so that backends running
    parts in other processes can report it. The Coreset's ``partition`` holds
    part ids (positions of the sorted unique labels); ``params["partition_labels"]`` maps them back.
    """
    part_labels = np.zeros(n, dtype=np.int64) if labels is None else labels
    parts = make_parts(part_labels, budget, policy, seed)
    indices, weights, gains, part_ids, objective, infos = run_partitioned(parts, select_part, backend, progress)
    params = _record_paths(infos)
    if labels is not None:
        params["partition_labels"] = [p.label if isinstance(p.label, (int, float, str)) else str(p.label)
                                      for p in parts]
    return Coreset(
        indices=indices,
        weights=weights,
        gains=gains,
        objective=objective,
        partition=None if labels is None else part_ids,
        params=params,
    )


def _record_paths(infos) -> dict:
    """``storage_used`` (parts per similarity path) and the k-NN settings when any part took that path; the
    switch to the approximate path is logged once per selection."""
    paths = [info["storage"] for info in infos if info and "storage" in info]
    if not paths:
        return {}
    params = {"storage_used": {path: paths.count(path) for path in sorted(set(paths))}}
    knn = [info for info in infos if info and info.get("storage") == "knn"]
    if knn:
        params["knn_neighbors"] = knn[0]["n_neighbors"]
        logger.warning("%d of %d part(s) were over the memory cap and selected on a sparse %d-NN similarity "
                       "graph: their objective is approximate (weights are exact: every point counts)",
                       len(knn), len(paths), knn[0]["n_neighbors"])
    return params
