"""CoLM mini-batch coresets inside Hugging Face training: :class:`ColmTrainer`, :func:`select_minibatch`.

CoLM (Nguyen, Yang, Anand, Yang, Mirzasoleiman, "Mini-batch Coresets for Memory-efficient Language Model
Training on Data Mixtures", ICLR 2025) trains with the gradient of a large batch ``B`` at the memory cost of a
small batch ``b``: at every step it draws ``B`` examples, estimates each one's gradient on the last block's
value projection by zeroth-order differences (forward passes only, no activations kept), picks ``b`` of them by
facility location with weights, and backpropagates only through those ``b``.

Per step (:class:`ColmSelector`):

1. SPSA estimates ``ĝ_i = [L_i(θ+εz) − L_i(θ−εz)] / 2ε · z`` for every example of ``B``, with one Rademacher
   ``z`` per step (:func:`~lessdata.signals.zeroth_order.zeroth_order_gradients`, ``ε = 1e-3``);
2. Adam normalisation with running moments of past estimates (:class:`~lessdata.signals.zeroth_order.AdamNormalizer`,
   updated from the large sources' examples, as in the paper; the first step, without moments, uses the raw
   estimates: Adam's first update is a sign vector, which would make all examples one of two points);
3. per-source sparsification to the top ``zo_dim`` coordinates (default 2560) and facility location per source
   with source-proportional budgets, small sources kept whole (the registered method ``"colm"``);
4. weights: cluster sizes rescaled to mean 1, so the weighted mean loss of ``b`` estimates the mean over ``B``.

Drop-in use with ``transformers.Trainer`` — set ``per_device_train_batch_size`` to the large batch ``B``::

    from lessdata.training.transformers import ColmSelector, ColmTrainer

    args = TrainingArguments(per_device_train_batch_size=64, ...)          # B = 64 drawn per step
    trainer = ColmTrainer(model=model, args=args, train_dataset=train, data_collator=collator,
                          colm=ColmSelector(b=32))                          # b = 32 trained per step
    trainer.train()

The optimizer, scheduler, gradient accumulation (each micro-batch of ``B`` becomes ``b``), mixed precision and
PEFT/LoRA adapters are the Trainer's own. The training loss is the weighted mean over examples of each
example's mean response-token cross-entropy; evaluation uses the Trainer's default loss. A ``source`` field
in the batch (``source_key``) enables the per-source rules; the Trainer keeps that column for you. The last
batch of an epoch, when it holds ``b`` examples or fewer, is trained on whole. Selection time is logged as
``colm_selection_seconds`` (mean per micro-batch since the last log) and every step is recorded in
``trainer.colm_history``. The selector's moments are not saved in checkpoints: a resumed run starts them anew.

The per-step mechanism is :class:`SelectiveTrainer` (any selector with ``budget_for`` and
``selector(model, batch, sources=, index=) -> (indices, weights)``); :class:`RhoLossTrainer` uses it for
RHO-LOSS (:class:`~lessdata.training.rho_loss.RhoLossSelector`).

Custom loops use :func:`select_minibatch` (or keep one :class:`ColmSelector` across steps for its moments)::

    selector = ColmSelector(b=32)
    for batch in loader:                                                   # batches of B = 64
        idx, w = selector(model, batch)
        small = {k: v[idx] for k, v in batch.items()}
        losses = response_losses(model(input_ids=small["input_ids"],
                                       attention_mask=small["attention_mask"]).logits, small["labels"])
        ((w * losses).sum() / w.sum()).backward(); opt.step(); opt.zero_grad()
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from ..errors import LessdataError, require
from ..methods import get_method
from ..methods.colm import small_source_mask
from ..signals.zeroth_order import (
    DISTRIBUTIONS,
    AdamNormalizer,
    LastBlockRunner,
    ZerothOrderEstimate,
    find_value_projection,
    random_directions,
    response_losses,
    sparse_features,
    spsa_coefficients,
)
from .rho_loss import RhoLossSelector

_transformers = require("transformers", "llm", "the Hugging Face Trainer integration")

__all__ = ["ColmSelector", "ColmTrainer", "RhoLossTrainer", "SelectiveTrainer", "response_losses", "select_minibatch"]

_WEIGHTS_KEY = "colm_weights"


def _is_int(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


class ColmSelector:
    """Pick ``b`` weighted examples of a large batch per step, CoLM style; keeps Adam moments across steps.

    Args:
        b: examples to keep per batch; by default ``round(fraction · B)``.
        fraction: share of the batch kept when ``b`` is not given (the paper's ``b = B/2``).
        epsilon: SPSA perturbation ``ε``.
        zo_dim: coordinates kept per source after sparsification (capped by the V dimension).
        adam: Adam-normalise the estimates with running moments (the paper's default).
        betas: Adam's ``(β1, β2)`` for those moments.
        small_source_size: a source with fewer examples in the batch is kept whole (0 turns this off).
        num_directions: SPSA directions averaged per step (1 = the paper's one ``z`` per step).
        distribution: ``"rademacher"`` (default) or ``"gaussian"`` directions.
        metric: facility-location metric (``"euclidean"``: ``max(d) − d``, or ``"cosine"``, ``"rbf"``).
        layer: module name of the layer to perturb instead of the detected V projection.
        reuse_prefix: run the first ``L − 1`` blocks once per step (default) instead of full forwards.
        check_tail: on the first call, check on 4 examples that re-running the last block reproduces the model's
            own loss (one extra full forward, once).
        seed: seed of the directions and of the selection; step ``t`` uses ``SeedSequence([seed, t])``.

    ``history`` holds one record per call: ``batch_size``, ``selected``, ``seconds``, ``small_kept``.

    Examples:
        >>> import torch
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50))
        >>> ids = torch.randint(0, 50, (4, 12))
        >>> selector = ColmSelector(b=2, zo_dim=64)
        >>> idx, w = selector(model, {"input_ids": ids, "labels": ids})
        >>> len(idx), float(w.mean())
        (2, 1.0)
    """

    def __init__(self, b: int | None = None, *, fraction: float = 0.5, epsilon: float = 1e-3, zo_dim: int = 2560,
                 adam: bool = True, betas: tuple[float, float] = (0.9, 0.999), small_source_size: int = 3,
                 num_directions: int = 1, distribution: str = "rademacher", metric: str = "euclidean",
                 layer: str | None = None, reuse_prefix: bool = True, check_tail: bool = True, seed: int = 0):
        if b is not None and (not _is_int(b) or b < 1):
            raise LessdataError(f"b must be a positive integer, got {b!r}")
        bad_fraction = isinstance(fraction, bool) or not isinstance(fraction, (int, float))
        if bad_fraction or not 0 < fraction < 1:
            raise LessdataError(f"fraction must be in (0, 1), got {fraction!r}")
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not (
                math.isfinite(epsilon) and epsilon > 0):
            raise LessdataError(f"epsilon must be a positive number, got {epsilon!r}")
        for name, value, low in (("zo_dim", zo_dim, 1), ("small_source_size", small_source_size, 0),
                                 ("num_directions", num_directions, 1), ("seed", seed, 0)):
            if not _is_int(value) or value < low:
                raise LessdataError(f"{name} must be an integer >= {low}, got {value!r}")
        if distribution not in DISTRIBUTIONS:
            raise LessdataError(f"unknown distribution {distribution!r}; choose one of: {', '.join(DISTRIBUTIONS)}")
        get_method("colm")(zo_dim=zo_dim, small_source_size=small_source_size, metric=metric)
        self.b, self.fraction, self.epsilon = b, float(fraction), float(epsilon)
        self.zo_dim, self.small_source_size, self.metric = int(zo_dim), int(small_source_size), metric
        self.num_directions, self.distribution, self.layer = int(num_directions), distribution, layer
        self.reuse_prefix, self.check_tail, self.seed = reuse_prefix, check_tail, int(seed)
        self.normalizer = AdamNormalizer(*betas) if adam else None
        self.history: list[dict[str, Any]] = []
        self._runner: LastBlockRunner | None = None
        self._checked = False

    def budget_for(self, batch_size: int) -> int:
        """The number of examples kept from a batch of ``batch_size``: ``b`` or ``round(fraction · B)``."""
        return self.b if self.b is not None else max(1, int(round(self.fraction * batch_size)))

    def _runner_for(self, model) -> LastBlockRunner:
        if self._runner is None or self._runner.model is not model:
            self._runner = LastBlockRunner(model, find_value_projection(model, self.layer)) if self.reuse_prefix \
                else None
            self._checked = False
        return self._runner

    @torch.no_grad()
    def _check_tail(self, model, runner: LastBlockRunner, batch) -> None:
        size = batch["input_ids"].shape[0]  # a few rows suffice, and keep the full logits small
        batch = {k: (v[:4] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == size else v)
                 for k, v in batch.items()}
        modes = {m: m.training for m in model.modules()}
        model.eval()
        try:
            runner.capture(batch)
            tail, full = runner.losses(), runner.full_losses(batch)
        finally:
            runner.release()
            for m, training in modes.items():
                m.training = training
        gap = float((tail - full).abs().max())
        if not gap <= 1e-3 * (1.0 + float(full.abs().max())):
            raise LessdataError(
                f"re-running the last block does not reproduce this model's loss (max difference {gap:.3g}); "
                "its head is not 'final norm -> output embeddings': use ColmSelector(reuse_prefix=False)"
            )
        self._checked = True

    def __call__(self, model, batch, sources=None, b: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Select from ``batch`` (a mapping with ``input_ids``, ``labels``, optional ``attention_mask``).

        Returns ``(indices, weights)``: a long tensor of ``b`` batch positions and float weights of mean 1,
        both on the batch's device. ``sources`` (one id per example) defaults to ``batch["source"]``.
        """
        ids = batch.get("input_ids") if hasattr(batch, "get") else None
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
            raise LessdataError("the batch must be a mapping with a 2-D 'input_ids' tensor (batch, length)")
        size = int(ids.shape[0])
        b = self.budget_for(size) if b is None else b
        if not _is_int(b) or b < 1:
            raise LessdataError(f"b must be a positive integer, got {b!r}")
        if b >= size:
            raise LessdataError(f"b={b} must be smaller than the batch it is selected from ({size} examples)")
        sources = batch.get("source") if sources is None else sources
        if sources is not None:
            sources = np.asarray(sources.detach().cpu() if isinstance(sources, torch.Tensor) else sources)
            if sources.shape != (size,):
                raise LessdataError(f"sources must have one entry per example ({size}), got shape {sources.shape}")
        start = time.perf_counter()
        runner = self._runner_for(model)
        if runner is not None and self.check_tail and not self._checked:
            self._check_tail(model, runner, batch)
        step_seed = int(np.random.SeedSequence([self.seed, len(self.history)]).generate_state(1)[0])
        value = runner.value if runner is not None else find_value_projection(model, self.layer)
        directions = random_directions(self.num_directions, value.dim, self.distribution, step_seed)
        coefficients = spsa_coefficients(model, batch, directions, epsilon=self.epsilon, value=value,
                                         reuse_prefix=self.reuse_prefix, runner=runner)
        if not torch.isfinite(coefficients).all():
            raise LessdataError("the zeroth-order estimates are not finite: the loss is NaN or infinite near θ")
        estimate = ZerothOrderEstimate(coefficients, directions.to(coefficients.device))
        part = np.zeros(size, dtype=np.int64) if sources is None else sources
        # Adam's first step is sign(ĝ_i): with one shared z that makes every example one of two points, so the
        # first selection (no moments yet) uses the raw estimates
        normalizer = self.normalizer if self.normalizer is not None and self.normalizer.steps else None
        features, _ = sparse_features(estimate, torch.as_tensor(np.unique(part, return_inverse=True)[1]),
                                      self.zo_dim, normalizer)
        from ..methods import select

        coreset = select(features.float().cpu().numpy(), budget=b, method="colm", labels=sources,
                                  seed=step_seed % 2**31, zo_dim=self.zo_dim,
                                  small_source_size=self.small_source_size, metric=self.metric)
        small = small_source_mask(part, b, self.small_source_size)
        if self.normalizer is not None and not small.all():  # moments from the large sources only (CoLM)
            rows = torch.as_tensor(np.flatnonzero(~small), device=coefficients.device)
            self.normalizer.update(estimate.mean(rows))
        device = ids.device
        indices = torch.as_tensor(coreset.indices, dtype=torch.long, device=device)
        weights = torch.as_tensor(coreset.normalized_weights(), dtype=torch.float32, device=device)
        self.history.append({"batch_size": size, "selected": int(b), "seconds": time.perf_counter() - start,
                             "small_kept": int(small.sum())})
        return indices, weights


def select_minibatch(model, batch, b: int, *, sources=None, selector: ColmSelector | None = None,
                     **options) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick ``b`` weighted examples of ``batch`` whose weighted gradient matches the whole batch's (CoLM).

    A one-call form of :class:`ColmSelector` for custom loops: pass ``selector=`` to keep the Adam moments
    across steps, or ``**options`` (``epsilon``, ``zo_dim``, ``adam``, ...) for a fresh selector.

    Returns ``(indices, weights)`` on the batch's device; the weights have mean 1.

    Examples:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50))
        >>> ids = labels = torch.randint(0, 50, (16, 12))
        >>> idx, w = select_minibatch(model, {"input_ids": ids, "labels": labels}, b=8, zo_dim=64)
        >>> loss = (w * response_losses(model(input_ids=ids[idx]).logits, labels[idx])).mean()
        >>> len(idx), round(float(w.mean()), 4)
        (8, 1.0)
    """
    if selector is not None and options:
        raise LessdataError(f"pass either selector= or selector options, not both (got {sorted(options)})")
    selector = ColmSelector(**options) if selector is None else selector
    return selector(model, batch, sources=sources, b=b)


def _trim_right_padding(inputs: dict, length: int) -> dict:
    """Drop trailing columns that are padding in every kept row (the selected rows may be shorter)."""
    mask = inputs.get("attention_mask")
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
        return inputs
    used = torch.nonzero(mask.any(0))
    keep = int(used.max()) + 1 if len(used) else length
    if keep == length:
        return inputs
    return {k: (v[:, :keep] if isinstance(v, torch.Tensor) and v.dim() >= 2 and v.shape[1] == length else v)
            for k, v in inputs.items()}


class SelectiveTrainer(_transformers.Trainer):
    """A ``transformers.Trainer`` that trains each step on the examples a per-step selector picks from the batch.

    The one per-step selection mechanism of lessdata's Trainer drop-ins (:class:`ColmTrainer`,
    :class:`RhoLossTrainer`). Set ``per_device_train_batch_size`` to the large batch ``B``; ``selector`` is any
    object with ``budget_for(B) -> b``, ``selector(model, batch, sources=..., index=...) -> (indices, weights)``
    (subclasses adapt the call in ``_select``)
    and a ``history`` list whose last record (a dict with ``batch_size``, ``selected``, ``seconds``) describes
    the call. One weighted backward runs on the ``b`` picks (weighted mean of each example's mean
    response-token cross-entropy); a short last batch of ``b`` or fewer examples is trained on whole. The
    batch fields ``source_key`` and ``index_key`` are kept by the Trainer, handed to the selector and never to
    the model. Every step is recorded in ``selection_history``; logs get ``{log_prefix}_selection_seconds``
    (mean per micro-batch since the last log), ``{log_prefix}_batch_size`` and ``{log_prefix}_selected``.
    """

    # compute_loss returns a per-micro-batch mean: the Trainer divides it by the accumulation steps
    loss_is_scaled_for_ga = False
    log_prefix = "selection"

    def __init__(self, *args, selector=None, source_key: str = "source", index_key: str = "index", **kwargs):
        if selector is None or not callable(selector) or not callable(getattr(selector, "budget_for", None)):
            raise LessdataError(f"selector must be a per-step selector (callable with budget_for()), "
                                f"got {type(selector).__name__}")
        self.selector = selector
        self.source_key, self.index_key = source_key, index_key
        self.selection_history: list[dict[str, Any]] = []
        self._unlogged: list[dict[str, Any]] = []
        super().__init__(*args, **kwargs)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        for key in (self.source_key, self.index_key):  # keep these columns for the selection
            if key not in self._signature_columns:
                self._signature_columns.append(key)

    def _short_batch_record(self, size: int) -> dict[str, Any]:
        return {"batch_size": size, "selected": size, "seconds": 0.0}

    def _select(self, model, inputs, sources, index):
        return self.selector(model, inputs, sources=sources, index=index)

    def training_step(self, model, inputs, num_items_in_batch=None):
        inputs = dict(self._prepare_inputs(inputs))
        sources = inputs.pop(self.source_key, None)
        index = inputs.pop(self.index_key, None)
        size = int(inputs["input_ids"].shape[0])
        b = self.selector.budget_for(size)
        if b >= size:  # a short last batch: nothing to select from
            weights = torch.ones(size, device=inputs["input_ids"].device)
            record = self._short_batch_record(size)
        else:
            indices, weights = self._select(self.accelerator.unwrap_model(model), inputs, sources, index)
            record = dict(self.selector.history[-1])
            length = int(inputs["input_ids"].shape[1])
            inputs = {k: (v[indices] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == size else v)
                      for k, v in inputs.items()}
            inputs = _trim_right_padding(inputs, length)
        record["step"] = self.state.global_step
        self.selection_history.append(record)
        self._unlogged.append(record)
        inputs[_WEIGHTS_KEY] = weights
        return super().training_step(model, inputs, None)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {k: v for k, v in inputs.items() if k not in (self.source_key, self.index_key)}
        weights = inputs.pop(_WEIGHTS_KEY, None)
        if weights is None:  # evaluation: the Trainer's own loss
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        losses = response_losses(outputs.logits, labels)
        loss = (weights * losses).sum() / weights.sum()
        return (loss, outputs) if return_outputs else loss

    def log(self, logs, *args, **kwargs):
        if self._unlogged and "loss" in logs:
            records, self._unlogged = self._unlogged, []
            prefix = self.log_prefix
            logs[f"{prefix}_selection_seconds"] = float(np.mean([r["seconds"] for r in records]))
            logs[f"{prefix}_batch_size"] = float(np.mean([r["batch_size"] for r in records]))
            logs[f"{prefix}_selected"] = float(np.mean([r["selected"] for r in records]))
        return super().log(logs, *args, **kwargs)


class ColmTrainer(SelectiveTrainer):
    """A ``transformers.Trainer`` that trains each step on a CoLM mini-batch coreset of the drawn batch.

    Set ``per_device_train_batch_size`` to the large batch ``B``; ``colm`` (a :class:`ColmSelector`, default
    ``b = B/2``) picks the ``b`` examples and weights; one weighted backward runs on them. Every other
    argument is the Trainer's. ``source_key`` names the batch field with each example's source id.
    The mechanism is :class:`SelectiveTrainer`'s; steps are in ``colm_history``.

    Examples:
        >>> trainer = ColmTrainer(model=model, args=TrainingArguments("out", per_device_train_batch_size=16,
        ...                       max_steps=100), train_dataset=train, data_collator=collator,
        ...                       colm=ColmSelector(b=8))  # doctest: +SKIP
        >>> trainer.train()                        # doctest: +SKIP
        >>> trainer.colm_history[0]["batch_size"], trainer.colm_history[0]["selected"]  # doctest: +SKIP
        (16, 8)
    """

    log_prefix = "colm"

    def __init__(self, *args, colm: ColmSelector | None = None, source_key: str = "source", **kwargs):
        if colm is not None and not isinstance(colm, ColmSelector):
            raise LessdataError(f"colm must be a ColmSelector, got {type(colm).__name__}")
        super().__init__(*args, selector=ColmSelector() if colm is None else colm, source_key=source_key, **kwargs)

    @property
    def colm(self) -> ColmSelector:
        return self.selector

    @property
    def colm_history(self) -> list[dict[str, Any]]:
        return self.selection_history

    def _short_batch_record(self, size: int) -> dict[str, Any]:
        return {**super()._short_batch_record(size), "small_kept": 0}

    def _select(self, model, inputs, sources, index):
        return self.selector(model, inputs, sources=sources)  # CoLM does not use dataset indices


class RhoLossTrainer(SelectiveTrainer):
    """A ``transformers.Trainer`` that trains each step on the RHO-LOSS picks of the drawn batch.

    Set ``per_device_train_batch_size`` to the large batch ``B``; ``rho`` is a
    :class:`~lessdata.training.rho_loss.RhoLossSelector` built on the irreducible-loss model (a causal LM
    trained on a holdout split) or on a per-example table of its losses — then the batches need an ``index``
    field (``index_key``; :class:`~lessdata.llm.InstructionCollator` keeps it). Picks are trained on with
    weight 1 (the paper's unweighted mean). Steps are in ``rho_history``.

    Examples:
        >>> trainer = RhoLossTrainer(model=model, args=TrainingArguments("out", per_device_train_batch_size=32),
        ...                          train_dataset=train, data_collator=collator,
        ...                          rho=RhoLossSelector(irreducible_table, b=8))  # doctest: +SKIP
        >>> trainer.train()                        # doctest: +SKIP
    """

    log_prefix = "rho"

    def __init__(self, *args, rho: RhoLossSelector, index_key: str = "index", **kwargs):
        if not isinstance(rho, RhoLossSelector):
            raise LessdataError(f"rho must be a RhoLossSelector, got {type(rho).__name__}")
        super().__init__(*args, selector=rho, index_key=index_key, **kwargs)

    @property
    def rho_history(self) -> list[dict[str, Any]]:
        return self.selection_history
