"""Reshaping the training distribution on Fashion-MNIST with LeNet: USEFUL, targeted augmentation and
coresets for augmentation, each against its baselines, over several seeds.

    .venv/bin/python benchmarks/shaping.py                       # runs (resumable) + results
    .venv/bin/python benchmarks/shaping.py --quick               # a tiny smoke run (not a result)

Every run is cached as JSON under benchmarks/results/.shaping_runs/ (delete it to start over), so an
interrupted benchmark resumes where it stopped. Writes benchmarks/results/shaping_{useful,augment,
coreset_augment}.{md,png,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEPARATION_EPOCHS = 4
OUT = {"folder": RESULTS}  # the quick smoke run writes its reports next to its cached runs instead


def settings(quick: bool) -> dict:
    if quick:
        return {"n_train": 600, "n_test": 1000, "epochs": 3, "seeds": [0, 1], "workers": 2, "tag": "quick"}
    return {"n_train": 5000, "n_test": 10000, "epochs": 15, "seeds": [0, 1, 2], "workers": 2, "tag": "full"}


def load(cfg, seed_for_subset: int = 0):
    from lessdata.data import fashion_mnist
    from lessdata.data.torch_data import ArrayDataset

    X, y = fashion_mnist()
    Xt, yt = fashion_mnist(split="test")
    rng = np.random.default_rng(seed_for_subset)  # one fixed, class-balanced training subset for every run
    per_class = cfg["n_train"] // 10
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)]))
    return ArrayDataset(X[idx], y[idx]), y[idx], ArrayDataset(Xt[: cfg["n_test"]], yt[: cfg["n_test"]]), \
        yt[: cfg["n_test"]]


def fit_kwargs(cfg):
    import torch

    epochs = cfg["epochs"]
    # the early separation run follows the same cosine schedule as the full run, stopped early (as in USEFUL)
    return {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128,
            "lr_schedule": lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)}


def cache_path(cfg, name: str) -> Path:
    folder = RESULTS / ".shaping_runs" / cfg["tag"]
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.json"


def separation_for(cfg, seed: int):
    from lessdata.shaping import Separation

    path = cache_path(cfg, f"separation_s{seed}")
    if not path.exists():
        raise RuntimeError(f"separation for seed {seed} missing")
    d = json.loads(path.read_text())
    return Separation(slow=np.array(d["slow"], dtype=bool), labels=np.array(d["labels"]), epoch=d["epoch"],
                      train_error=np.array(d["train_error"])), d


def run_job(job):
    """One training run (or the early separation run); returns its record and caches it."""
    import torch

    torch.set_num_threads(1)
    from lessdata.models import LeNet
    from lessdata.shaping import (
        AugmentedView,
        TrivialAugment,
        augment_all,
        coreset_augmentation,
        early_separation,
        loss_upweighting,
        random_part,
        random_upsampling,
        targeted_augmentation,
        useful_coreset,
    )
    from lessdata.signals import DynamicsRecorder
    from lessdata.training import SelectOnce, fit

    cfg, arm, seed = job["cfg"], job["arm"], job["seed"]
    path = cache_path(cfg, f"{arm}_s{seed}")
    if path.exists():
        return json.loads(path.read_text())
    train, labels, test, test_labels = load(cfg)
    kwargs = fit_kwargs(cfg)
    n = len(train)
    torch.manual_seed(seed)
    if arm == "separation":
        tick = time.perf_counter()
        sep = early_separation(LeNet(), train, epochs=SEPARATION_EPOCHS, epoch="auto", seed=seed, **kwargs)
        record = {"arm": arm, "seed": seed, "slow": sep.slow.tolist(), "labels": sep.labels.tolist(),
                  "epoch": sep.epoch, "train_error": sep.train_error.tolist(),
                  "seconds": time.perf_counter() - tick, "summary": sep.summary()}
        path.write_text(json.dumps(record))
        return record

    data, schedule = train, None
    if arm in ("useful", "loss_upweighting", "random_upsampling", "targeted", "random_part"):
        sep, _ = separation_for(cfg, seed)
        plan = {"useful": lambda: useful_coreset(sep),
                "loss_upweighting": lambda: loss_upweighting(sep, 2.0),
                "random_upsampling": lambda: random_upsampling(n, int(sep.slow.sum()), 1, seed=seed),
                "targeted": lambda: targeted_augmentation(sep),
                "random_part": lambda: random_part(n, int(sep.slow.sum()), seed=seed)}[arm]()
        schedule = SelectOnce(lambda model: plan)
    elif arm == "augment_all":
        plan = augment_all(n)
        schedule = SelectOnce(lambda model: plan)
    elif arm.startswith("caug_"):  # caug_<picks>_<percent>
        _, picks, percent = arm.split("_")
        schedule = coreset_augmentation(train, labels, fraction=int(percent) / 100, every=job.get("every", 5),
                                        picks=picks, main="full", seed=seed)
    if arm in ("targeted", "random_part", "augment_all") or arm.startswith("caug_"):
        data = AugmentedView(train, TrivialAugment())
    recorder = DynamicsRecorder(fields=("correct",), columns=cfg["epochs"])
    model = LeNet()
    result = fit(model, data, None, schedule=schedule, epochs=cfg["epochs"], seed=seed, callbacks=[recorder],
                 **kwargs)
    record = {
        "arm": arm, "seed": seed, **evaluate_per_class(model, test, test_labels),
        "train_seconds": result.train_seconds, "selection_seconds": result.selection_seconds,
        "total_seconds": result.total_seconds, "epoch_size": result.history[-1]["epoch_size"],
        # forgetting events (Toneva et al.) of the original examples (rows < n) over the run's epochs
        "forgetting_events": forgetting_total(recorder.correct[:n]),
    }
    path.write_text(json.dumps(record))
    return record


def evaluate_per_class(model, test, test_labels) -> dict:
    import torch

    model.eval()
    with torch.no_grad():
        preds = torch.cat([model(test.take(np.arange(i, min(i + 1000, len(test))))[0]).argmax(1)
                           for i in range(0, len(test), 1000)]).numpy()
    return {"test_accuracy": float((preds == test_labels).mean()),
            "per_class_accuracy": [float((preds[test_labels == c] == c).mean()) for c in range(10)]}


def forgetting_total(correct: np.ndarray) -> int:
    from lessdata.signals import forgetting_events

    return int(forgetting_events(correct).sum())


CAUG_ARMS = tuple(f"caug_{p}_{pct}" for pct in (10, 30) for p in ("coreset", "random", "maxloss"))
CAUG_ORDER = ("caug_coreset_10", "caug_random_10", "caug_coreset_30", "caug_random_30", "caug_maxloss_10",
              "caug_maxloss_30")  # run order: coreset vs random first
PHASE2 = ("useful", "random_upsampling", "loss_upweighting", "targeted", "random_part", "augment_all", *CAUG_ORDER)


def run_all(cfg) -> None:
    phase1 = [{"cfg": cfg, "arm": a, "seed": s} for s in cfg["seeds"] for a in ("separation", "sgd")]
    # arm-major, in order of priority: an interrupted run leaves whole comparisons (all seeds) done first
    phase2 = [{"cfg": cfg, "arm": a, "seed": s} for a in PHASE2 for s in cfg["seeds"]]
    with ProcessPoolExecutor(max_workers=cfg["workers"]) as pool:
        for jobs in (phase1, phase2):
            for record in pool.map(run_job, jobs):
                what = record.get("test_accuracy", f"separation epoch {record.get('epoch')}")
                print(f"{time.strftime('%H:%M:%S')} {record['arm']} seed {record['seed']}: {what}", flush=True)


# ------------------------------------------------------------------------------------------------ report
def records(cfg, arm):
    paths = [cache_path(cfg, f"{arm}_s{s}") for s in cfg["seeds"]]
    return [json.loads(p.read_text()) for p in paths if p.exists()]


def complete(cfg, arms) -> list:
    """The arms whose runs exist for every seed (a report over fewer seeds would not be a result)."""
    return [a for a in arms if len(records(cfg, a)) == len(cfg["seeds"])]


def stat(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summarise(cfg, arms) -> dict:
    # per-class gains leave diverged runs out (a run at chance would swamp every class)
    base = np.array([r["per_class_accuracy"] for r in records(cfg, "sgd") if r["test_accuracy"] >= DIVERGED])
    out = {}
    for arm in arms:
        rs = records(cfg, arm)
        per_class = np.array([r["per_class_accuracy"] for r in rs if r["test_accuracy"] >= DIVERGED])
        out[arm] = {
            "test_error": stat([1 - r["test_accuracy"] for r in rs]),
            "test_accuracy": stat([r["test_accuracy"] for r in rs]),
            "forgetting_events": stat([r["forgetting_events"] for r in rs]),
            "seconds": stat([r["total_seconds"] for r in rs]),
            "selection_seconds": stat([r["selection_seconds"] for r in rs]),
            "epoch_size": int(round(np.mean([r["epoch_size"] for r in rs]))),
            "median_test_error": float(np.median([1 - r["test_accuracy"] for r in rs])),
            "median_test_accuracy": float(np.median([r["test_accuracy"] for r in rs])),
            "diverged_seeds": [r["seed"] for r in rs if r["test_accuracy"] < DIVERGED],
            "per_class_gain": (per_class.mean(axis=0) - base.mean(axis=0)).tolist(),
            "runs": rs,
        }
    return out


DIVERGED = 0.5  # a run that ends below 50% test accuracy (chance is 10%) diverged


def diverged_note(s, names) -> str:
    """One line naming the runs that diverged (their error dominates a 3-seed mean: see the medians)."""
    bad = [f"{nm} (seed {', '.join(map(str, s[a]['diverged_seeds']))})"
           for a, nm in names if s[a]["diverged_seeds"]]
    return ("- **Diverged runs** (test accuracy below 50%; SGD at lr 0.05 with momentum 0.9 is near LeNet's "
            f"stability limit here): {'; '.join(bad)}. Medians are given next to the means.\n") if bad else ""


def pm(pair, scale=100.0, digits=2) -> str:
    return f"{pair[0] * scale:.{digits}f} ± {pair[1] * scale:.{digits}f}"


CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")


def setup_text(cfg) -> str:
    return (f"- Setup: Fashion-MNIST, a fixed class-balanced training subset of {cfg['n_train']:,} images, the first "
            f"{cfg['n_test']:,} test images; LeNet-5; SGD (lr 0.05, momentum 0.9, weight decay 5e-4, batch 128, "
            f"cosine over {cfg['epochs']} epochs); seeds {cfg['seeds']} (mean ± sample std).\n"
            "- Machine note: 2-core CPU, shared with other jobs (up to 8 processes at once); one torch thread per "
            "run, two runs at a time. Timings were NOT taken on a quiet machine: compare them within this file only.\n"
            "- Reduced from the papers' setting (CIFAR-scale ResNets, 200 epochs) to fit a 40 CPU-minute budget.\n")


def write(name: str, title: str, body: str, data: dict, plot) -> None:
    from lessdata._io import atomic_path

    out = OUT["folder"]
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / f"{name}.md") as tmp:
        Path(tmp).write_text(header(title) + body)
    with atomic_path(out / f"{name}.json") as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plot(plt)
    with atomic_path(out / f"{name}.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def bar_plot(summary, arms, labels, title, value="test_error"):
    def plot(plt):
        fig, ax = plt.subplots(figsize=(7, 3.6))
        means = [summary[a][value][0] * 100 for a in arms]
        stds = [summary[a][value][1] * 100 for a in arms]
        ax.bar(range(len(arms)), means, yerr=stds, capsize=4, color="tab:blue")
        ax.set_xticks(range(len(arms)), labels, rotation=20, ha="right")
        ax.set_ylabel("test error (%)" if value == "test_error" else value)
        low = min(m - s for m, s in zip(means, stds, strict=True))
        ax.set_ylim(max(0, low - 1.0), max(m + s for m, s in zip(means, stds, strict=True)) + 0.5)
        ax.set_title(title)
        return fig
    return plot


def keep(cfg, arms, names):
    """The arms with every seed done, their names, and a line naming the ones that are not."""
    done = complete(cfg, arms)
    missing = [nm for a, nm in zip(arms, names, strict=True) if a not in done]
    note = (f"- **Not measured** (the run stopped at the time budget before every seed finished): "
            f"{', '.join(missing)}.\n" if missing else "")
    kept = [(a, nm) for a, nm in zip(arms, names, strict=True) if a in done]
    return [a for a, _ in kept], [nm for _, nm in kept], note


def diff(s, a, b, key="test_accuracy", sign=1.0) -> float | None:
    """``sign * (s[a] - s[b])`` in points, or None when either arm is missing."""
    if a not in s or b not in s:
        return None
    return sign * (s[a][key][0] - s[b][key][0]) * 100


def fmt(d) -> str:
    return "not measured" if d is None else f"{d:+.2f}"


def caug_verdict(s) -> str:
    """Whether coreset picks beat random picks by more than the run-to-run spread, at each size measured."""
    parts = []
    for pct in (10, 30):
        c, r = s.get(f"caug_coreset_{pct}"), s.get(f"caug_random_{pct}")
        if c is None or r is None:
            continue
        gap, spread = 100 * (c["test_accuracy"][0] - r["test_accuracy"][0]), 100 * max(c["test_accuracy"][1],
                                                                                       r["test_accuracy"][1])
        parts.append(f"{pct}%: " + ("coreset > random, beyond the spread" if gap > spread else
                                    "coreset and random are indistinguishable (gap within the spread)"
                                    if abs(gap) <= spread else "coreset < random, beyond the spread"))
    return ("The paper's direction does not hold here: " if parts and not any("beyond" in p and ">" in p
                                                                               for p in parts)
            else "") + "; ".join(parts) + "." if parts else ""


def report(cfg) -> None:
    seps = [json.loads(cache_path(cfg, f"separation_s{s}").read_text()) for s in cfg["seeds"]]
    sep_text = ", ".join(f"seed {d['seed']}: epoch {d['epoch']} (of {SEPARATION_EPOCHS}), "
                         f"{d['summary']['slow_fraction']:.0%} slow, {d['seconds']:.0f} s" for d in seps)
    # ---- USEFUL
    arms, names, note = keep(cfg, ("sgd", "useful", "random_upsampling", "loss_upweighting"),
                             ("SGD", "USEFUL (slow ×2)", "random upsampling (same count)", "loss upweighting ×2"))
    s = summarise(cfg, arms)
    dn = diverged_note(s, zip(arms, names, strict=True))
    rows = "\n".join(f"| {nm} | {pm(s[a]['test_error'])} | {100 * s[a]['median_test_error']:.2f} | "
                     f"{s[a]['epoch_size']:,} | "
                     f"{s[a]['forgetting_events'][0]:.0f} ± {s[a]['forgetting_events'][1]:.0f} | "
                     f"{s[a]['seconds'][0]:.0f} |" for a, nm in zip(arms, names, strict=True))
    gains = "\n".join(f"| {nm} | " + " | ".join(f"{g * 100:+.1f}" for g in s[a]["per_class_gain"]) + " |"
                      for a, nm in zip(arms[1:], names[1:], strict=True))
    d_sgd = diff(s, "sgd", "useful", "test_error")
    d_random = diff(s, "random_upsampling", "useful", "test_error")
    holds = d_sgd is not None and d_random is not None and d_sgd > 0 and d_random > 0
    median_text = ""
    if d_sgd is not None and d_random is not None:
        m_sgd, m_use, m_rnd = (100 * s[a]["median_test_error"] for a in ("sgd", "useful", "random_upsampling"))
        median_text = (f" On medians (robust to a diverged run) SGD minus USEFUL is {m_sgd - m_use:+.2f} and random "
                       f"upsampling minus USEFUL is {m_rnd - m_use:+.2f}.")
    body = (setup_text(cfg) + note + dn + "- Separation (early run with the same schedule, epoch chosen by the "
            f"slowdown rule): {sep_text}. Its time is not included in the training seconds below.\n\n"
            "| arm | test error (%) | median | examples per epoch | forgetting events | train seconds |\n"
            "|---|---|---|---|---|---|\n"
            + rows + "\n\nPer-class test accuracy change against SGD (points, mean over the seeds that did not "
            "diverge):\n\n| arm | "
            + " | ".join(CLASSES) + " |\n" + "|---" * 11 + "|\n" + gains + "\n\n"
            f"**Direction**: the paper reports USEFUL below the SGD baseline and below random upsampling by a small, "
            f"consistent margin. Here SGD's error minus USEFUL's is {fmt(d_sgd)} (points), and random "
            f"upsampling's minus USEFUL's is {fmt(d_random)} (positive = USEFUL better): "
            + ("not measured." if d_sgd is None or d_random is None else
               "the direction holds (compare the margins with the std)." if holds else
               "the paper's direction does not hold here.")
            + median_text + " Upsampled epochs are longer, so USEFUL also takes more steps than SGD (examples "
            "per epoch).\n")
    write("shaping_useful", "USEFUL vs SGD, random upsampling and loss upweighting (Fashion-MNIST, LeNet)", body,
          {"settings": cfg, "separations": seps, "arms": s}, bar_plot(s, arms, names, "USEFUL and baselines"))
    # ---- targeted augmentation
    arms, names, note = keep(cfg, ("sgd", "augment_all", "targeted", "random_part"),
                             ("no augmentation", "augment all", "targeted (slow part)", "random part (same size)"))
    s = summarise(cfg, arms)
    dn = diverged_note(s, zip(arms, names, strict=True))
    base_sec = s["sgd"]["seconds"][0]
    rows = "\n".join(f"| {nm} | {pm(s[a]['test_accuracy'])} | {100 * s[a]['median_test_accuracy']:.2f} | "
                     f"{s[a]['epoch_size']:,} | {s[a]['seconds'][0]:.0f} | {s[a]['seconds'][0] - base_sec:+.0f} |"
                     for a, nm in zip(arms, names, strict=True))
    d_all, d_rand = diff(s, "targeted", "augment_all"), diff(s, "targeted", "random_part")
    verdict = "."
    if d_all is not None:
        spread = 100 * s["targeted"]["test_accuracy"][1]
        verdict = (f" (std of targeted {spread:.2f}), with {s['targeted']['epoch_size']:,} instead of "
                   f"{s['augment_all']['epoch_size']:,} examples per epoch: "
                   + ("the direction holds." if d_all >= 0 else
                      "targeted is not at least as good as augment-all here, though the gap is within the run-to-run "
                      "spread." if -d_all < spread else "targeted is clearly below augment-all here."))
    body = (setup_text(cfg) + note + dn + "- Augmentation: lessdata's batched TrivialAugment (one op per image, 31 "
            "strengths); copies appended to the epoch and re-augmented every time they are read.\n\n"
            "| arm | test accuracy (%) | median | examples per epoch | train seconds | added seconds |\n"
            "|---|---|---|---|---|---|\n"
            + rows + "\n\n"
            f"**Direction**: the paper reports targeted ≥ augment-all at lower cost. Here targeted is {fmt(d_all)} "
            f"points against augment-all and {fmt(d_rand)} against a random part of the same size"
            + verdict + "\n")
    write("shaping_augment", "Targeted augmentation vs augmenting everything or a random part (Fashion-MNIST, LeNet)",
          body, {"settings": cfg, "arms": s},
          bar_plot(s, arms, names, "Targeted augmentation", value="test_accuracy"))
    # ---- coresets for augmentation
    arms, names, note = keep(cfg, ("sgd", *CAUG_ARMS, "augment_all"),
                             ("no augmentation", *(f"{p} {pct}%" for pct in (10, 30)
                                                   for p in ("coreset", "random", "max-loss")), "full augmentation"))
    s = summarise(cfg, arms)
    dn = diverged_note(s, zip(arms, names, strict=True))
    rows = "\n".join(f"| {nm} | {pm(s[a]['test_accuracy'])} | {100 * s[a]['median_test_accuracy']:.2f} | "
                     f"{s[a]['epoch_size']:,} | {s[a]['seconds'][0]:.0f} | {s[a]['selection_seconds'][0]:.1f} |"
                     for a, nm in zip(arms, names, strict=True))
    lines = [f"at {pct}%: coreset {fmt(diff(s, f'caug_coreset_{pct}', f'caug_random_{pct}'))} points vs random, "
             f"{fmt(diff(s, f'caug_coreset_{pct}', f'caug_maxloss_{pct}'))} vs max-loss, "
             f"{fmt(diff(s, f'caug_coreset_{pct}', 'augment_all'))} vs full augmentation" for pct in (10, 30)]
    body = (setup_text(cfg) + note + dn + "- Loop of Liu & Mirzasoleiman (2022): every 5 epochs (R = 5, the reference "
            "script's value) pick a subset with the current model and append one TrivialAugment copy of each pick "
            "to the full data; coreset = per-class CRAIG on last-layer gradients. Seconds are training + "
            "selection.\n\n"
            "| arm | test accuracy (%) | median | examples per epoch | seconds (incl. selection) "
            "| selection seconds |\n"
            "|---|---|---|---|---|---|\n" + rows + "\n\n"
            "**Direction**: the paper reports coreset-augment > random-augment at equal size and close to full "
            "augmentation at lower cost. Here " + "; ".join(lines) + ". " + caug_verdict(s) + "\n")
    write("shaping_coreset_augment", "Coresets for augmentation vs random and max-loss picks (Fashion-MNIST, LeNet)",
          body, {"settings": cfg, "arms": s},
          bar_plot(s, arms, names, "Augmenting a subset", value="test_accuracy"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (not a result)")
    parser.add_argument("--report-only", action="store_true", help="write the results from cached runs")
    args = parser.parse_args()
    cfg = settings(args.quick)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not args.report_only:
        run_all(cfg)
    if args.quick:
        OUT["folder"] = cache_path(cfg, "x").parent
    report(cfg)
    print(f"results written to {OUT['folder']}")


if __name__ == "__main__":
    main()
