"""Shared by the contrastive benchmarks (contrastive_sas.py, contrastive_clip.py): data, seeds run as parallel
processes, the summary table (mean ± std over seeds, paired differences against random), the plot and the
markdown report."""

from __future__ import annotations

import argparse
import concurrent.futures as cf
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
COLORS = {"random": "tab:blue", "sas": "tab:green", "sas_rank": "tab:olive", "clipcov": "tab:green",
          "clip_score": "tab:orange", "semdedup": "tab:purple", "c_rho": "tab:red", "oracle": "tab:gray"}


def common_parser(doc: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the .md, .png and .json")
    parser.add_argument("--quick", action="store_true", help="a tiny end-to-end check (about 1-2 min on 2 CPU cores)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None,
                        help="seeds run as this many parallel processes (default: one per seed on cuda, 1 on cpu)")
    parser.add_argument("--train-size", type=int, default=20_000, help="Fashion-MNIST training images used")
    parser.add_argument("--test-size", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--width", type=int, default=32, help="CNN width (features: 4 x width)")
    return parser


def load_data(train_size: int, test_size: int):
    """A fixed random subsample (seed 0, the same for every seed and method) of Fashion-MNIST train, and the
    first ``test_size`` test images."""
    from lessdata.data import fashion_mnist

    X, y = fashion_mnist(split="train")
    Xt, yt = fashion_mnist(split="test")
    keep = np.sort(np.random.default_rng(0).permutation(len(X))[: min(train_size, len(X))])
    return X[keep], y[keep], Xt[:test_size], yt[:test_size]


def machine(device: str) -> dict[str, Any]:
    import torch

    from lessdata.bench.tta import machine_info

    info = machine_info()
    info["device"] = device
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.backends.cudnn.benchmark = True  # fixed batch shapes: let cuDNN pick its fastest kernels once


def run_seeds(fn: Callable, seeds: Sequence[int], config: dict, workers: int | None, device: str) -> list:
    """``fn(seed, config)`` for every seed, in ``workers`` spawned processes (one GPU is shared: the models
    are tiny and one process leaves it mostly idle), or in this process when ``workers == 1``."""
    workers = workers or (len(seeds) if device.startswith("cuda") else 1)
    workers = max(1, min(workers, len(seeds)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    if workers == 1:
        _init_worker(threads)
        return [fn(seed, config) for seed in seeds]
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(threads,)) as pool:
        return list(pool.map(fn, seeds, [config] * len(seeds)))


def log(seed: int, text: str) -> None:
    print(f"[seed {seed}] {text}", flush=True)


# --------------------------------------------------------------------------------------------- summary
def summarize(runs: list[dict], metrics: Sequence[str]) -> list[dict]:
    """One row per (method, fraction): mean / std / per-seed values of each metric, and the paired
    difference against random at the same fraction (same seed: same data, captions and initialisation)."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["method"], r["fraction"]), []).append(r)
    by_seed = {(r["method"], r["fraction"], r["seed"]): r for r in runs}
    rows = []
    for (method, fraction), members in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0] != "random",
                                                                                 kv[0][0])):
        row: dict[str, Any] = {"method": method, "fraction": fraction, "seeds": len(members)}
        for m in ("selection_seconds", "train_seconds", *metrics):
            values = np.array([r[m] for r in members if r.get(m) is not None], dtype=np.float64)
            row[m] = values.tolist()
            row[f"{m}_mean"] = float(values.mean()) if len(values) else None
            row[f"{m}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        if method != "random":
            diffs = [r[metrics[0]] - by_seed[("random", fraction, r["seed"])][metrics[0]] for r in members
                     if ("random", fraction, r["seed"]) in by_seed]
            if diffs:
                row["vs_random"] = diffs
                row["vs_random_mean"] = float(np.mean(diffs))
                row["vs_random_std"] = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
                row["vs_random_wins"] = int(sum(d > 0 for d in diffs))
        rows.append(row)
    return rows


def _pm(row, key, scale=100.0, spec=".2f") -> str:
    mean = row.get(f"{key}_mean")
    if mean is None:
        return "–"
    return f"{mean * scale:{spec}} ± {row[f'{key}_std'] * scale:{spec}}"


def table(rows: list[dict], metric: str, metric_title: str, extra: Sequence[tuple[str, str]] = ()) -> str:
    heads = ["method", "data kept", f"{metric_title} (mean ± std)", "vs random, same seed (pt)", "per seed",
             *(title for _, title in extra), "selection s", "training s"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * 2 + "---:|" * (len(heads) - 2)]
    for r in rows:
        versus = (f"{round(r['vs_random_mean'] * 100, 2) + 0.0:+.2f} ± {r['vs_random_std'] * 100:.2f} "
                  f"(better in {r['vs_random_wins']}/{len(r['vs_random'])})" if "vs_random" in r else "–")
        per_seed = ", ".join(f"{v * 100:.2f}" for v in r[metric])
        cells = [r["method"], f"{r['fraction']:.0%}", _pm(r, metric), versus, per_seed,
                 *(_pm(r, key) for key, _ in extra),
                 _pm(r, "selection_seconds", 1.0, ".1f"), _pm(r, "train_seconds", 1.0, ".1f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def verdicts(rows: list[dict], metric_name: str) -> list[str]:
    """One honest line per method and fraction: better than random in how many seeds, by how much."""
    out = []
    for r in rows:
        if "vs_random" not in r:
            continue
        mean, std, wins, k = (round(r["vs_random_mean"] * 100, 2) + 0.0, r["vs_random_std"] * 100,
                              r["vs_random_wins"], len(r["vs_random"]))
        if wins == k and mean > 0:
            word = "beats random in every seed"
        elif mean > 0:
            word = f"beats random on average but not in every seed ({wins}/{k})"
        else:
            word = f"does **not** beat random ({wins}/{k} seeds better)"
        out.append(f"{r['method']} at {r['fraction']:.0%}: {word}: {mean:+.2f} ± {std:.2f} pt {metric_name}.")
    return out


# ----------------------------------------------------------------------------------------------- report
def plot(rows: list[dict], panels: Sequence[tuple[str, str]], path: Path, title: str,
         reference: dict[str, float] | None = None) -> None:
    """One panel per metric: mean ± std against the share of data kept, one line per method; horizontal
    lines for the ``reference`` values (e.g. the full data)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from lessdata._io import atomic_path

    fig = Figure(figsize=(6.0 * len(panels), 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    methods = sorted({r["method"] for r in rows if r["fraction"] < 1}, key=lambda m: (m != "random", m))
    for ax, (metric, label) in zip(axes, panels, strict=True):
        for k, method in enumerate(methods):
            mine = sorted((r for r in rows if r["method"] == method and r[f"{metric}_mean"] is not None),
                          key=lambda r: r["fraction"])
            if not mine:
                continue
            x = [r["fraction"] * 100 + 0.6 * (k - (len(methods) - 1) / 2) for r in mine]  # dodge the error bars
            ax.errorbar(x, [r[f"{metric}_mean"] * 100 for r in mine], yerr=[r[f"{metric}_std"] * 100 for r in mine],
                        marker="o", capsize=3, label=method, color=COLORS.get(method),
                        linestyle="-" if len(mine) > 1 else "none")
        for (name, value), style in zip((reference or {}).get(metric, {}).items(), ("--", ":", "-."), strict=False):
            ax.axhline(value * 100, color="black", linestyle=style, linewidth=1, label=name)
        ax.set_xlabel("data kept (%)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)


def header(title: str, info: dict[str, Any], wall: float) -> str:
    cmd = " ".join(shlex.quote(a) for a in ["python3", *sys.argv])
    gpu = f", GPU {info['gpu']} (CUDA {info['cuda']})" if "gpu" in info else ", no GPU"
    return (f"# {title}\n\n- Command: `{cmd}`\n"
            f"- Machine: {info['cores']} cores ({info['cpu_model']}){gpu}; Python {platform.python_version()}, "
            f"torch {info['torch']}, numpy {info['numpy']}, lessdata {info['lessdata']}; device `{info['device']}`\n"
            f"- Date: {info['date']}; whole benchmark {wall:.0f} s wall-clock (seeds in parallel processes "
            "where --workers > 1, so per-run seconds overlap)\n")


def write_report(stem: str, out: Path, result: dict, markdown: str, rows: list[dict],
                 panels: Sequence[tuple[str, str]], title: str, reference=None) -> dict[str, str]:
    from lessdata._io import atomic_path
    from lessdata.bench.report import write_json

    out = Path(out)
    paths = {"json": out / f"{stem}.json", "plot": out / f"{stem}.png", "markdown": out / f"{stem}.md"}
    result["files"] = {k: str(v) for k, v in paths.items()}
    write_json(result, paths["json"])
    plot(rows, panels, paths["plot"], title, reference)
    markdown += f"\n![{title}]({paths['plot'].name})\n\nRaw results: [{paths['json'].name}]({paths['json'].name})\n"
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(markdown)
    return result["files"]


def timer() -> Callable[[], float]:
    start = time.perf_counter()
    return lambda: time.perf_counter() - start
