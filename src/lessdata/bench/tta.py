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

The run is described by one frozen :class:`~lessdata.bench.config.TtaConfig`. With ``noise_rate`` a share of the
training labels is flipped (:func:`lessdata.bench.noise.flip_labels`, per seed) before any arm sees them; the
test set stays clean, and every selection's share of flipped examples is recorded. Seeds can run as separate
processes (``seed_list``) whose JSON files :func:`merge_results` joins into the report one process would have
written.

The harness is split by what each part does: :mod:`~lessdata.bench.config` (the run's settings),
:mod:`~lessdata.bench.datasets` (data and models), :mod:`~lessdata.bench.arms` (what each method trains on),
:mod:`~lessdata.bench.grid` (training the arms), :mod:`~lessdata.bench.summary` (aggregation and checks),
:mod:`~lessdata.bench.merge` (joining processes) and :mod:`~lessdata.bench.report` (markdown, PNG, JSON).

Example::

    from lessdata.bench import TtaConfig, run_tta
    result = run_tta(TtaConfig(dataset="digits", model="mlp", seeds=1, epochs=5), out_dir="/tmp/tta")
    result["summary"]["rows"][0]["final_accuracy_mean"]
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import LessdataError
from .arms import Arm, ArmOptions, make_arms, stratified_split
from .config import TtaConfig, check_device, default_name, title_of
from .datasets import (
    COMMON_SETTINGS,
    DEFAULT_SETTINGS,
    MODEL_DESCRIPTIONS,
    load_benchmark_data,
    model_factory,
    subsample,
)
from .grid import run_grid
from .machine import loadavg, machine_info
from .merge import MERGE_KEYS, merge_files, merge_results
from .protocol import add_protocol
from .report import write_all
from .summary import seconds_to_target, summarize

__all__ = ["MERGE_KEYS", "Arm", "ArmOptions", "TtaConfig", "check_device", "default_name", "load_benchmark_data",
           "machine_info", "make_arms", "merge_files", "merge_results", "model_factory", "run_grid", "run_tta",
           "seconds_to_target", "stratified_split", "summarize", "title_of"]

CRAIG_SIGNAL = "last-layer gradients (softmax - onehot), per class, euclidean max(d) - d"


def run_tta(config: TtaConfig | None = None, *, out_dir: str | os.PathLike | None = "benchmarks/results",
            progress=None, command: str | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time-to-accuracy benchmark: full data vs coreset methods, same epochs and schedule, several seeds.

    Trains ``config.model`` on ``config.dataset`` for every method at every fraction (``full`` once; methods:
    :data:`lessdata.bench.arms.METHODS`), CRAIG reselecting on last-layer gradients every ``k`` epochs for each
    ``k`` in ``config.craig_every`` and AdaCore / GradMatch / GLISTER for each ``k`` in ``config.every``, and
    writes to ``out_dir`` a markdown report, a PNG of test accuracy against training + selection seconds (and,
    with label noise, a bar chart of the noisy share of each method's picks), and the raw JSON.

    Args:
        config: the run (:class:`~lessdata.bench.config.TtaConfig`; default: its defaults, the Fashion-MNIST
            LeNet benchmark).
        out_dir: folder of the results; ``None`` writes nothing.
        progress: tqdm-compatible object; ``total`` is set to the number of epochs of all runs and
            ``update(1)`` is called after each epoch (``set_description`` with the run, if it has one).
        command: the command line to print in the report (default: the equivalent ``lessdata bench tta``).
        log: optional ``callable(str)`` told one line per finished run.

    Returns:
        ``{"settings", "machine", "command", "runs", "summary", "files"}``.

    Examples:
        >>> config = TtaConfig("digits", "mlp", fractions=[0.3], seeds=1, epochs=2)
        >>> result = run_tta(config, out_dir=None)   # doctest: +SKIP
        >>> [row["label"] for row in result["summary"]["rows"]][:3]   # doctest: +SKIP
        ['full', 'random', 'rs2']
    """
    config = TtaConfig() if config is None else config
    if not isinstance(config, TtaConfig):
        raise LessdataError(f"run_tta takes a TtaConfig, got {type(config).__name__}")
    epochs, seed_values, options = config.run_epochs, config.seed_values, config.options
    train, test, labels, in_features = load_benchmark_data(config.dataset, config.model)
    train, labels = subsample(train, labels, config.train_size, "train")
    test, _ = subsample(test, test.y.numpy(), config.test_size, "test")
    defaults = DEFAULT_SETTINGS[(config.dataset, config.model)]
    fit_kwargs = {**COMMON_SETTINGS, "batch_size": config.run_batch_size, "lr": defaults["lr"]}
    if config.device is not None:
        fit_kwargs["device"] = config.device
    arms = make_arms(config.methods, config.fractions, config.craig_every, every=config.every)
    started = time.perf_counter()
    machine = machine_info(config.threads, config.device)
    runs = run_grid(arms, train=train, test=test, labels=labels,
                    model_factory=model_factory(config.model, in_features), seeds=seed_values, epochs=epochs,
                    fit_kwargs=fit_kwargs, threads=config.threads, progress=progress, log=log,
                    noise_rate=config.noise_rate, options=options)
    machine["loadavg_end"] = loadavg()
    settings = {
        "experiment": "tta",
        "name": config.base_name,
        "dataset": config.dataset,
        "model": config.model,
        "model_description": MODEL_DESCRIPTIONS[config.model],
        "n_train": len(train),
        "n_test": len(test),
        "train_size": config.train_size,
        "test_size": config.test_size,
        "methods": list(config.methods),
        "fractions": list(config.fractions),
        "craig_every": list(config.craig_every),
        "every": list(config.every),
        "craig_signal": CRAIG_SIGNAL,
        "craig_params": options.craig_params,
        "method_settings": options.resolved(epochs),
        "seeds": len(seed_values),
        "seed_list": seed_values,
        "epochs": epochs,
        "quick": config.quick,
        "threads": config.threads,
        "device": config.device or "cpu",
        "noise_rate": config.noise_rate,
        "target_drop": config.target_drop,
        "accuracy_targets": list(config.accuracy_targets),
        "parallel_processes": config.parallel_processes,
        **{k: v for k, v in fit_kwargs.items() if k != "device"},
        "benchmark_wall_seconds": time.perf_counter() - started,
    }
    result = {
        "settings": settings,
        "machine": machine,
        "command": command if command is not None else config.command(out_dir),
        "runs": runs,
        "summary": add_protocol(summarize(runs, config.target_drop), runs, config.accuracy_targets),
        "files": {},
    }
    if out_dir is not None:
        result["files"] = write_all(result, Path(out_dir), config.stem, title=title_of(settings))
    return result
