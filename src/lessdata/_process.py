"""Facts about the running process and machine from ``/proc``: peak resident memory, available memory."""

from __future__ import annotations

import resource
import sys


def peak_rss_bytes() -> int:
    """This process's peak resident memory since it started, in bytes: ``VmHWM`` where ``/proc`` has it.

    Not ``getrusage``'s ``ru_maxrss`` alone: a process started by fork + exec (a Ray worker, a benchmark's
    worker) inherits its parent's resident size at the fork there, so a small worker of a large parent would
    report the parent's memory. Elsewhere ``ru_maxrss``, which is in bytes on macOS and KiB on Linux and BSD."""
    peak = proc_kib_field("/proc/self/status", "VmHWM")
    if peak is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def proc_kib_field(path: str, key: str) -> int | None:
    """A ``key:  N kB`` line of a ``/proc`` file, in bytes; ``None`` where the file or the line is missing."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
