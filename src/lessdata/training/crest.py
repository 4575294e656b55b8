"""CREST's training loop: mini-batch coresets, reselected when a quadratic model of the loss stops holding.

Yang, Kang, Mirzasoleiman, "Towards Sustainable Learning: Coresets for Data-efficient Deep Learning", ICML 2023.
CREST selects per *step*, not per epoch, so it cannot be an epoch :class:`~lessdata.training.Schedule`.
:class:`CrestTrainer` is the integration: it owns the choice of examples and leaves the optimisation to you.

- In your own loop, iterate :meth:`CrestTrainer.batches`: it yields ``(x, y, w, idx)`` (weights mean 1 over the
  current coreset) and, between your steps, decides when to reselect. Run your optimizer as configured
  (momentum, weight decay, schedules...): CREST needs one backward per step, yours.
- :meth:`CrestTrainer.fit` is the same loop as :func:`lessdata.training.fit` (same :class:`FitResult` records,
  same callbacks), where an epoch is ``ceil(fraction · N / batch_size)`` steps: the compute of one epoch on a
  ``fraction`` coreset.

What happens at a *reset* (the first step, and whenever the loss model fails its check):

1. draw ``subsets`` (``P``) random class-balanced subsets ``R_p`` of size ``r`` (default
   ``max(1% of N, 3 batches)``) from the training pool, compute their logit gradients (softmax − one-hot) with
   the current model, and pick a mini-batch coreset of ``batch_size`` from each by per-class facility location
   (:func:`lessdata.methods.crest.minibatch_coresets`); train on the union in shuffled batches;
2. build the quadratic model around the current parameters ``θ0``: over the coreset's batches (weighted loss),
   fold the gradient and a Hutchinson diagonal (Rademacher vectors, one Hessian-vector product) into the
   AdaHessian moments (:class:`~lessdata.signals.hessian.CurvatureEMA`, ``beta1 = 0.9``, ``beta2 = 0.999``, kept
   across resets as in the paper's code), and average ``L0`` (the coreset loss), ``g`` (bias-corrected gradient
   average) and ``D`` (curvature) over the batches;
3. with ``adapt=True``, after the first reset set ``check_interval = ceil(c0 / c · interval_multiplier)`` and
   ``P = min(ceil(check_interval · subsets_multiplier), steps per epoch)`` where ``c`` is the mean norm of ``D``
   over the batches and ``c0`` its value at the first reset: flat regions get rarer checks and more mini-batches.
   This follows the paper's code (which takes ``c0`` after its one-epoch warm-up). While the loss sharpens
   after the first reset, ``c > c0`` and the interval stays at 1: on Fashion-MNIST with LeNet (10% per epoch,
   batch 128) ``c`` rose from 2.2 at step 0 to 229 by step 39 and was still 76 at step 367; with a one-epoch
   warm-up, from 22 to 100, then 60.

The inputs of ``∪R_p`` are fetched once per reset (one batched index where the dataset allows it) and kept on
the training device (up to 1 GiB), so the checks and the quadratic model read no data.

Every ``check_interval`` steps after a reset it compares the true loss on ``∪R_p`` (unweighted, eval mode) with
``L0 + δᵀg + ½ δᵀDδ``; when ``|true − approx| > check_threshold · true`` it resets before the next batch. The
displacement ``δ`` is, by default (``displacement="gradients"``), accumulated as the paper's code does
(YuYang0901/CREST, ``trainers/crest_trainer.py``: ``delta -= lr * g`` at every step, reset to 0 at each
reset): ``δ = −Σ_t lr_t g_t`` over the steps since the reset, ``g_t`` the batch gradient your optimizer is
about to apply (read by a step pre-hook on the optimizer, so pass ``optimizer=`` or call :meth:`watch`; ``fit``
does it itself). ``displacement="parameters"`` reads ``δ = θ − θ0`` off the parameters instead (the step the
optimizer really took: momentum and weight decay included; a departure from the reference, which keeps the
check blind to momentum).

Optional dropping of learned examples (``drop_learned=True``): every loss computed for an example in ``∪R_p``
(at resets and checks) is recorded; an example whose last ``drop_window`` recorded losses were all below
``drop_threshold`` leaves the pool at the next reset, unless that would leave its class fewer than ``r / C``
examples or the pool fewer than ``min_pool_fraction · N``.

Losses are cross-entropy (the gradient proxy is CE's); the model must return logits. Both the quadratic model
and the checks run the model in eval mode (so dropout and batch-norm batch statistics do not make the true
and approximate losses disagree); each module's mode is restored afterwards.

Checked against: YuYang0901/CREST (``trainers/crest_trainer.py``). As there by default: one epoch
(``steps_per_epoch`` steps) on random batches of the whole data before the first reset (``warmup_steps=None``;
``0`` selects from the first step: on a 10,000-example Fashion-MNIST subset with LeNet, 15 epochs at 10%, one of
three seeds then fell to chance after a reset at epoch 5, 35% against 68% with the warm-up), ``δ = −Σ lr·g``,
the quadratic model on the coreset batches (the reference's ``approx_with_coreset``), ``drop_learned=False``.
Departure, an option: ``displacement="parameters"``.

Example::

    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    crest = CrestTrainer(model, train_set, fraction=0.1, batch_size=128, optimizer=opt)
    for x, y, w, idx in crest.batches(steps=10 * crest.steps_per_epoch):
        loss = weighted_loss(nn.CrossEntropyLoss(reduction="none"), model(x), y, w)
        opt.zero_grad(); loss.backward(); opt.step()

    result = CrestTrainer(model, train_set, fraction=0.1).fit(test_set, epochs=10)   # or the reference loop
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import BOOL, Interval, Options, check_params
from ..coreset import Coreset
from ..data.torch_data import batch_fetcher, dataset_labels, split_batch
from ..errors import LessdataError
from ..methods.crest import minibatch_coresets, random_subset_size, random_subsets
from ..signals.gradients import model_device
from ..signals.hessian import CurvatureEMA
from ..submodular.optimizers import OPTIMIZERS
from .crest_check import CheckResult, QuadraticModel, _ForwardPasses
from .crest_fit import _crest_fit
from .samplers import CoresetLoader
from .selectors import call_seed

__all__ = ["CheckResult", "CrestTrainer", "QuadraticModel"]

_DEVICE_CACHE_BYTES = 1 << 30  # the union's inputs stay on the training device up to this size


_POSITIVE_INT = [Interval(int, 1, None)]
#: every CrestTrainer parameter's accepted values, checked at once (one message format, see lessdata._validation)
_PARAMETER_CONSTRAINTS = {
    "fraction": [Interval(float, 0, 1, closed="right")],
    "batch_size": _POSITIVE_INT,
    "subsets": _POSITIVE_INT,
    "check_interval": _POSITIVE_INT,
    "check_threshold": [Interval(float, 0, None)],
    "adapt": [BOOL],
    "interval_multiplier": [Interval(float, 0, None, closed="neither")],
    "subsets_multiplier": [Interval(float, 0, None, closed="neither")],
    "hutchinson_samples": _POSITIVE_INT,
    "warmup_steps": [Interval(int, 0, None), None],
    "drop_learned": [BOOL],
    "drop_threshold": [Interval(float, 0, None)],
    "drop_window": _POSITIVE_INT,
    "min_pool_fraction": [Interval(float, 0, 1)],
    "metric": [Options("rbf", "euclidean", "cosine")],  # it computes its own similarities: no "precomputed"
    "greedy": [Options(*OPTIMIZERS)],
    "eval_batch_size": _POSITIVE_INT,
    "seed": [Interval(int, 0, None)],
    "displacement": [Options("gradients", "parameters")],
}


class CrestTrainer(_ForwardPasses):
    """CREST (Yang, Kang, Mirzasoleiman, ICML 2023) for your training loop or :meth:`fit`; see the module docs.

    Args:
        model: a classifier returning logits; CREST reads it at resets and checks, never trains it itself.
        train: map-style dataset yielding ``(x, y)``; ``labels`` (integer classes) default to its ``y``.
        fraction: share of the data one epoch's steps cover: ``steps_per_epoch = ceil(fraction · N / batch_size)``.
        batch_size: training batch size ``m``, also the size of each mini-batch coreset.
        subsets: number of random subsets ``P`` at the first reset (later adapted when ``adapt``).
        subset_fraction, subset_size: size ``r`` of each random subset (see
            :func:`lessdata.methods.crest.random_subset_size`).
        check_interval: steps between validity checks (first value; later adapted when ``adapt``).
        check_threshold: ``τ``; reset when ``|true − approx| > τ · true``.
        adapt: adapt ``check_interval`` and ``P`` to the curvature norm, as the paper does.
        interval_multiplier, subsets_multiplier: the paper's ``interval_mul`` (1) and ``batch_num_mul`` (5).
        beta1, beta2, eps: AdaHessian moments of the quadratic model.
        hutchinson_samples: Rademacher vectors per batch for the curvature.
        warmup_steps: steps on uniformly random batches of the whole data before the first reset (``None``:
            one epoch, ``steps_per_epoch``, as the paper's code; ``0``: select from the first step).
        drop_learned, drop_threshold, drop_window, min_pool_fraction: dropping learned examples (off by default;
            the paper's code: threshold 0.1, window 5, minimum pool 80%).
        metric, greedy: facility-location similarity (``"rbf"``: ``exp(−d / dim)``, as the paper's code) and
            greedy optimizer of the mini-batch coresets.
        eval_batch_size: batch size of the forward passes at resets and checks.
        device: where the model runs (default: where its parameters are).
        seed: seeds the random subsets, the Hutchinson vectors and the batch shuffling.
        num_workers: DataLoader workers for the training batches.
        displacement: ``"gradients"`` (the reference: ``δ = −Σ lr·g`` from the optimizer's steps) or
            ``"parameters"`` (``δ = θ − θ0``); see the module docs.
        optimizer: the torch optimizer that trains ``model`` (watched for ``displacement="gradients"``; ``fit``
            uses its own).
    """

    def __init__(
        self,
        model: nn.Module,
        train,
        labels=None,
        *,
        fraction: float = 0.1,
        batch_size: int = 128,
        subsets: int = 5,
        subset_fraction: float = 0.01,
        subset_size: int | None = None,
        check_interval: int = 1,
        check_threshold: float = 0.1,
        adapt: bool = True,
        interval_multiplier: float = 1.0,
        subsets_multiplier: float = 5.0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-4,
        hutchinson_samples: int = 1,
        warmup_steps: int | None = None,
        drop_learned: bool = False,
        drop_threshold: float = 0.1,
        drop_window: int = 5,
        min_pool_fraction: float = 0.8,
        metric: str = "rbf",
        greedy: str = "lazy",
        eval_batch_size: int = 512,
        device=None,
        seed: int = 0,
        num_workers: int = 0,
        displacement: str = "gradients",
        optimizer=None,
    ):
        if not isinstance(model, nn.Module):
            raise LessdataError(f"model must be a torch nn.Module, got {type(model).__name__}")
        try:
            self.n = len(train)
        except TypeError:
            raise LessdataError("CrestTrainer needs a map-style dataset with len() and indexing") from None
        if self.n == 0:
            raise LessdataError("the training dataset is empty")
        self.model, self.train = model, train
        check_params("CrestTrainer", {k: v for k, v in locals().items() if k in _PARAMETER_CONSTRAINTS},
                     _PARAMETER_CONSTRAINTS)
        self.fraction, self.batch_size = float(fraction), int(batch_size)
        if self.batch_size > self.n:
            raise LessdataError(f"batch_size {self.batch_size} is larger than the dataset ({self.n} examples)")
        self.subsets = int(subsets)
        self.subset_size = random_subset_size(self.n, self.batch_size, subset_fraction, subset_size)
        self.check_interval, self.check_threshold = int(check_interval), float(check_threshold)
        self.adapt = bool(adapt)
        self.interval_multiplier, self.subsets_multiplier = float(interval_multiplier), float(subsets_multiplier)
        self.ema = CurvatureEMA(beta1, beta2, eps)
        self.hutchinson_samples = int(hutchinson_samples)
        self.drop_learned, self.drop_threshold = bool(drop_learned), float(drop_threshold)
        self.drop_window, self.min_pool_fraction = int(drop_window), float(min_pool_fraction)
        self.metric, self.greedy, self.eval_batch_size = metric, greedy, int(eval_batch_size)
        self.seed = int(seed)
        self.device = model_device(model) if device is None else torch.device(device)
        self.displacement = displacement
        self._delta: torch.Tensor | None = None  # −Σ lr·g since the last reset (displacement="gradients")
        self._slots: dict[int, tuple[int, int]] = {}
        self._optimizer, self._step_hook = None, None
        if optimizer is not None:
            self.watch(optimizer)

        self.labels = dataset_labels(train, labels, self.eval_batch_size)
        if len(self.labels) != self.n:
            raise LessdataError(f"labels has {len(self.labels)} entries but the dataset has {self.n} examples")
        if self.labels.min() < 0:
            raise LessdataError("labels must be non-negative integer class ids")
        self.steps_per_epoch = max(1, math.ceil(self.fraction * self.n / self.batch_size - 1e-9))
        self.warmup_steps = self.steps_per_epoch if warmup_steps is None else int(warmup_steps)
        self.loader = CoresetLoader(train, batch_size=self.batch_size, shuffle=True, seed=self.seed,
                                    num_workers=num_workers, return_indices=True)
        self._fetch = batch_fetcher(train)
        self._union_x: torch.Tensor | None = None  # inputs of ∪R_p, fetched once per reset
        self._union_y: torch.Tensor | None = None
        self._union_top = 0  # the largest label in the union
        self.pool = np.arange(self.n, dtype=np.int64)
        self._rng = np.random.default_rng(self.seed)
        self._generator = torch.Generator().manual_seed(self.seed)
        self._watch = np.full((self.drop_window, self.n), np.nan, dtype=np.float32) if self.drop_learned else None
        self._recorded = np.zeros(self.n, dtype=np.int64) if self.drop_learned else None

        self.step = 0
        self.reset_step: int | None = None
        self.coreset: Coreset | None = None
        self.union: np.ndarray | None = None  # ∪R_p of the current reset
        self.quadratic: QuadraticModel | None = None
        self.selections = 0
        self.checks = 0
        self.selection_seconds = 0.0
        self.check_seconds = 0.0
        self.log: list[dict[str, Any]] = []
        self._initial_curvature_norm: float | None = None
        self._needs_reset = True
        self._iterator = None

    # ------------------------------------------------------------------------------------ stepping
    @property
    def overhead_seconds(self) -> float:
        """Seconds spent on CREST itself so far: resets (selection + quadratic model) and checks."""
        return self.selection_seconds + self.check_seconds

    def batches(self, steps: int | None = None):
        """Yield ``steps`` training batches ``(x, y, w, idx)`` (forever when ``None``), resetting as needed.

        Take one optimizer step per batch before asking for the next: resets and checks run between batches
        and read the model as it is then.
        """
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0):
            raise LessdataError(f"steps must be a non-negative integer or None, got {steps!r}")
        done = 0
        while steps is None or done < steps:
            yield self.next_batch()
            done += 1

    def next_batch(self):
        """The next training batch ``(x, y, w, idx)``, after a reset or check if one is due at this step."""
        if self.step >= self.warmup_steps:
            if self._needs_reset:
                self.reset()
            elif self.step > self.reset_step and (self.step - self.reset_step) % self.check_interval == 0:
                if not self.check().valid:
                    self.reset()
        if self._iterator is None:
            self._iterator = iter(self.loader)
        try:
            batch = next(self._iterator)
        except StopIteration:  # the coreset is used up before the model failed: go round it again
            self._iterator = iter(self.loader)
            batch = next(self._iterator)
        self.step += 1
        return batch

    def watch(self, optimizer) -> None:
        """Accumulate ``δ −= lr · g`` from ``optimizer``'s steps (a step pre-hook reads each parameter's
        gradient and its group's lr just before the step), replacing any optimizer watched before."""
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise LessdataError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if self._step_hook is not None:
            self._step_hook.remove()
        self._optimizer = optimizer
        self._step_hook = optimizer.register_step_pre_hook(self._accumulate)

    def _accumulate(self, optimizer, args, kwargs) -> None:
        if self._delta is None:  # before the first reset (warm-up): nothing to measure from
            return
        with torch.no_grad():
            for group in optimizer.param_groups:
                lr = float(group["lr"])
                for p in group["params"]:
                    slot = self._slots.get(id(p))
                    if slot is not None and p.grad is not None:
                        self._delta[slot[0]: slot[1]] -= lr * p.grad.detach().reshape(-1).to(self._delta)

    def displacement_since_reset(self) -> torch.Tensor:
        """``δ`` for the check: ``−Σ lr·g`` (``displacement="gradients"``) or ``θ − θ0``."""
        if self.displacement == "parameters":
            return self._flat_params() - self.quadratic.origin
        if self._optimizer is None and self.step > self.reset_step:  # steps taken, none of them seen
            raise LessdataError("CrestTrainer(displacement='gradients') accumulates δ = −Σ lr·g from your "
                                "optimizer's steps: pass optimizer= (or call watch(optimizer)) before training, "
                                "or use displacement='parameters'")
        return self._delta

    # ------------------------------------------------------------------------------------ forward passes
    def _fetch_union(self, union: np.ndarray) -> None:
        """Fetch the inputs of ``∪R_p`` once per reset (one batched index where the dataset allows it) and keep
        them, with their labels, for the checks and the quadratic model: the union does not change between
        resets. They stay on the training device unless they would take more than ``_DEVICE_CACHE_BYTES``."""
        x, _ = split_batch(self._fetch(union))
        on_device = x.element_size() * x.nelement() <= _DEVICE_CACHE_BYTES
        self._union_x = x.to(self.device) if on_device else x
        self._union_y = torch.from_numpy(self.labels[union]).to(self.device)
        self._union_top = int(self.labels[union].max())

    # ------------------------------------------------------------------------------------ reset
    def reset(self) -> Coreset:
        """Reselect now: new random subsets, mini-batch coresets, quadratic model (and adapted intervals)."""
        tick = time.perf_counter()
        if self.drop_learned and self.selections:
            self._drop_learned()
        subsets = random_subsets(self.labels, self.subsets, self.subset_size, self._rng, pool=self.pool)
        union = np.unique(np.concatenate(subsets))
        self.union = union
        self._fetch_union(union)
        losses, grads = self._losses_and_gradients()
        self._record(union, losses)
        signals = np.zeros((self.n, grads.shape[1]), dtype=np.float32)
        signals[union] = grads
        sizes = [min(self.batch_size, len(s)) for s in subsets]
        seed = call_seed(self.seed, self.selections)  # the selectors' rule: reset t of seed s
        coreset = minibatch_coresets(signals, self.labels, subsets, sizes, n=self.n, metric=self.metric,
                                     optimizer=self.greedy, seed=seed)
        coreset.method, coreset.seed = "crest", seed
        coreset.params = {"step": self.step, "subsets": len(subsets), "subset_size": self.subset_size,
                          "batch_size": self.batch_size}
        self.coreset = coreset
        self.loader.set_coreset(coreset)
        self._iterator = iter(self.loader)
        self.quadratic = self._quadratic_model(coreset)
        used_subsets, used_interval = len(subsets), self.check_interval
        self._adapt(self.quadratic.curvature_norm)
        self.selections += 1
        self.reset_step, self._needs_reset = self.step, False
        seconds = time.perf_counter() - tick
        self.selection_seconds += seconds
        self.log.append({"event": "reset", "step": self.step, "seconds": seconds, "size": len(coreset),
                         "subsets": used_subsets, "check_interval": used_interval, "pool_size": len(self.pool),
                         "coreset_loss": self.quadratic.loss, "curvature_norm": self.quadratic.curvature_norm})
        return coreset

    def _adapt(self, curvature_norm: float) -> None:
        if not self.adapt:
            return
        if self._initial_curvature_norm is None:
            self._initial_curvature_norm = curvature_norm
            return
        ratio = self._initial_curvature_norm / max(curvature_norm, 1e-12)
        self.check_interval = max(1, math.ceil(ratio * self.interval_multiplier - 1e-9))
        self.subsets = max(1, min(math.ceil(self.check_interval * self.subsets_multiplier - 1e-9),
                                  self.steps_per_epoch))

    def _drop_learned(self) -> None:
        learned = (self._recorded >= self.drop_window) & (self._watch < self.drop_threshold).all(axis=0)
        keep = ~learned[self.pool]
        pool_labels = self.labels[self.pool]
        classes = np.unique(pool_labels)
        per_class = math.ceil(self.subset_size / len(classes))
        for c in classes:  # a class left too small for a random subset keeps what it had
            in_class = pool_labels == c
            if int((keep & in_class).sum()) < per_class:
                keep |= in_class
        if keep.all() or keep.sum() < self.min_pool_fraction * self.n:
            return
        self.log.append({"event": "drop", "step": self.step, "dropped": int((~keep).sum())})
        self.pool = self.pool[keep]

    # ------------------------------------------------------------------------------------ check
    def check(self) -> CheckResult:
        """Compare the true loss on ``∪R_p`` with the quadratic model at the current parameters.

        An invalid result makes the next batch start with a reset.
        """
        if self.quadratic is None:
            raise LessdataError("nothing to check before the first reset")
        tick = time.perf_counter()
        losses, _ = self._losses_and_gradients()
        self._record(self.union, losses)
        true = float(np.mean(losses, dtype=np.float64))
        approx = self.quadratic.predict(self.displacement_since_reset())
        difference, threshold = abs(true - approx), self.check_threshold * true
        result = CheckResult(self.step, true, approx, difference, threshold, difference <= threshold)
        self.checks += 1
        if not result.valid:
            self._needs_reset = True
        seconds = time.perf_counter() - tick
        self.check_seconds += seconds
        self.log.append({"event": "check", "step": self.step, "seconds": seconds, "true_loss": true,
                         "approx_loss": approx, "valid": result.valid})
        return result

    def __repr__(self) -> str:
        return (f"CrestTrainer(step={self.step}, selections={self.selections}, checks={self.checks}, "
                f"check_interval={self.check_interval}, subsets={self.subsets}, pool={len(self.pool)}/{self.n})")

    # ------------------------------------------------------------------------------------ reference loop
    def fit(
        self,
        test=None,
        *,
        epochs: int = 10,
        optimizer: str | Callable = "sgd",
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        lr_schedule: str | Callable | None = "cosine",
        callbacks: Sequence = (),
        progress=None,
    ):
        """Train with CREST for ``epochs`` epochs of ``steps_per_epoch`` steps; returns a :class:`FitResult`.

        Same optimizer / lr-schedule options, callbacks and history records as :func:`lessdata.training.fit`
        (``selection_seconds`` counts CREST's resets and checks; records also hold ``checks``,
        ``check_interval``, ``subsets`` and ``pool_size``). Seeds torch with the trainer's seed.

        Examples:
            >>> result = CrestTrainer(model, train_set, fraction=0.1).fit(test_set, epochs=5)  # doctest: +SKIP
        """
        return _crest_fit(self, test, epochs=epochs, optimizer=optimizer, lr=lr, momentum=momentum,
                          weight_decay=weight_decay, lr_schedule=lr_schedule, callbacks=callbacks,
                          progress=progress)
