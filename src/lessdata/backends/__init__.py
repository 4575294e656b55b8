"""Backends run independent pieces of work (the parts of a partition, the shards of GreeDi).

``local`` (the default) runs them in this process, on threads; ``ray`` runs them as Ray tasks on a
cluster (the optional extra ``lessdata[ray]``). A backend is any object with ``map(fn, items) -> list``.
"""

from __future__ import annotations

from ..errors import LessdataError
from .local import LocalBackend

BACKENDS = ("local", "ray")


def get_backend(backend="local"):
    """A backend instance from a name or an object that already has ``map(fn, items)``.

    ``"ray"`` connects to the cluster named by ``RAY_ADDRESS`` (or starts a local Ray instance) on first
    use; pass :class:`lessdata.backends.ray.RayBackend` ``(address=...)`` to choose the cluster.
    """
    if hasattr(backend, "map"):
        return backend
    if backend == "local":
        return LocalBackend()
    if backend == "ray":
        from .ray import RayBackend

        return RayBackend()
    raise LessdataError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")


def __getattr__(name):
    # RayBackend without importing ray (or failing) when only the local backend is used
    if name == "RayBackend":
        from .ray import RayBackend

        return RayBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BACKENDS", "LocalBackend", "RayBackend", "get_backend"]
