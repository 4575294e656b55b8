"""The papers' protocol on a reduced CPU setting: full data vs random, RS2, CRAIG, CREST, GradMatch and GLISTER
at 10%, every arm trained the same epochs (a subset arm on 10% of the data per epoch), 3 seeds, with relative
error, speed-up and time to fixed accuracies, and whether each paper's direction holds.

Reduced setting (a 2-core CPU shared with other jobs): a stratified 10,000-example Fashion-MNIST training subset
and a 2,000-example test subset, LeNet, 15 epochs, batch 128, SGD momentum 0.9, lr 0.05 cosine, one torch thread
per process; CRAIG reselects every epoch, GradMatch and GLISTER every 5 epochs (first selection random, as CORDS),
CREST with its defaults. Two processes side by side (split by arm), merged into one report:

    python benchmarks/tta_protocol.py                 # runs both parts, merges, writes results/tta_protocol.*
    python benchmarks/tta_protocol.py --merge-only    # merge parts already in --parts
    python benchmarks/tta_protocol.py --crest-warmup --seed-list 0,1   # CREST with one warm-up epoch (per seed
    python benchmarks/tta_protocol.py --crest-warmup --seed-list 2     # list; merge with benchmarks/tta.py --merge)

Writes ``benchmarks/results/tta_protocol.{md,png,json}``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from lessdata.bench.merge import merge_files
from lessdata.bench.report import regenerate

HERE = Path(__file__).resolve().parent
COMMON = ["--suite", "issue4", "--fractions", "0.1", "--train-size", "10000", "--test-size", "2000", "--epochs", "15",
          "--craig-every", "1", "--every", "5", "--seeds", "3", "--threads", "1",
          "--accuracy-targets", "0.75,0.8,0.85", "--parallel-processes", "2"]
PARTS = {"tta_protocol_a": "full,random,rs2,gradmatch", "tta_protocol_b": "craig,crest,glister"}

NOTES = [
    "**Reduced setting, stated plainly:** a stratified 10,000-example subset of the Fashion-MNIST training set "
    "and a 2,000-example test subset; LeNet; 15 epochs for every arm (the papers train to the full-data plateau, "
    "e.g. 200 epochs on CIFAR-10; 15 epochs on 10,000 examples is where this CPU budget ended, and the full-data "
    "arm is still rising slowly there); one fraction (10%). Score methods (EL2N, forgetting, cartography) and "
    "AdaCore were **not run** in this protocol: the 'keep easy examples at small budgets' direction is not judged "
    "here.",
    "**Why no paper direction holds here:** 15 epochs of 10% of 10,000 examples are 120 SGD steps, 1.5 full-data "
    "epochs of gradient work: every subset arm is still in the steep early phase (random ends 16.6 points below "
    "full data), far from the papers' regime of 200 epochs where the subset arms reach their plateau. "
    "**The collapses are an instability of this recipe, not of the selections:** every subset arm sits on the "
    "initial loss plateau (2.30) for about 4 epochs (32 steps), and when it leaves it, around epoch 5 with the "
    "learning rate still 0.0375 and momentum 0.9, the gradient norm jumps from about 0.1 to 10-40 in *every* arm, "
    "random included; a run whose spike is large enough ends with dead ReLUs and a constant prediction (loss back "
    "to ln 10, test accuracy 10%). The fixed random subset collapses too: rerun with seeds 0-9 (same settings, one "
    "process), random ends at 59.6 ± 18.8% with 2/10 runs below 40% (seeds 6 and 9), GradMatch 59.6 ± 16.9% "
    "(2/10), RS2 67.4 ± 4.0% (0/10), GLISTER 47.4 ± 15.1% (2/10); seeds 0-2 are the lucky draws for random "
    "(69.35 ± 1.74) and unlucky ones for GradMatch and RS2, so 3 seeds cannot rank these arms here. GradMatch's "
    "picks are not the cause: they are class-balanced (100 per class) with weights at most 1.0-1.5x the mean, "
    "and reselecting a fresh random subset at epoch 5 instead also collapses (seed 6). GLISTER's underperformance "
    "is partly its own: selecting over all classes at once (the CORDS default) on a half-trained model gives "
    "strongly class-imbalanced subsets (the smallest class 0-25 picks, the largest 200-390 of 1,000), which "
    "enlarges the spike (gradient norm 41 in seed 1); with `--glister-per-class` (DeepCore's default) GLISTER "
    "reaches 58.2 ± 3.7% over seeds 0-9 (0/10 collapsed; seeds 0-2: 58.68 ± 5.00), still below random's median. "
    "At lr 0.02 the spikes disappear (largest gradient norm about 2) but 120 steps are then too few to learn "
    "(random 49.6 ± 12.3%). CREST's seed 0 fell to "
    "chance after a reset at epoch 5 (this run used `warmup_steps=0`, CrestTrainer's default at the time, where the "
    "reference trains one epoch on random batches first). CRAIG (reselected every epoch, uncapped weights: the "
    "largest weight reached 5-12x the mean by epoch 10) stays within 2 points of random. These are negative "
    "results for this reduced setting, not for the papers' setting.",
    "**CREST with the reference's one-epoch warm-up** (now CrestTrainer's default, `warmup_steps=None`), run "
    "separately in the same setting (`TtaConfig('fashion-mnist', 'cnn', methods=('crest',), fractions=(0.1,), "
    "epochs=15, train_size=10000, test_size=2000, options=ArmOptions(crest_params={'warmup_steps': 8}))`, seeds "
    "0, 1, 2 as two processes): final accuracy 68.10 / 63.65 / 67.70%, mean 66.48 ± 2.46, against 56.63 ± 18.59 "
    "without the warm-up and random's 69.35 ± 1.74: the warm-up removes the collapse, and CREST is still 2.9 "
    "points below random here (direction does not hold). Raw runs: tta_protocol_crest_warmup.json.",
    "**Machine:** a 2-core CPU shared with other jobs (load average about 16 throughout) and two benchmark "
    "processes of this run side by side: every wall-clock number here (totals, speed-ups, times to accuracy) is "
    "inflated unevenly across arms and is **not a speed claim**. The accuracy columns are unaffected.",
]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", type=Path, default=Path("/tmp/tta_protocol_parts"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--merge-only", action="store_true")
    parser.add_argument("--crest-warmup", action="store_true",
                        help="run only CREST with the reference's one-epoch warm-up (8 steps) in the same setting")
    parser.add_argument("--seed-list", default="0,1,2")
    args = parser.parse_args(argv)
    if args.crest_warmup:
        import torch

        from lessdata.bench import ArmOptions, TtaConfig, run_tta

        torch.set_num_threads(1)
        config = TtaConfig("fashion-mnist", "cnn", methods=("crest",), fractions=(0.1,), epochs=15, train_size=10000,
                           test_size=2000, threads=1, name="tta_protocol_crest_warmup", parallel_processes=2,
                           seed_list=[int(x) for x in args.seed_list.split(",")],
                           options=ArmOptions(crest_params={"warmup_steps": 8}))
        run_tta(config, out_dir=args.parts, log=lambda line: print(line, flush=True))
        return
    if not args.merge_only:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "NUMBA_NUM_THREADS": "1"}
        procs = [subprocess.Popen([sys.executable, str(HERE / "tta.py"), *COMMON, "--methods", methods,
                                   "--name", name, "--out", str(args.parts)], env=env)
                 for name, methods in PARTS.items()]
        if any(p.wait() for p in procs):
            raise SystemExit("a part failed")
    paths = [args.parts / f"{name}.json" for name in PARTS]
    command = "python benchmarks/tta_protocol.py (" + " ; ".join(
        f"python benchmarks/tta.py {' '.join(COMMON)} --methods {m} --name {n}" for n, m in PARTS.items()) + ")"
    merged = merge_files(paths, args.out, name="tta_protocol", command=command)
    regenerate(merged["files"]["json"], title="Papers' protocol, reduced: Fashion-MNIST 10k, LeNet, 15 epochs",
               notes=NOTES)
    print(f"wrote {merged['files']['markdown']}")


if __name__ == "__main__":
    main()
