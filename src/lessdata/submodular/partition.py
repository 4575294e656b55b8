"""Partitioned selection: one mechanism for per-class, per-latent-class, per-source, per-cluster and
per-shard selection.

A partition is an array with one label per point. :func:`split_budget` splits a total budget across the
parts exactly; :func:`run_partitioned` runs one independent selection per part through a backend and
stitches the results into global indices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .._threads import single_threaded_blas
from .._validation import check_choice
from ..errors import LessdataError

logger = logging.getLogger("lessdata")

BUDGET_POLICIES = ("proportional", "equal")


@dataclass
class Part:
    """One part of a partition: its id (position among the sorted labels), label, and global indices."""

    id: int
    label: object
    indices: np.ndarray
    budget: int
    seed: int


@dataclass
class PartResult:
    """What a per-part selection returns, in the part's local indexing."""

    indices: np.ndarray  # local indices in selection order
    weights: np.ndarray
    gains: np.ndarray
    objective: float = float("nan")
    info: dict | None = None  # how the part was selected (e.g. the similarity storage path), recorded in params


def split_budget(sizes, budget, policy="proportional", labels=None) -> np.ndarray:
    """Split ``budget`` over parts of the given ``sizes`` so that the total is exactly ``budget``.

    ``proportional`` gives part ``c`` a share ``n_c / N · B``; ``equal`` gives ``B / C``. Each part gets the
    floor or the ceiling of its share (largest remainders get the ceiling, ties to the first part), never
    more than its size; what a full part cannot take is redistributed over the others by the same rule.
    Every non-empty part gets at least one pick when the budget is at least the number of non-empty parts
    (taken from the largest allocation); with a smaller budget a warning says how many parts get none.
    A mapping ``{label: count}`` gives explicit per-part budgets (``labels`` names the parts). ``policy`` may
    also be your own object with ``split(sizes, budget) -> counts`` (one count per part, each in
    ``[0, size]``, summing to ``budget``).

    >>> split_budget([50, 30, 20], 10).tolist()
    [5, 3, 2]
    >>> split_budget([2, 100, 100], 30, "equal").tolist()
    [2, 14, 14]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if isinstance(budget, Mapping):
        if labels is None:
            raise LessdataError("a per-part budget mapping needs the part labels")
        names = [plain_label(label) for label in labels]
        unknown = [key for key in budget if plain_label(key) not in names]
        if unknown:
            raise LessdataError(f"budget names part(s) {unknown} that are not in the labels")
        out = np.array([int(budget.get(label, budget.get(name, 0))) for label, name in zip(labels, names)])
        for label, size, b in zip(labels, sizes, out):
            if b < 0:
                raise LessdataError(f"budget for part {plain_label(label)!r} is negative ({b})")
            if b > size:
                raise LessdataError(f"part {plain_label(label)!r} has {size} points, fewer than its budget {b}")
        return out
    if isinstance(policy, str):
        check_choice(policy, BUDGET_POLICIES, "budget_policy")
    elif not callable(getattr(policy, "split", None)):
        raise LessdataError(f"budget_policy must be one of {', '.join(BUDGET_POLICIES)} or an object with split(), "
                            f"got {type(policy).__name__}")
    total = int(sizes.sum())
    budget = int(budget)
    if budget > total:
        raise LessdataError(f"budget {budget} is larger than the number of points ({total})")
    if not isinstance(policy, str):
        out = np.asarray(policy.split(sizes.copy(), budget)).reshape(-1)
        if (out.shape != sizes.shape or out.dtype.kind not in "iu" or (out < 0).any() or (out > sizes).any()
                or int(out.sum()) != budget):
            raise LessdataError(f"budget policy {type(policy).__name__}.split returned {out.tolist()}; expected "
                                f"{len(sizes)} integer counts within the part sizes, summing to {budget}")
        return out.astype(np.int64)
    out = np.zeros(len(sizes), dtype=np.int64)
    open_ = sizes > 0
    remaining = budget
    while remaining > 0:
        share_base = sizes[open_] if policy == "proportional" else np.ones(int(open_.sum()))
        quota = share_base / share_base.sum() * remaining
        room = (sizes - out)[open_]
        add = np.minimum(np.floor(quota + 1e-9).astype(np.int64), room)
        left = remaining - int(add.sum())
        if left > 0:  # largest remainders first, ties to the first part, only where there is room
            frac = quota - np.floor(quota + 1e-9)
            order = np.lexsort((np.arange(len(frac)), -frac))
            for t in order:
                if left == 0:
                    break
                if add[t] < room[t]:
                    add[t] += 1
                    left -= 1
        out[open_] += add
        remaining = budget - int(out.sum())
        open_ = out < sizes
    return _at_least_one_each(out, sizes)


def _at_least_one_each(out: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Give every non-empty part at least one pick when the budget allows, taking it from the part with the
    largest allocation (ties to the first); when it does not, warn that some parts are not represented."""
    starved = np.flatnonzero((out == 0) & (sizes > 0))
    if len(starved) == 0:
        return out
    if int(out.sum()) < int((sizes > 0).sum()):
        logger.warning("budget %d is smaller than the number of non-empty parts (%d): %d part(s) get no pick "
                       "and are represented by none", int(out.sum()), int((sizes > 0).sum()), len(starved))
        return out
    out = out.copy()
    for part in starved:
        out[int(np.argmax(out))] -= 1
        out[part] = 1
    return out


def plain_label(label):
    """A numpy scalar label as the equivalent Python value (others unchanged), for messages and JSON."""
    return label.item() if isinstance(label, np.generic) else label


def make_parts(labels, budget, policy: str = "proportional", seed: int = 0) -> list[Part]:
    """Group point indices by label (sorted label order) and give each part its budget and seed."""
    uniq, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(uniq)))[:-1]
    groups = np.split(order, bounds)
    budgets = split_budget([len(g) for g in groups], budget, policy, labels=uniq)
    seeds = np.random.SeedSequence(seed).generate_state(len(uniq), dtype=np.uint32)
    return [Part(i, plain_label(uniq[i]), groups[i].astype(np.int64), int(budgets[i]), int(seeds[i]))
            for i in range(len(uniq))]


def run_partitioned(parts: list[Part], select_part: Callable[[Part], PartResult], backend="local",
                    progress=None):
    """Run ``select_part`` on every part with a budget through ``backend``; return global arrays.

    ``select_part`` reports its own progress when it runs in this process; for a backend that runs parts
    elsewhere (``in_process = False``), ``progress`` is advanced here by each finished part's budget.

    Returns ``(indices, weights, gains, partition_ids, objective, infos)`` with parts concatenated in label
    order and each part's picks in its selection order; ``infos`` holds each part's ``PartResult.info``.
    """
    from ..backends import get_backend

    todo = [p for p in parts if p.budget > 0]
    runner = get_backend(backend)
    remote = progress is not None and not getattr(runner, "in_process", True)
    # BLAS limits are set from this thread: parts running on worker threads only nest inside it
    with single_threaded_blas():
        results = runner.map(select_part, todo, progress=progress) if remote else runner.map(select_part, todo)
    idx, wts, gns, pid, objective = [], [], [], [], 0.0
    infos = [res.info for res in results]
    for part, res in zip(todo, results):
        local = np.asarray(res.indices, dtype=np.int64)
        if len(local) and (local.min() < 0 or local.max() >= len(part.indices)):
            raise LessdataError(f"part {part.label!r}: selection returned an out-of-range local index")
        idx.append(part.indices[local])
        wts.append(np.asarray(res.weights, dtype=np.float32))
        gns.append(np.asarray(res.gains, dtype=np.float64))
        pid.append(np.full(len(local), part.id, dtype=np.int64))
        objective += float(res.objective)
    if not idx:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty.astype(np.float32), empty, empty.astype(np.int64), 0.0, infos
    return (np.concatenate(idx), np.concatenate(wts), np.concatenate(gns), np.concatenate(pid), objective, infos)
