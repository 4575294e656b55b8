"""``select()``: validate the input once, look the method up in the registry and run it.

``lessdata.select`` is the public name; code inside the library (training, domain packages) imports it from
here (``from ..methods import select``) so no layer below the package root imports the root.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._validation import check_features, check_labels, resolve_budget
from ..coreset import Coreset
from ..errors import LessdataError
from ..submodular.similarity import available_memory
from .registry import get_method


def select(
    X=None,
    fraction: float | None = None,
    budget: int | Mapping | None = None,
    method: str = "craig",
    labels=None,
    seed: int = 0,
    progress=None,
    n: int | None = None,
    **params,
) -> Coreset:
    """Select a weighted coreset of the rows of ``X``.

    Args:
        X: features / signals, shape ``(n, d)`` (may be ``None`` for methods that need none, with ``n=``).
        fraction: share of the points to keep, in ``(0, 1]``; or
        budget: number of points to keep (exactly one of ``fraction`` / ``budget``), or for partitioned
            methods a ``{label: count}`` mapping of per-part budgets.
        method: a registered method name (see :func:`methods`).
        labels: one label per point; partitioned methods select per label (class, cluster, source...).
        seed: random seed; the same input and seed give the same Coreset.
        progress: ``True`` for a progress bar on stderr, or a tqdm-compatible object (``update(n)``,
            ``total``) advanced once per pick.
        **params: method parameters, e.g. ``metric="euclidean"``, ``optimizer="lazy"``,
            ``budget_policy="proportional"``.

    Examples:
        >>> import lessdata
        >>> X = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
        >>> y = np.arange(100) % 2
        >>> cs = lessdata.select(X, fraction=0.1, method="craig", labels=y, metric="euclidean", seed=0)
        >>> len(cs), int(cs.weights.sum()), np.bincount(y[cs.indices]).tolist()
        (10, 100, [5, 5])
    """
    if progress is True:  # a bar on stderr (drawn only when stderr is a terminal)
        from rich.console import Console

        from .._progress import rich_progress

        with rich_progress(Console(stderr=True), f"selecting ({method})") as bar:
            return select(X, fraction, budget, method, labels, seed, bar, n, **params)
    cls = get_method(method)
    instance = cls(**params)
    if X is not None:
        X = check_features(X)
        if n is not None and n != X.shape[0]:
            raise LessdataError(f"n={n} but the features have {X.shape[0]} rows")
        n = X.shape[0]
    elif instance.needs_features:
        raise LessdataError(f"method {method!r} needs features X")
    elif n is None:
        raise LessdataError(f"method {method!r} without features needs the number of points n=")
    elif isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n < 2**63:
        raise LessdataError(f"n must be a positive integer (the number of points), got {n!r}")
    else:
        free = available_memory()
        if free is not None and 8 * int(n) > free:  # selection keeps one int64 index per point
            raise LessdataError(f"n={int(n):,} points need {8 * int(n) / 2**30:,.1f} GiB for their indices alone but "
                                f"only {free / 2**30:.1f} GiB of memory is available")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LessdataError(f"seed must be a non-negative integer, got {seed!r}")
    if labels is not None:
        labels = check_labels(labels, n)
    if isinstance(budget, Mapping):
        if not cls.partitioned:
            raise LessdataError(f"method {method!r} does not take per-part budgets")
        if labels is None:
            raise LessdataError("a per-part budget mapping needs labels=")
        if fraction is not None:
            raise LessdataError("give exactly one of fraction= or budget=")
        resolve_budget(n, budget=budget)
    else:
        budget = resolve_budget(n, fraction, budget)
    if progress is False:
        progress = None
    if progress is not None and not callable(getattr(progress, "update", None)):
        raise LessdataError(f"progress must be True, False, None or an object with update(n) (tqdm-like), "
                            f"got {type(progress).__name__}")
    if progress is not None:
        from .._progress import ProcessLocalProgress  # rich loads only when progress is asked for

        progress = ProcessLocalProgress(progress)  # safe to capture in work sent to other processes
        progress.total = budget if isinstance(budget, int) else sum(budget.values())
    return instance(X, budget, labels=labels, seed=int(seed), n=n, progress=progress)
