"""Time to accuracy for a CNN (LeNet) on Fashion-MNIST: full data vs coreset methods, the same epochs and
learning-rate schedule for every run. Three suites:

- ``exp2`` (experiment 2): full data vs class-balanced random, RS2 and CRAIG (reselected every epoch and every
  5 epochs on last-layer gradients) at 10% and 30%, 3 seeds. The same as
  ``lessdata bench tta --dataset fashion-mnist --model cnn --methods full,random,rs2,craig --fractions 0.1,0.3``.
- ``all``: full, random, CRAIG, CREST, AdaCore, GradMatch, GLISTER (every 5 epochs), EL2N, forgetting and
  cartography at 10% and 30%; checks "CREST reaches full − 1 point at least 2x faster than full data"
  (``issue4``, its former name, is still accepted).
- ``noise``: full, random, CRAIG and CREST at 10% and 30% with 20% of the training labels flipped; the share
  of flipped examples each method selects.

    python benchmarks/tta.py                          # exp2, about 25 minutes on 2 cores
    python benchmarks/tta.py --suite all --quick      # 3 epochs, 1 seed, 6,000/2,000-example subsets (CPU)

Seeds (and arms) as parallel processes on a bigger machine, then one report per suite. The full ``all`` run on
one GPU and 16 cores, split so that no process runs much longer than the others (about 5-6 minutes each,
estimated; CREST's per-step checks and GradMatch's OMP at 30% are the long poles)::

    export PYTHONPATH=src LESSDATA_DATA=.devdata OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
    run="python3 benchmarks/tta.py --device cuda --threads 1 --out $OUT/parts"
    for s in 0 1 2; do
      NUMBA_NUM_THREADS=2 $run --suite all --seed-list $s --name all_a \
          --methods full,random,craig,adacore,el2n,forgetting,cartography &
      NUMBA_NUM_THREADS=1 sh -c "$run --suite all --seed-list $s --name all_b \
          --methods crest,gradmatch,glister --fractions 0.1 && \
          $run --suite all --seed-list $s --name all_c --methods crest --fractions 0.3" &
      NUMBA_NUM_THREADS=1 $run --suite all --seed-list $s --name all_d \
          --methods gradmatch,glister --fractions 0.3 --every once &
      NUMBA_NUM_THREADS=2 $run --suite noise --seed-list $s &
    done; wait
    python3 benchmarks/tta.py --merge $OUT/parts/all_?_seeds?.json --name tta_fashion_mnist_cnn_all --out $OUT
    python3 benchmarks/tta.py --merge $OUT/parts/tta_fashion_mnist_cnn_noise_seeds?.json --out $OUT

Writes ``benchmarks/results/<name>.{md,png,json}``: ``tta_fashion_mnist_cnn`` (exp2),
``tta_fashion_mnist_cnn_all``, ``tta_fashion_mnist_cnn_noise`` (``_quick`` with --quick; ``_seeds<list>``
per seed process, merged into ``<name>`` by --merge).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from lessdata.bench import ArmOptions, TtaConfig, run_tta
from lessdata.bench.merge import merge_files
from lessdata.errors import LessdataError

SUITES = {
    "exp2": {"methods": ("full", "random", "rs2", "craig"), "noise_rate": 0.0, "name": "tta_fashion_mnist_cnn"},
    "all": {"methods": ("full", "random", "craig", "crest", "adacore", "gradmatch", "glister", "el2n",
                        "forgetting", "cartography"), "noise_rate": 0.0, "name": "tta_fashion_mnist_cnn_all"},
    "noise": {"methods": ("full", "random", "craig", "crest"), "noise_rate": 0.2,
              "name": "tta_fashion_mnist_cnn_noise"},
}
#: --quick on a CPU: stratified subsets of the training and test sets, so every suite runs in a few minutes
QUICK_SIZES = {"exp2": (None, None), "all": (6000, 2000), "noise": (6000, 2000)}
#: former suite names, still accepted so that recorded commands run
SUITE_ALIASES = {"issue4": "all"}


def _ints(text: str, once: bool = False) -> list:
    return [None if once and item == "once" else int(item) for item in text.split(",") if item.strip()]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=sorted(SUITES) + sorted(SUITE_ALIASES), default="exp2")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-list", default=None, help="run these seeds (e.g. 1,2); merge with --merge")
    parser.add_argument("--epochs", type=int, default=None, help="default: 10 (3 with --quick)")
    parser.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default: 128)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default=None, help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--craig-every", default=None, help="CRAIG periods (default 1,5; exp2 and all)")
    parser.add_argument("--every", default="5", help="AdaCore / GradMatch / GLISTER periods, or 'once'")
    parser.add_argument("--fractions", default="0.1,0.3")
    parser.add_argument("--methods", default=None, help="override the suite's methods")
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--name", default=None, help="file stem (default: the suite's)")
    parser.add_argument("--glister-per-class", action="store_true",
                        help="GLISTER selects per class (default: over all classes at once, as the paper's code)")
    parser.add_argument("--gradmatch-gradients", default="full", choices=("full", "class_row", "logits"),
                        help="GradMatch's signal (default: full last-layer gradients, the reference's)")
    parser.add_argument("--glister-gradients", default="full", choices=("full", "logits"))
    parser.add_argument("--first-call", default=None, choices=("random", "model"),
                        help="first selection of the model selectors (default: each one's reference rule)")
    parser.add_argument("--craig-max-weight-ratio", type=float, default=None,
                        help="cap CRAIG's weights at this multiple of the mean (a departure; default: no cap)")
    parser.add_argument("--accuracy-targets", default=None, help="fixed test accuracies, e.g. 0.8,0.85")
    parser.add_argument("--parallel-processes", type=int, default=1,
                        help="benchmark processes side by side (flags the timings as not for speed claims)")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="merge these seed-process results into one report and exit")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    command = " ".join(shlex.quote(a) for a in ["python", "benchmarks/tta.py", *(sys.argv[1:] if argv is None
                                                                                 else argv)])
    try:
        if args.merge:
            result = merge_files(args.merge, args.out, name=args.name, command=command)
        else:
            suite_name = SUITE_ALIASES.get(args.suite, args.suite)
            suite = SUITES[suite_name]
            quick_train, quick_test = QUICK_SIZES[suite_name] if args.quick else (None, None)
            methods = args.methods.split(",") if args.methods else suite["methods"]
            config = TtaConfig(
                "fashion-mnist", "cnn", methods=methods, fractions=[float(f) for f in args.fractions.split(",")],
                seeds=args.seeds, epochs=args.epochs, batch_size=args.batch_size, quick=args.quick,
                threads=args.threads,
                craig_every=_ints(args.craig_every) if args.craig_every else (1, 5), every=_ints(args.every, True),
                noise_rate=suite["noise_rate"], device=args.device,
                seed_list=_ints(args.seed_list) if args.seed_list else None,
                train_size=args.train_size or quick_train, test_size=args.test_size or quick_test,
                name=args.name or suite["name"] + ("_quick" if args.quick else ""),
                accuracy_targets=[float(a) for a in args.accuracy_targets.split(",")] if args.accuracy_targets
                else (), parallel_processes=args.parallel_processes,
                options=ArmOptions(glister_per_class=args.glister_per_class,
                                   gradmatch_gradients=args.gradmatch_gradients,
                                   glister_gradients=args.glister_gradients, first_call=args.first_call,
                                   craig_params={} if args.craig_max_weight_ratio is None
                                   else {"max_weight_ratio": args.craig_max_weight_ratio}))
            result = run_tta(config, out_dir=args.out, command=command, log=lambda line: print(line, flush=True))
    except (LessdataError, ValueError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"wrote {result['files']['markdown']}")
    return result


if __name__ == "__main__":
    main()
