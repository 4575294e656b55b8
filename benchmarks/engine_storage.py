"""Facility location with the dense similarity stored vs computed on demand: seconds and peak memory.

Same input as benchmarks/engine.py (Gaussian blobs, euclidean, budget n/10, lazy greedy); each run in a fresh
process (so peak RSS is that run's), after a warm-up call that compiles the kernels. Runs alternate between
the two storages so that load on a shared machine falls on both.

    .venv/bin/python benchmarks/engine_storage.py            # writes benchmarks/results/engine_storage.{md,json,png}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CpuWatch, header  # noqa: E402

from lessdata.methods.facility_location import on_demand_above  # noqa: E402

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[4])
from _common import peak_rss_gib
from lessdata.submodular.selection import facility_location_part
n, d, storage = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
centers = rng.normal(scale=10, size=(10, d))
X = (centers[rng.integers(0, 10, n)] + rng.normal(scale=2, size=(n, d))).astype(np.float32)
on_demand = 0 if storage == "on_demand" else None
facility_location_part(X[:2000], 20, on_demand_above=on_demand)
from lessdata.submodular import tiles
second, live_entries = [], tiles.live_entries  # counted: the second pass runs when the guessed first pick missed
tiles.live_entries = lambda *a, **k: second.append(1) or live_entries(*a, **k)
t = time.perf_counter()
r = facility_location_part(X, n // 10, on_demand_above=on_demand)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "objective": r.objective, "second_passes": len(second),
                  "peak_rss_gib": peak_rss_gib()}))
"""


def run(n: int, d: int, storage: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(d), storage, str(Path(__file__).resolve().parent)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="2000x32,5000x32,6000x32,7000x32,10000x32,20000x32,7000x128,7000x256,"
                                          "10000x256,10000x512,10000x1024",
                        help="n x d pairs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    grid = [tuple(int(v) for v in pair.split("x")) for pair in args.grid.split(",")]
    watch = CpuWatch()
    rows = []
    for n, d in grid:
        runs = {"dense": [], "on_demand": []}
        for _ in range(args.repeats):
            for storage in runs:
                runs[storage].append(run(n, d, storage))
        for storage, rs in runs.items():
            secs = [r["seconds"] for r in rs]
            rows.append({"n": n, "d": d, "storage": storage, "seconds": secs,
                         "seconds_median": float(np.median(secs)),
                         "peak_rss_gib": max(r["peak_rss_gib"] for r in rs),
                         "objective": rs[0]["objective"], "second_passes": sum(r["second_passes"] for r in rs)})
            print(f"n={n} d={d} {storage:9s} median {np.median(secs):.2f} s  peak {rows[-1]['peak_rss_gib']:.2f} GiB")
    args.out.mkdir(parents=True, exist_ok=True)
    quiet, cpu_use = watch.note()
    (args.out / "engine_storage.json").write_text(json.dumps({"cpu_use": cpu_use, "rows": rows}, indent=1))
    lines = [header("Engine: dense similarity stored vs computed on demand"), quiet,
             "",
             "Gaussian blobs, euclidean (CRAIG's max d − d), budget n/10, lazy greedy, one fresh process per run "
             "(peak RSS is the whole process), kernels compiled by a warm-up call first; runs alternate.", "",
             "| n | d | storage | seconds (median) | runs | peak RSS GiB | objective ÷ dense |",
             "|---|---|---|---|---|---|---|"]
    dense_obj = {(r["n"], r["d"]): r["objective"] for r in rows if r["storage"] == "dense"}
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['d']} | {r['storage']} | {r['seconds_median']:.2f} | "
                     f"{', '.join(f'{s:.2f}' for s in r['seconds'])} | {r['peak_rss_gib']:.2f} | "
                     f"{r['objective'] / dense_obj[r['n'], r['d']]:.7f} |")
    lines += ["", "On demand, one tiled pass of row sums gives the first gains and also stores the entries that the "
              "first pick, guessed beforehand (every candidate on 1,024 sampled points, then the best 5% on all "
              "points), would leave live; when the guess is the "
              "pick (checked exactly) no second pass runs, and the n × n matrix never exists. Second passes in "
              "these on-demand runs: "
              f"{sum(r['second_passes'] for r in rows if r['storage'] == 'on_demand')} of "
              f"{sum(len(r['seconds']) for r in rows if r['storage'] == 'on_demand')}. Per size, from the medians "
              "above:", ""]
    for n, d in grid:
        by = {r["storage"]: r for r in rows if (r["n"], r["d"]) == (n, d)}
        ratio = by["dense"]["seconds_median"] / by["on_demand"]["seconds_median"]
        above = on_demand_above("auto", "euclidean", d)
        auto = "on_demand" if above is not None and 4 * n * n > above else "dense"
        lines.append(f"- n = {n:,}, d = {d}: on demand takes {1 / ratio:.2f}× the dense path's time and "
                     f"{by['on_demand']['peak_rss_gib'] / by['dense']['peak_rss_gib']:.2f}× its peak memory; "
                     f"the default `storage=\"auto\"` uses {auto} here.")
    lines += ["", "![storage](engine_storage.png)", ""]
    (args.out / "engine_storage.md").write_text("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key, label in ((axes[0], "seconds_median", "seconds"), (axes[1], "peak_rss_gib", "peak RSS GiB")):
        for k, storage in enumerate(("dense", "on_demand")):
            vals = [r[key] for r in rows if r["storage"] == storage]
            ax.bar(np.arange(len(grid)) + 0.4 * k, vals, width=0.4, label=storage)
        ax.set_xticks(np.arange(len(grid)) + 0.2, [f"{n // 1000}k×{d}" for n, d in grid], fontsize=7)
        ax.set_ylabel(label)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(args.out / "engine_storage.png", dpi=120)


if __name__ == "__main__":
    main()
