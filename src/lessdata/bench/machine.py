"""What a result file says about the machine: cores, CPU model, GPU, versions, threads, load and date."""

from __future__ import annotations

import datetime as _dt
import os
import platform
from typing import Any

__all__ = ["loadavg", "machine_info"]


def loadavg() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (None where the system has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine_info(threads: int | None = None, device=None) -> dict[str, Any]:
    """What a result file says about the machine: cores, CPU model, GPU, versions, threads, load, date."""
    import numpy
    import torch

    cpu_model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import numba

        numba_threads = int(numba.config.NUMBA_NUM_THREADS)
    except Exception:  # pragma: no cover - numba is a dependency
        numba_threads = None
    from lessdata import __version__

    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "lessdata": __version__,
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
        "numba_threads": numba_threads,
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg": loadavg(),
        "device": str(device or "cpu"),
        "gpu": _gpu_name(device),
        "cuda": torch.version.cuda if _gpu_name(device) else None,
    }


def _gpu_name(device) -> str | None:
    import torch

    if device is None or torch.device(device).type != "cuda" or not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(torch.device(device))

