"""The Ray backend: the parts of a partition run as Ray tasks on a cluster (or a local Ray instance).

One Ray task runs one part, or a group of consecutive small parts (so that ten thousand tiny classes do not
become ten thousand task launches). The function that selects a part is put in the object store once; the
numpy arrays it holds (the features) are stored out of band and every worker on a node maps them
read-only, zero-copy. Each part carries its own seed (from :func:`~lessdata.submodular.make_parts`), and
results come back in item order, so the Coreset is identical to the local backend's for the same seed,
whatever the grouping, the scheduling or the retries.

Fault tolerance: a task whose worker or node dies is retried (``max_retries`` times). An exception raised
by the selection itself is deterministic (same part, same seed), so it is not retried: a
:class:`~lessdata.LessdataError` (bad input) is sent back and raised here with its one-line message, and
any other exception is raised here once, as its own type.

    >>> import lessdata
    >>> cs = lessdata.select(X, fraction=0.01, method="craig", labels=y, backend="ray")   # doctest: +SKIP
    >>> from lessdata.backends.ray import RayBackend
    >>> cs = lessdata.select(X, fraction=0.01, labels=y,
    ...                      backend=RayBackend(address="ray://head:10001"))              # doctest: +SKIP

Every node needs the same Python environment with lessdata installed (``pip install 'lessdata[ray]'``).
"""

from __future__ import annotations

import functools
import logging
import math
import pickle
import re
import socket

from ..errors import LessdataError, require

logger = logging.getLogger("lessdata")

FEATURE = "the Ray backend"
DEFAULT_MIN_TASK_POINTS = 50_000  # parts smaller than this are grouped into one task


def import_ray():
    """``ray``, or a :class:`~lessdata.errors.MissingExtraError` naming the ``ray`` extra."""
    return require("ray", "ray", FEATURE)


def connect(address: str | None = None, **init_kwargs):
    """Connect to (or start) Ray once per process and return the ``ray`` module.

    ``address``: ``None`` (a running cluster named by ``RAY_ADDRESS``, else a new local instance),
    ``"auto"`` (the cluster this machine belongs to), ``"ray://host:10001"`` (Ray client) or ``host:6379``.
    Does nothing when Ray is already initialised in this process.
    """
    ray = import_ray()
    if not ray.is_initialized():
        _probe(address)
        kwargs = {"include_dashboard": False, "logging_level": logging.WARNING, **init_kwargs}
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise LessdataError(f"could not connect to the Ray cluster at {address!r}: {exc}") from None
    return ray


def _probe(address: str | None, timeout: float = 5.0) -> None:
    """Fail in seconds, with one line, when a ``host:port`` / ``ray://host:port`` address does not answer
    (``ray.init`` would otherwise retry for minutes)."""
    if not address or address in ("auto", "local"):
        return
    found = re.fullmatch(r"(?:ray://)?\[?([^\]\s]+?)\]?:(\d+)", address.strip())
    if found is None:
        raise LessdataError(f"Ray address {address!r} is not of the form host:port, ray://host:port or 'auto'")
    host, port = found.group(1), int(found.group(2))
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise LessdataError(f"could not connect to the Ray cluster at {address!r}: {exc}") from None


class _Failed:
    """A LessdataError raised in a worker, sent back as a value so that Ray does not retry it."""

    def __init__(self, message: str):
        self.message = message


def _limit_threads() -> None:
    """Use the CPUs Ray assigned to this task, not every core of the node (tasks share the node)."""
    try:
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # noqa: BLE001 - outside a Ray worker: leave the defaults
        return
    if not cpus:
        return
    threads = max(1, int(cpus))
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        import faiss

        faiss.omp_set_num_threads(threads)
    except ImportError:  # pragma: no cover - faiss is a core dependency
        pass


def _run_group(fn, items):
    """The body of one Ray task: ``fn`` on each item of the group, in order."""
    _limit_threads()
    out = []
    for item in items:
        try:
            out.append(fn(item))
        except LessdataError as exc:
            return _Failed(str(exc))
    return out


def _pickling_problem(exc: Exception) -> str:
    """One line out of Ray's many-line serialization report: what failed, and where."""
    text = str(exc)
    what = re.search(r"cannot pickle '[^']+' object", text)
    where = re.search(r"path=([^,\]]+)", text)
    if what is None:
        return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return what.group(0) + (f" at {where.group(1).strip()}" if where else "")


def _item_size(item) -> int:
    """How much work an item is, in points: ``item.size``, ``len(item.indices)``, else 1."""
    size = getattr(item, "size", None)
    if isinstance(size, int):
        return size
    indices = getattr(item, "indices", None)
    return len(indices) if indices is not None else 1


def group_items(items, target: int) -> list[list[int]]:
    """Consecutive items grouped until each group holds at least ``target`` points (the last may hold less).

    >>> group_items([type("P", (), {"size": s})() for s in (5, 1, 1, 9, 2)], 4)
    [[0], [1, 2, 3], [4]]
    """
    groups, current, points = [], [], 0
    for i, item in enumerate(items):
        current.append(i)
        points += _item_size(item)
        if points >= target:
            groups.append(current)
            current, points = [], 0
    if current:
        groups.append(current)
    return groups


@functools.lru_cache(maxsize=1)
def _remote_group():
    return import_ray().remote(_run_group)


class RayBackend:
    """Run independent pieces of work as Ray tasks.

    Args:
        address: Ray cluster to use (see :func:`connect`); ignored when Ray is already initialised.
        num_cpus: CPUs each task reserves (its numba / faiss threads are limited to them).
        max_retries: how many times a task is retried after its worker or node died.
        min_task_points: parts are grouped into one task until the group holds this many points (never
            more than a quarter of the points per CPU of the cluster, so every CPU gets work).
        init_kwargs: extra keyword arguments for ``ray.init`` when this backend starts Ray.
    """

    name = "ray"
    in_process = False

    def __init__(self, address: str | None = None, *, num_cpus: float = 1, max_retries: int = 3,
                 min_task_points: int = DEFAULT_MIN_TASK_POINTS, init_kwargs: dict | None = None):
        import_ray()  # fail now, naming the extra, rather than after the data is loaded
        if not num_cpus > 0:
            raise LessdataError(f"num_cpus must be positive, got {num_cpus}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise LessdataError(f"max_retries must be a non-negative integer, got {max_retries!r}")
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.min_task_points = int(min_task_points)
        self.init_kwargs = dict(init_kwargs or {})

    def __repr__(self) -> str:
        return f"RayBackend(address={self.address!r}, num_cpus={self.num_cpus}, max_retries={self.max_retries})"

    def connect(self):
        return connect(self.address, **self.init_kwargs)

    def map(self, fn, items, progress=None):
        """``[fn(item) for item in items]``, run as Ray tasks; ``progress.update(n)`` as groups finish
        (``n`` = the items' ``budget`` when they have one, else their count)."""
        items = list(items)
        if not items:
            return []
        ray = self.connect()
        try:
            fn_ref = ray.put(fn)
        except (TypeError, pickle.PicklingError, AttributeError) as exc:
            raise LessdataError(
                f"the work cannot be sent to Ray workers: it holds an object that cannot be pickled "
                f"({_pickling_problem(exc)}); with backend='ray', method parameters must be picklable"
            ) from None
        cpus = max(1.0, float(ray.cluster_resources().get("CPU", 1.0)))
        total = sum(_item_size(item) for item in items)
        target = max(1, min(self.min_task_points, math.ceil(total / (4 * cpus / self.num_cpus))))
        groups = group_items(items, target)
        task = _remote_group().options(
            num_cpus=self.num_cpus, max_retries=self.max_retries, retry_exceptions=False,
            name="lessdata.part",
        )
        pending = {task.remote(fn_ref, [items[i] for i in group]): g for g, group in enumerate(groups)}
        logger.info("running %d item(s) as %d Ray task(s)", len(items), len(groups))
        results: list = [None] * len(groups)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    g = pending.pop(ref)
                    try:
                        out = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:  # raised by the selection: once, as itself
                        cause = getattr(exc, "cause", None)
                        if isinstance(cause, BaseException):
                            raise cause from None
                        raise
                    if isinstance(out, _Failed):
                        raise LessdataError(out.message)
                    results[g] = out
                    if progress is not None:
                        progress.update(sum(int(getattr(items[i], "budget", 1)) for i in groups[g]))
        finally:
            for ref in pending:  # an error above: do not leave the other tasks running
                ray.cancel(ref)
        return [res for group in results for res in group]
