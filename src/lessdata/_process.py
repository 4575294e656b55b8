"""Facts about the running process, for the reports of long jobs: peak resident memory."""

from __future__ import annotations

import resource
import sys


def peak_rss_bytes() -> int:
    """This process's peak resident memory since it started, in bytes: ``VmHWM`` where ``/proc`` has it.

    Not ``getrusage``'s ``ru_maxrss`` alone: a process started by fork + exec (a Ray worker, a benchmark's
    worker) inherits its parent's resident size at the fork there, so a small worker of a large parent would
    report the parent's memory. Elsewhere ``ru_maxrss``, which is in bytes on macOS and KiB on Linux and BSD."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
