"""The benchmark plots: test accuracy against training + selection seconds (mean over seeds, min–max band),
and the noisy share of each method's picks under label noise. Written to a temporary name, then renamed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path
from ..errors import require

COLORS = {
    "full": "black",
    "random": "tab:blue",
    "rs2": "tab:orange",
    "craig (every 1)": "tab:green",
    "craig (every 5)": "tab:red",
    "craig (once)": "tab:purple",
    "crest": "tab:brown",
    "el2n": "tab:pink",
    "forgetting": "tab:olive",
    "cartography": "tab:cyan",
}
#: the other arms' colours by method, so that e.g. "adacore (every 5)" and "adacore (every 1)" match
METHOD_COLORS = {"adacore": "gold", "gradmatch": "navy", "glister": "magenta", "craig": "tab:green"}
_EXTRA_COLORS = ("tab:gray", "teal", "salmon", "lime", "indigo")


def _curves(runs: Sequence[dict[str, Any]], reference: float | None = None) -> dict[tuple, dict[str, Any]]:
    """Per arm: mean seconds per epoch, mean / min / max test accuracy per epoch (over seeds).

    Runs that collapsed (final accuracy below half the ``reference`` accuracy) are left out of the curve
    and counted in ``collapsed``, unless every run of the arm collapsed.
    """
    groups: dict[tuple, list] = {}
    for run in runs:
        groups.setdefault((run["arm"]["label"], run["arm"]["fraction"]), []).append(run["history"])
    curves = {}
    for key, histories in groups.items():
        def final(h):
            value = h[-1]["test_accuracy"]
            return float("nan") if value is None else value

        kept = [h for h in histories if reference is None or not final(h) < 0.5 * reference] or histories
        acc = np.array([[np.nan if e["test_accuracy"] is None else e["test_accuracy"] for e in h] for h in kept],
                       dtype=np.float64)
        sec = np.array([[e["cumulative_seconds"] for e in h] for h in kept], dtype=np.float64)
        curves[key] = {"seconds": sec.mean(0), "mean": acc.mean(0), "low": acc.min(0), "high": acc.max(0),
                       "epochs": np.arange(1, acc.shape[1] + 1), "seeds": acc.shape[0],
                       "collapsed": len(histories) - len(kept)}
    return curves


def plot_accuracy_vs_time(runs: Sequence[dict[str, Any]], path: Path, title: str = "",
                          target: float | None = None, target_drop: float = 0.01) -> None:
    """One column per fraction (the full-data run in each): test accuracy against training + selection
    seconds (top) and against epochs (bottom); lines are the mean over seeds, bands the min–max. Runs that
    collapsed (final accuracy below half the full-data accuracy) are left out and counted in the legend."""
    require("matplotlib", "bench", "benchmark plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = _curves(runs, None if target is None else target + target_drop)
    fractions = sorted({f for (_, f) in curves if f is not None}) or [None]
    width = 6.0 if len(fractions) <= 2 else 4.5
    fig = Figure(figsize=(width * len(fractions), 8.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(fractions), squeeze=False)
    # y range: from just below the worst final accuracy (early epochs may fall below it) to the best
    top = float(np.nanmax(np.concatenate([c["high"] for c in curves.values()]))) + 0.005
    bottom = max(0.0, float(np.nanmin([c["mean"][-1] for c in curves.values()])) - 0.03)
    if target is not None:
        bottom = min(bottom, target - 0.01)
    extra = iter(_EXTRA_COLORS)
    colors = dict(COLORS)
    for col, fraction in enumerate(fractions):
        for (label, frac), curve in sorted(curves.items(), key=lambda kv: kv[0][1] is not None):
            if frac is not None and frac != fraction:
                continue
            color = colors.get(label) or METHOD_COLORS.get(label.split(" ")[0])
            if color is None or (label not in colors and color in colors.values()):
                color = next(extra, "tab:gray")
            colors[label] = color
            name = label if frac is None else f"{label} {frac:.0%}"
            if curve["collapsed"]:
                name += f" ({curve['collapsed']} collapsed run(s) not drawn)"
            for row, x in ((0, curve["seconds"]), (1, curve["epochs"])):
                ax = axes[row][col]
                ax.plot(x, curve["mean"], marker="o", markersize=3, color=color, label=name,
                        linestyle="--" if frac is None else "-")
                if curve["seeds"] > 1:
                    ax.fill_between(x, curve["low"], curve["high"], color=color, alpha=0.15, linewidth=0)
        for row in range(2):
            ax = axes[row][col]
            if target is not None:
                ax.axhline(target, color="gray", linewidth=0.8, linestyle=":",
                           label=f"full − {target_drop * 100:g} pt")
            ax.set_ylim(bottom, top)
            if row == 0:
                ax.set_xlim(left=0)
            ax.grid(alpha=0.3)
            ax.set_ylabel("test accuracy")
            ax.set_xlabel("training + selection seconds" if row == 0 else "epoch")
            if row == 0:  # the epoch row below uses the same colours
                ax.legend(fontsize=7 if len(curves) > 8 else 8, loc="lower right", framealpha=0.85)
        axes[0][col].set_title("full data" if fraction is None else f"coresets at {fraction:.0%}")
    if title:
        fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)


def plot_noisy_fraction(summary: dict[str, Any], path: Path, title: str = "") -> None:
    """Bar charts: per coreset arm and fraction, the share of selected examples whose label was flipped (left)
    and their share of the training weight (right), mean over selections and seeds (error bars: std over
    seeds of the picks' share), with the noise rate (what uniform random selection picks in expectation)
    as a dashed line."""
    require("matplotlib", "bench", "benchmark plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in summary["rows"] if r["method"] != "full" and r.get("noisy_fraction_mean") is not None]
    if not rows:
        return
    fractions = sorted({r["fraction"] for r in rows})
    labels = list(dict.fromkeys(r["label"] for r in rows))
    fig = Figure(figsize=(2 * max(5.0, 0.9 * len(labels) * len(fractions) + 1.5), 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    width = 0.8 / len(fractions)
    x = np.arange(len(labels))
    rate = next((r["noise_rate"] for r in summary["rows"] if r.get("noise_rate") is not None), None)
    for ax, key, what in ((axes[0], "noisy_fraction_mean", "of the selected examples"),
                          (axes[1], "noisy_weight_fraction_mean", "of the training weight")):
        for i, fraction in enumerate(fractions):
            by_label = {r["label"]: r for r in rows if r["fraction"] == fraction}
            values = [(by_label[lab].get(key) or 0.0) * 100 if lab in by_label else np.nan for lab in labels]
            errors = None
            if key == "noisy_fraction_mean":
                errors = [(by_label[lab]["noisy_fraction_std"] or 0.0) * 100 if lab in by_label else 0.0
                          for lab in labels]
            ax.bar(x + (i - (len(fractions) - 1) / 2) * width, values, width, yerr=errors, capsize=3,
                   color=f"C{i}", label=f"coresets at {fraction:.0%}")
        if rate is not None:
            ax.axhline(rate * 100, color="black", linestyle="--", linewidth=1,
                       label=f"noise rate {rate:.0%} (random's expectation)")
        ax.set_xticks(x, labels, rotation=20, ha="right")
        ax.set_title(f"flipped labels: share {what}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("%")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)

