"""The local backend: runs the parts of a partition in this process, several at once on threads.

The engine's kernels release the GIL, so parts selected on threads use all cores (one part's lazy greedy
is sequential by nature). Results come back in part order and each part has its own seed, so the Coreset is
the same whatever the number of workers.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor


class LocalBackend:
    name = "local"

    def __init__(self, max_workers: int | None = None):
        self.max_workers = max_workers

    def map(self, fn, items):
        items = list(items)
        workers = min(self.max_workers or os.cpu_count() or 1, len(items))
        if workers <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lessdata-part") as pool:
            return list(pool.map(fn, items))
