"""Experiment 2: time to accuracy for a CNN (LeNet) on Fashion-MNIST.

Full data vs class-balanced random, RS2 and CRAIG (reselected every epoch and every 5 epochs on last-layer
gradients, via lessdata.training.gradient_selector) at 10% and 30%, the same number of epochs and the same
learning-rate schedule for every run, 3 seeds. The same as

    lessdata bench tta --dataset fashion-mnist --model cnn --methods full,random,rs2,craig --fractions 0.1,0.3 --seeds 3

    python benchmarks/tta.py             # the full experiment (about 25 minutes on 2 cores)
    python benchmarks/tta.py --quick     # 3 epochs, 1 seed (a few minutes)

Writes benchmarks/results/tta_fashion_mnist_cnn.{md,png,json} (tta_fashion_mnist_cnn_quick.* with --quick).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from lessdata.bench import run_tta


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="default: 10 (3 with --quick)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    command = " ".join(shlex.quote(a) for a in ["python", "benchmarks/tta.py", *sys.argv[1:]])
    result = run_tta("fashion-mnist", "cnn", methods=("full", "random", "rs2", "craig"), fractions=(0.1, 0.3),
                     seeds=args.seeds, epochs=args.epochs, quick=args.quick, out_dir=args.out,
                     threads=args.threads, command=command, log=lambda line: print(line, flush=True))
    print(f"wrote {result['files']['markdown']}")
    return result


if __name__ == "__main__":
    main()
