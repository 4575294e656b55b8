"""The arms of the time-to-accuracy benchmark: what each method trains on, and what its clock counts.

Every arm trains the same model for the same epochs with the same optimizer and learning-rate schedule; the
clock is training plus selection (signals and any training run a selection needs), evaluation excluded.

- ``full``: the whole training set. ``random``: a class-balanced random subset, once. ``rs2``: a fresh random
  subset every epoch (Okanovic et al., 2023).
- Epoch selectors on the current model, reselected every ``k`` epochs (:class:`~lessdata.training.EveryKEpochs`,
  ``k`` from ``every``; ``None`` selects once): ``craig`` (Mirzasoleiman et al., ICML 2020; last-layer logit
  gradients, per class), ``adacore`` (Pooladzandi et al., ICML 2022; last-layer weight+bias gradients divided
  by a running Hutchinson estimate of the last layer's Hessian diagonal, per-class facility location),
  ``gradmatch`` (Killamsetty et al., ICML 2021; per-class non-negative OMP matching the class's gradient sum)
  and ``glister`` (Killamsetty et al., AAAI 2021; stochastic greedy on the one-step validation gain with the
  exact last-layer update). GLISTER needs a validation set: a stratified ``glister_validation_fraction``
  (10%, as CORDS) of the *training* set is held out of its selection pool (never the test set); the subset
  still has ``fraction`` of all training examples.
- ``crest`` (Yang, Kang, Mirzasoleiman, ICML 2023): :class:`~lessdata.training.CrestTrainer` with its
  defaults, trained by its own ``fit`` (same optimizer and schedule); an epoch is ``ceil(fraction · N / B)``
  steps and its clock includes every reset and validity check.
- Score-based, one-shot (:class:`~lessdata.training.SelectOnce`), the scores from short training runs of
  fresh models on the full training set whose wall-clock cost is charged to the arm's selection time.
  Each short run uses the benchmark's optimizer at its initial learning rate (no decay: the start of the
  long run's schedule). The runs are made once per seed and shared by the arms that read them (both
  fractions; forgetting and cartography read the same recorded run); every arm is charged their full cost.

  - ``el2n`` (Paul, Ganguli, Dziugaite, NeurIPS 2021): mean EL2N over ``el2n_runs`` runs of ``el2n_epochs``
    epochs (they average 10 runs at epoch 20 of 200; default here: 2 runs at 10% of the epochs, at least 1);
    keep the highest scores (hardest), as the paper does.
  - ``forgetting`` (Toneva et al., ICLR 2019): forgetting events recorded by a
    :class:`~lessdata.signals.dynamics.DynamicsRecorder` over a ``dynamics_epochs``-epoch run (default 20%
    of the epochs, at least 2); keep the most forgotten (never-learned examples count as most forgotten).
  - ``cartography`` (Swayamdipta et al., EMNLP 2020): variability of the true-class probability over the
    same recorded run; keep the most *ambiguous* (highest variability), the region the paper recommends
    (best out-of-distribution generalisation at equal in-distribution accuracy).

Example::

    arms = make_arms(["full", "craig", "crest"], fractions=[0.1], craig_every=(5,))
    [arm.label for arm in arms]     # ['full', 'craig (every 5)', 'crest']
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._validation import check_choice
from ..errors import LessdataError
from .datasets import stratified_split, take

METHODS = ("full", "random", "rs2", "craig", "crest", "adacore", "gradmatch", "glister", "el2n", "forgetting",
           "cartography")
#: methods that reselect on the current model every k epochs
RESELECTING = ("craig", "adacore", "gradmatch", "glister")
#: methods that rank examples by scores from short training runs, once
SCORE_METHODS = ("el2n", "forgetting", "cartography")


# ------------------------------------------------------------------------------------------------ arms
@dataclass(frozen=True)
class Arm:
    """One configuration to train: ``method`` at ``fraction`` of the data.

    ``every`` is the reselection period in epochs of the epoch selectors (CRAIG, AdaCore, GradMatch,
    GLISTER; ``None``: select once, before training); ``signal`` is what CRAIG compares: ``"gradients"``
    (last-layer gradients of the current model) or ``"features"`` (the fixed inputs given to the harness).
    """

    method: str
    fraction: float | None = None
    every: int | None = None
    signal: str = "gradients"

    @property
    def label(self) -> str:
        if self.method in RESELECTING:
            return f"{self.method} (once)" if self.every is None else f"{self.method} (every {self.every})"
        return self.method

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


def make_arms(methods: Sequence[str], fractions: Sequence[float], craig_every: Sequence[int | None] = (1, 5),
              craig_signal: str = "gradients", every: Sequence[int | None] = (5,)) -> list[Arm]:
    """The arms of a benchmark: ``full`` once, every other method at every fraction; CRAIG once per period in
    ``craig_every``, AdaCore / GradMatch / GLISTER once per period in ``every``.

    Examples:
        >>> [a.label for a in make_arms(["full", "glister", "el2n"], [0.1], every=(5,))]
        ['full', 'glister (every 5)', 'el2n']
    """
    arms: list[Arm] = []
    for method in methods:
        check_choice(method, METHODS, "method")
        if method == "full":
            arms.append(Arm("full"))
            continue
        for fraction in fractions:
            if method == "craig":
                periods = craig_every if craig_signal == "gradients" else (None,)
                arms += [Arm("craig", fraction, k, craig_signal) for k in periods]
            elif method in RESELECTING:
                arms += [Arm(method, fraction, k) for k in every]
            else:
                arms.append(Arm(method, fraction))
    return arms


# ------------------------------------------------------------------------------------------- options
@dataclass(frozen=True)
class ArmOptions:
    """Method settings shared by all arms of a benchmark (see the module docstring for why these)."""

    craig_params: dict[str, Any] = field(default_factory=dict)
    gradmatch_gradients: str = "full"  # the reference's (CORDS, DeepCore); "class_row" / "logits" are cheaper
    glister_gradients: str = "full"  # the reference's; "logits" is cheaper
    first_call: str | None = None  # None: each selector's reference default (random for GradMatch / GLISTER)
    glister_validation_fraction: float = 0.1
    glister_per_class: bool = False  # False: one selection over all classes, as the paper's code
    el2n_runs: int = 2
    el2n_epochs: int | None = None  # None: 10% of the epochs, at least 1
    dynamics_epochs: int | None = None  # None: 20% of the epochs, at least 2
    forgetting_keep: str = "hard"
    cartography_region: str = "ambiguous"
    crest_params: dict[str, Any] = field(default_factory=dict)

    def resolved(self, epochs: int) -> dict[str, Any]:
        """The settings as plain data, with the epoch-dependent defaults filled in (for the report)."""
        out = asdict(self)
        out["el2n_epochs"] = self.el2n_epochs or max(1, round(0.1 * epochs))
        out["dynamics_epochs"] = self.dynamics_epochs or max(2, round(0.2 * epochs))
        return out


def check_options(options: ArmOptions) -> ArmOptions:
    """One clear error for a bad setting."""
    if not isinstance(options, ArmOptions):
        raise LessdataError(f"options must be an ArmOptions, got {type(options).__name__}")
    f = options.glister_validation_fraction
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < f < 0.5:
        raise LessdataError(f"glister_validation_fraction must be in (0, 0.5), got {f!r}")
    for name in ("el2n_runs", "el2n_epochs", "dynamics_epochs"):
        value = getattr(options, name)
        if value is None and name != "el2n_runs":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LessdataError(f"{name} must be a positive integer, got {value!r}")
    check_choice(options.gradmatch_gradients, ("full", "class_row", "logits"), "gradmatch gradients")
    check_choice(options.glister_gradients, ("full", "logits"), "glister gradients")
    if options.first_call is not None:
        check_choice(options.first_call, ("random", "model"), "first call")
    check_choice(options.forgetting_keep, ("hard", "easy"), "forgetting keep")
    check_choice(options.cartography_region, ("ambiguous", "hard", "easy"), "cartography region")
    return options


# ---------------------------------------------------------------------------------------------- helpers
def pin_threads(threads: int | None) -> None:
    """Set torch's intra-op threads (numba selections may have changed the process's thread pool)."""
    if threads:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


class Selections:
    """Wraps a selector to record each Coreset's own ``seconds`` (the greedy part, signals excluded)."""

    def __init__(self, selector: Callable, threads: int | None = None):
        self.selector, self.threads = selector, threads
        self.seconds: list[float] = []
        self.weight_max: list[float] = []  # largest weight / mean weight: how skewed the cluster sizes are

    def __call__(self, model):
        pin_threads(self.threads)  # the gradients' forward pass runs after the previous numba selection
        coreset = self.selector(model)
        self.seconds.append(float(coreset.seconds))
        self.weight_max.append(float(coreset.normalized_weights().max()))
        return coreset


class Charge:
    """fit callback: add seconds spent before ``fit`` (scores from short training runs) to the clock of every
    epoch, and to the first epoch's selection time."""

    def __init__(self, seconds: float, cpu_seconds: float):
        self.seconds, self.cpu_seconds = float(seconds), float(cpu_seconds)

    def on_epoch_end(self, epoch, model, record) -> None:
        if epoch == 0:
            record["selection_seconds"] += self.seconds
        record["cumulative_seconds"] += self.seconds
        record["wall_seconds"] += self.seconds
        if record.get("cpu_seconds") is not None:
            record["cpu_seconds"] += self.cpu_seconds


# ---------------------------------------------------------------------------------------------- context
@dataclass
class SeedContext:
    """What the arms of one seed share: the (possibly noisy) training set and labels, the training settings,
    and the scores of the short training runs (computed on first use)."""

    train: Any
    labels: np.ndarray
    seed: int
    model_factory: Callable[[], Any]
    fit_kwargs: dict[str, Any]
    epochs: int
    threads: int | None = None
    features: np.ndarray | None = None
    options: ArmOptions = field(default_factory=ArmOptions)
    cache: dict[str, tuple[Any, float, float]] = field(default_factory=dict)

    @property
    def device(self):
        return self.fit_kwargs.get("device")

    @property
    def n(self) -> int:
        return len(self.labels)

    def score_fit_kwargs(self) -> dict[str, Any]:
        return {**self.fit_kwargs, "lr_schedule": None}

    def cached(self, key: str, compute: Callable[[], Any]) -> tuple[Any, float, float]:
        """``(value, wall seconds, CPU seconds)`` of ``compute()``, computed once per seed."""
        if key not in self.cache:
            pin_threads(self.threads)
            wall, cpu = time.perf_counter(), time.process_time()
            value = compute()
            self.cache[key] = (value, time.perf_counter() - wall, time.process_time() - cpu)
        return self.cache[key]


def _run_seed(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([int(seed), stream]).generate_state(1)[0] >> 1)


def el2n_scores_for(ctx: SeedContext) -> tuple[np.ndarray, float, float]:
    """Mean EL2N over ``el2n_runs`` short full-data runs (Paul et al., 2021), once per seed."""
    from ..training import early_training_scores

    settings = ctx.options.resolved(ctx.epochs)
    return ctx.cached("el2n", lambda: early_training_scores(
        ctx.model_factory, ctx.train, epochs=settings["el2n_epochs"], runs=settings["el2n_runs"],
        seed=_run_seed(ctx.seed, 1), score="el2n", **ctx.score_fit_kwargs()))


def dynamics_for(ctx: SeedContext):
    """A DynamicsRecorder over one short full-data run (correctness and true-class probability per epoch)."""

    def record():
        import torch

        from ..signals.dynamics import DynamicsRecorder
        from ..training import fit

        epochs = ctx.options.resolved(ctx.epochs)["dynamics_epochs"]
        recorder = DynamicsRecorder(ctx.n, fields=("correct", "confidence"), columns=epochs)
        run_seed = _run_seed(ctx.seed, 2)
        torch.manual_seed(run_seed)
        fit(ctx.model_factory(), ctx.train, None, epochs=epochs, seed=run_seed, callbacks=[recorder],
            **ctx.score_fit_kwargs())
        return recorder

    return ctx.cached("dynamics", record)


# --------------------------------------------------------------------------------------------- schedules
def make_schedule(arm: Arm, ctx: SeedContext):
    """``(schedule, selections, charge)`` of a :func:`~lessdata.training.fit` arm: the
    :class:`~lessdata.training.Schedule` (``None``: full data), the :class:`Selections` recorder of its
    selector (``None`` for RS2 and full) and the :class:`Charge` of work done before fit (``None``: none)."""
    import lessdata
    from lessdata.training import EveryKEpochs, RS2Rounds, SelectOnce

    labels, seed, n, fraction = ctx.labels, ctx.seed, ctx.n, arm.fraction
    if arm.method == "full":
        return None, None, None
    if arm.method == "rs2":
        return RS2Rounds(n=n, fraction=fraction, seed=seed), None, None
    if arm.method == "crest":
        raise LessdataError("crest trains through CrestTrainer.fit, not a fit() schedule")
    charge = None
    if arm.method == "random":
        selector = lambda model: lessdata.select(None, fraction=fraction, method="random",  # noqa: E731
                                                 labels=labels, seed=seed, n=n)
    elif arm.method in SCORE_METHODS:
        selector, charge = _score_selector(arm, ctx)
    elif arm.method == "craig" and arm.signal == "features":
        if ctx.features is None:
            raise LessdataError("CRAIG on features needs the features array")
        params = dict(ctx.options.craig_params)
        selector = lambda model: lessdata.select(ctx.features, fraction=fraction,  # noqa: E731
                                                 method="craig", labels=labels, seed=seed, **params)
    else:
        selector = _gradient_selector(arm, ctx)
    selections = Selections(selector, ctx.threads)
    if arm.method in RESELECTING and arm.every is not None:
        return EveryKEpochs(selections, k=arm.every), selections, charge
    return SelectOnce(selections), selections, charge


def _gradient_selector(arm: Arm, ctx: SeedContext) -> Callable:
    from ..training import adacore_selector, gradient_selector, gradmatch_selector

    common = {"fraction": arm.fraction, "seed": ctx.seed, "device": ctx.device}
    if ctx.options.first_call is not None:
        common["first"] = ctx.options.first_call
    if arm.method == "craig":
        return gradient_selector(ctx.train, ctx.labels, method="craig", **common, **ctx.options.craig_params)
    if arm.method == "adacore":
        return adacore_selector(ctx.train, ctx.labels, **common)
    if arm.method == "gradmatch":
        return gradmatch_selector(ctx.train, ctx.labels, gradients=ctx.options.gradmatch_gradients, **common)
    if arm.method == "glister":
        return _glister_selector(arm, ctx)
    raise LessdataError(f"no gradient selector for method {arm.method!r}")  # pragma: no cover


def _glister_selector(arm: Arm, ctx: SeedContext) -> Callable:
    """GLISTER selecting from the training set minus a held-out stratified validation split."""
    from .._validation import resolve_budget
    from ..training import glister_selector

    pool, held_out = stratified_split(ctx.labels, ctx.options.glister_validation_fraction, seed=ctx.seed)
    budget = resolve_budget(ctx.n, fraction=arm.fraction)
    if budget > len(pool):
        raise LessdataError(f"glister: a {arm.fraction:.0%} subset ({budget}) does not fit in the training pool "
                            f"left after the validation split ({len(pool)})")
    selector = glister_selector(take(ctx.train, pool), ctx.labels[pool], budget=budget,
                                validation=take(ctx.train, held_out), validation_labels=ctx.labels[held_out],
                                eta=float(ctx.fit_kwargs.get("lr", 0.1)), seed=ctx.seed, device=ctx.device,
                                per_class=ctx.options.glister_per_class, gradients=ctx.options.glister_gradients,
                                **({} if ctx.options.first_call is None else {"first": ctx.options.first_call}))

    def select(model):
        coreset = selector(model)
        return dataclasses.replace(coreset, indices=pool[coreset.indices], n=ctx.n)

    return select


def _score_selector(arm: Arm, ctx: SeedContext):
    import lessdata

    base = {"fraction": arm.fraction, "labels": ctx.labels, "seed": ctx.seed, "n": ctx.n}
    if arm.method == "el2n":
        scores, seconds, cpu = el2n_scores_for(ctx)
        params = {"method": "el2n", "scores": scores, "keep": "hard"}
    else:
        recorder, seconds, cpu = dynamics_for(ctx)
        params = ({"method": "forgetting", "keep": ctx.options.forgetting_keep} if arm.method == "forgetting"
                  else {"method": "cartography", "region": ctx.options.cartography_region})
        params["dynamics"] = recorder
    return (lambda model: lessdata.select(**base, **params)), Charge(seconds, cpu)


# ------------------------------------------------------------------------------------------------ CREST
def fit_crest(arm: Arm, ctx: SeedContext, model, test, *, callbacks: Sequence = (), progress=None):
    """Train ``model`` with CREST (:class:`~lessdata.training.CrestTrainer` and its ``fit``) under the same
    optimizer, learning-rate schedule and epochs as the other arms; returns ``(FitResult, trainer)``."""
    from ..training import CrestTrainer

    kw = ctx.fit_kwargs
    device = kw.get("device") or "cpu"
    model.to(device)
    trainer = CrestTrainer(model, ctx.train, ctx.labels, fraction=arm.fraction, batch_size=kw["batch_size"],
                           device=device, seed=ctx.seed, **ctx.options.crest_params)
    for callback in callbacks:
        if hasattr(callback, "steps"):
            callback.steps = trainer.steps_per_epoch
    result = trainer.fit(test, epochs=ctx.epochs, optimizer=kw.get("optimizer", "sgd"), lr=kw["lr"],
                         momentum=kw.get("momentum", 0.9), weight_decay=kw.get("weight_decay", 5e-4),
                         lr_schedule=kw.get("lr_schedule", "cosine"), callbacks=callbacks, progress=progress)
    return result, trainer

