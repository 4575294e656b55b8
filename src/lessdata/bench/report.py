"""Benchmark reports: a markdown file (command, machine, settings, table, targets), a PNG of test accuracy
against wall-clock (mean over seeds, min–max band), and the raw JSON. Every file is written to a temporary
name and renamed, so a failed run never leaves a half-written report."""

from __future__ import annotations

import json
import math
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


def write_all(result: dict[str, Any], out_dir: Path, stem: str, title: str,
              notes: Sequence[str] = ()) -> dict[str, str]:
    """Write ``<stem>.json``, ``<stem>.png`` and ``<stem>.md`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    paths = {"json": out_dir / f"{stem}.json", "plot": out_dir / f"{stem}.png", "markdown": out_dir / f"{stem}.md"}
    files = {key: str(path) for key, path in paths.items()}
    result["files"] = files
    noisy = any(r.get("noisy_fraction_mean") is not None for r in result["summary"]["rows"])
    if noisy:
        paths["noise_plot"] = out_dir / f"{stem}_noisy.png"
        files["noise_plot"] = str(paths["noise_plot"])
    write_json(result, paths["json"])
    plot_accuracy_vs_time(result["runs"], paths["plot"], title=title,
                          target=result["summary"]["target_accuracy"],
                          target_drop=result["summary"]["target_drop"])
    if noisy:
        plot_noisy_fraction(result["summary"], paths["noise_plot"], title=title)
    write_markdown(result, paths["markdown"], title=title, plot_name=paths["plot"].name,
                   json_name=paths["json"].name, notes=notes,
                   noise_plot_name=paths["noise_plot"].name if noisy else None)
    return files


# ------------------------------------------------------------------------------------------------- JSON
def _clean(value):
    """JSON-safe copy: NaN / inf become null, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(result: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_clean(result), indent=1, allow_nan=False) + "\n")


# ------------------------------------------------------------------------------------------------- plots
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


# ----------------------------------------------------------------------------------------------- markdown
def _fmt(value, spec: str = ".1f", none: str = "–") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    return format(value, spec)


def _percent(value):
    return None if value is None else value * 100


def _share(value) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _ratio(a, b):
    return a / b if a is not None and b else None


def _pct(fraction) -> str:
    return "100%" if fraction is None else f"{fraction:.0%}"


def results_table(summary: dict[str, Any]) -> str:
    """The per-arm markdown table: accuracy, seconds, selection, time to target."""
    drop = summary["target_drop"] * 100
    full_tta = next((r["seconds_to_target_mean"] for r in summary["rows"] if r["method"] == "full"), None)
    full_cpu_tta = next((r.get("cpu_seconds_to_target_mean") for r in summary["rows"] if r["method"] == "full"),
                        None)
    noisy = any(r.get("noisy_fraction_mean") is not None for r in summary["rows"])
    header = (
        "| method | data | selections | final test acc. (mean ± std) | total s (mean ± std) | selection s "
        f"| s to full − {drop:g} pt (runs reaching it) | vs full-data total | speedup vs full to target "
        "| total CPU s | CPU s to target | CPU speedup to target |" + (" noisy share of picks |" if noisy else "")
        + "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if noisy else "") + "\n"
    )
    lines = []
    for r in summary["rows"]:
        tta = r["seconds_to_target_mean"]
        speedup = full_tta / tta if full_tta and tta else None
        cpu_tta = r.get("cpu_seconds_to_target_mean")
        cpu_speedup = full_cpu_tta / cpu_tta if full_cpu_tta and cpu_tta else None
        lines.append(
            f"| {r['label']} | {_pct(r['fraction'])} | {r['selections']} "
            f"| {r['final_accuracy_mean'] * 100:.2f} ± {r['final_accuracy_std'] * 100:.2f} "
            f"| {r['total_seconds_mean']:.1f} ± {r['total_seconds_std']:.1f} "
            f"| {r['selection_seconds_mean']:.1f} "
            f"| {_fmt(tta)} ({r['reached']}/{r['seeds']}) "
            f"| {_fmt(r['time_to_target_vs_full_total'], '.0%')} "
            f"| {_fmt(speedup, '.2f')}{'×' if speedup else ''} "
            f"| {_fmt(r.get('cpu_seconds_mean'))} | {_fmt(cpu_tta)} "
            f"| {_fmt(cpu_speedup, '.2f')}{'×' if cpu_speedup else ''} |"
            + (f" {_share(r.get('noisy_fraction_mean'))} |" if noisy else "")
        )
    return header + "\n".join(lines) + "\n"


def selection_table(summary: dict[str, Any]) -> str:
    """Per CRAIG arm: what one selection costs and how skewed its weights are."""
    rows = [r for r in summary["rows"] if r["method"] == "craig" and r["seconds_per_selection_mean"]]
    if not rows:
        return ""
    header = ("| CRAIG arm | data | selections per run | s per selection | of which facility location "
              "| coreset epoch training s | largest weight / mean weight (mean over selections) "
              "| collapsed runs | final acc. of the other runs |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    lines = [
        f"| {r['label']} | {_pct(r['fraction'])} | {r['selections']} | {r['seconds_per_selection_mean']:.2f} "
        f"| {_fmt(r['coreset_seconds_per_selection_mean'], '.2f')} | {r['epoch_train_seconds_mean']:.2f} "
        f"| {_fmt(r['weight_max_mean'], '.1f')} | {r.get('collapsed', 0)}/{r['seeds']} "
        f"| {_fmt(_percent(r.get('final_accuracy_mean_not_collapsed')), '.2f')} |"
        for r in rows
    ]
    return header + "\n".join(lines) + "\n"


def iso_accuracy_table(summary: dict[str, Any]) -> str:
    """Per coreset arm: its total time against the full-data runs' time to the same (mean final) accuracy."""
    rows = [r for r in summary["rows"] if r["method"] != "full"]
    if not rows or summary["reference_accuracy"] is None:
        return ""
    header = ("| method | data | final test acc. | its total s | full data: s to the same acc. "
              "| speedup at equal accuracy |\n|---|---:|---:|---:|---:|---:|\n")
    lines = []
    for r in rows:
        full_s = r.get("full_seconds_to_same_accuracy")
        speedup = full_s / r["total_seconds_mean"] if full_s else None
        lines.append(f"| {r['label']} | {_pct(r['fraction'])} | {r['final_accuracy_mean'] * 100:.2f} "
                     f"| {r['total_seconds_mean']:.1f} | {_fmt(full_s)} "
                     f"| {_fmt(speedup, '.2f')}{'×' if speedup else ''} |")
    return header + "\n".join(lines) + "\n"


def noise_table(summary: dict[str, Any]) -> str:
    """Per arm under label noise: the share of its picks (and of its training weight) with a flipped label."""
    rows = [r for r in summary["rows"] if r.get("noisy_fraction_mean") is not None]
    if not rows:
        return ""
    header = ("| method | data | selections per run | noisy share of picks (mean ± std over seeds) "
              "| noisy share of the training weight | noise rate | final test acc. (clean test set) |\n"
              "|---|---:|---:|---:|---:|---:|---:|\n")
    lines = [
        f"| {r['label']} | {_pct(r['fraction'])} | {r['selections'] if r['method'] != 'full' else '–'} "
        f"| {r['noisy_fraction_mean'] * 100:.1f}% ± {(r['noisy_fraction_std'] or 0.0) * 100:.1f} "
        f"| {_fmt(_percent(r.get('noisy_weight_fraction_mean')), '.1f')}% "
        f"| {_fmt(_percent(r.get('noise_rate')), '.0f')}% "
        f"| {r['final_accuracy_mean'] * 100:.2f} ± {r['final_accuracy_std'] * 100:.2f} |"
        for r in rows
    ]
    return header + "\n".join(lines) + "\n"


def crest_table(summary: dict[str, Any]) -> str:
    """Per CREST arm: resets (selections), validity checks, and what they cost next to training."""
    rows = [r for r in summary["rows"] if r["method"] == "crest"]
    if not rows:
        return ""
    header = ("| CREST arm | data | resets per run | checks per run | reset + check s | training s "
              "| overhead / training |\n|---|---:|---:|---:|---:|---:|---:|\n")
    lines = [
        f"| {r['label']} | {_pct(r['fraction'])} | {r['selections']} | {_fmt(r.get('checks_mean'), '.0f')} "
        f"| {r['selection_seconds_mean']:.1f} | {r['train_seconds_mean']:.1f} "
        f"| {_fmt(_ratio(r['selection_seconds_mean'], r['train_seconds_mean']), '.1f')}× |"
        for r in rows
    ]
    return header + "\n".join(lines) + "\n"


def checks_text(summary: dict[str, Any]) -> str:
    """The targets of the issue, stated against what was measured."""
    checks, out = summary["checks"], []
    drop = summary["target_drop"] * 100
    half = checks.get("half_time_at_fraction")
    if half:
        if half["best"] is None:
            out.append(f"- **Half the full-data time at {half['fraction']:.0%}: not met.** No method at "
                       f"{half['fraction']:.0%} reached full-data accuracy − {drop:g} point in every seed.")
        else:
            verdict = "met" if half["met"] else "not met"
            out.append(
                f"- **Half the full-data time at {half['fraction']:.0%}: {verdict}.** Best method: "
                f"{half['best']}, {half['seconds_to_target']:.1f} s to full-data accuracy − {drop:g} point, "
                f"{half['ratio']:.0%} of the full-data run's {half['full_total_seconds']:.1f} s "
                "(selection included; the target is at most 50%)."
            )
    cost = checks.get("craig_selection_cost")
    if cost:
        verdict = "met" if cost["met_vs_full_epoch"] else "not met"
        parts = []
        for e in cost["entries"]:
            greedy = e["coreset_seconds_per_selection"]
            split = (f" ({greedy:.2f} s facility location, {e['seconds_per_selection'] - greedy:.2f} s "
                     "computing the gradients)") if greedy is not None else ""
            parts.append(
                f"at {e['fraction']:.0%}: {e['seconds_per_selection']:.2f} s per selection{split} = "
                f"{_fmt(e['ratio_to_full_epoch'], '.0%')} of a full-data training epoch "
                f"({_fmt(e['full_epoch_train_seconds'], '.2f')} s) and {e['ratio_to_subset_epoch']:.0%} of the "
                f"coreset's own training epoch ({e['subset_epoch_train_seconds']:.2f} s)"
            )
        out.append(f"- **CRAIG per-epoch selection under 10% of an epoch's training time: {verdict}.** "
                   + "; ".join(parts) + ".")
    crest = checks.get("crest_speedup")
    if crest:
        verdict = "met" if crest["met"] else "not met"
        parts = []
        for e in crest["entries"]:
            if e["seconds_to_target"] is None:
                parts.append(f"at {e['fraction']:.0%}: never reached it (0/{e['seeds']} seeds)")
                continue
            parts.append(
                f"at {e['fraction']:.0%}: {e['seconds_to_target']:.1f} s ({e['reached']}/{e['seeds']} seeds reached "
                f"it) = {_fmt(e['speedup_vs_full_total'], '.2f')}× faster than full-data training "
                f"({crest['full_total_seconds']:.1f} s) and {_fmt(e['speedup_vs_full_to_target'], '.2f')}× "
                f"faster than the full-data runs reached the same target ({_fmt(crest['full_seconds_to_target'])} s)"
            )
        out.append(f"- **CREST reaches full-data accuracy − {drop:g} point at least 2× faster than full-data "
                   f"training, selection included: {verdict}.** " + "; ".join(parts) + ". (Met means every seed "
                   "reached the target, in at most half the full-data training time.)")
    collapsed = [r for r in summary["rows"] if r.get("collapsed")]
    if collapsed:
        out.append("- **Collapsed runs** (final accuracy below half the full-data accuracy): " + "; ".join(
            f"{r['label']} at {_pct(r['fraction'])}: {r['collapsed']} of {r['seeds']}" for r in collapsed) + ".")
    losses = checks.get("craig_not_better", [])
    if losses:
        out.append("- **Where CRAIG does not beat random or RS2:**")
        for loss in losses:
            if loss["what"] == "final accuracy":
                out.append(f"  - {loss['craig']} at {loss['fraction']:.0%}: final accuracy "
                           f"{loss['craig_value'] * 100:.2f}% vs {loss['other']} {loss['other_value'] * 100:.2f}%")
            else:
                out.append(f"  - {loss['craig']} at {loss['fraction']:.0%}: time to target "
                           f"{_fmt(loss['craig_value'])} s ({loss['craig_reached']} runs reached it) vs "
                           f"{loss['other']} {_fmt(loss['other_value'])} s ({loss['other_reached']} runs)")
    elif any(r["method"] == "craig" for r in summary["rows"]):
        out.append("- CRAIG beat random and RS2 in final accuracy and time to target at every fraction.")
    return "\n".join(out) + "\n"


def _load_notes(result: dict[str, Any]) -> list[str]:
    """A warning when other processes competed for the cores during the runs (load average > cores)."""
    cores = result["machine"].get("cores") or 1
    loads = [run[key][0] for run in result["runs"] for key in ("loadavg_before", "loadavg_after")
             if run.get(key)]
    if not loads or max(loads) <= cores:
        return []
    busy = sum(load > cores for load in loads) / len(loads)
    return [
        f"The machine was shared: the 1-minute load average (this benchmark's own busy thread included) "
        f"reached {max(loads):.1f} on {cores} cores "
        f"(above {cores} at {busy:.0%} of the run boundaries, median {float(np.median(loads)):.1f}). Wall-clock "
        "seconds are inflated by the other processes, unevenly across runs; runs were interleaved (seed outer, "
        "method inner) to spread it, and the CPU-time columns do not count it."
    ]


def method_notes(settings: dict[str, Any]) -> list[str]:
    """One line per method of the benchmark: the signal, the ordering or schedule, and the settings chosen."""
    methods = settings.get("methods", [])
    m = settings.get("method_settings") or {}
    every = ", ".join("once" if k is None else f"every {k} epoch(s)" for k in settings.get("every", [5]))
    lines = {
        "random": "**random:** class-balanced uniform subset, selected once, weight n_c/k_c.",
        "rs2": "**rs2:** a fresh uniform subset every epoch, without replacement across rounds (Okanovic et al., "
               "2023).",
        "craig": "**craig** (Mirzasoleiman et al., ICML 2020): per-class facility location on the current model's "
                 "last-layer logit gradients (softmax − one-hot), weights = cluster sizes; reselected every k "
                 "epochs as labelled.",
        "crest": "**crest** (Yang, Kang, Mirzasoleiman, ICML 2023): `CrestTrainer` with its defaults"
                 f"{' and ' + str(m['crest_params']) if m.get('crest_params') else ''} (P = 5 random "
                 "class-balanced subsets of max(1% of N, 3 batches), "
                 "a mini-batch coreset from each, quadratic loss model from AdaHessian moments, a validity check "
                 "every `check_interval` steps, τ = 0.1, adaptive interval); an epoch is ceil(fraction · N / batch) "
                 "steps; resets and checks are on the clock; 'selections' counts its resets.",
        "adacore": f"**adacore** (Pooladzandi et al., ICML 2022), {every}: last-layer weight+bias gradients divided "
                   "by a running Hutchinson estimate of the last layer's Hessian diagonal (+ 1% of its mean as "
                   "damping), per-class facility location, weights = cluster sizes (`adacore_selector` defaults).",
        "gradmatch": f"**gradmatch** (Killamsetty et al., ICML 2021), {every}: per-class non-negative OMP "
                     "(λ = 0.5) matching each class's training-gradient sum, weights = OMP coefficients; on "
                     + ("full last-layer gradients." if m.get("gradmatch_full") else
                        "logit gradients (CORDS matches full last-layer gradients; OMP over LeNet's 850-dim ones "
                        "costs several times more per selection here)."),
        "glister": f"**glister** (Killamsetty et al., AAAI 2021), {every}: stochastic greedy on the one-step "
                   "validation gain with the exact last-layer update (η = the training lr), logit gradients, "
                   + ("per class (budget proportional to class size). " if m.get("glister_per_class") else
                      "over all classes at once (the paper's code defaults). ")
                   + "Validation set: a stratified "
                   f"{m.get('glister_validation_fraction', 0.1):.0%} of the *training* set (seeded per seed, "
                   "never the test set), held out of GLISTER's selection pool; its subsets still hold `fraction` "
                   "of all training examples. Under label noise the held-out labels are noisy too (no clean "
                   "validation set is assumed).",
        "el2n": f"**el2n** (Paul et al., NeurIPS 2021): EL2N averaged over {m.get('el2n_runs', 2)} runs of "
                f"{m.get('el2n_epochs', '?')} epoch(s) on the full data (the paper: 10 runs, epoch 20 of 200); keep "
                "the highest scores (hardest), per class, once.",
        "forgetting": "**forgetting** (Toneva et al., ICLR 2019): forgetting events from a `DynamicsRecorder` over "
                      f"one {m.get('dynamics_epochs', '?')}-epoch full-data run (correctness of each example "
                      "when it is trained on); keep the most forgotten "
                      f"({m.get('forgetting_keep', 'hard')}; never-learned count as most forgotten), per class.",
        "cartography": "**cartography** (Swayamdipta et al., EMNLP 2020): variability of the true-class "
                       "probability over the same recorded run; keep the "
                       f"**{m.get('cartography_region', 'ambiguous')}** region first (highest variability: the "
                       "paper's recommended subset, best out-of-distribution at equal in-distribution accuracy).",
    }
    out = [lines[method] for method in methods if method in lines]
    if any(method in ("el2n", "forgetting", "cartography") for method in methods):
        out.append("The score runs (fresh models, the benchmark's optimizer at its initial lr, no decay) are made "
                   "once per seed and shared by the arms that read them (both fractions; forgetting and "
                   "cartography read one recorded run); each of those arms is charged their full wall-clock "
                   "cost as selection time.")
    return out


def write_markdown(result: dict[str, Any], path: Path, title: str, plot_name: str, json_name: str,
                   notes: Sequence[str] = (), noise_plot_name: str | None = None) -> None:
    s, m, summary = result["settings"], result["machine"], result["summary"]
    drop = summary["target_drop"] * 100
    lr_text = f"lr {s['lr']:g}" + (f" {s['lr_schedule']} (stepped per epoch)" if s.get("lr_schedule") else "")
    optimizer = s.get("optimizer", "sgd").upper() + (
        f" momentum {s['momentum']:g}" if s.get("optimizer", "sgd") == "sgd" else "")
    gpu = f"; GPU {m['gpu']} (CUDA {m.get('cuda')}), training and signals on {m.get('device')}" if m.get("gpu") else ""
    subset = "".join(f" ({what} set: a stratified {s[key]:,}-example subset)" for key, what in
                     (("train_size", "training"), ("test_size", "test")) if s.get(key))
    lines = [f"# {title}", ""]
    if s.get("parts"):
        lines.append(f"- **Command:** {len(s['parts'])} processes side by side (split by seed and arm), then merged: "
                     + "; ".join(f"`{p['command']}`" for p in s["parts"]) + f"; merged with `{result['command']}`")
    else:
        lines.append(f"- **Command:** `{result['command']}`")
    lines += [
        f"- **Date:** {m['date']}",
        f"- **Machine:** {m['cores']} cores, {m['cpu_model']}; Python {m['python']}, torch {m['torch']} "
        f"({s['threads']} intra-op thread(s)), numpy {m['numpy']}, numba {m['numba_threads']} threads{gpu}; "
        f"load average at start {m.get('loadavg')}, at end {m.get('loadavg_end')}",
        f"- **Data:** {s['dataset']}, {s['n_train']:,} training / {s['n_test']:,} test examples{subset}; model "
        f"{s.get('model_description', s['model'])}",
        f"- **Training (every run):** {s['epochs']} epochs, {optimizer}, {lr_text}, batch size "
        f"{s['batch_size']}, weight decay {s['weight_decay']:g}; weighted loss (coreset weights rescaled to "
        f"mean 1); {s['seeds']} seed(s) {s.get('seed_list', '')} (seed = model init, shuffling and random subsets)",
    ]
    if s.get("noise_rate"):
        lines.append(f"- **Label noise:** {s['noise_rate']:.0%} of the training labels flipped, each to a different "
                     "class drawn uniformly (exactly round(rate · N) examples; a fresh draw per seed, "
                     "`lessdata.bench.noise.flip_labels(labels, rate, seed)`); every arm trains on the same noisy "
                     "labels, accuracy is on the clean test set. For each selection the share of picked examples "
                     "with a flipped label is recorded; random selection picks the noise rate in expectation.")
    if "craig_signal" in s:
        lines.append(f"- **CRAIG:** {s['craig_signal']}; parameters {s.get('craig_params') or 'defaults'}")
    lines += [
        "- **Clock:** wall-clock training + selection seconds (signals such as gradients included), evaluation "
        "excluded. The CPU columns are the same clock in process CPU time (all threads): it does not count "
        "time lost to other processes on a shared machine, but counts every core a parallel selection uses. "
        f"Total benchmark wall time {s['benchmark_wall_seconds'] / 60:.1f} min.",
        f"- **Target:** full-data accuracy (mean final over seeds) "
        f"{_fmt(_percent(summary['reference_accuracy']), '.2f')}% − {drop:g} point "
        f"= {_fmt(_percent(summary['target_accuracy']), '.2f')}%. Time to target is "
        "the clock at the end of the first epoch at or above it, averaged over the runs that reached it.",
        "",
        "## Results",
        "",
        results_table(summary),
    ]
    iso = iso_accuracy_table(summary)
    if iso:
        lines += ["Equal-accuracy view: how long the full-data runs took to reach each arm's mean final accuracy "
                  "(first epoch at or above it, mean over the full-data seeds), against the arm's own total time:",
                  "", iso]
    craig = selection_table(summary)
    if craig:
        lines += ["CRAIG selections (seconds include computing the signal; the rest is facility location "
                  "and weights):", "", craig]
    crest = crest_table(summary)
    if crest:
        lines += ["CREST's resets and validity checks (all on the clock):", "", crest]
    noise = noise_table(summary)
    if noise:
        lines += ["## Label noise: flipped examples in the selections", "",
                  "Mean over every selection of a run, then over seeds (full data: the share it trains on).", "",
                  noise]
    described = method_notes(s)
    if described:
        lines += ["## Methods", "", *[f"- {line}" for line in described], ""]
    lines += [
        "## Targets",
        "",
        checks_text(summary),
    ]
    notes = [*_load_notes(result), *notes]
    if notes:
        lines += ["## Notes", "", *[f"- {note}" for note in notes], ""]
    lines += [
        "## Plots",
        "",
        f"![test accuracy vs seconds]({plot_name})",
        "",
        *([f"![noisy share of the selections]({noise_plot_name})", ""] if noise_plot_name else []),
        f"Raw per-epoch histories of every run: [{json_name}]({json_name}).",
        "",
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))


def regenerate(json_path: str | Path, title: str, notes: Sequence[str] = (), half_time_fraction=0.3) -> dict:
    """Re-read a result JSON, recompute its summary from the raw runs and rewrite its .md and .png.

    Lets a report be re-rendered (after a change to the tables or plots) without training again.
    """
    from .tta import MODEL_DESCRIPTIONS, summarize

    json_path = Path(json_path)
    result = json.loads(json_path.read_text())
    settings = result["settings"]
    if "model_description" not in settings and settings.get("model") in MODEL_DESCRIPTIONS:
        settings["model_description"] = MODEL_DESCRIPTIONS[settings["model"]]
    drop = result["summary"]["target_drop"]
    result["summary"] = summarize(result["runs"], drop, half_time_fraction=half_time_fraction)
    write_all(result, json_path.parent, json_path.stem, title=title, notes=notes)
    return result
