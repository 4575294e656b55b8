"""Joining the results of one benchmark run as separate processes (split by seed or by arm) into one."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import LessdataError
from .config import default_name, title_of
from .grid import pct
from .protocol import add_protocol
from .report import write_all
from .summary import summarize

__all__ = ["MERGE_KEYS", "merge_files", "merge_results"]

#: training settings two processes must share to be merged into one report (their arms and seeds may differ)
MERGE_KEYS = ("experiment", "dataset", "model", "n_train", "n_test", "epochs", "quick", "target_drop",
              "noise_rate", "device", "train_size", "test_size", "batch_size", "lr", "optimizer", "momentum",
              "weight_decay", "lr_schedule", "method_settings")


def merge_results(results: Sequence[dict[str, Any]], command: str | None = None) -> dict[str, Any]:
    """Join the results of one benchmark run as separate processes into the result one process running
    everything would have returned: the runs of all parts (seed outer, arm inner), one summary over all.

    Parts may split the work by seed (``seed_list``) and by arm (different ``methods`` / ``fractions`` /
    periods), as long as no (arm, fraction, seed) run is in two parts and the training settings agree
    (:data:`MERGE_KEYS`). The full-data runs of any part set the target of all. The machine is the first
    part's, the wall time the longest part's (they ran side by side); ``settings["parts"]`` keeps each
    part's command.

    Examples:
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
                raise LessdataError(f"cannot merge: seed {run['seed']} of {key[0]} at {pct(key[1])} is in part "
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
            "runs": runs, "summary": add_protocol(summarize(runs, target_drop), runs,
                                                  settings.get("accuracy_targets") or ()), "files": {}}


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
        settings = merged["settings"]
        stem = name or settings.get("name") or default_name(settings["dataset"], settings["model"],
                                                            settings.get("quick", False),
                                                            settings.get("noise_rate") or 0.0)
        merged["settings"]["name"] = stem
        merged["files"] = write_all(merged, Path(out_dir), stem, title=title_of(settings))
    return merged
