"""Noisy labels on Fashion-MNIST: standard training vs CRUST vs CRAIG vs random at the same budget.

Symmetric label noise (20% and 50%) is applied to a fixed training subsample; every arm trains a LeNet from
the same initialisation per seed and is evaluated on the clean test labels. The subset arms keep
``fl_ratio`` of every class, reselected every epoch after the same warm-up epochs on all data; CRUST adds
radius weights and same-label mixup. For every coreset we record the share of clean labels.

    python3 benchmarks/robust_noise.py                 # the committed results (about 15 CPU-minutes)
    python3 benchmarks/robust_noise.py --quick         # digits, 2 epochs: an end-to-end check
"""

from __future__ import annotations

import sys

import _robust as R

ARMS = ("standard", "crust", "craig", "random")
COLORS = {"standard": "tab:gray", "crust": "tab:red", "craig": "tab:green", "random": "tab:blue"}


def run(job: dict) -> dict:
    from lessdata.robust.experiments import noisy_label_run

    return noisy_label_run(**job)


def main(argv=None) -> dict:
    p = R.parser(__doc__)
    p.add_argument("--noise", default="0.2,0.5")
    p.add_argument("--train-size", type=int, default=5000)
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--fl-ratio", type=float, default=0.5)
    p.add_argument("--radius", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=0.05)
    args = p.parse_args(argv)
    wall = R.timer()
    dataset = "digits" if args.quick else "fashion-mnist"
    epochs, warmup = (3, 1) if args.quick else (args.epochs, args.warmup)
    rates = [float(v) for v in args.noise.split(",")]
    base = {"dataset": dataset, "train_size": args.train_size, "test_size": args.test_size, "epochs": epochs,
            "warmup": warmup, "fl_ratio": args.fl_ratio, "radius": args.radius, "lr": args.lr}
    jobs = [{**base, "arm": arm, "noise": rate, "seed": seed}
            for rate in rates for seed in range(args.seeds) for arm in ARMS]
    stem = "robust_noise_quick" if args.quick else "robust_noise"
    out = args.out
    runs = R.run_jobs(run, jobs, out / f".{stem}.runs.json", args.workers)
    cpu = sum(r["cpu_seconds"] for r in runs)
    rows = []
    for rate in rates:
        for arm in ARMS:
            mine = [r for r in runs if r["arm"] == arm and r["noise"] == rate]
            rows.append({"noise": rate, "arm": arm, "seeds": len(mine),
                         "final_accuracy": [r["final_accuracy"] for r in mine],
                         "best_accuracy": [r["best_accuracy"] for r in mine],
                         "clean_share": [r["clean_share"] for r in mine],
                         "clean_weight_share": [r["clean_weight_share"] for r in mine],
                         "cpu_seconds": [r["cpu_seconds"] for r in mine]})
    info = R.machine()
    model = "an MLP" if args.quick else "LeNet"
    md = R.header(f"Noisy labels: standard vs CRUST vs CRAIG vs random ({dataset}, {model})", info, wall(), cpu)
    md += (f"- Setup: {dataset}, a fixed random subsample of {runs[0]['train_size']} training images "
           f"(test: the first {runs[0]['test_size']} test images, clean labels), {model}, SGD lr {args.lr} "
           f"momentum 0.9, cosine schedule, batch 128, {epochs} epochs; subset arms: {warmup} warm-up epochs on "
           f"all data, then {args.fl_ratio:.0%} of every class reselected every epoch; CRUST radius "
           f"{args.radius}. {args.seeds} seeds (noise, initialisation and shuffling per seed). Sized for a "
           "shared 2-core CPU (about 40 CPU-minutes for all robust benchmarks): the paper trains ResNet-32 on "
           "CIFAR-10 for 120 epochs with 5 warm-up epochs.\n- Total CPU time of the runs: "
           f"{cpu / 60:.1f} CPU-minutes.\n\n")
    md += ("| noise | arm | test accuracy, final (%) | best (%) | coreset clean share (%) | clean share of the "
           "weight (%) | CPU s per run |\n|---|---|---:|---:|---:|---:|---:|\n")
    for row in rows:
        md += (f"| {row['noise']:.0%} | {row['arm']} | {R.pm(row['final_accuracy'])} | {R.pm(row['best_accuracy'])} "
               f"| {R.pm(row['clean_share'])} | {R.pm(row['clean_weight_share'])} "
               f"| {R.pm(row['cpu_seconds'], 1, '.0f')} |\n")
    md += "\n" + verdict(rows, rates) + "\n"
    fig, axes = R.figure(2)
    for ax, key, label in ((axes[0], "final_accuracy", "clean test accuracy (%)"),
                           (axes[1], "clean_share", "coreset clean-label share (%)")):
        for k, arm in enumerate(ARMS):
            pts = [(row["noise"], *R.stats(row[key])[:2]) for row in rows if row["arm"] == arm]
            pts = [(x, m, s) for x, m, s in pts if m is not None]
            if pts:
                ax.errorbar([x * 100 + 1.2 * (k - 1.5) for x, _, _ in pts], [m * 100 for _, m, _ in pts],
                            yerr=[s * 100 for _, _, s in pts], marker="o", capsize=3, label=arm, color=COLORS[arm])
        if key == "clean_share":
            ax.plot([r * 100 for r in rates], [(1 - r) * 100 for r in rates], "k--", lw=1, label="1 − noise")
        ax.set_xlabel("symmetric label noise (%)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Noisy labels, {dataset} ({args.seeds} seeds, mean ± std)")
    result = {"config": {**base, "noise": rates, "seeds": args.seeds}, "machine": info, "rows": rows, "runs": runs}
    R.write(stem, out, result, md, fig)
    return result


def verdict(rows, rates) -> str:
    def mean(arm, rate, key):
        return R.stats(next(r[key] for r in rows if r["arm"] == arm and r["noise"] == rate))[0]

    lines = ["## What the paper claims, and what we measured", ""]
    for rate in rates:
        crust, std = mean("crust", rate, "final_accuracy"), mean("standard", rate, "final_accuracy")
        share = mean("crust", rate, "clean_share")
        rand = mean("random", rate, "final_accuracy")
        craig = mean("craig", rate, "final_accuracy")
        if None in (crust, std, share, rand, craig):
            continue
        lines.append(
            f"- {rate:.0%} noise: CRUST {crust * 100:.2f}% vs standard {std * 100:.2f}% "
            f"({(crust - std) * 100:+.2f} pt), vs CRAIG {craig * 100:.2f}%, vs random {rand * 100:.2f}%; CRUST's "
            f"coresets are {share * 100:.1f}% clean against {(1 - rate) * 100:.0f}% in the data "
            f"({'cleaner' if share > 1 - rate else 'not cleaner'} than 1 − noise).")
    lines.append("- The paper (CIFAR-10, ResNet-32, 120 epochs) reports CRUST above standard training at 50% "
                 "noise with coresets cleaner than the data. "
                 "Direction here: see the lines above; with the reference defaults (fl_ratio 0.5, r 2.0) the "
                 "weights are almost uniform (every gradient of a class lies within distance 2 of a medoid), "
                 "and the reference's own issue tracker reports under-reproduction at 20% noise unless fl_ratio "
                 "is tuned.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
