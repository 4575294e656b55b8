"""The markdown tables and the targets text of a time-to-accuracy report (plain strings from a summary)."""

from __future__ import annotations

import math
from typing import Any


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

