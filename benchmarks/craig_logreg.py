"""Experiment 1: CRAIG for logistic regression (Mirzasoleiman, Bilmes, Leskovec, ICML 2020, report up to 6x
speedups for convex models).

Multinomial logistic regression on standardized Fashion-MNIST pixels (60,000 x 784), trained with weighted
SGD (plain mini-batch incremental gradient, no momentum) under one step-size schedule for every run: the full
data, and class-balanced random and CRAIG subsets at 5/10/20/30%. CRAIG is one-shot on the features:
per-class facility location with similarity max(d) - d on the standardized pixels (a dense 6,000 x 6,000
similarity per class), weights = cluster sizes. Selection time is on the clock.

    python benchmarks/craig_logreg.py            # 3 seeds, 20 epochs (about 10 minutes on 2 cores)
    python benchmarks/craig_logreg.py --quick    # 1 seed, 3 epochs, 10% only

Writes benchmarks/results/craig_logreg.{md,png,json} (craig_logreg_quick.* with --quick).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from lessdata.bench.report import write_all
from lessdata.bench.tta import Arm, _loadavg, machine_info, run_grid, summarize

FRACTIONS = (0.05, 0.1, 0.2, 0.3)
TRAINING = {"optimizer": "sgd", "momentum": 0.0, "lr": 0.01, "lr_schedule": "cosine", "batch_size": 64,
            "weight_decay": 0.0}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 epochs, 10% only")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    seeds, epochs, fractions = args.seeds, args.epochs, FRACTIONS
    if args.quick:
        seeds, epochs, fractions = 1, 3, (0.1,)

    import lessdata.methods.rs2  # noqa: F401  (registers rs2 until lessdata.methods imports it)
    from lessdata.data import ArrayDataset, fashion_mnist
    from lessdata.models import logistic_regression
    from lessdata.signals import standardize

    X, y = fashion_mnist(split="train")
    Xt, yt = fashion_mnist(split="test")
    Z, mean, std = standardize(X.reshape(len(X), -1).astype(np.float32) / np.float32(255.0))
    Zt, _, _ = standardize(Xt.reshape(len(Xt), -1).astype(np.float32) / np.float32(255.0), mean, std)
    train, test = ArrayDataset(Z, y), ArrayDataset(Zt, yt)

    arms = [Arm("full")]
    arms += [Arm("random", f) for f in fractions]
    arms += [Arm("craig", f, None, "features") for f in fractions]
    machine = machine_info(args.threads)
    started = time.perf_counter()
    runs = run_grid(arms, train=train, test=test, labels=y, model_factory=lambda: logistic_regression(784, 10),
                    seeds=seeds, epochs=epochs, fit_kwargs=TRAINING, features=Z, threads=args.threads,
                    log=lambda line: print(line, flush=True))
    machine["loadavg_end"] = _loadavg()
    settings = {
        "experiment": "craig_logreg",
        "dataset": "fashion-mnist (pixels / 255, standardized with the training mean and std)",
        "model": "multinomial logistic regression (784 -> 10)",
        "n_train": len(train),
        "n_test": len(test),
        "fractions": list(fractions),
        "craig_signal": "the standardized pixels themselves, one-shot before training, per class, "
                        "euclidean max(d) - d, dense 6,000 x 6,000 similarity per class",
        "craig_params": {},
        "seeds": seeds,
        "epochs": epochs,
        "threads": args.threads,
        "target_drop": 0.005,
        **TRAINING,
        "benchmark_wall_seconds": time.perf_counter() - started,
    }
    summary = summarize(runs, target_drop=0.005, half_time_fraction=None)
    command = " ".join(shlex.quote(a) for a in ["python", "benchmarks/craig_logreg.py", *sys.argv[1:]])
    result = {"settings": settings, "machine": machine, "command": command, "runs": runs, "summary": summary}
    write_all(result, args.out, "craig_logreg" + ("_quick" if args.quick else ""),
              title="CRAIG for logistic regression: Fashion-MNIST" + (" (quick)" if args.quick else ""),
              notes=_notes(summary))
    print(f"wrote {result['files']['markdown']}")
    return result


def _notes(summary) -> list[str]:
    rows = summary["rows"]
    full = next(r for r in rows if r["method"] == "full")
    notes = []
    for method in ("craig", "random"):
        best = [(full["seconds_to_target_mean"] / r["seconds_to_target_mean"], r) for r in rows
                if r["method"] == method and r["seconds_to_target_mean"] and r["reached"] == r["seeds"]]
        if best:
            speedup, r = max(best, key=lambda b: b[0])
            notes.append(f"Best {method} speedup to full-data accuracy − 0.5 point (selection included): "
                         f"{speedup:.2f}× at {r['fraction']:.0%} ({r['seconds_to_target_mean']:.1f} s vs "
                         f"{full['seconds_to_target_mean']:.1f} s for the full data).")
        else:
            notes.append(f"No {method} subset reached full-data accuracy − 0.5 point in every seed.")
    notes.append("Mirzasoleiman et al. (2020) report up to 6× for CRAIG with IG/SAGA/SVRG on convex "
                 "problems; compare with the best CRAIG speedup above.")
    return notes


if __name__ == "__main__":
    main()
