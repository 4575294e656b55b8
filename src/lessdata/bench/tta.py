"""Time-to-accuracy harness: train the same model on the full data and on coresets, and time it.

Every *arm* (a method at a fraction, with a reselection period; see :mod:`lessdata.bench.arms`) is trained
for the same number of epochs and the same learning-rate schedule, once per seed: with
:func:`lessdata.training.fit`, or for CREST with :meth:`CrestTrainer.fit <lessdata.training.CrestTrainer.fit>`.
The clock is fit's ``cumulative_seconds``: training plus selection (signals, CREST's checks and the short
training runs of the score-based methods included), evaluation left out. From the per-epoch histories the
harness computes, per arm, the final test accuracy (mean ± std over seeds), the total and selection seconds,
and the seconds until the test accuracy first reaches *full-data accuracy − a drop* (the mean final accuracy
of the full-data runs, minus 1 point by default).

Runs are interleaved (seed outer, arm inner), so that load from other processes on a shared machine falls on
every arm alike, and a process CPU-time clock (``cpu_seconds``) is recorded next to the wall clock.

With ``noise_rate`` a share of the training labels is flipped (:func:`lessdata.bench.noise.flip_labels`, per
seed) before any arm sees them; the test set stays clean, and every selection's share of flipped examples
is recorded. Seeds can run as separate processes (``seed_list``) whose JSON files :func:`merge_results`
joins into the report one process would have written.

Example::

    from lessdata.bench import run_tta
    result = run_tta(dataset="digits", model="mlp", seeds=1, epochs=5, out_dir="/tmp/tta")
    result["summary"]["rows"][0]["final_accuracy_mean"]
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_choice
from ..errors import LessdataError
from .arms import (
    METHODS,
    RESELECTING,
    Arm,
    ArmOptions,
    SeedContext,
    Selections,
    check_options,
    fit_crest,
    make_arms,
    make_schedule,
    pin_threads,
    relabel,
    stratified_split,
    take,
)
from .noise import NoiseTracker, check_noise_rate, flip_labels

__all__ = ["Arm", "ArmOptions", "make_arms", "merge_results", "run_grid", "run_tta", "seconds_to_target",
           "stratified_split", "summarize"]

DATASETS = ("fashion-mnist", "digits")
MODELS = ("cnn", "mlp")

#: Training settings per (dataset, model): the same for every arm of a benchmark.
DEFAULT_SETTINGS: dict[tuple[str, str], dict[str, Any]] = {
    ("fashion-mnist", "cnn"): {"epochs": 10, "quick_epochs": 3, "batch_size": 128, "lr": 0.05},
    ("fashion-mnist", "mlp"): {"epochs": 10, "quick_epochs": 3, "batch_size": 128, "lr": 0.05},
    ("digits", "mlp"): {"epochs": 20, "quick_epochs": 5, "batch_size": 32, "lr": 0.05},
}
MODEL_DESCRIPTIONS = {
    "cnn": "LeNet-5-style CNN (lessdata.models.LeNet, about 62k parameters)",
    "mlp": "MLP with hidden layers 256-128 (lessdata.models.MLP)",
}
COMMON_SETTINGS = {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 5e-4, "lr_schedule": "cosine"}
#: training settings two processes must share to be merged into one report (their arms and seeds may differ)
MERGE_KEYS = ("experiment", "dataset", "model", "n_train", "n_test", "epochs", "quick", "target_drop",
              "noise_rate", "device", "train_size", "test_size", "batch_size", "lr", "optimizer", "momentum",
              "weight_decay", "lr_schedule", "method_settings")


# ------------------------------------------------------------------------------------------- time to target


# ------------------------------------------------------------------------------------------- time to target
def seconds_to_target(history: Sequence[dict[str, Any]], target: float, clock: str = "cumulative_seconds",
                      tolerance: float = 1e-12) -> float | None:
    """Clock reading at the end of the first epoch whose test accuracy reaches ``target`` (None: never).

    Example:
        >>> h = [{"test_accuracy": 0.5, "cumulative_seconds": 1.0}, {"test_accuracy": 0.9, "cumulative_seconds": 2.5}]
        >>> seconds_to_target(h, 0.8), seconds_to_target(h, 0.95)
        (2.5, None)
    """
    for record in history:
        accuracy = record.get("test_accuracy")
        if accuracy is not None and not math.isnan(accuracy) and accuracy >= target - tolerance:
            return float(record[clock])
    return None


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def summarize(runs: Sequence[dict[str, Any]], target_drop: float = 0.01,
              half_time_fraction: float | None = 0.3) -> dict[str, Any]:
    """Aggregate runs per arm (over seeds) and compute time to ``full-data accuracy − target_drop``.

    ``runs`` are the dicts :func:`run_grid` returns (``arm``, ``seed``, ``history``). The reference accuracy
    is the mean final test accuracy of the ``full`` runs; without any, no target is computed. A run that
    never reaches the target counts as not reached; ``seconds_to_target_mean`` averages the runs that did.
    ``half_time_fraction`` names the fraction whose best arm is checked against half the full-data time
    (the largest fraction run when that one was not; ``None`` skips the check).
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        arm = run["arm"]
        groups.setdefault((arm["label"], arm["fraction"]), []).append(run)
    full = groups.get(("full", None), [])
    reference = _mean_std([r["history"][-1]["test_accuracy"] for r in full])[0] if full else None
    target = None if reference is None else reference - target_drop
    full_total = _mean_std([r["history"][-1]["cumulative_seconds"] for r in full])[0] if full else None
    full_epoch_train = (
        _mean_std([np.mean([h["train_seconds"] for h in r["history"]]) for r in full])[0] if full else None
    )
    rows = []
    for (label, fraction), members in groups.items():
        arm = members[0]["arm"]
        histories = [r["history"] for r in members]
        finals = [h[-1]["test_accuracy"] for h in histories]
        totals = [h[-1]["cumulative_seconds"] for h in histories]
        selection = [sum(e["selection_seconds"] for e in h) for h in histories]
        train = [sum(e["train_seconds"] for e in h) for h in histories]
        cpu = [h[-1].get("cpu_seconds") for h in histories]
        selections = [h[-1]["selections"] for h in histories]
        per_selection = [s / n for s, n in zip(selection, selections) if n]
        coreset_seconds = [sum(e.get("coreset_seconds") or 0.0 for e in h) for h in histories]
        per_selection_coreset = [s / n for s, n in zip(coreset_seconds, selections) if n]
        epoch_train = [float(np.mean([e["train_seconds"] for e in h])) for h in histories]
        weight_max = [e["coreset_weight_max"] for h in histories for e in h if "coreset_weight_max" in e]
        tta = [None if target is None else seconds_to_target(h, target) for h in histories]
        tta_cpu = [
            None if target is None or h[-1].get("cpu_seconds") is None
            else seconds_to_target(h, target, clock="cpu_seconds")
            for h in histories
        ]
        # a collapsed run ends below half the full-data accuracy (e.g. at chance after diverging)
        collapsed = [reference is not None and f is not None and f < 0.5 * reference for f in finals]
        healthy = [f for f, c in zip(finals, collapsed) if not c]
        # iso-accuracy: how long the full-data runs took to reach this arm's mean final accuracy
        full_to_same = [seconds_to_target(r["history"], _mean_std(finals)[0]) for r in full]
        full_to_same = [t for t in full_to_same if t is not None]
        noisy = [float(np.mean(r["noisy_fractions"])) for r in members if r.get("noisy_fractions")]
        noisy_weight = [float(np.mean(r["noisy_weight_fractions"])) for r in members
                        if r.get("noisy_weight_fractions")]
        checks = [h[-1]["checks"] for h in histories if h[-1].get("checks") is not None]
        reached = sum(t is not None for t in tta)
        tta_mean = _mean_std(tta)[0] if reached else None
        cpu_reached = [t for t in tta_cpu if t is not None]
        row = {
            "label": label,
            "method": arm["method"],
            "fraction": fraction,
            "every": arm["every"],
            "seeds": len(members),
            "epochs": len(histories[0]),
            "final_accuracy_mean": _mean_std(finals)[0],
            "final_accuracy_std": _mean_std(finals)[1],
            "best_accuracy_mean": _mean_std([max(e["test_accuracy"] for e in h) for h in histories])[0],
            "total_seconds_mean": _mean_std(totals)[0],
            "total_seconds_std": _mean_std(totals)[1],
            "train_seconds_mean": _mean_std(train)[0],
            "selection_seconds_mean": _mean_std(selection)[0],
            "cpu_seconds_mean": _mean_std(cpu)[0] if all(c is not None for c in cpu) else None,
            "selections": int(round(float(np.mean(selections)))),
            "seconds_per_selection_mean": _mean_std(per_selection)[0] if per_selection else None,
            "coreset_seconds_per_selection_mean": (
                _mean_std(per_selection_coreset)[0] if per_selection_coreset and any(coreset_seconds) else None
            ),
            "epoch_train_seconds_mean": _mean_std(epoch_train)[0],
            "weight_max_mean": _mean_std(weight_max)[0] if weight_max else None,
            "seconds_to_target": tta,
            "seconds_to_target_mean": tta_mean,
            "cpu_seconds_to_target": tta_cpu,
            "cpu_seconds_to_target_mean": _mean_std(cpu_reached)[0] if cpu_reached else None,
            "reached": reached,
            "collapsed": int(sum(collapsed)),
            "final_accuracy_mean_not_collapsed": _mean_std(healthy)[0] if healthy else None,
            "full_seconds_to_same_accuracy": (
                _mean_std(full_to_same)[0] if full and len(full_to_same) == len(full) else None),
            "time_to_target_vs_full_total": (
                tta_mean / full_total if tta_mean is not None and full_total else None
            ),
            "noise_rate": members[0].get("noise_rate"),
            "noisy_fraction_mean": _mean_std(noisy)[0] if noisy else None,
            "noisy_fraction_std": _mean_std(noisy)[1] if noisy else None,
            "noisy_weight_fraction_mean": _mean_std(noisy_weight)[0] if noisy_weight else None,
            "checks_mean": _mean_std(checks)[0] if checks else None,
        }
        rows.append(row)
    rows.sort(key=lambda r: (r["fraction"] is not None, r["fraction"] or 0.0, _METHOD_ORDER.get(r["method"], 9),
                             r["every"] or 0))
    return {
        "target_drop": target_drop,
        "reference_accuracy": reference,
        "target_accuracy": target,
        "full_total_seconds": full_total,
        "full_epoch_train_seconds": full_epoch_train,
        "rows": rows,
        "checks": _checks(rows, full_total, full_epoch_train, half_time_fraction),
    }


def _full_seconds_to_target(rows) -> float | None:
    return next((r["seconds_to_target_mean"] for r in rows if r["method"] == "full"), None)


_METHOD_ORDER = {method: position for position, method in enumerate(METHODS)}


def _checks(rows, full_total, full_epoch_train, half_time_fraction=0.3) -> dict[str, Any]:
    """The issue's targets and the places where CRAIG loses to random or RS2, as plain data."""
    checks: dict[str, Any] = {}
    fractions = sorted({r["fraction"] for r in rows if r["fraction"] is not None})
    # 1. the best lessdata method at 30% (or the largest fraction run) within half the full-data time
    if full_total and fractions and half_time_fraction is not None:
        at = half_time_fraction if half_time_fraction in fractions else fractions[-1]
        candidates = [r for r in rows if r["fraction"] == at and r["reached"] == r["seeds"]]
        best = min(candidates, key=lambda r: r["seconds_to_target_mean"], default=None)
        checks["half_time_at_fraction"] = {
            "fraction": at,
            "best": None if best is None else best["label"],
            "seconds_to_target": None if best is None else best["seconds_to_target_mean"],
            "full_total_seconds": full_total,
            "ratio": None if best is None else best["seconds_to_target_mean"] / full_total,
            "met": best is not None and best["seconds_to_target_mean"] <= 0.5 * full_total,
        }
    # 2. CRAIG's per-epoch selection under 10% of an epoch's training time
    per_epoch = [r for r in rows if r["method"] == "craig" and r["every"] == 1 and r["seconds_per_selection_mean"]]
    if per_epoch:
        entries = []
        for r in per_epoch:
            entries.append({
                "label": r["label"],
                "fraction": r["fraction"],
                "seconds_per_selection": r["seconds_per_selection_mean"],
                "coreset_seconds_per_selection": r["coreset_seconds_per_selection_mean"],
                "full_epoch_train_seconds": full_epoch_train,
                "subset_epoch_train_seconds": r["epoch_train_seconds_mean"],
                "ratio_to_full_epoch": (r["seconds_per_selection_mean"] / full_epoch_train
                                        if full_epoch_train else None),
                "ratio_to_subset_epoch": r["seconds_per_selection_mean"] / r["epoch_train_seconds_mean"],
            })
        checks["craig_selection_cost"] = {
            "entries": entries,
            "met_vs_full_epoch": all(e["ratio_to_full_epoch"] is not None and e["ratio_to_full_epoch"] < 0.1
                                     for e in entries),
        }
    # 3. where CRAIG does not beat random or RS2 (final accuracy, and time to target)
    losses = []
    for craig in (r for r in rows if r["method"] == "craig"):
        for other in (r for r in rows if r["method"] in ("random", "rs2") and r["fraction"] == craig["fraction"]):
            if craig["final_accuracy_mean"] <= other["final_accuracy_mean"]:
                losses.append({"craig": craig["label"], "other": other["label"], "fraction": craig["fraction"],
                               "what": "final accuracy", "craig_value": craig["final_accuracy_mean"],
                               "other_value": other["final_accuracy_mean"]})
            ct, ot = craig["seconds_to_target_mean"], other["seconds_to_target_mean"]
            craig_slower = (ct is None and ot is not None) or (
                ct is not None and ot is not None and (craig["reached"], -ct) <= (other["reached"], -ot))
            if craig_slower:
                losses.append({"craig": craig["label"], "other": other["label"], "fraction": craig["fraction"],
                               "what": "time to target", "craig_value": ct, "other_value": ot,
                               "craig_reached": craig["reached"], "other_reached": other["reached"]})
    checks["craig_not_better"] = losses
    # 4. CREST to full-data accuracy - 1 point at least 2x faster than full-data training, selection included
    crest = [r for r in rows if r["method"] == "crest"]
    if crest and full_total:
        full_tta = _full_seconds_to_target(rows)
        entries = [{
            "fraction": r["fraction"],
            "seconds_to_target": r["seconds_to_target_mean"],
            "reached": r["reached"],
            "seeds": r["seeds"],
            "speedup_vs_full_total": (full_total / r["seconds_to_target_mean"]
                                      if r["seconds_to_target_mean"] else None),
            "speedup_vs_full_to_target": (full_tta / r["seconds_to_target_mean"]
                                          if full_tta and r["seconds_to_target_mean"] else None),
            "met": (r["reached"] == r["seeds"] and r["seconds_to_target_mean"] is not None
                    and full_total / r["seconds_to_target_mean"] >= 2.0),
        } for r in crest]
        checks["crest_speedup"] = {"entries": entries, "full_total_seconds": full_total,
                                   "full_seconds_to_target": full_tta, "met": any(e["met"] for e in entries)}
    return checks


# ------------------------------------------------------------------------------------------- running arms
class _Clock:
    """fit callback: a process CPU-time clock (training + selection, evaluation excluded) per epoch, and
    the greedy part of each epoch's selection (``coreset_seconds``)."""

    def __init__(self, selections: Selections | None, threads: int | None = None):
        self.selections, self.threads = selections, threads
        self.cpu = 0.0
        self.steps: int | None = None  # steps per epoch when not one pass over the loader (CREST)

    def on_fit_start(self, model, loader):
        self.loader, self.cpu, self.mark, self.seen = loader, 0.0, time.process_time(), 0

    def on_epoch_start(self, epoch, model, loader):
        pin_threads(self.threads)
        now = time.process_time()
        self.cpu += now - self.mark  # selection (and loader setup) since the last evaluation ended
        self.mark, self.batches = now, self.steps or len(loader)
        self.train_end = None

    def on_batch_end(self, epoch, model, batch):
        if batch.step == self.batches - 1:
            self.train_end = time.process_time()

    def on_epoch_end(self, epoch, model, record):
        end = self.train_end if self.train_end is not None else time.process_time()
        self.cpu += end - self.mark
        record["cpu_seconds"] = self.cpu
        self.mark = time.process_time()  # evaluation is left out of the clock
        if self.selections is not None:
            new = self.selections.seconds[self.seen:]
            if new:
                record["coreset_weight_max"] = self.selections.weight_max[-1]
            self.seen = len(self.selections.seconds)
            record["coreset_seconds"] = float(sum(new))


class _RunProgress:
    """Forwards fit's per-epoch updates to the harness-wide progress object, which keeps its own total."""

    def __init__(self, outer, label: str):
        self.outer, self.total = outer, None
        if hasattr(outer, "set_description"):
            outer.set_description(label)

    def update(self, n: int = 1):
        self.outer.update(n)

    def set_postfix(self, **kwargs):
        if hasattr(self.outer, "set_postfix"):
            self.outer.set_postfix(**kwargs)


def warm_up(labels: np.ndarray) -> None:
    """Compile / load the numba kernels once, so that the first timed selection does not pay for it."""
    import lessdata

    rng = np.random.default_rng(0)
    small = np.asarray(labels[:200])
    lessdata.select(rng.normal(size=(len(small), 8)).astype(np.float32), fraction=0.1, method="craig",
                    labels=small, seed=0)
    classes = int(np.max(labels)) + 1
    grads = rng.normal(size=(len(small), classes)).astype(np.float32)
    lessdata.select(grads, fraction=0.3, method="gradmatch", labels=small, seed=0)
    lessdata.select(grads, fraction=0.3, method="glister", labels=small, seed=0, update="exact",
                    validation_logits=rng.normal(size=(50, classes)).astype(np.float32),
                    validation_labels=np.asarray(small[:50]))


def warm_up_device(model_factory: Callable[[], Any], train, device, batch_size: int) -> None:
    """A few training steps on ``device`` (CUDA context, kernels, allocator), so no timed run pays for it."""
    import torch

    from lessdata.data.torch_data import iter_batches

    model = model_factory().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    x, y = next(iter(iter_batches(train, batch_size=batch_size)))
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def run_grid(
    arms: Sequence[Arm],
    *,
    train,
    test,
    labels: np.ndarray,
    model_factory: Callable[[], Any],
    seeds: int | Sequence[int],
    epochs: int,
    fit_kwargs: dict[str, Any],
    features: np.ndarray | None = None,
    craig_params: dict[str, Any] | None = None,
    threads: int = 1,
    progress=None,
    log: Callable[[str], None] | None = None,
    noise_rate: float = 0.0,
    options: ArmOptions | None = None,
) -> list[dict[str, Any]]:
    """Train every arm once per seed (seed outer, arm inner) and return one dict per run.

    ``seeds`` is a count (seeds ``0..seeds-1``) or the list of seeds to run. With ``noise_rate > 0`` each
    seed flips that share of the training labels (:func:`~lessdata.bench.noise.flip_labels` with the seed)
    and every arm of that seed trains on the same noisy labels; runs then carry ``noise_rate``,
    ``noisy_fractions`` and ``noisy_weight_fractions`` (one entry per selection).
    """
    import torch

    from lessdata.training import fit

    seed_values = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if options is None:
        options = ArmOptions(craig_params=dict(craig_params or {}))
    elif craig_params:
        options = dataclasses.replace(options, craig_params=dict(craig_params))
    device = fit_kwargs.get("device")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    if progress is not None and hasattr(progress, "total"):
        progress.total = len(arms) * len(seed_values) * epochs
    runs = []
    try:
        warm_up(labels)
        if device is not None and torch.device(device).type != "cpu":
            warm_up_device(model_factory, train, device, fit_kwargs.get("batch_size", 128))
        for seed in seed_values:
            seed_train, seed_labels, flipped = train, np.asarray(labels), None
            if noise_rate:
                seed_labels, flipped = flip_labels(labels, noise_rate, seed=seed)
                seed_train = relabel(train, seed_labels)
            ctx = SeedContext(seed_train, seed_labels, seed, model_factory, fit_kwargs, epochs, threads, features,
                              options)
            for arm in arms:
                selections = charge = schedule = None
                if arm.method != "crest":
                    schedule, selections, charge = make_schedule(arm, ctx)
                clock = _Clock(selections, threads)
                tracker = None if flipped is None else NoiseTracker(flipped)
                callbacks = [c for c in (clock, charge, tracker) if c is not None]
                pin_threads(threads)
                torch.manual_seed(seed)
                model = model_factory()
                load_before = _loadavg()
                run_progress = None if progress is None else _RunProgress(
                    progress, f"{arm.label} {_pct(arm.fraction)} seed {seed}")
                if arm.method == "crest":
                    result, _ = fit_crest(arm, ctx, model, test, callbacks=callbacks, progress=run_progress)
                else:
                    result = fit(model, seed_train, test, schedule=schedule, epochs=epochs, seed=seed,
                                 callbacks=callbacks, progress=run_progress, **fit_kwargs)
                run = {"arm": arm.to_dict(), "seed": seed, "history": result.history,
                       "loadavg_before": load_before, "loadavg_after": _loadavg()}
                if flipped is not None:
                    run["noise_rate"] = float(noise_rate)
                    if arm.method == "full":  # it trains on every example, the flipped ones included
                        tracker.fractions = tracker.weight_fractions = [float(flipped.mean())]
                    run["noisy_fractions"] = tracker.fractions
                    run["noisy_weight_fractions"] = tracker.weight_fractions
                runs.append(run)
                if log is not None:
                    last = result.history[-1]
                    noisy = (f"  noisy picks {np.mean(tracker.fractions):.1%}"
                             if tracker is not None and tracker.fractions else "")
                    log(f"{arm.label:20s} {_pct(arm.fraction):>5s} seed {seed}: acc {last['test_accuracy']:.4f}  "
                        f"{last['cumulative_seconds']:7.1f} s (selection {result.selection_seconds:6.1f} s, "
                        f"{last['selections']} selections){noisy}")
    finally:
        torch.set_num_threads(old_threads)
    return runs


def _pct(fraction) -> str:
    return "100%" if fraction is None else f"{fraction:.0%}"


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# ------------------------------------------------------------------------------------------------ machine
def machine_info(threads: int | None = None, device=None) -> dict[str, Any]:
    """What a result file says about the machine: cores, CPU model, GPU, versions, threads, load, date."""
    import numpy
    import torch

    cpu_model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import numba

        numba_threads = int(numba.config.NUMBA_NUM_THREADS)
    except Exception:  # pragma: no cover - numba is a dependency
        numba_threads = None
    from lessdata import __version__

    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "lessdata": __version__,
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
        "numba_threads": numba_threads,
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg": _loadavg(),
        "device": str(device or "cpu"),
        "gpu": _gpu_name(device),
        "cuda": torch.version.cuda if _gpu_name(device) else None,
    }


def _gpu_name(device) -> str | None:
    import torch

    if device is None or torch.device(device).type != "cuda" or not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(torch.device(device))


# ------------------------------------------------------------------------------------------------ datasets
def load_benchmark_data(dataset: str, model: str):
    """``(train, test, train_labels, in_features)`` for a benchmark dataset, as torch Datasets."""
    from lessdata.data import ArrayDataset

    check_choice(dataset, DATASETS, "dataset")
    check_choice(model, MODELS, "model")
    if dataset == "fashion-mnist":
        from lessdata.data import fashion_mnist

        X, y = fashion_mnist(split="train")
        Xt, yt = fashion_mnist(split="test")
        shape = (1, 28, 28) if model == "cnn" else None
        return ArrayDataset(X, y, shape=shape), ArrayDataset(Xt, yt, shape=shape), y, 784
    if model == "cnn":
        raise LessdataError("the cnn model (LeNet) needs 28x28 images: use --model mlp with the digits dataset")
    from lessdata.data import digits

    X, y = digits()
    X = X / np.float32(16.0)
    train_idx, test_idx = stratified_split(y, test_fraction=0.2, seed=0)
    return ArrayDataset(X[train_idx], y[train_idx]), ArrayDataset(X[test_idx], y[test_idx]), y[train_idx], 64


def _subsample(dataset, labels: np.ndarray, size: int | None, what: str):
    """A stratified ``size``-example subset (fixed seed 0, the same for every seed and process)."""
    if size is None or size >= len(labels):
        return dataset, labels
    if size < 10 * len(np.unique(labels)):
        raise LessdataError(f"{what}_size {size} is too small: give at least 10 examples per class")
    _, keep = stratified_split(labels, size / len(labels), seed=0)
    return take(dataset, keep), labels[keep]


def model_factory(model: str, in_features: int) -> Callable[[], Any]:
    from lessdata.models import MLP, LeNet

    check_choice(model, MODELS, "model")
    return LeNet if model == "cnn" else (lambda: MLP(in_features=in_features))


# ---------------------------------------------------------------------------------------------- run_tta
def _positive_int(value, name: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise LessdataError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _periods(values, name: str) -> list[int | None]:
    values = list(values)
    if not values or any(k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1) for k in values):
        raise LessdataError(f"{name} must be positive integers (or None for once), got {values!r}")
    if len(set(values)) != len(values):
        raise LessdataError(f"{name} lists a period twice: {values!r}")
    return values


def check_device(device) -> str | None:
    """``device`` as a string torch accepts (``None``: the CPU), or one clear error; CUDA must be available.

    Example:
        >>> check_device("cpu")
        'cpu'
    """
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise LessdataError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise LessdataError(f"device {device!r} asked for, but torch sees no CUDA GPU (torch {torch.__version__})")
    if parsed.type not in ("cpu", "cuda"):
        raise LessdataError(f"device {device!r} is not supported by the benchmark; use cpu or cuda")
    return str(device)


def _check_seed_list(seed_list) -> list[int] | None:
    if seed_list is None:
        return None
    seeds = list(seed_list)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise LessdataError(f"seed_list must be non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise LessdataError(f"seed_list lists a seed twice: {seeds!r}")
    return [int(s) for s in seeds]


def _check_inputs(dataset, model, methods, fractions, seeds, epochs, craig_every, threads, every=(5,)):
    check_choice(dataset, DATASETS, "dataset")
    check_choice(model, MODELS, "model")
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = list(methods)
    if not methods:
        raise LessdataError("give at least one method")
    for method in methods:
        check_choice(method, METHODS, "method")
    if len(set(methods)) != len(methods):
        raise LessdataError(f"methods are listed twice: {methods}")
    fractions = list(fractions)
    if any(m != "full" for m in methods) and not fractions:
        raise LessdataError("give at least one fraction for the coreset methods")
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < float(f) < 1.0:
            raise LessdataError(f"fractions must be numbers in (0, 1), got {f!r}")
    if len(set(fractions)) != len(fractions):
        raise LessdataError(f"fractions are listed twice: {fractions}")
    for value, name in ((seeds, "seeds"), (threads, "threads")):
        _positive_int(value, name)
    _positive_int(epochs, "epochs", allow_none=True)
    craig_every = list(craig_every)
    if not craig_every or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in craig_every):
        raise LessdataError(f"craig_every must be positive integers, got {craig_every!r}")
    return methods, [float(f) for f in fractions], craig_every, _periods(every, "every")


def run_tta(
    dataset: str = "fashion-mnist",
    model: str = "cnn",
    methods: Sequence[str] = ("full", "random", "rs2", "craig"),
    fractions: Sequence[float] = (0.1, 0.3),
    seeds: int = 3,
    epochs: int | None = None,
    quick: bool = False,
    out_dir: str | os.PathLike | None = "benchmarks/results",
    progress=None,
    *,
    craig_every: Sequence[int] = (1, 5),
    craig_params: dict[str, Any] | None = None,
    every: Sequence[int | None] = (5,),
    threads: int = 1,
    target_drop: float = 0.01,
    noise_rate: float = 0.0,
    device: str | None = None,
    seed_list: Sequence[int] | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    name: str | None = None,
    options: ArmOptions | None = None,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time-to-accuracy benchmark: full data vs coreset methods, same epochs and schedule, several seeds.

    Trains ``model`` on ``dataset`` for every method at every fraction (``full`` once; methods:
    :data:`lessdata.bench.arms.METHODS`), CRAIG reselecting on last-layer gradients every ``k`` epochs for each
    ``k`` in ``craig_every`` and AdaCore / GradMatch / GLISTER for each ``k`` in ``every``, and writes to
    ``out_dir`` a markdown report, a PNG of test accuracy against training + selection seconds (and, with
    label noise, a bar chart of the noisy share of each method's picks), and the raw JSON. ``out_dir=None``
    writes nothing.

    Args:
        quick: a few-minute version: ``quick_epochs`` epochs (unless ``epochs`` is given) and one seed
            (unless ``seed_list`` is given).
        progress: tqdm-compatible object; ``total`` is set to the number of epochs of all runs and
            ``update(1)`` is called after each epoch (``set_description`` with the run, if it has one).
        every: reselection periods (epochs) of AdaCore, GradMatch and GLISTER (``None``: once).
        threads: torch intra-op threads during training (1 is fastest for these small models on a few
            shared cores); restored afterwards.
        target_drop: the target is the full-data accuracy minus this (0.01 = one point).
        noise_rate: share of training labels flipped to another class (per seed), in ``[0, 1)``.
        device: where to train and compute signals (``"cuda"``; default the CPU).
        seed_list: the seeds to run (instead of ``0..seeds-1``), to run seeds as parallel processes and
            join their JSON files with :func:`merge_results`; the file names get ``_seeds<list>``.
        train_size, test_size: stratified subsets of the training / test set (fixed seed), for quick runs.
        name: file stem (default ``tta_<dataset>_<model>[_noise][_quick]``).
        options: method settings (:class:`~lessdata.bench.arms.ArmOptions`).
        command: the command line to print in the report (default: the equivalent ``lessdata bench tta``).
        log: optional ``callable(str)`` told one line per finished run.

    Returns:
        ``{"settings", "machine", "command", "runs", "summary", "files"}``.

    Example:
        >>> result = run_tta("digits", "mlp", seeds=1, epochs=3, out_dir=None)   # doctest: +SKIP
        >>> [row["label"] for row in result["summary"]["rows"]][:3]                # doctest: +SKIP
        ['full', 'random', 'rs2']
    """
    methods, fractions, craig_every, every = _check_inputs(dataset, model, methods, fractions, seeds, epochs,
                                                           craig_every, threads, every)
    noise_rate = check_noise_rate(noise_rate)
    device = check_device(device)
    seed_list = _check_seed_list(seed_list)
    train_size = _positive_int(train_size, "train_size", allow_none=True)
    test_size = _positive_int(test_size, "test_size", allow_none=True)
    options = check_options(options if options is not None else ArmOptions())
    if craig_params:
        options = dataclasses.replace(options, craig_params=dict(craig_params))
    if name is not None and (not isinstance(name, str) or not name or any(c in name for c in "/\\")):
        raise LessdataError(f"name must be a file stem without slashes, got {name!r}")
    if (dataset, model) not in DEFAULT_SETTINGS:
        load_benchmark_data(dataset, model)  # raises the one-line reason
    defaults = DEFAULT_SETTINGS[(dataset, model)]
    if epochs is None:
        epochs = defaults["quick_epochs"] if quick else defaults["epochs"]
    if quick and seed_list is None:
        seeds = 1
    seed_values = seed_list if seed_list is not None else list(range(seeds))
    train, test, labels, in_features = load_benchmark_data(dataset, model)
    train, labels = _subsample(train, labels, train_size, "train")
    test, _ = _subsample(test, test.y.numpy(), test_size, "test")
    fit_kwargs = {**COMMON_SETTINGS, "batch_size": defaults["batch_size"], "lr": defaults["lr"]}
    if device is not None:
        fit_kwargs["device"] = device
    arms = make_arms(methods, fractions, craig_every, every=every)
    started = time.perf_counter()
    machine = machine_info(threads, device)
    runs = run_grid(arms, train=train, test=test, labels=labels, model_factory=model_factory(model, in_features),
                    seeds=seed_values, epochs=epochs, fit_kwargs=fit_kwargs, threads=threads, progress=progress,
                    log=log, noise_rate=noise_rate, options=options)
    machine["loadavg_end"] = _loadavg()
    base = name or default_name(dataset, model, quick, noise_rate)
    settings = {
        "experiment": "tta",
        "name": base,
        "dataset": dataset,
        "model": model,
        "model_description": MODEL_DESCRIPTIONS[model],
        "n_train": len(train),
        "n_test": len(test),
        "train_size": train_size,
        "test_size": test_size,
        "methods": methods,
        "fractions": fractions,
        "craig_every": craig_every,
        "every": every,
        "craig_signal": "last-layer gradients (softmax - onehot), per class, euclidean max(d) - d",
        "craig_params": options.craig_params,
        "method_settings": options.resolved(epochs),
        "seeds": len(seed_values),
        "seed_list": seed_values,
        "epochs": epochs,
        "quick": quick,
        "threads": threads,
        "device": device or "cpu",
        "noise_rate": noise_rate,
        "target_drop": target_drop,
        **{k: v for k, v in fit_kwargs.items() if k != "device"},
        "benchmark_wall_seconds": time.perf_counter() - started,
    }
    if command is None:
        command = _default_command(dataset, model, methods, fractions, seeds, epochs, quick, out_dir,
                                   craig_every=craig_every, every=every, noise_rate=noise_rate, device=device,
                                   seed_list=seed_list, train_size=train_size, test_size=test_size, name=name,
                                   threads=threads)
    result = {
        "settings": settings,
        "machine": machine,
        "command": command,
        "runs": runs,
        "summary": summarize(runs, target_drop),
        "files": {},
    }
    if out_dir is not None:
        from .report import write_all

        stem = base + ("" if seed_list is None else "_seeds" + "_".join(str(s) for s in seed_list))
        result["files"] = write_all(result, Path(out_dir), stem, title=title_of(settings))
    return result


def default_name(dataset: str, model: str, quick: bool = False, noise_rate: float = 0.0) -> str:
    """The default file stem, e.g. ``tta_fashion_mnist_cnn_noise``."""
    return (f"tta_{dataset.replace('-', '_')}_{model}" + ("_noise" if noise_rate else "")
            + ("_quick" if quick else ""))


def title_of(settings: dict[str, Any]) -> str:
    names = {"fashion-mnist": "Fashion-MNIST", "digits": "digits (8x8)"}
    models = {"cnn": "LeNet CNN", "mlp": "MLP"}
    title = f"Time to accuracy: {names[settings['dataset']]}, {models[settings['model']]}"
    if settings.get("noise_rate"):
        title += f", {settings['noise_rate']:.0%} of training labels flipped"
    return title + (" (quick)" if settings.get("quick") else "")


def _default_command(dataset, model, methods, fractions, seeds, epochs, quick, out_dir, *, craig_every=(1, 5),
                     every=(5,), noise_rate=0.0, device=None, seed_list=None, train_size=None, test_size=None,
                     name=None, threads=1) -> str:
    def periods(values):
        return ",".join("once" if k is None else str(k) for k in values)

    parts = ["lessdata bench tta", f"--dataset {dataset}", f"--model {model}", f"--methods {','.join(methods)}",
             f"--fractions {','.join(f'{f:g}' for f in fractions)}"]
    parts.append(f"--seed-list {','.join(map(str, seed_list))}" if seed_list is not None else f"--seeds {seeds}")
    parts.append(f"--epochs {epochs}")
    if list(craig_every) != [1, 5] and "craig" in methods:
        parts.append(f"--craig-every {periods(craig_every)}")
    if list(every) != [5] and any(m in RESELECTING and m != "craig" for m in methods):
        parts.append(f"--every {periods(every)}")
    for flag, value in (("--label-noise", noise_rate or None), ("--device", device), ("--train-size", train_size),
                        ("--test-size", test_size), ("--name", name), ("--threads", threads if threads != 1
                                                                                   else None)):
        if value is not None:
            parts.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    if quick:
        parts.append("--quick")
    if out_dir is not None:
        parts.append(f"--out {out_dir}")
    return " ".join(parts)


# ------------------------------------------------------------------------------------------------ merging
def merge_results(results: Sequence[dict[str, Any]], command: str | None = None) -> dict[str, Any]:
    """Join the results of one benchmark run as separate processes into the result one process running
    everything would have returned: the runs of all parts (seed outer, arm inner), one summary over all.

    Parts may split the work by seed (``seed_list``) and by arm (different ``methods`` / ``fractions`` /
    periods), as long as no (arm, fraction, seed) run is in two parts and the training settings agree
    (:data:`MERGE_KEYS`). The full-data runs of any part set the target of all. The machine is the first
    part's, the wall time the longest part's (they ran side by side); ``settings["parts"]`` keeps each
    part's command.

    Example:
        >>> merged = merge_results([json.load(open(p)) for p in paths])   # doctest: +SKIP
    """
    results = list(results)
    if not results:
        raise LessdataError("nothing to merge: give at least one result")
    for position, part in enumerate(results, 1):
        if not isinstance(part, dict) or not {"settings", "runs", "summary", "machine"} <= set(part):
            raise LessdataError(f"part {position} is not a time-to-accuracy result (settings, runs, summary)")
    first = results[0]["settings"]
    for position, part in enumerate(results[1:], 2):
        for key in MERGE_KEYS:
            if part["settings"].get(key) != first.get(key):
                raise LessdataError(f"cannot merge: {key} differs between part 1 ({first.get(key)!r}) and part "
                                    f"{position} ({part['settings'].get(key)!r})")
    owner: dict[tuple, int] = {}
    for position, part in enumerate(results, 1):
        for run in part["runs"]:
            key = (run["arm"]["label"], run["arm"]["fraction"], run["seed"])
            if key in owner:
                raise LessdataError(f"cannot merge: seed {run['seed']} of {key[0]} at {_pct(key[1])} is in part "
                                    f"{owner[key]} and part {position}")
            owner[key] = position

    def union(key: str) -> list:
        return list(dict.fromkeys(v for p in results for v in p["settings"].get(key) or []))

    methods, periods = union("methods"), union("craig_every") + union("every")
    fractions = sorted(union("fractions"))

    def order(run):
        arm = run["arm"]
        every = arm.get("every")
        return (run["seed"], methods.index(arm["method"]) if arm["method"] in methods else len(methods),
                -1.0 if arm["fraction"] is None else arm["fraction"],
                periods.index(every) if every in periods else len(periods))

    runs = sorted((run for part in results for run in part["runs"]), key=order)
    settings = dict(first)
    seeds = sorted({run["seed"] for run in runs})
    settings.update(methods=methods, fractions=fractions, craig_every=union("craig_every"), every=union("every"),
                    seed_list=seeds, seeds=len(seeds))
    settings["benchmark_wall_seconds"] = max(p["settings"].get("benchmark_wall_seconds", 0.0) for p in results)
    settings["parts"] = [{"command": p.get("command"), "seed_list": sorted({r["seed"] for r in p["runs"]}),
                          "methods": p["settings"].get("methods"),
                          "benchmark_wall_seconds": p["settings"].get("benchmark_wall_seconds"),
                          "date": p["machine"].get("date"), "loadavg_end": p["machine"].get("loadavg_end")}
                         for p in results]
    machine = dict(results[0]["machine"])
    machine["loadavg_end"] = results[-1]["machine"].get("loadavg_end")
    target_drop = results[0]["summary"].get("target_drop", first.get("target_drop", 0.01))
    return {"settings": settings, "machine": machine,
            "command": command or " ; ".join(str(p.get("command")) for p in results),
            "runs": runs, "summary": summarize(runs, target_drop), "files": {}}


def merge_files(paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike | None = None,
                name: str | None = None, command: str | None = None) -> dict[str, Any]:
    """Read the JSON results at ``paths``, :func:`merge_results` them, and write the report to ``out_dir``
    as ``<name>.{md,png,json}`` (default name: the parts' common name, without the seeds suffix)."""
    parts = []
    for path in paths:
        try:
            parts.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise LessdataError(f"cannot read the result {path}: {exc}") from None
    merged = merge_results(parts, command=command)
    if out_dir is not None:
        from .report import write_all

        settings = merged["settings"]
        stem = name or settings.get("name") or default_name(settings["dataset"], settings["model"],
                                                            settings.get("quick", False),
                                                            settings.get("noise_rate") or 0.0)
        merged["settings"]["name"] = stem
        merged["files"] = write_all(merged, Path(out_dir), stem, title=title_of(settings))
    return merged
