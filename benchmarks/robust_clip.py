"""Poisoned image–text pre-training on Fashion-MNIST captions: a tiny CLIP vs SafeCLIP.

Two attacks (targeted poisons: target test images paired with captions of an adversarial class; a backdoor:
a checkerboard trigger with captions naming the target class) and two arms trained at the same settings
(same data, model sizes, optimiser and number of epochs). We report attack success and zero-shot accuracy.

    python3 benchmarks/robust_clip.py --attacks targeted          # one attack at a time (resumable)
    python3 benchmarks/robust_clip.py --attacks targeted,backdoor  # the report over both
"""

from __future__ import annotations

import sys

import _robust as R

ARMS = ("clip", "safeclip")


def run(job: dict) -> dict:
    from lessdata.contrastive.poisoning import clip_poisoning_run

    return clip_poisoning_run(**job)


def main(argv=None) -> dict:
    p = R.parser(__doc__)
    p.add_argument("--attacks", default="targeted,backdoor")
    p.add_argument("--train-size", type=int, default=2000)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--unimodal-epochs", type=int, default=2)
    p.add_argument("--n-targets", type=int, default=5)
    p.add_argument("--n-poisons", type=int, default=10)
    p.add_argument("--poison-rate", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed-list", default=None, help="run these seeds (comma-separated) instead of 0..seeds-1")
    args = p.parse_args(argv)
    seeds = [int(v) for v in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    wall = R.timer()
    attacks = args.attacks.split(",")
    base = {"train_size": args.train_size, "test_size": args.test_size, "epochs": args.epochs,
            "unimodal_epochs": args.unimodal_epochs, "n_targets": args.n_targets, "n_poisons": args.n_poisons,
            "poison_rate": args.poison_rate, "batch_size": args.batch_size}
    jobs = [{**base, "attack": attack, "arm": arm, "seed": seed}
            for attack in attacks for seed in seeds for arm in ARMS]
    runs = R.run_jobs(run, jobs, args.out / ".robust_clip.runs.json", args.workers)
    cpu = sum(r["cpu_seconds"] for r in runs)
    rows = [{"attack": attack, "arm": arm, **{k: [r[k] for r in runs if r["attack"] == attack and r["arm"] == arm]
                                             for k in ("attack_success_rate", "zero_shot_accuracy", "cpu_seconds",
                                                       "poisons")},
             "poisons_in_safe_last": [r["poisons_in_safe"][-1] for r in runs
                                      if r["attack"] == attack and r["arm"] == arm and r.get("poisons_in_safe")],
             "safe_ratio_last": [r["safe_ratios"][-1] for r in runs
                                 if r["attack"] == attack and r["arm"] == arm and r.get("safe_ratios")]}
            for attack in attacks for arm in ARMS]
    info = R.machine()
    md = R.header("Poisoned image–text pre-training: tiny CLIP vs SafeCLIP (Fashion-MNIST captions)", info, wall(),
                  cpu)
    filtering = args.epochs - args.unimodal_epochs - 1
    md += (f"- Setup: a fixed random subsample of {args.train_size} Fashion-MNIST training images with generated "
           f"captions (no mismatched captions), the first {args.test_size} test images for zero-shot accuracy. "
           f"Targeted: {args.n_targets} target test images (outside the evaluation split), each paired "
           f"{args.n_poisons} times with captions of a random other class; backdoor: a 3×3 checkerboard on "
           f"{args.poison_rate:.0%} of the training images with captions naming class 0. Tiny CLIP (CNN width 32, "
           f"1-layer text transformer, 64-d embeddings), AdamW lr 2e-3, batch {args.batch_size}, {args.epochs} "
           f"epochs for both arms; SafeCLIP: {args.unimodal_epochs} unimodal epochs, 1 CLIP epoch at lr × 0.1, "
           f"{filtering} filtering epochs. {len(seeds)} seeds. Sized for a shared 2-core CPU: the paper pre-trains "
           "CLIP (ResNet-50) on 1M CC3M pairs for 32 epochs.\n"
           f"- Total CPU time of the runs: {cpu / 60:.1f} CPU-minutes.\n\n")
    md += ("| attack | arm | attack success rate (%) | zero-shot accuracy (%) | poisons | poisons in the final safe "
           "set | final safe share (%) | CPU s per run |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
    for row in rows:
        md += (f"| {row['attack']} | {row['arm']} | {R.pm(row['attack_success_rate'])} | "
               f"{R.pm(row['zero_shot_accuracy'])} | {R.pm(row['poisons'], 1, '.0f')} | "
               f"{R.pm(row['poisons_in_safe_last'], 1, '.1f')} | {R.pm(row['safe_ratio_last'])} | "
               f"{R.pm(row['cpu_seconds'], 1, '.0f')} |\n")
    md += "\n## What the paper claims, and what we measured\n\n"
    md += ("- The paper reports attack success 93.75% → 0% (targeted) and 100% → 0% (backdoor) with similar "
           "zero-shot accuracy.\n")
    for attack in attacks:
        clip, safe = (next(r for r in rows if r["attack"] == attack and r["arm"] == a) for a in ARMS)
        a_c, a_s = R.stats(clip["attack_success_rate"])[0], R.stats(safe["attack_success_rate"])[0]
        z_c, z_s = R.stats(clip["zero_shot_accuracy"])[0], R.stats(safe["zero_shot_accuracy"])[0]
        md += (f"- {attack}: attack success {a_c * 100:.1f}% (CLIP) vs {a_s * 100:.1f}% (SafeCLIP); zero-shot "
               f"accuracy {z_c * 100:.1f}% vs {z_s * 100:.1f}%.\n")
    fig, axes = R.figure(2)
    for ax, key, label in ((axes[0], "attack_success_rate", "attack success rate (%)"),
                           (axes[1], "zero_shot_accuracy", "zero-shot accuracy (%)")):
        for k, row in enumerate(rows):
            mean, sd, vals = R.stats(row[key])
            if mean is not None:
                color = "tab:gray" if row["arm"] == "clip" else "tab:green"
                ax.bar(k, mean * 100, yerr=sd * 100, capsize=4, color=color)
                ax.plot([k] * len(vals), [v * 100 for v in vals], "k.", ms=4)
        ax.set_xticks(range(len(rows)), [f"{r['attack']}\n{r['arm']}" for r in rows])
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"Tiny CLIP vs SafeCLIP under poisoning ({len(seeds)} seeds, mean ± std)")
    result = {"config": {**base, "attacks": attacks, "seeds": seeds}, "machine": info, "rows": rows, "runs": runs}
    R.write("robust_clip", args.out, result, md, fig)
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
