"""What defines a time-to-accuracy run: one frozen :class:`TtaConfig`, checked when it is made.

The arms (methods × fractions × reselection periods), the data, the training length, the seeds, label noise,
the device, and the per-method settings (:class:`~lessdata.bench.arms.ArmOptions`) live in one object that
the CLI, ``benchmarks/tta.py`` and tests build and :func:`~lessdata.bench.run_tta` reads top to bottom.

Examples:
    >>> config = TtaConfig(dataset="digits", model="mlp", methods=["full", "craig"], fractions=[0.3],
    ...                    craig_every=[5], quick=True)
    >>> config.run_epochs, config.seed_values, config.stem
    (5, [0], 'tta_digits_mlp_quick')
    >>> TtaConfig(seeds=0)
    Traceback (most recent call last):
    ...
    lessdata.errors.LessdataError: seeds must be a positive integer, got 0
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_choice
from ..errors import LessdataError
from .arms import METHODS, RESELECTING, ArmOptions, check_options
from .datasets import DATASETS, DEFAULT_SETTINGS, MODELS, load_benchmark_data
from .noise import check_noise_rate

__all__ = ["TtaConfig", "check_device", "default_name", "title_of"]


@dataclass(frozen=True)
class TtaConfig:
    """One time-to-accuracy benchmark: every field is checked (one clear :class:`LessdataError`) and
    sequences are stored as tuples, so a config can be shared and compared.

    Attributes:
        dataset: ``"fashion-mnist"`` or ``"digits"``.
        model: ``"cnn"`` (LeNet, 28x28 images) or ``"mlp"``.
        methods: the methods to compare (:data:`lessdata.bench.arms.METHODS`); ``full`` trains once on all data.
        fractions: coreset fractions in ``(0, 1)``; every method but ``full`` runs at each.
        seeds: runs per arm (seeds ``0..seeds-1``), unless ``seed_list`` names the seeds.
        seed_list: the seeds to run (to run seeds as parallel processes, merged afterwards).
        epochs: epochs per run (``None``: the dataset/model default, ``quick_epochs`` with ``quick``).
        batch_size: mini-batch size of every arm (``None``: the dataset/model default, 128 for Fashion-MNIST).
        quick: a few-minute version: the quick epochs and one seed (unless ``seed_list`` is given).
        craig_every: CRAIG's reselection periods in epochs (one arm per period).
        every: AdaCore / GradMatch / GLISTER reselection periods (``None``: select once).
        noise_rate: share of training labels flipped to another class (per seed), in ``[0, 1)``.
        target_drop: the target is the full-data accuracy minus this (0.01 = one point).
        device: where to train and compute signals (``"cuda"``; ``None``: the CPU).
        threads: torch intra-op threads during training (restored afterwards).
        train_size, test_size: stratified subsets of the training / test set (fixed seed), for quick runs.
        name: file stem of the results (default :func:`default_name`).
        options: the per-method settings (CRAIG and CREST parameters, GLISTER's validation split, the score
            methods' short runs...): :class:`~lessdata.bench.arms.ArmOptions`.
        accuracy_targets: fixed test accuracies (e.g. ``(0.8, 0.85)``) whose time to reach the report gives per
            arm (:mod:`lessdata.bench.protocol`).
        parallel_processes: how many benchmark processes ran side by side on the machine (this one included);
            above 1 the report says its wall-clock numbers are not for speed claims.

    The papers' protocol is ``epochs`` = the full-data arm's plateau: every arm then trains that many epochs,
    a subset arm on ``fraction`` of the data per epoch (see :mod:`lessdata.bench.protocol`).
    """

    dataset: str = "fashion-mnist"
    model: str = "cnn"
    methods: Sequence[str] = ("full", "random", "rs2", "craig")
    fractions: Sequence[float] = (0.1, 0.3)
    seeds: int = 3
    seed_list: Sequence[int] | None = None
    epochs: int | None = None
    quick: bool = False
    batch_size: int | None = None
    craig_every: Sequence[int] = (1, 5)
    every: Sequence[int | None] = (5,)
    noise_rate: float = 0.0
    target_drop: float = 0.01
    device: str | None = None
    threads: int = 1
    train_size: int | None = None
    test_size: int | None = None
    name: str | None = None
    options: ArmOptions = field(default_factory=ArmOptions)
    accuracy_targets: Sequence[float] = ()
    parallel_processes: int = 1

    def __post_init__(self):
        check_choice(self.dataset, DATASETS, "dataset")
        check_choice(self.model, MODELS, "model")
        methods = self.methods
        if isinstance(methods, str):
            methods = [m.strip() for m in methods.split(",") if m.strip()]
        methods = list(methods)
        if not methods:
            raise LessdataError("give at least one method")
        for method in methods:
            check_choice(method, METHODS, "method")
        if len(set(methods)) != len(methods):
            raise LessdataError(f"methods are listed twice: {methods}")
        fractions = list(self.fractions)
        if any(m != "full" for m in methods) and not fractions:
            raise LessdataError("give at least one fraction for the coreset methods")
        for f in fractions:
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < float(f) < 1.0:
                raise LessdataError(f"fractions must be numbers in (0, 1), got {f!r}")
        if len(set(fractions)) != len(fractions):
            raise LessdataError(f"fractions are listed twice: {fractions}")
        _positive_int(self.seeds, "seeds")
        _positive_int(self.parallel_processes, "parallel_processes")
        targets = list(self.accuracy_targets)
        for a in targets:
            if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 < float(a) < 1.0:
                raise LessdataError(f"accuracy_targets must be accuracies in (0, 1), got {a!r}")
        _positive_int(self.threads, "threads")
        _positive_int(self.epochs, "epochs", allow_none=True)
        batch_size = _positive_int(self.batch_size, "batch_size", allow_none=True)
        craig_every = list(self.craig_every)
        if not craig_every or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in craig_every):
            raise LessdataError(f"craig_every must be positive integers, got {craig_every!r}")
        every = _periods(self.every, "every")
        noise_rate = check_noise_rate(self.noise_rate)
        device = check_device(self.device)
        seed_list = _check_seed_list(self.seed_list)
        train_size = _positive_int(self.train_size, "train_size", allow_none=True)
        test_size = _positive_int(self.test_size, "test_size", allow_none=True)
        options = check_options(self.options if self.options is not None else ArmOptions())
        name = self.name
        if name is not None and (not isinstance(name, str) or not name or any(c in name for c in "/\\")):
            raise LessdataError(f"name must be a file stem without slashes, got {name!r}")
        if (self.dataset, self.model) not in DEFAULT_SETTINGS:
            load_benchmark_data(self.dataset, self.model)  # raises the one-line reason
        for key, value in (("methods", tuple(methods)), ("fractions", tuple(float(f) for f in fractions)),
                           ("craig_every", tuple(craig_every)), ("every", tuple(every)), ("noise_rate", noise_rate),
                           ("device", device), ("seed_list", None if seed_list is None else tuple(seed_list)),
                           ("train_size", train_size), ("test_size", test_size), ("batch_size", batch_size),
                           ("options", options),
                           ("accuracy_targets", tuple(sorted(float(a) for a in targets)))):
            object.__setattr__(self, key, value)

    def replace(self, **changes) -> TtaConfig:
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

    @property
    def run_epochs(self) -> int:
        """Epochs per run: ``epochs``, or the dataset/model default (its quick one with ``quick``)."""
        if self.epochs is not None:
            return self.epochs
        defaults = DEFAULT_SETTINGS[(self.dataset, self.model)]
        return defaults["quick_epochs"] if self.quick else defaults["epochs"]

    @property
    def run_batch_size(self) -> int:
        """Mini-batch size: ``batch_size``, or the dataset/model default."""
        if self.batch_size is not None:
            return self.batch_size
        return DEFAULT_SETTINGS[(self.dataset, self.model)]["batch_size"]

    @property
    def seed_values(self) -> list[int]:
        """The seeds to run: ``seed_list``, or ``0..seeds-1`` (only seed 0 with ``quick``)."""
        if self.seed_list is not None:
            return list(self.seed_list)
        return list(range(1 if self.quick else self.seeds))

    @property
    def base_name(self) -> str:
        """The report's name: ``name``, or :func:`default_name`."""
        return self.name or default_name(self.dataset, self.model, self.quick, self.noise_rate)

    @property
    def stem(self) -> str:
        """The file stem: the base name, plus ``_seeds<list>`` when ``seed_list`` is given."""
        suffix = "" if self.seed_list is None else "_seeds" + "_".join(str(s) for s in self.seed_list)
        return self.base_name + suffix

    def command(self, out_dir: str | os.PathLike | None = None) -> str:
        """The equivalent ``lessdata bench tta`` command line (per-method options are not flags)."""

        def periods(values):
            return ",".join("once" if k is None else str(k) for k in values)

        parts = ["lessdata bench tta", f"--dataset {self.dataset}", f"--model {self.model}",
                 f"--methods {','.join(self.methods)}", f"--fractions {','.join(f'{f:g}' for f in self.fractions)}"]
        parts.append(f"--seed-list {','.join(map(str, self.seed_list))}" if self.seed_list is not None
                     else f"--seeds {len(self.seed_values)}")
        parts.append(f"--epochs {self.run_epochs}")
        if self.batch_size is not None:
            parts.append(f"--batch-size {self.batch_size}")
        if list(self.craig_every) != [1, 5] and "craig" in self.methods:
            parts.append(f"--craig-every {periods(self.craig_every)}")
        if list(self.every) != [5] and any(m in RESELECTING and m != "craig" for m in self.methods):
            parts.append(f"--every {periods(self.every)}")
        for flag, value in (("--label-noise", self.noise_rate or None), ("--device", self.device),
                            ("--train-size", self.train_size), ("--test-size", self.test_size),
                            ("--name", self.name), ("--threads", self.threads if self.threads != 1 else None)):
            if value is not None:
                parts.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
        if self.accuracy_targets:
            parts.append(f"--accuracy-targets {','.join(f'{a:g}' for a in self.accuracy_targets)}")
        if self.parallel_processes > 1:
            parts.append(f"--parallel-processes {self.parallel_processes}")
        if self.quick:
            parts.append("--quick")
        if out_dir is not None:
            parts.append(f"--out {out_dir}")
        return " ".join(parts)


def default_name(dataset: str, model: str, quick: bool = False, noise_rate: float = 0.0) -> str:
    """The default file stem, e.g. ``tta_fashion_mnist_cnn_noise``.

    Examples:
        >>> default_name("fashion-mnist", "cnn", quick=True, noise_rate=0.2)
        'tta_fashion_mnist_cnn_noise_quick'
    """
    return (f"tta_{dataset.replace('-', '_')}_{model}" + ("_noise" if noise_rate else "")
            + ("_quick" if quick else ""))


def title_of(settings: dict[str, Any]) -> str:
    """The report's title from its settings.

    Examples:
        >>> title_of({"dataset": "digits", "model": "mlp", "noise_rate": 0.2})
        'Time to accuracy: digits (8x8), MLP, 20% of training labels flipped'
    """
    names = {"fashion-mnist": "Fashion-MNIST", "digits": "digits (8x8)"}
    models = {"cnn": "LeNet CNN", "mlp": "MLP"}
    title = f"Time to accuracy: {names[settings['dataset']]}, {models[settings['model']]}"
    if settings.get("noise_rate"):
        title += f", {settings['noise_rate']:.0%} of training labels flipped"
    return title + (" (quick)" if settings.get("quick") else "")


def check_device(device) -> str | None:
    """``device`` as a string torch accepts (``None``: the CPU), or one clear error; CUDA must be available.

    Examples:
        >>> check_device("cpu")
        'cpu'
    """
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise LessdataError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise LessdataError(f"device {device!r} asked for, but torch sees no CUDA GPU (torch {torch.__version__})")
    if parsed.type not in ("cpu", "cuda"):
        raise LessdataError(f"device {device!r} is not supported by the benchmark; use cpu or cuda")
    return str(device)


def _positive_int(value, name: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise LessdataError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _periods(values, name: str) -> list[int | None]:
    values = list(values)
    if not values or any(k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1) for k in values):
        raise LessdataError(f"{name} must be positive integers (or None for once), got {values!r}")
    if len(set(values)) != len(values):
        raise LessdataError(f"{name} lists a period twice: {values!r}")
    return values


def _check_seed_list(seed_list) -> list[int] | None:
    if seed_list is None:
        return None
    seeds = list(seed_list)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise LessdataError(f"seed_list must be non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise LessdataError(f"seed_list lists a seed twice: {seeds!r}")
    return [int(s) for s in seeds]
