"""The local backend: runs the parts one after another in this process (numba kernels use all cores)."""

from __future__ import annotations


class LocalBackend:
    name = "local"

    def map(self, fn, items):
        return [fn(item) for item in items]
