"""Thread helpers shared by the engine: BLAS thread limits that nest safely across threads."""

from __future__ import annotations

import contextlib
import functools
import threading

_lock = threading.Lock()
_depth = 0
_limiter = None


@contextlib.contextmanager
def single_threaded_blas():
    """Run BLAS single-threaded inside the block, for code that parallelises over blocks itself.

    ``threadpoolctl`` limits are process-wide, so concurrent users (parts selected in parallel) share one
    limit: the first to enter sets it and the last to leave restores the previous setting. Enter it from the
    thread that starts the parallel work (OpenBLAS does not reliably honour limits set from worker threads).
    """
    global _depth, _limiter
    with _lock:
        if _depth == 0:
            _limiter = _controller().limit(limits=1, user_api="blas")
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _limiter.restore_original_limits()
                _limiter = None


@functools.lru_cache(maxsize=1)
def _controller():
    """One scan of the loaded BLAS libraries per process (a scan costs milliseconds)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
