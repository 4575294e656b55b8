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
}
_EXTRA_COLORS = ("tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def write_all(result: dict[str, Any], out_dir: Path, stem: str, title: str,
              notes: Sequence[str] = ()) -> dict[str, str]:
    """Write ``<stem>.json``, ``<stem>.png`` and ``<stem>.md`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    paths = {"json": out_dir / f"{stem}.json", "plot": out_dir / f"{stem}.png", "markdown": out_dir / f"{stem}.md"}
    files = {key: str(path) for key, path in paths.items()}
    result["files"] = files
    write_json(result, paths["json"])
    plot_accuracy_vs_time(result["runs"], paths["plot"], title=title,
                          target=result["summary"]["target_accuracy"],
                          target_drop=result["summary"]["target_drop"])
    write_markdown(result, paths["markdown"], title=title, plot_name=paths["plot"].name,
                   json_name=paths["json"].name, notes=notes)
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
            color = colors.setdefault(label, next(extra, "tab:gray"))
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
                ax.legend(fontsize=8, loc="lower right", framealpha=0.85)
        axes[0][col].set_title("full data" if fraction is None else f"coresets at {fraction:.0%}")
    if title:
        fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)


# ----------------------------------------------------------------------------------------------- markdown
def _fmt(value, spec: str = ".1f", none: str = "–") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    return format(value, spec)


def _percent(value):
    return None if value is None else value * 100


def _pct(fraction) -> str:
    return "100%" if fraction is None else f"{fraction:.0%}"


def results_table(summary: dict[str, Any]) -> str:
    """The per-arm markdown table: accuracy, seconds, selection, time to target."""
    drop = summary["target_drop"] * 100
    full_tta = next((r["seconds_to_target_mean"] for r in summary["rows"] if r["method"] == "full"), None)
    full_cpu_tta = next((r.get("cpu_seconds_to_target_mean") for r in summary["rows"] if r["method"] == "full"),
                        None)
    header = (
        "| method | data | selections | final test acc. (mean ± std) | total s (mean ± std) | selection s "
        f"| s to full − {drop:g} pt (runs reaching it) | vs full-data total | speedup vs full to target "
        "| total CPU s | CPU s to target | CPU speedup to target |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
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


def write_markdown(result: dict[str, Any], path: Path, title: str, plot_name: str, json_name: str,
                   notes: Sequence[str] = ()) -> None:
    s, m, summary = result["settings"], result["machine"], result["summary"]
    drop = summary["target_drop"] * 100
    lr_text = f"lr {s['lr']:g}" + (f" {s['lr_schedule']} (stepped per epoch)" if s.get("lr_schedule") else "")
    optimizer = s.get("optimizer", "sgd").upper() + (
        f" momentum {s['momentum']:g}" if s.get("optimizer", "sgd") == "sgd" else "")
    lines = [
        f"# {title}",
        "",
        f"- **Command:** `{result['command']}`",
        f"- **Date:** {m['date']}",
        f"- **Machine:** {m['cores']} cores, {m['cpu_model']}; Python {m['python']}, torch {m['torch']} "
        f"({s['threads']} intra-op thread(s)), numpy {m['numpy']}, numba {m['numba_threads']} threads; "
        f"load average at start {m.get('loadavg')}, at end {m.get('loadavg_end')}",
        f"- **Data:** {s['dataset']}, {s['n_train']:,} training / {s['n_test']:,} test examples; model "
        f"{s.get('model_description', s['model'])}",
        f"- **Training (every run):** {s['epochs']} epochs, {optimizer}, {lr_text}, batch size "
        f"{s['batch_size']}, weight decay {s['weight_decay']:g}; weighted loss (coreset weights rescaled to "
        f"mean 1); {s['seeds']} seed(s) (seed = model init, shuffling and random subsets)",
    ]
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
