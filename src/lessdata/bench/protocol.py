"""The papers' protocol on top of a time-to-accuracy summary: relative error against full data, speed-up,
time to fixed accuracies, and whether each method's paper direction holds.

The coreset papers (CRAIG, GradMatch, GLISTER, CREST) train the full-data arm to its plateau and every subset
arm for the *same number of epochs* on its fraction per epoch, then compare final accuracy (mean ± std over
seeds), the relative error against full data, and wall-clock time with selection included. A
:class:`~lessdata.bench.TtaConfig` with ``epochs`` set to the full-data plateau is that protocol: every arm trains
``epochs`` epochs, a subset arm on ``fraction`` of the data per epoch.

*Relative error* here is the relative increase of the test error over full data,
``(err_arm − err_full) / err_full`` with ``err = 1 − accuracy`` (0: as good as full data; 0.1: 10% more
errors), computed from the mean final accuracies.

Example:
    >>> rows = [{"method": "full", "label": "full", "fraction": None, "final_accuracy_mean": 0.9,
    ...          "total_seconds_mean": 100.0, "history_means": []},
    ...         {"method": "random", "label": "random", "fraction": 0.1, "final_accuracy_mean": 0.85,
    ...          "total_seconds_mean": 20.0, "history_means": []}]
    >>> round(add_protocol({"rows": rows}, runs=[], accuracies=())["rows"][1]["relative_error"], 6)
    0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .summary import mean_std, seconds_to_target

__all__ = ["PAPER_CLAIMS", "add_protocol", "paper_directions", "protocol_table", "directions_table"]

#: each method's headline direction, as its paper states it, and how it is judged here
PAPER_CLAIMS = {
    "craig": "lower relative error than random at the same budget, and a wall-clock speed-up over full data",
    "crest": "lower relative error than random at the same budget, and a wall-clock speed-up over full data",
    "gradmatch": "at least random's accuracy at the same budget",
    "glister": "at least random's accuracy at the same budget",
    "rs2": "at least random's accuracy at the same budget (fresh subsets each round)",
    "adacore": "lower relative error than random at the same budget",
    "el2n": "small budgets: keeping the easiest examples beats keeping the hardest (Sorscher et al., 2022)",
    "forgetting": "small budgets: keeping the easiest examples beats keeping the hardest (Sorscher et al., 2022)",
}


def add_protocol(summary: dict[str, Any], runs: Sequence[dict[str, Any]], accuracies: Sequence[float] = ()
                 ) -> dict[str, Any]:
    """Add to every row of ``summary`` the protocol's fields (in place; returns ``summary``):
    ``relative_error`` (see the module docs), ``accuracy_drop`` (points below full data),
    ``speedup_vs_full`` (full-data total seconds / the arm's, selection included), and
    ``seconds_to_accuracy`` (per accuracy in ``accuracies``: mean seconds of the runs that reached it and how
    many did)."""
    rows = summary["rows"]
    full = next((r for r in rows if r["method"] == "full"), None)
    by_label: dict[tuple, list] = {}
    for run in runs:
        by_label.setdefault((run["arm"]["label"], run["arm"]["fraction"]), []).append(run["history"])
    for row in rows:
        acc = row["final_accuracy_mean"]
        if full is not None:
            err_full = 1.0 - full["final_accuracy_mean"]
            row["relative_error"] = ((1.0 - acc) - err_full) / err_full if err_full > 0 else None
            row["accuracy_drop"] = full["final_accuracy_mean"] - acc
            row["speedup_vs_full"] = (full["total_seconds_mean"] / row["total_seconds_mean"]
                                      if row["total_seconds_mean"] else None)
        histories = by_label.get((row["label"], row["fraction"]), [])
        reached = {}
        for target in accuracies:
            times = [seconds_to_target(h, float(target)) for h in histories]
            hit = [t for t in times if t is not None]
            reached[f"{float(target):g}"] = {"seconds_mean": mean_std(hit)[0] if hit else None,
                                              "reached": len(hit), "runs": len(histories)}
        row["seconds_to_accuracy"] = reached
    summary["accuracy_targets"] = [float(a) for a in accuracies]
    summary["paper_directions"] = paper_directions(summary)
    return summary


def paper_directions(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per coreset arm whose method has a claim in :data:`PAPER_CLAIMS`: does the direction hold here?

    CRAIG / CREST / AdaCore: relative error below random's at the same fraction (and for CRAIG / CREST a total
    time below full data's); GradMatch / GLISTER / RS2: final accuracy ≥ random's minus one standard error of
    the difference; score methods: needs both an easy and a hard arm, otherwise ``holds`` is ``None``.
    """
    rows = summary["rows"]
    out = []
    for row in rows:
        claim = PAPER_CLAIMS.get(row["method"])
        if claim is None or row["fraction"] is None:
            continue
        random = next((r for r in rows if r["method"] == "random" and r["fraction"] == row["fraction"]), None)
        entry = {"label": row["label"], "fraction": row["fraction"], "claim": claim, "holds": None, "detail": ""}
        if row["method"] in ("el2n", "forgetting"):
            entry["detail"] = "needs an easy-first and a hard-first arm of the same score; not judged"
        elif random is None or row.get("relative_error") is None:
            entry["detail"] = "no random arm (or no full-data arm) at this fraction"
        else:
            gap = row["final_accuracy_mean"] - random["final_accuracy_mean"]
            se = float(np.hypot(row["final_accuracy_std"], random["final_accuracy_std"])
                       / np.sqrt(max(1, min(row["seeds"], random["seeds"]))))
            detail = (f"accuracy {gap * 100:+.2f} pt vs random (± {se * 100:.2f} standard error); relative "
                      f"error {row['relative_error']:.1%} vs random's {random['relative_error']:.1%}")
            if row["method"] in ("craig", "crest", "adacore"):
                better = row["relative_error"] < random["relative_error"]
                faster = row.get("speedup_vs_full") is not None and row["speedup_vs_full"] > 1.0
                detail += f"; speed-up over full data {row.get('speedup_vs_full') or float('nan'):.2f}x"
                entry["holds"] = better and (faster or row["method"] == "adacore")
            else:
                entry["holds"] = gap >= -se
            entry["detail"] = detail
        out.append(entry)
    return out


def _fmt(value, spec: str) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, spec)


def protocol_table(summary: dict[str, Any]) -> str:
    """Markdown: final accuracy ± std, relative error, speed-up over full data, seconds to each fixed accuracy."""
    targets = summary.get("accuracy_targets") or []
    head = ("| method | data | final test acc. (mean ± std) | relative error vs full | points below full "
            "| total s with selection | speed-up vs full |"
            + "".join(f" s to {t:.0%} (runs) |" for t in targets)
            + "\n|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(targets) + "\n")
    lines = []
    for r in summary["rows"]:
        cells = [r["label"], "100%" if r["fraction"] is None else f"{r['fraction']:.0%}",
                 f"{r['final_accuracy_mean'] * 100:.2f} ± {r['final_accuracy_std'] * 100:.2f}",
                 _fmt(r.get("relative_error"), ".1%"), _fmt(None if r.get("accuracy_drop") is None
                                                            else r["accuracy_drop"] * 100, ".2f"),
                 f"{r['total_seconds_mean']:.1f}", _fmt(r.get("speedup_vs_full"), ".2f") + "×"]
        for t in targets:
            hit = r.get("seconds_to_accuracy", {}).get(f"{t:g}", {})
            cells.append(f"{_fmt(hit.get('seconds_mean'), '.1f')} ({hit.get('reached', 0)}/{hit.get('runs', 0)})")
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def directions_table(summary: dict[str, Any]) -> str:
    """Markdown: per method arm, the paper's direction and whether it holds here."""
    entries = summary.get("paper_directions") or []
    if not entries:
        return ""
    word = {True: "yes", False: "**no**", None: "not judged"}
    head = "| method | data | paper's direction | holds here? | measured |\n|---|---:|---|---|---|\n"
    return head + "\n".join(f"| {e['label']} | {e['fraction']:.0%} | {e['claim']} | {word[e['holds']]} "
                            f"| {e['detail']} |" for e in entries) + "\n"
