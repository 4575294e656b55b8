"""Aggregating time-to-accuracy runs: per-arm means over seeds, time to *full-data accuracy − a drop*, and
the benchmark's checks (half the full-data time, CRAIG's selection cost, where CRAIG loses, CREST's speed-up)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .arms import METHODS

__all__ = ["mean_std", "seconds_to_target", "summarize"]


def seconds_to_target(history: Sequence[dict[str, Any]], target: float, clock: str = "cumulative_seconds",
                      tolerance: float = 1e-12) -> float | None:
    """Clock reading at the end of the first epoch whose test accuracy reaches ``target`` (None: never).

    Examples:
        >>> h = [{"test_accuracy": 0.5, "cumulative_seconds": 1.0}, {"test_accuracy": 0.9, "cumulative_seconds": 2.5}]
        >>> seconds_to_target(h, 0.8), seconds_to_target(h, 0.95)
        (2.5, None)
    """
    for record in history:
        accuracy = record.get("test_accuracy")
        if accuracy is not None and not math.isnan(accuracy) and accuracy >= target - tolerance:
            return float(record[clock])
    return None


def mean_std(values: Sequence[float]) -> tuple[float, float]:
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
    reference = mean_std([r["history"][-1]["test_accuracy"] for r in full])[0] if full else None
    target = None if reference is None else reference - target_drop
    full_total = mean_std([r["history"][-1]["cumulative_seconds"] for r in full])[0] if full else None
    full_epoch_train = (
        mean_std([np.mean([h["train_seconds"] for h in r["history"]]) for r in full])[0] if full else None
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
        full_to_same = [seconds_to_target(r["history"], mean_std(finals)[0]) for r in full]
        full_to_same = [t for t in full_to_same if t is not None]
        noisy = [float(np.mean(r["noisy_fractions"])) for r in members if r.get("noisy_fractions")]
        noisy_weight = [float(np.mean(r["noisy_weight_fractions"])) for r in members
                        if r.get("noisy_weight_fractions")]
        checks = [h[-1]["checks"] for h in histories if h[-1].get("checks") is not None]
        reached = sum(t is not None for t in tta)
        tta_mean = mean_std(tta)[0] if reached else None
        cpu_reached = [t for t in tta_cpu if t is not None]
        row = {
            "label": label,
            "method": arm["method"],
            "fraction": fraction,
            "every": arm["every"],
            "seeds": len(members),
            "epochs": len(histories[0]),
            "final_accuracy_mean": mean_std(finals)[0],
            "final_accuracy_std": mean_std(finals)[1],
            "best_accuracy_mean": mean_std([max(e["test_accuracy"] for e in h) for h in histories])[0],
            "total_seconds_mean": mean_std(totals)[0],
            "total_seconds_std": mean_std(totals)[1],
            "train_seconds_mean": mean_std(train)[0],
            "selection_seconds_mean": mean_std(selection)[0],
            "cpu_seconds_mean": mean_std(cpu)[0] if all(c is not None for c in cpu) else None,
            "selections": int(round(float(np.mean(selections)))),
            "seconds_per_selection_mean": mean_std(per_selection)[0] if per_selection else None,
            "coreset_seconds_per_selection_mean": (
                mean_std(per_selection_coreset)[0] if per_selection_coreset and any(coreset_seconds) else None
            ),
            "epoch_train_seconds_mean": mean_std(epoch_train)[0],
            "weight_max_mean": mean_std(weight_max)[0] if weight_max else None,
            "seconds_to_target": tta,
            "seconds_to_target_mean": tta_mean,
            "cpu_seconds_to_target": tta_cpu,
            "cpu_seconds_to_target_mean": mean_std(cpu_reached)[0] if cpu_reached else None,
            "reached": reached,
            "collapsed": int(sum(collapsed)),
            "final_accuracy_mean_not_collapsed": mean_std(healthy)[0] if healthy else None,
            "full_seconds_to_same_accuracy": (
                mean_std(full_to_same)[0] if full and len(full_to_same) == len(full) else None),
            "time_to_target_vs_full_total": (
                tta_mean / full_total if tta_mean is not None and full_total else None
            ),
            "noise_rate": members[0].get("noise_rate"),
            "noisy_fraction_mean": mean_std(noisy)[0] if noisy else None,
            "noisy_fraction_std": mean_std(noisy)[1] if noisy else None,
            "noisy_weight_fraction_mean": mean_std(noisy_weight)[0] if noisy_weight else None,
            "checks_mean": mean_std(checks)[0] if checks else None,
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

