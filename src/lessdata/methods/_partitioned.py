"""Shared plumbing for methods that select per part of a partition (``labels``) through a backend."""

from __future__ import annotations

import numpy as np

from ..coreset import Coreset
from ..submodular.partition import make_parts, run_partitioned


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
    indices, weights, gains, part_ids, objective = run_partitioned(parts, select_part, backend, progress)
    params = {}
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
