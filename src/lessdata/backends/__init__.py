"""Backends run independent pieces of work (the parts of a partition). ``local`` is the default."""

from __future__ import annotations

from ..errors import LessdataError
from .local import LocalBackend

BACKENDS = ("local",)


def get_backend(backend="local"):
    """A backend instance from a name or an object that already has ``map(fn, items)``."""
    if hasattr(backend, "map"):
        return backend
    if backend == "local":
        return LocalBackend()
    raise LessdataError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "LocalBackend", "get_backend"]
