"""The papers' protocol on a 2-core CPU: full data vs random, RS2, CRAIG, CREST, GradMatch and GLISTER at 10% and
30% (the full protocol), AdaCore, EL2N, forgetting and cartography at 10% (a short protocol), and a label-noise
run; every arm trains the same epochs (a subset arm on its fraction of the data per epoch), 3 seeds, with relative
error, speed-up and time to fixed accuracies, and whether each paper's direction holds.

Recipe: a stratified 20,000-example Fashion-MNIST training subset and a 5,000-example test subset, LeNet,
batch 64, SGD momentum 0.9, lr 0.05 cosine (stepped per epoch), weight decay 5e-4, 15 epochs, one torch thread
per process; CRAIG reselects every epoch and every 5 epochs, AdaCore, GradMatch and GLISTER every 5 epochs
(their reference rules for the first selection), CREST with its defaults (one warm-up epoch). Batch 64 gives
31 steps per 10% epoch (the batch-128 recipe on 10,000 examples had 8, and its escape from the initial loss
plateau killed about a fifth of the runs of every arm, random included). The label-noise run flips 20% of the
training labels (symmetric, per seed; the ``noise`` suite) and compares full data, random and CRAIG (every
epoch) at 10% for 10 epochs.

Two processes side by side, each running its parts in order, then merged:

    python benchmarks/tta_protocol.py                 # runs all parts, merges, writes results/tta_protocol*.*
    python benchmarks/tta_protocol.py --merge-only    # merge parts already in --parts
    python benchmarks/tta_protocol.py --plateau       # the full-data plateau measurement (30 epochs, 2 seeds)

Writes ``benchmarks/results/tta_protocol.{md,png,json}`` (full and short protocol) and
``benchmarks/results/tta_protocol_noise.{md,png,json}`` (label noise).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from lessdata.bench.merge import merge_files
from lessdata.bench.report import regenerate

HERE = Path(__file__).resolve().parent
RECIPE = ["--train-size", "20000", "--test-size", "5000", "--batch-size", "64", "--every", "5", "--seeds", "3",
          "--threads", "1", "--accuracy-targets", "0.75,0.8,0.85", "--parallel-processes", "2"]
PROTOCOL = ["--suite", "all", "--epochs", "15", *RECIPE]
#: two processes side by side; each runs its parts one after the other
CHAINS = [
    {"tta_protocol_a": [*PROTOCOL, "--fractions", "0.1,0.3", "--methods", "full,random,rs2,craig",
                        "--craig-every", "1"],
     "tta_protocol_noise": ["--suite", "noise", "--epochs", "10", *RECIPE, "--fractions", "0.1",
                            "--methods", "full,random,craig", "--craig-every", "1"],
     "tta_protocol_short": [*PROTOCOL, "--fractions", "0.1", "--methods", "adacore,el2n,forgetting,cartography"]},
    {"tta_protocol_b": [*PROTOCOL, "--fractions", "0.1,0.3", "--methods", "craig,crest,gradmatch,glister",
                        "--craig-every", "5"]},
]
MAIN_PARTS = ("tta_protocol_a", "tta_protocol_b", "tta_protocol_short")
PLATEAU = ["--suite", "all", "--epochs", "30", *RECIPE[:6], "--threads", "1", "--parallel-processes", "2",
           "--fractions", "0.1", "--methods", "full,random", "--name", "tta_protocol_plateau"]

RECIPE_NOTE = (
    "**Recipe, and why:** a stratified 20,000-example subset of the Fashion-MNIST training set and a 5,000-example "
    "test subset; LeNet; batch 64 (about 31 steps per epoch at 10%, 94 at 30%, 313 for full data); SGD momentum 0.9, "
    "lr 0.05 cosine, weight decay 5e-4. The earlier reduced recipe (10,000 examples, batch 128, 8 steps per 10% "
    "epoch) left the initial loss plateau with a gradient spike that killed about a fifth of the runs of *every* "
    "arm, random included; with 4x the steps per epoch no run of any arm collapses here (a stability check, full "
    "data and random 10% for 30 epochs, seeds 0 and 1: random ended at 82.2 and 81.7%).")
PLATEAU_NOTE = (
    "**Full-data plateau, measured** (`python benchmarks/tta_protocol.py --plateau`: full data, 30 epochs of the "
    "same recipe, seeds 0 and 1, mean test accuracy per epoch): 86.95% at epoch 15, 88.37% at 20, 88.67% at 25, "
    "88.71% at 30; from epoch 20 on it rises by at most 0.3 point over any 5 epochs, so the plateau is about "
    "20 epochs (88.7%). **Cut:** every arm here trains **15 epochs** (cosine schedule over 15), what this CPU "
    "allowed for all arms in about 45 minutes; the 15-epoch full-data arm ends at 88.55%, 0.2 point below the "
    "30-epoch run, so full data is near its plateau while the subset arms (about 470 or 1,400 SGD steps at 10% "
    "and 30%) are not at theirs.")
MACHINE_NOTE = (
    "**Machine:** a 2-core CPU shared with other jobs (load average 3-4 during the runs), two benchmark "
    "processes of this run side by side, one torch thread each (run on 2026-12-01). Every wall-clock number here "
    "(totals, speed-ups, times to accuracy) is inflated unevenly across arms (the same full-data run took 71 s "
    "for seed 0 and 163 s for seed 1) and is **not a speed claim**; the accuracy columns are unaffected.")
NOTES = [
    RECIPE_NOTE,
    PLATEAU_NOTE,
    "**Full and short protocol:** full data and the paper methods (random, RS2, CRAIG every epoch and every 5, "
    "CREST, GradMatch, GLISTER) at 10% and 30%; AdaCore, EL2N, forgetting and cartography at **10% only** (the "
    "short protocol: same recipe and epochs, 30% cut for CPU time). No run of any arm collapsed to chance.",
    "**Reading of the directions table.** At 10% random ends at 78.93 ± 0.70% (relative error 84%), full data at "
    "88.55 ± 0.03%. *GradMatch* holds at both fractions and is the best subset method here (+2.11 ± 0.73 points "
    "over random at 10%, +1.39 ± 0.37 at 30%). *CRAIG every 5 epochs* holds at both (+1.10 ± 0.67, +0.61 ± 0.30); "
    "*CRAIG every epoch* holds at 30% (+0.96 ± 0.33) but only ties random at 10% (+0.01 ± 0.88: the table's 'yes' "
    "is a tie). *CREST* is +1.23 ± 0.86 at 10% (holds) and +0.73 ± 0.42 at 30%, where its resets and checks "
    "(229 s of its 269 s) make it slower than full data, so the speed-up half fails. *RS2* holds at both "
    "(+0.64, +1.17). *GLISTER* (over all classes at once, the CORDS default) does not hold: -5.09 ± 3.59 at 10% "
    "(seed 0 ends at 66.8%) and -0.98 ± 0.72 at 30%. *AdaCore* (short protocol) does not hold at 10%: "
    "73.83 ± 7.66%, seed 0 falls after its epoch-5 reselection (68% to 34% by epoch 9, back to 65%). The gaps "
    "are one to three standard errors with 3 seeds: directions, not precise sizes. The speed-ups are ratios of "
    "contended wall-clocks (see Machine) and only the sign of a large one means anything: CRAIG every 5 epochs "
    "and GradMatch at 10% take well under a quarter of full data's time, CRAIG every epoch and CREST at 30% do "
    "not pay back their selection.",
    "**Score methods (Sorscher et al.: keep easy examples at small budgets).** EL2N and forgetting keep the "
    "hardest examples (their papers' rule) and end far below random at 10%: 46.15 ± 1.29% and 57.11 ± 2.65% "
    "(-32.8 and -21.8 points); cartography's ambiguous region ties random (78.95 ± 0.85%). That hard-first "
    "subsets lose badly at a small budget agrees with Sorscher et al.'s direction, but no easy-first arm was run, "
    "so the direction itself is not tested here ('not judged' in the table).",
    MACHINE_NOTE,
]
NOISE_NOTES = [
    RECIPE_NOTE,
    "**Short protocol, stated plainly:** 20% of the training labels flipped to another class (symmetric, drawn "
    "per seed; the test set stays clean), 10 epochs (not the 15 of the clean run), 10% only, full data vs random "
    "vs CRAIG reselected every epoch, 3 seeds.",
    "**Reading:** CRAIG ends 0.5 point below random (73.71 ± 1.89 vs 74.23 ± 2.40%), well within one standard "
    "error, so no difference is measurable here; full data reaches 87.19 ± 0.28%. CRAIG's subsets hold 35.8% "
    "flipped examples (mean over its selections) against 20.0% for random: a flipped example has a large "
    "last-layer gradient unlike its class's, so per-class facility location on gradients keeps many of them as "
    "their own representatives. The CRAIG paper makes no label-noise claim; this run only shows that its "
    "gradient signal does not filter noisy labels (it over-selects them).",
    MACHINE_NOTE,
]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1"}


def _tta(args: list[str], name: str | None, parts: Path) -> list[str]:
    return [sys.executable, str(HERE / "tta.py"), *args, *([] if name is None else ["--name", name]),
            "--out", str(parts)]


def _plateau(parts: Path) -> None:
    procs = [subprocess.Popen(_tta([*PLATEAU, "--seed-list", str(seed)], None, parts), env=_env()) for seed in (0, 1)]
    if any(p.wait() for p in procs):
        raise SystemExit("a plateau run failed")
    curves: dict[str, list] = {}
    for seed in (0, 1):
        for run in json.loads((parts / f"tta_protocol_plateau_seeds{seed}.json").read_text())["runs"]:
            curves.setdefault(run["arm"]["label"], []).append([e["test_accuracy"] for e in run["history"]])
    for label, runs in curves.items():
        mean = [100 * sum(values) / len(values) for values in zip(*runs)]
        print(label, " ".join(f"{epoch}:{acc:.2f}" for epoch, acc in enumerate(mean, 1)))
        print("  rise over the next 5 epochs:",
              " ".join(f"{epoch}:{mean[epoch + 4] - mean[epoch - 1]:+.2f}" for epoch in range(1, len(mean) - 4)))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", type=Path, default=Path("/tmp/tta_protocol_parts"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--merge-only", action="store_true")
    parser.add_argument("--plateau", action="store_true",
                        help="measure the full-data plateau (full and random 10%%, 30 epochs, seeds 0 and 1)")
    args = parser.parse_args(argv)
    if args.plateau:
        _plateau(args.parts)
        return
    if not args.merge_only:
        procs = [subprocess.Popen(["sh", "-c", " && ".join(
            " ".join(_tta(part, name, args.parts)) for name, part in chain.items())], env=_env())
            for chain in CHAINS]
        if any(p.wait() for p in procs):
            raise SystemExit("a part failed")
    parts = {name: part for chain in CHAINS for name, part in chain.items()}

    def command(names) -> str:
        return "python benchmarks/tta_protocol.py (" + " ; ".join(
            f"python benchmarks/tta.py {' '.join(parts[n])} --name {n}" for n in names) + ")"

    merged = merge_files([args.parts / f"{name}.json" for name in MAIN_PARTS], args.out, name="tta_protocol",
                         command=command(MAIN_PARTS))
    regenerate(merged["files"]["json"], notes=NOTES,
               title="Papers' protocol on a 2-core CPU: Fashion-MNIST 20k, LeNet, batch 64, 15 epochs")
    noise = merge_files([args.parts / "tta_protocol_noise.json"], args.out, name="tta_protocol_noise",
                        command=command(["tta_protocol_noise"]))
    regenerate(noise["files"]["json"], notes=NOISE_NOTES,
               title="Papers' protocol with 20% of training labels flipped: Fashion-MNIST 20k, LeNet, 10 epochs")
    print(f"wrote {merged['files']['markdown']} and {noise['files']['markdown']}")


if __name__ == "__main__":
    main()
