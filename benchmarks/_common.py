"""Shared helpers for benchmark scripts: machine description and result-file headers."""

from __future__ import annotations

import datetime
import os
import platform
import resource
import shlex
import sys
import time


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
            mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} cores ({cpu}){mem}, {system}"


def peak_rss_gib() -> float:
    """This process's own peak resident memory: ``VmHWM``, as ``lessdata._process.peak_rss_bytes`` reads it
    (``ru_maxrss`` would start at the parent's size), read here without importing lessdata, which the peers'
    worker processes must not load."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 2**20


def header(title: str) -> str:
    cmd = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable), *sys.argv])
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"# {title}\n\n- Command: `{cmd}`\n- Machine: {machine()}\n- Date: {now}\n"


class CpuWatch:
    """Whether a benchmark ran on a quiet machine, from the CPU time spent while it ran (``/proc/stat``): its own
    processes (this one and the children it waited for), everything else on the machine, and the time the
    hypervisor ran other guests on this machine's cores (steal). Unlike the load average, the benchmark's own
    threads do not count against it.

    >>> watch = CpuWatch()   # at the start
    >>> text, numbers = watch.note()   # at the end: a sentence for the report, its numbers for the JSON
    """

    QUIET_SHARE = 0.05  # quiet: others used under 5% of one core on average, and steal under 5% of the cores

    def __init__(self):
        self.start = self._snapshot()

    @staticmethod
    def _snapshot():
        try:
            with open("/proc/stat") as fh:
                user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fh.readline().split()[1:9])
        except (OSError, ValueError):
            return None
        hz = os.sysconf("SC_CLK_TCK")
        own = sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for field in ("ru_utime", "ru_stime"))
        return time.monotonic(), (user + nice + system + irq + softirq) / hz, steal / hz, own

    def note(self) -> tuple[str, dict]:
        end = self._snapshot()
        if self.start is None or end is None:
            load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
            return f"CPU use of other processes not measured (no /proc/stat); load average at the end {load}.", {}
        wall = end[0] - self.start[0]
        own = end[3] - self.start[3]
        other = max(0.0, end[1] - self.start[1] - own)
        steal = end[2] - self.start[2]
        cores = os.cpu_count() or 1
        numbers = {"wall_seconds": round(wall, 1), "own_cpu_seconds": round(own, 1),
                   "other_cpu_seconds": round(other, 1), "steal_seconds": round(steal, 1), "cores": cores}
        quiet = other < self.QUIET_SHARE * wall and steal < self.QUIET_SHARE * wall * cores
        numbers["quiet"] = quiet
        seen = (f"over {wall:,.0f} s the benchmark's own processes used {own:,.0f} CPU s, other processes "
                f"{other:,.2f} CPU s ({other / max(wall, 1e-9):.1%} of one core) and the hypervisor took "
                f"{steal:,.2f} s of the {cores} cores' time for other guests (steal, "
                f"{steal / max(wall * cores, 1e-9):.1%})")
        if quiet:
            return f"Runs one after another, one process at a time, on an otherwise quiet machine: {seen}.", numbers
        return (f"**Timing was not taken on a quiet machine**: {seen}; all libraries ran in the same period on the "
                "same inputs, and CPU seconds are shown too."), numbers
