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
from .plots import plot_accuracy_vs_time, plot_noisy_fraction
from .protocol import add_protocol, directions_table, protocol_table
from .tables import (
    _fmt,
    _percent,
    checks_text,
    crest_table,
    iso_accuracy_table,
    noise_table,
    results_table,
    selection_table,
)


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


def timing_notes(result: dict[str, Any]) -> list[str]:
    """Say when the wall-clock numbers cannot back a speed claim: several benchmark processes side by side."""
    s = result["settings"]
    processes = max(int(s.get("parallel_processes") or 1), len(s.get("parts") or []))
    if processes <= 1:
        return []
    return [f"**Not for speed claims:** {processes} benchmark processes ran in parallel on "
            f"{result['machine'].get('cores', '?')} cores; every wall-clock column (totals, speed-ups, times to "
            "accuracy) is inflated by that contention, unevenly across arms. Accuracy columns are unaffected."]


def method_notes(settings: dict[str, Any]) -> list[str]:
    """One line per method of the benchmark: the signal, the ordering or schedule, and the settings chosen."""
    methods = settings.get("methods", [])
    m = dict(settings.get("method_settings") or {})
    if m and "gradmatch_gradients" not in m:  # a result from before these settings: logits, model at call 0
        m.update(gradmatch_gradients="full" if m.get("gradmatch_full") else "logits", glister_gradients="logits",
                 first_call="model")
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
                     + {"full": "full last-layer gradients (weight and bias, the reference's).",
                        "class_row": "each class's own row of the last-layer gradient (CORDS' "
                                     "PerClassPerGradient).",
                        "logits": "logit gradients only (a departure: CORDS matches full last-layer gradients)."
                        }.get(m.get("gradmatch_gradients", "full"), "")
                     + (" The first selection is a random subset (CORDS)." if m.get("first_call") != "model"
                        else " Every selection, the first included, uses the model."),
        "glister": f"**glister** (Killamsetty et al., AAAI 2021), {every}: stochastic greedy on the one-step "
                   "validation gain with the exact last-layer update (η = the training lr), "
                   + ("full last-layer gradients, " if m.get("glister_gradients", "full") == "full"
                      else "logit gradients (a departure), ")
                   + ("first selection random (CORDS), " if m.get("first_call") != "model" else "")
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
    if summary.get("rows") and "relative_error" in summary["rows"][0]:
        lines += ["## Protocol: relative error, speed-up, time to fixed accuracies", "",
                  "Every arm trains the same number of epochs (a subset arm on its fraction per epoch). Relative "
                  "error = (test error of the arm − test error of full data) / test error of full data, from the "
                  "mean final accuracies; speed-up = full-data total seconds / the arm's (selection included).",
                  "", protocol_table(summary)]
        directions = directions_table(summary)
        if directions:
            lines += ["Does each paper's headline direction hold here?", "", directions]
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
    notes = [*timing_notes(result), *_load_notes(result), *notes]
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
    from .datasets import MODEL_DESCRIPTIONS
    from .summary import summarize

    json_path = Path(json_path)
    result = json.loads(json_path.read_text())
    settings = result["settings"]
    if "model_description" not in settings and settings.get("model") in MODEL_DESCRIPTIONS:
        settings["model_description"] = MODEL_DESCRIPTIONS[settings["model"]]
    drop = result["summary"]["target_drop"]
    result["summary"] = add_protocol(summarize(result["runs"], drop, half_time_fraction=half_time_fraction),
                                     result["runs"], settings.get("accuracy_targets") or ())
    write_all(result, json_path.parent, json_path.stem, title=title, notes=notes)
    return result
