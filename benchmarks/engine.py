"""Engine benchmark: lessdata vs apricot vs submodlib facility location, same inputs, one run.

Every (library, optimizer) runs in a fresh subprocess that makes ``--calls`` selections on the same input,
timed from the feature matrix to the selected indices (similarity included): lessdata's first call comes
right after ``import lessdata`` (no warm-up call: its compiled kernels load at import), apricot and submodlib
get a warm-up call on 300 points first (their JIT / first-call costs excluded). Wall and CPU seconds and the
process's peak RSS are recorded; next to them, one pass of the BLAS similarity product on the same input
(blocks of rows times all rows, nothing stored): the floor for an exact method that computes every entry
(a stored similarity from wide features is symmetric and computes half). Every library's picks are
scored under one common objective, CRAIG's facility location with similarity max(d) - d on the full data.

    python benchmarks/engine.py                 # the full grid
    python benchmarks/engine.py --quick         # a small grid, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import peak_rss_gib  # noqa: E402

RUNS = [
    ("lessdata", "lazy"),  # the default storage ("auto": on demand for these euclidean inputs from n ≈ 6,500)
    ("lessdata", "lazy-dense"),
    ("lessdata", "lazy-on_demand"),
    ("lessdata", "stochastic"),
    ("apricot", "lazy"),
    ("submodlib", "lazy"),
]
EPSILON = 0.01


def blobs(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Gaussian blobs: 10 centres, std 2 (centres ~ N(0, 10²))."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(10, d)).astype(np.float32)
    X = centres[rng.integers(10, size=n)]
    X += rng.normal(scale=2.0, size=(n, d)).astype(np.float32)
    return X


# ------------------------------------------------------------------------------------ worker side
def select(lib: str, optimizer: str, X: np.ndarray, k: int) -> np.ndarray:
    if lib == "lessdata":
        import lessdata

        optimizer, _, storage = optimizer.partition("-")
        return lessdata.select(X, budget=k, method="facility_location", metric="euclidean",
                               optimizer=optimizer, epsilon=EPSILON, seed=0, storage=storage or "auto").indices
    if lib == "apricot":
        from apricot import FacilityLocationSelection

        kw = {"optimizer_kwds": {"epsilon": EPSILON}} if optimizer == "stochastic" else {}
        sel = FacilityLocationSelection(k, metric="euclidean", optimizer=optimizer, random_state=0, **kw)
        return np.asarray(sel.fit(X).ranking, dtype=np.int64)
    if lib == "submodlib":
        from submodlib import FacilityLocationFunction

        f = FacilityLocationFunction(n=X.shape[0], mode="dense", data=X, metric="euclidean")
        name = {"lazy": "LazyGreedy", "stochastic": "StochasticGreedy", "naive": "NaiveGreedy"}[optimizer]
        picks = f.maximize(budget=k, optimizer=name, epsilon=EPSILON, stopIfZeroGain=False,
                           stopIfNegativeGain=False, verbose=False, show_progress=False)
        return np.array([p[0] for p in picks], dtype=np.int64)
    raise ValueError(lib)


def _sq_dists(A, B):
    A, B = A.astype(np.float64), B.astype(np.float64)
    return np.maximum((A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * A @ B.T, 0)


def craig_objectives(X: np.ndarray, selections: list[np.ndarray]) -> list[float]:
    """Σ_i max_{j∈S} (max d − d_ij) for each selection S; max d over all pairs. float64, in blocks."""
    top = 0.0
    for s in range(0, X.shape[0], 2048):
        top = max(top, float(np.sqrt(_sq_dists(X[s:s + 2048], X).max())))
    out = []
    for picks in selections:
        Y = X[picks]
        near = np.concatenate([np.sqrt(_sq_dists(X[s:s + 2048], Y).min(axis=1))
                               for s in range(0, X.shape[0], 2048)])
        out.append(float((top - near).sum()))
    return out


def sparse_worker() -> None:
    import logging

    import lessdata

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    X = blobs(1_000_000, 64)
    start = time.perf_counter()
    cs = lessdata.select(X, fraction=0.01, method="facility_location", metric="euclidean", seed=0)
    out = {"seconds": time.perf_counter() - start, "k": len(cs), "objective": cs.objective,
           "weight_sum": float(cs.weights.sum()), "peak_rss_gib": peak_rss_gib()}
    print("RESULT " + json.dumps(out), flush=True)


def blas_pass(X: np.ndarray, repeats: int = 2) -> float:
    """Seconds for one pass of the similarity product in cache-sized tiles (256 rows x 1,024 columns, one
    single-threaded BLAS call each, a contiguous range of rows per core, as the engine's tiled passes do),
    nothing kept: the product alone, with no distance transform and no selection."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    Xc = np.ascontiguousarray(X - X.mean(axis=0), dtype=np.float32)
    n, cores = len(X), os.cpu_count() or 1
    bounds = np.linspace(0, n, cores + 1).astype(int)

    def run(lo, hi):
        out = np.empty((256, 1024), dtype=np.float32)
        for a in range(lo, hi, 256):
            for c in range(0, n, 1024):
                rows, cols = Xc[a:min(a + 256, hi)], Xc[c:c + 1024]
                np.matmul(rows, cols.T, out=out[: len(rows), : len(cols)])

    best = np.inf
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(cores) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(lambda b: run(*b), zip(bounds[:-1], bounds[1:])))
            best = min(best, time.perf_counter() - start)
    return best


def worker(args) -> None:
    X = blobs(args.n, args.d)
    k = args.budget or args.n // 10
    if args.lib != "lessdata":  # peers: imports and JIT compilation happen on a tiny warm-up input
        select(args.lib, args.optimizer, blobs(300, args.d, seed=1), 30)
    else:
        import lessdata  # noqa: F401  (import loads the compiled kernels; the first call is timed as is)
        from lessdata.submodular import tiles

        live_entries = tiles.live_entries  # counted: the on-demand path's second pass (its guess missed)

        def counted(*a, **kw):
            second_passes.append(1)
            return live_entries(*a, **kw)

        tiles.live_entries = counted
    calls = []
    for _ in range(args.calls):
        second_passes = []
        wall, cpu = time.perf_counter(), time.process_time()
        picks = select(args.lib, args.optimizer, X, k)
        calls.append({"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                      "second_passes": len(second_passes)})
        assert len(picks) == k and len(np.unique(picks)) == k, "library returned a wrong-size selection"
    out = {"lib": args.lib, "optimizer": args.optimizer, "n": args.n, "d": args.d, "k": k, "calls": calls,
           "first": calls[0]["seconds"], "seconds": float(np.median([c["seconds"] for c in calls])),
           "cpu_seconds": float(np.median([c["cpu_seconds"] for c in calls])),
           "peak_rss_gib": peak_rss_gib(), "picks": picks.tolist()}
    if args.lib == "lessdata" and args.optimizer == "lazy":
        out["blas_pass_seconds"] = blas_pass(X)
    print("RESULT " + json.dumps(out), flush=True)
    if os.environ.get("LESSDATA_BENCH_PICKS"):  # keep the picks, to rebuild a report from a partial run
        Path(os.environ["LESSDATA_BENCH_PICKS"]).mkdir(parents=True, exist_ok=True)
        np.save(Path(os.environ["LESSDATA_BENCH_PICKS"]) / f"{args.lib}_{args.optimizer}_{args.n}_{args.d}.npy", picks)


# ------------------------------------------------------------------------------------ parent side
def run_one(lib, optimizer, n, d, timeout, budget=None, calls=3):
    cmd = [sys.executable, __file__, "--worker", lib, optimizer, str(n), str(d), "--calls", str(calls)]
    if budget:
        cmd += ["--budget", str(budget)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"lib": lib, "optimizer": optimizer, "n": n, "d": d, "timeout": timeout}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"lib": lib, "optimizer": optimizer, "n": n, "d": d,
            "error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]}


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def fmt_row(r, ref_obj, lazy):
    name = f"{r['lib']} {r['optimizer']}"
    if "timeout" in r:
        return f"| {name} | > {r['timeout']:.0f} (timed out) | | | | | |"
    if "error" in r:
        return f"| {name} | failed: {r['error']} | | | | | |"
    times = ", ".join(f"{c['seconds']:.2f}" for c in r["calls"])
    ratio = ""
    if lazy and r["lib"] != "lessdata":
        # the peer's fastest call against lessdata lazy's slowest (first calls included)
        worst = max(c["seconds"] for c in lazy["calls"])
        ratio = f"{min(c['seconds'] for c in r['calls']) / worst:.1f}×"
    return (f"| {name} | {r['first']:.2f} | {r['seconds']:.2f} ({times}) | {r['cpu_seconds']:.2f} | {ratio} | "
            f"{r['objective'] / ref_obj:.5f} | {r['peak_rss_gib']:.2f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", nargs=4, metavar=("LIB", "OPT", "N", "D"))
    p.add_argument("--sparse-worker", action="store_true")
    p.add_argument("--budget", type=int)
    p.add_argument("--calls", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--sparse", action="store_true", help="also the 1,000,000-point sparse k-NN run")
    p.add_argument("--grid", help="n x d pairs to run, e.g. 10000x32,20000x32 (default: the full grid)")
    p.add_argument("--out", default=str(HERE / "results" / "engine.md"))
    args = p.parse_args()
    if args.sparse_worker:
        return sparse_worker()
    if args.worker:
        args.lib, args.optimizer, n, d = args.worker
        args.n, args.d = int(n), int(d)
        return worker(args)

    from _common import CpuWatch, header

    # here, not at the top: the peers' worker processes must not load lessdata
    from lessdata.submodular.similarity import (
        AUTO_ON_DEMAND_ABOVE,
        AUTO_ON_DEMAND_MAX_FEATURES,
        AUTO_ON_DEMAND_NARROW,
        AUTO_ON_DEMAND_WIDE_ABOVE,
        SYMMETRIC_FROM_FEATURES,
    )

    grid = ([(2000, 32), (2000, 256)] if args.quick else
            [(5000, 32), (10000, 32), (20000, 32), (5000, 1024), (20000, 1024)])
    if args.grid:
        grid = [tuple(int(v) for v in pair.split("x")) for pair in args.grid.split(",")]
    results = []
    watch = CpuWatch()
    lines = [header("Engine benchmark: facility location, lessdata vs apricot vs submodlib"), "", "LOAD", "",
             "Input: Gaussian blobs (10 centres, std 2), budget n/10, euclidean metric, float32 features.",
             "Time: feature matrix → selected indices, similarity included, one fresh process per row making "
             "several calls. lessdata's first call follows `import lessdata` directly (no warm-up call); apricot "
             "and submodlib get a warm-up call on 300 points first (their JIT compilation excluded).",
             "Objective: every library's picks scored by the same function, CRAIG's facility location "
             "Σ_i max_{j∈S} (max d − d_ij), relative to lessdata naive greedy where it ran, else lessdata lazy.",
             "Peer ÷ lessdata: the peer's fastest call divided by lessdata lazy's slowest call (its first, usually).",
             "lessdata lazy uses the default storage (`auto`: these euclidean similarities are computed on demand "
             f"in tiles above {AUTO_ON_DEMAND_ABOVE / 2**20:.0f} MiB, i.e. from n ≈ "
             f"{(AUTO_ON_DEMAND_ABOVE / 4) ** 0.5:,.0f}, with at most {AUTO_ON_DEMAND_NARROW} feature columns, "
             f"above {AUTO_ON_DEMAND_WIDE_ABOVE / 2**20:.0f} MiB with at most {AUTO_ON_DEMAND_MAX_FEATURES}; stored "
             "otherwise); lazy-dense always stores the whole matrix, lazy-on_demand never does.",
             "BLAS pass: one pass of the BLAS product behind the similarity (tiles of 256 × 1,024, float32, nothing "
             "stored), measured in the lessdata process on the same input; the on-demand path makes one such "
             "pass plus the distance transform when its guessed first pick is the pick, two when not (counted "
             f"under each table); a stored similarity from {SYMMETRIC_FROM_FEATURES} or more feature columns "
             "computes half of it and mirrors it.", ""]
    for n, d in grid:
        runs = list(RUNS)
        if (n == 20000 and d == 32) or n <= 10000 and d == 32 or args.quick:
            runs.insert(0, ("lessdata", "naive"))
        if n > 10000 and not args.quick:
            runs.remove(("submodlib", "lazy"))  # > 100 s a call here on a quiet machine: the CPU budget
        rows = []
        for lib, opt in runs:
            calls = 1 if lib == "submodlib" or opt == "naive" else (
                args.calls if (lib, opt) == ("lessdata", "lazy") else 2)
            r = run_one(lib, opt, n, d, args.timeout, calls=calls)
            print(json.dumps({k: v for k, v in r.items() if k != "picks"}), flush=True)
            rows.append(r)
            results.append(r)
        done = [r for r in rows if "seconds" in r]
        for r, obj in zip(done, craig_objectives(blobs(n, d), [np.array(r.pop("picks")) for r in done])):
            r["objective"] = obj
        ok = {(r["lib"], r["optimizer"]): r for r in done}
        ref = ok.get(("lessdata", "naive")) or ok.get(("lessdata", "lazy"))
        lazy = ok.get(("lessdata", "lazy"))
        lines += [f"## n = {n:,}, d = {d}, budget = {n // 10:,}", ""]
        if lazy and "blas_pass_seconds" in lazy:
            lines += [f"One BLAS pass of the similarity product: {lazy['blas_pass_seconds']:.2f} s; lessdata "
                      f"lazy's median is {lazy['seconds'] / lazy['blas_pass_seconds']:.1f}× that.", ""]
        lines += ["| library / optimizer | first call s | median s (all calls) | CPU s | peer ÷ lessdata lazy | "
                  "objective ÷ reference | peak RSS GiB |", "|---|---|---|---|---|---|---|"]
        lines += [fmt_row(r, ref["objective"], lazy) for r in rows]
        second = [(f"{r['lib']} {r['optimizer']}", sum(c.get("second_passes", 0) for c in r["calls"]), len(r["calls"]))
                  for r in done if r["lib"] == "lessdata" and r["optimizer"] in ("lazy", "lazy-on_demand")]
        if second:
            lines += ["", "Second passes (the guessed first pick missed): " + "; ".join(
                f"{name}: {s} of {c} calls" for name, s, c in second) + "."]
        lines.append("")
    if args.sparse and not args.quick:
        lines += sparse_section(args.timeout)
    lines[lines.index("LOAD")], quiet = watch.note()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(Path(args.out).with_suffix(".json"), json.dumps({"cpu_use": quiet, "runs": results}, indent=1))
    plot(results, Path(args.out).with_suffix(".png"))
    lines += [f"![engine timings]({Path(args.out).with_suffix('.png').name})", ""]
    write_atomic(Path(args.out), "\n".join(lines))
    print(f"wrote {args.out}")


def sparse_section(timeout):
    """n = 1,000,000, d = 64, budget 1%: the sparse k-NN path, in its own process."""
    timeout = max(timeout, 900)
    try:
        proc = subprocess.run([sys.executable, __file__, "--sparse-worker"], capture_output=True, text=True,
                              timeout=timeout)
        res = next((json.loads(x[7:]) for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        log = [x for x in proc.stderr.splitlines() if "sparse" in x]
    except subprocess.TimeoutExpired:
        res, log = None, []
    lines = ["## Sparse path: n = 1,000,000, d = 64, budget 1% (10,000)", ""]
    if res is None:
        return lines + [f"Did not finish within {timeout:.0f} s.", ""]
    print(json.dumps(res), flush=True)
    return lines + [
        "The dense similarity (4 TB) is far over the 2 GiB cap, so the engine builds a sparse 64-NN graph "
        "with a faiss IVF index and runs lazy greedy on it.", "",
        "| seconds | peak RSS GiB | picks | objective (on the k-NN graph) | weights sum (points covered) |",
        "|---|---|---|---|---|",
        f"| {res['seconds']:.1f} | {res['peak_rss_gib']:.2f} | {res['k']:,} | {res['objective']:.6g} | "
        f"{res['weight_sum']:,.0f} |", "",
        *(f"    {x.strip()}" for x in log[:2]), "",
    ]


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = sorted({(r["n"], r["d"]) for r in results})
    names = [f"{lib} {opt}" for lib, opt in [("lessdata", "naive"), *RUNS]]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ys = []
        for n, d in configs:
            r = next((r for r in results if (r["n"], r["d"]) == (n, d)
                      and f"{r['lib']} {r['optimizer']}" == name), None)
            ys.append(r["seconds"] if r and "seconds" in r else (r["timeout"] if r and "timeout" in r else np.nan))
        ax.bar(np.arange(len(configs)) + i * width, ys, width, label=name)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(configs)) + 0.4 - width / 2)
    ax.set_xticklabels([f"n={n:,}\nd={d}" for n, d in configs])
    ax.set_ylabel("seconds (log scale; timed-out runs drawn at the limit)")
    ax.set_title("Facility location, budget n/10: feature matrix → selected indices")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
