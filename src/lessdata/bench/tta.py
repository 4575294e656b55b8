"""Time-to-accuracy harness: train the same model on the full data and on coresets, and time it.

Every *arm* (a method at a fraction, with a reselection period) is trained with :func:`lessdata.training.fit`
for the same number of epochs and the same learning-rate schedule, once per seed. The clock is fit's
``cumulative_seconds``: training plus selection (signals included), evaluation left out. From the per-epoch
histories the harness computes, per arm, the final test accuracy (mean ± std over seeds), the total and
selection seconds, and the seconds until the test accuracy first reaches *full-data accuracy − a drop*
(the mean final accuracy of the full-data runs, minus 1 point by default).

Runs are interleaved (seed outer, arm inner), so that load from other processes on a shared machine falls on
every arm alike, and a process CPU-time clock (``cpu_seconds``) is recorded next to the wall clock.

Example::

    from lessdata.bench import run_tta
    result = run_tta(dataset="digits", model="mlp", seeds=1, epochs=5, out_dir="/tmp/tta")
    result["summary"]["rows"][0]["final_accuracy_mean"]
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_choice
from ..errors import LessdataError

DATASETS = ("fashion-mnist", "digits")
MODELS = ("cnn", "mlp")
METHODS = ("full", "random", "rs2", "craig")

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


# ------------------------------------------------------------------------------------------------ arms
@dataclass(frozen=True)
class Arm:
    """One configuration to train: ``method`` at ``fraction`` of the data.

    ``every`` is CRAIG's reselection period in epochs (``None``: select once, before training);
    ``signal`` is what CRAIG compares: ``"gradients"`` (last-layer gradients of the current model) or
    ``"features"`` (the fixed inputs given to the harness, for convex models).
    """

    method: str
    fraction: float | None = None
    every: int | None = None
    signal: str = "gradients"

    @property
    def label(self) -> str:
        if self.method == "craig":
            return "craig (once)" if self.every is None else f"craig (every {self.every})"
        return self.method

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


def make_arms(methods: Sequence[str], fractions: Sequence[float], craig_every: Sequence[int] = (1, 5),
              craig_signal: str = "gradients") -> list[Arm]:
    """The arms of a benchmark: ``full`` once, every other method at every fraction (CRAIG once per period)."""
    arms: list[Arm] = []
    for method in methods:
        if method == "full":
            arms.append(Arm("full"))
            continue
        for fraction in fractions:
            if method == "craig":
                periods = craig_every if craig_signal == "gradients" else (None,)
                arms += [Arm("craig", fraction, every, craig_signal) for every in periods]
            else:
                arms.append(Arm(method, fraction))
    return arms


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


_METHOD_ORDER = {"full": 0, "random": 1, "rs2": 2, "craig": 3}


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
    return checks


# ------------------------------------------------------------------------------------------- running arms
def _pin_threads(threads: int | None) -> None:
    # numba's OpenMP threading layer shares libgomp with torch and sets its thread count to all cores at
    # every parallel launch, silently undoing torch.set_num_threads(); pin it again before torch work.
    if threads is not None:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


class _Selections:
    """Wraps a selector to record each Coreset's own ``seconds`` (the greedy part, signals excluded)."""

    def __init__(self, selector: Callable, threads: int | None = None):
        self.selector, self.threads = selector, threads
        self.seconds: list[float] = []
        self.weight_max: list[float] = []  # largest weight / mean weight: how skewed the cluster sizes are

    def __call__(self, model):
        _pin_threads(self.threads)  # the gradients' forward pass runs after the previous numba selection
        coreset = self.selector(model)
        self.seconds.append(float(coreset.seconds))
        self.weight_max.append(float(coreset.normalized_weights().max()))
        return coreset


class _Clock:
    """fit callback: a process CPU-time clock (training + selection, evaluation excluded) per epoch, and
    the greedy part of each epoch's selection (``coreset_seconds``)."""

    def __init__(self, selections: _Selections | None, threads: int | None = None):
        self.selections, self.threads = selections, threads
        self.cpu = 0.0

    def on_fit_start(self, model, loader):
        self.loader, self.cpu, self.mark, self.seen = loader, 0.0, time.process_time(), 0

    def on_epoch_start(self, epoch, model, loader):
        _pin_threads(self.threads)
        now = time.process_time()
        self.cpu += now - self.mark  # selection (and loader setup) since the last evaluation ended
        self.mark, self.batches = now, len(loader)
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


def make_schedule(arm: Arm, *, train, labels: np.ndarray, seed: int, features: np.ndarray | None = None,
                  craig_params: dict[str, Any] | None = None, threads: int | None = None):
    """The :class:`~lessdata.training.Schedule` of one arm, and the selection recorder (CRAIG only)."""
    import lessdata
    from lessdata.training import EveryKEpochs, RS2Rounds, SelectOnce, gradient_selector

    n = len(labels)
    if arm.method == "full":
        return None, None
    if arm.method == "random":
        return SelectOnce(lambda model: lessdata.select(None, fraction=arm.fraction, method="random",
                                                        labels=labels, seed=seed, n=n)), None
    if arm.method == "rs2":
        return RS2Rounds(n=n, fraction=arm.fraction, seed=seed), None
    params = dict(craig_params or {})
    if arm.signal == "features":
        if features is None:
            raise LessdataError("CRAIG on features needs the features array")
        selections = _Selections(lambda model: lessdata.select(features, fraction=arm.fraction, method="craig",
                                                               labels=labels, seed=seed, **params),
                                 threads)
    else:
        selections = _Selections(gradient_selector(train, labels, fraction=arm.fraction, method="craig",
                                                   seed=seed, **params), threads)
    if arm.every is None:
        return SelectOnce(selections), selections
    return EveryKEpochs(selections, k=arm.every), selections


def warm_up(labels: np.ndarray) -> None:
    """Compile / load the numba kernels once, so that the first timed selection does not pay for it."""
    import lessdata

    rng = np.random.default_rng(0)
    small = np.asarray(labels[:200])
    lessdata.select(rng.normal(size=(len(small), 8)).astype(np.float32), fraction=0.1, method="craig",
                    labels=small, seed=0)


def run_grid(
    arms: Sequence[Arm],
    *,
    train,
    test,
    labels: np.ndarray,
    model_factory: Callable[[], Any],
    seeds: int,
    epochs: int,
    fit_kwargs: dict[str, Any],
    features: np.ndarray | None = None,
    craig_params: dict[str, Any] | None = None,
    threads: int = 1,
    progress=None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every arm once per seed (seed outer, arm inner) and return one dict per run."""
    import torch

    from lessdata.training import fit

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    if progress is not None and hasattr(progress, "total"):
        progress.total = len(arms) * seeds * epochs
    runs = []
    try:
        warm_up(labels)
        for seed in range(seeds):
            for arm in arms:
                schedule, selections = make_schedule(arm, train=train, labels=labels, seed=seed,
                                                     features=features, craig_params=craig_params,
                                                     threads=threads)
                _pin_threads(threads)
                torch.manual_seed(seed)
                model = model_factory()
                load_before = _loadavg()
                result = fit(model, train, test, schedule=schedule, epochs=epochs, seed=seed,
                             callbacks=[_Clock(selections, threads)],
                             progress=None if progress is None else _RunProgress(progress, f"{arm.label} "
                                                                                 f"{_pct(arm.fraction)} seed {seed}"),
                             **fit_kwargs)
                run = {"arm": arm.to_dict(), "seed": seed, "history": result.history,
                       "loadavg_before": load_before, "loadavg_after": _loadavg()}
                runs.append(run)
                if log is not None:
                    last = result.history[-1]
                    log(f"{arm.label:16s} {_pct(arm.fraction):>5s} seed {seed}: acc {last['test_accuracy']:.4f}  "
                        f"{last['cumulative_seconds']:7.1f} s (selection {result.selection_seconds:6.1f} s)")
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
def machine_info(threads: int | None = None) -> dict[str, Any]:
    """What a result file says about the machine: cores, CPU model, versions, threads, load, date."""
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
    }


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


def stratified_split(y: np.ndarray, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-class random split into (train, test) indices, both sorted."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        cut = int(round(test_fraction * len(idx)))
        test.append(idx[:cut])
        train.append(idx[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def model_factory(model: str, in_features: int) -> Callable[[], Any]:
    from lessdata.models import MLP, LeNet

    check_choice(model, MODELS, "model")
    return LeNet if model == "cnn" else (lambda: MLP(in_features=in_features))


# ---------------------------------------------------------------------------------------------- run_tta
def _check_inputs(dataset, model, methods, fractions, seeds, epochs, craig_every, threads):
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
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LessdataError(f"{name} must be a positive integer, got {value!r}")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise LessdataError(f"epochs must be a positive integer, got {epochs!r}")
    craig_every = list(craig_every)
    if not craig_every or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in craig_every):
        raise LessdataError(f"craig_every must be positive integers, got {craig_every!r}")
    return methods, [float(f) for f in fractions], craig_every


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
    threads: int = 1,
    target_drop: float = 0.01,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time-to-accuracy benchmark: full data vs coreset methods, same epochs and schedule, several seeds.

    Trains ``model`` on ``dataset`` for every method at every fraction (``full`` once), CRAIG reselecting on
    last-layer gradients every ``k`` epochs for each ``k`` in ``craig_every``, and writes to ``out_dir``
    a markdown report, a PNG of test accuracy against training + selection seconds, and the raw JSON
    (``tta_<dataset>_<model>[_quick].{md,png,json}``). ``out_dir=None`` writes nothing.

    Args:
        quick: a few-minute version: ``quick_epochs`` epochs (unless ``epochs`` is given) and one seed.
        progress: tqdm-compatible object; ``total`` is set to the number of epochs of all runs and
            ``update(1)`` is called after each epoch (``set_description`` with the run, if it has one).
        threads: torch intra-op threads during training (1 is fastest for these small models on a few
            shared cores); restored afterwards.
        target_drop: the target is the full-data accuracy minus this (0.01 = one point).
        command: the command line to print in the report (default: the equivalent ``lessdata bench tta``).
        log: optional ``callable(str)`` told one line per finished run.

    Returns:
        ``{"settings", "machine", "runs", "summary", "files"}``.

    Example:
        >>> result = run_tta("digits", "mlp", seeds=1, epochs=3, out_dir=None)   # doctest: +SKIP
        >>> [row["label"] for row in result["summary"]["rows"]][:3]                # doctest: +SKIP
        ['full', 'random', 'rs2']
    """
    methods, fractions, craig_every = _check_inputs(dataset, model, methods, fractions, seeds, epochs,
                                                    craig_every, threads)
    if (dataset, model) not in DEFAULT_SETTINGS:
        load_benchmark_data(dataset, model)  # raises the one-line reason
    defaults = DEFAULT_SETTINGS[(dataset, model)]
    if epochs is None:
        epochs = defaults["quick_epochs"] if quick else defaults["epochs"]
    if quick:
        seeds = 1
    train, test, labels, in_features = load_benchmark_data(dataset, model)
    fit_kwargs = {**COMMON_SETTINGS, "batch_size": defaults["batch_size"], "lr": defaults["lr"]}
    arms = make_arms(methods, fractions, craig_every)
    started = time.perf_counter()
    machine = machine_info(threads)
    runs = run_grid(arms, train=train, test=test, labels=labels, model_factory=model_factory(model, in_features),
                    seeds=seeds, epochs=epochs, fit_kwargs=fit_kwargs, craig_params=craig_params,
                    threads=threads, progress=progress, log=log)
    machine["loadavg_end"] = _loadavg()
    settings = {
        "experiment": "tta",
        "dataset": dataset,
        "model": model,
        "model_description": MODEL_DESCRIPTIONS[model],
        "n_train": len(train),
        "n_test": len(test),
        "methods": methods,
        "fractions": fractions,
        "craig_every": craig_every,
        "craig_signal": "last-layer gradients (softmax - onehot), per class, euclidean max(d) - d",
        "craig_params": craig_params or {},
        "seeds": seeds,
        "epochs": epochs,
        "quick": quick,
        "threads": threads,
        "target_drop": target_drop,
        **fit_kwargs,
        "benchmark_wall_seconds": time.perf_counter() - started,
    }
    if command is None:
        command = _default_command(dataset, model, methods, fractions, seeds, epochs, quick, out_dir)
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

        stem = f"tta_{dataset.replace('-', '_')}_{model}" + ("_quick" if quick else "")
        result["files"] = write_all(result, Path(out_dir), stem, title=_title(dataset, model, quick))
    return result


def _title(dataset: str, model: str, quick: bool) -> str:
    names = {"fashion-mnist": "Fashion-MNIST", "digits": "digits (8x8)"}
    models = {"cnn": "LeNet CNN", "mlp": "MLP"}
    return f"Time to accuracy: {names[dataset]}, {models[model]}" + (" (quick)" if quick else "")


def _default_command(dataset, model, methods, fractions, seeds, epochs, quick, out_dir) -> str:
    parts = ["lessdata bench tta", f"--dataset {dataset}", f"--model {model}", f"--methods {','.join(methods)}",
             f"--fractions {','.join(f'{f:g}' for f in fractions)}", f"--seeds {seeds}"]
    parts.append(f"--epochs {epochs}")
    if quick:
        parts.append("--quick")
    if out_dir is not None:
        parts.append(f"--out {out_dir}")
    return " ".join(parts)
