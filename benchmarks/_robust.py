"""Shared by the robust-training benchmarks (robust_noise.py, robust_backdoor.py, robust_clip.py): jobs run
in at most ``--workers`` processes with one torch thread each, every finished run is saved at once (a rerun
with the same settings skips it: the benchmark is resumable), and the report is mean ± std over seeds."""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import multiprocessing
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
MACHINE_NOTE = ("2-core CPU, shared with other jobs (up to 8 processes at once): timings were NOT taken on a "
                "quiet machine; CPU seconds are per process")


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2, help="parallel processes (one torch thread each)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--quick", action="store_true", help="a tiny end-to-end check on the digits data")
    return p


def machine() -> dict[str, Any]:
    import torch

    import lessdata

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "lessdata": getattr(lessdata, "__version__", "?"), "note": MACHINE_NOTE,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _init() -> None:
    import torch

    torch.set_num_threads(1)


def _key(job: dict) -> str:
    return json.dumps(job, sort_keys=True)


def _save(path: Path, payload: dict) -> None:
    from lessdata._io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, default=float))


def run_jobs(fn: Callable[[dict], dict], jobs: Sequence[dict], cache: Path, workers: int) -> list[dict]:
    """``fn(job)`` for every job not already in ``cache`` (a JSON file of finished runs), saving each run as
    it finishes; returns the runs of ``jobs`` in order."""
    done = json.loads(cache.read_text()) if cache.exists() else {}
    todo = [job for job in jobs if _key(job) not in done]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} runs already done; running {len(todo)}", flush=True)
    if todo:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max(1, workers), mp_context=ctx, initializer=_init) as pool:
            futures = {pool.submit(fn, job): job for job in todo}
            for future in cf.as_completed(futures):
                job = futures[future]
                done[_key(job)] = future.result()
                _save(cache, done)
                print(f"done {job}: {summary_line(done[_key(job)])}", flush=True)
    return [done[_key(job)] for job in jobs]


def summary_line(run: dict) -> str:
    keys = ("final_accuracy", "clean_share", "clean_accuracy", "attack_success_rate", "dropped_poison_share",
            "zero_shot_accuracy", "cpu_seconds")
    return ", ".join(f"{k}={run[k]:.4f}" for k in keys if isinstance(run.get(k), (int, float)))


def stats(values: Sequence[float | None]) -> tuple[float | None, float | None, list]:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if not vals:
        return None, None, []
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, vals


def pm(values, scale: float = 100.0, spec: str = ".2f") -> str:
    mean, std, _ = stats(values)
    return "–" if mean is None else f"{mean * scale:{spec}} ± {std * scale:{spec}}"


def header(title: str, info: dict, wall: float, cpu: float) -> str:
    cmd = " ".join(shlex.quote(a) for a in ["python3", *sys.argv])
    return (f"# {title}\n\n- Command: `{cmd}`\n- Machine: {info['cores']} cores ({info['cpu_model']}), no GPU; "
            f"Python {info['python']}, torch {info['torch']}, numpy {info['numpy']}. {info['note']}.\n"
            f"- Date: {info['date']}; this invocation {wall:.0f} s wall-clock, {cpu:.0f} CPU-s summed over the runs "
            "it needed (runs already saved are reused).\n")


def write(stem: str, out: Path, result: dict, markdown: str, figure) -> None:
    from lessdata._io import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    _save(out / f"{stem}.json", result)
    with atomic_path(out / f"{stem}.png") as tmp:
        figure.savefig(tmp, dpi=110)
    markdown += f"\n![{stem}]({stem}.png)\n\nRaw results: [{stem}.json]({stem}.json)\n"
    with atomic_path(out / f"{stem}.md") as tmp:
        tmp.write_text(markdown)
    print(f"wrote {out / stem}.{{md,png,json}}")


def figure(ncols: int, width: float = 5.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def timer():
    start = time.perf_counter()
    return lambda: time.perf_counter() - start
