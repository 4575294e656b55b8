"""Zeroth-order per-example gradient estimates on the last attention block's value projection.

CoLM — Nguyen, Yang, Anand, Yang, Mirzasoleiman, "Mini-batch Coresets for Memory-efficient Language Model
Training on Data Mixtures" (ICLR 2025; SSM in the 2024 preprint) — needs one gradient per example of a large
mini-batch, which backpropagation cannot give cheaply. It estimates the gradient of each example's loss with
respect to one small matrix, the value (V) projection of the last attention block, by two-sided SPSA
(Spall, 1992)::

    c_i = [L_i(θ + εz) − L_i(θ − εz)] / (2ε)        ĝ_i = c_i · z

with one random direction ``z`` shared by the whole batch (Rademacher ±1 entries by default, or standard
Gaussian; both have ``E[z zᵀ] = I``, so ``E[ĝ_i] = ∇L_i`` up to O(ε²)) and ``ε = 1e-3``. Only the V slice of
the last block moves, so everything before that block is computed once: a forward pre-hook captures the last
block's input, the forward stops there, and each perturbed evaluation runs only the last block, the final
norm and the output head (on response tokens only). The cost is one forward through the first ``L − 1``
blocks plus two last-block forwards per direction, without gradients; a full forward is never repeated.

``L_i`` is example ``i``'s mean cross-entropy over its response tokens (labels ``-100`` are ignored; an
example without response tokens has loss 0 and estimate 0). The model runs in eval mode (dropout would make
the two evaluations differ) and every perturbed weight is restored bit for bit from a saved copy. Losses are
computed in float32 (float64 for a float64 model); for a model whose weights are bf16/fp16, ``ε = 1e-3`` is
only a few units of the weights' last place, so a larger ``ε`` (e.g. 1e-2) gives cleaner differences.

Supported layouts of the value projection (found by name, the last one in ``model.named_modules()``):

- ``v_proj`` (Llama, Mistral, Phi, Qwen, OPT ...): the whole weight;
- ``c_attn`` (GPT-2, a ``Conv1D`` holding ``[q | k | v]`` as column blocks): the last third of the columns;
- ``query_key_value`` (GPT-NeoX / Pythia, BLOOM: rows interleaved per head as ``[q_h | k_h | v_h]``):
  the ``v_h`` rows of every head;
- PEFT LoRA wrappers of any of these: the wrapped (base) weight, i.e. the effective V projection. The LoRA
  factors themselves would give no signal at the start (``B = 0`` makes the gradient of ``A`` zero).

Adam normalisation (:class:`AdamNormalizer`) follows the paper: estimates are divided by the running Adam
moments so that the selection matches the update Adam would make, not the raw gradient.

Examples:
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50))
    >>> ids = torch.randint(0, 50, (4, 12))
    >>> est = zeroth_order_gradients(model, {"input_ids": ids, "labels": ids}, seed=0)
    >>> est.dense().shape                                 # 4 examples x (32 x 32) value weights
    torch.Size([4, 1024])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice
from ..errors import LessdataError

VALUE_PROJECTION_NAMES = ("v_proj", "c_attn", "query_key_value")
FINAL_NORM_NAMES = ("ln_f", "norm", "final_layer_norm", "final_layernorm", "final_norm")
DISTRIBUTIONS = ("rademacher", "gaussian")
_PER_HEAD_FUSED = ("gpt_neox", "bloom")  # model types whose query_key_value interleaves q, k, v per head
_MODEL_KEYS = ("input_ids", "attention_mask", "position_ids", "token_type_ids")


# ----------------------------------------------------------------------------------------- the V slice
@dataclass
class ValueProjection:
    """The value projection of the last attention block: where its weights live and how to slice them.

    Attributes:
        name: module name in ``model.named_modules()`` (the PEFT wrapper's name when LoRA-wrapped).
        weight: the weight parameter holding the V projection (of the base layer under PEFT).
        layout: ``"whole"``, ``"gpt2_fused"`` (V = last third of the columns) or ``"per_head_fused"``.
        heads: number of attention heads (``per_head_fused`` only).
    """

    name: str
    weight: nn.Parameter
    layout: str
    heads: int | None = None

    def view(self) -> torch.Tensor:
        """A view of the V entries of ``weight.data``: writing into it changes the model."""
        w = self.weight.data
        if self.layout == "gpt2_fused":
            third = w.shape[1] // 3
            return w[:, 2 * third:]
        if self.layout == "per_head_fused":
            return w.view(self.heads, 3, w.shape[0] // (3 * self.heads), w.shape[1])[:, 2]
        return w

    @property
    def dim(self) -> int:
        """Number of V entries (the length of one gradient estimate)."""
        return self.view().numel()


def _unwrap(model: nn.Module) -> nn.Module:
    """The transformers model under a PEFT wrapper (``get_base_model()``), else the model itself."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def find_value_projection(model: nn.Module, layer: str | None = None) -> ValueProjection:
    """Find the V projection of the last attention block of a causal LM (or the module named ``layer``).

    Raises :class:`LessdataError` naming the problem when the model has no recognisable V projection.

    Examples:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> vp = find_value_projection(GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2)))
        >>> vp.name, vp.layout, tuple(vp.view().shape)
        ('transformer.h.1.attn.c_attn', 'gpt2_fused', (32, 32))
    """
    modules = dict(model.named_modules())
    if layer is not None:
        if layer not in modules:
            raise LessdataError(f"the model ({type(model).__name__}) has no module named {layer!r}")
        name = layer
    else:
        found = [n for n in modules if n.rsplit(".", 1)[-1] in VALUE_PROJECTION_NAMES and "cross" not in n]
        if not found:
            raise LessdataError(
                f"could not find an attention value projection ({' / '.join(VALUE_PROJECTION_NAMES)}) in "
                f"{type(_unwrap(model)).__name__}; pass layer='<module name>' of the layer to perturb"
            )
        name = found[-1]
    module = modules[name]
    get_base_layer = getattr(module, "get_base_layer", None)  # PEFT LoRA wrapper -> the wrapped layer
    base = get_base_layer() if callable(get_base_layer) else module
    weight = getattr(base, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise LessdataError(f"module {name!r} ({type(base).__name__}) has no 2-D weight to perturb")
    last = name.rsplit(".", 1)[-1]
    if last == "c_attn":
        if type(base).__name__ != "Conv1D" or weight.shape[1] != 3 * weight.shape[0]:
            raise LessdataError(f"{name!r} is not a GPT-2 fused q/k/v Conv1D; pass layer= a plain V projection")
        return ValueProjection(name, weight, "gpt2_fused")
    if last == "query_key_value":
        config = getattr(_unwrap(model), "config", None)
        model_type = getattr(config, "model_type", None)
        heads = getattr(config, "num_attention_heads", None)
        if model_type not in _PER_HEAD_FUSED or not heads or weight.shape[0] % (3 * heads):
            raise LessdataError(
                f"{name!r}: unknown fused q/k/v layout for model type {model_type!r} "
                f"(supported: {', '.join(_PER_HEAD_FUSED)}); pass layer= a plain V projection"
            )
        return ValueProjection(name, weight, "per_head_fused", int(heads))
    return ValueProjection(name, weight, "whole")


@dataclass
class _Tail:
    """What runs after the prefix: the last block, the final norm and the output head."""

    block: nn.Module
    norm: nn.Module
    head: nn.Module


def _find_tail(model: nn.Module, value: ValueProjection) -> _Tail:
    modules = dict(model.named_modules())
    parts = value.name.split(".")
    for k in range(len(parts) - 1, 1, -1):
        container_name, list_name = ".".join(parts[:k - 2]), ".".join(parts[:k - 1])
        blocks = modules.get(list_name)
        if isinstance(blocks, nn.ModuleList) and parts[k - 1].isdigit():
            block = modules[".".join(parts[:k])]
            if block is not blocks[-1]:
                raise LessdataError(f"{value.name!r} is not in the last block of {list_name!r}")
            container = modules[container_name]
            norms = [m for n, m in container.named_children() if n in FINAL_NORM_NAMES]
            get_head = getattr(_unwrap(model), "get_output_embeddings", None)
            head = get_head() if callable(get_head) else None
            if not norms or head is None:
                raise LessdataError(
                    f"unknown model structure: expected a final norm ({' / '.join(FINAL_NORM_NAMES)}) next to "
                    f"{list_name!r} and an output head (get_output_embeddings()); use reuse_prefix=False"
                )
            return _Tail(block, norms[0], head)
    raise LessdataError(f"unknown model structure: {value.name!r} is not inside a ModuleList of blocks")


# ----------------------------------------------------------------------------------------- losses
def _check_batch(batch) -> tuple[torch.Tensor, torch.Tensor]:
    if not hasattr(batch, "get") or batch.get("input_ids") is None or batch.get("labels") is None:
        raise LessdataError("the batch must be a mapping with 'input_ids' and 'labels' tensors")
    ids, labels = batch["input_ids"], batch["labels"]
    if not (isinstance(ids, torch.Tensor) and isinstance(labels, torch.Tensor)):
        raise LessdataError("'input_ids' and 'labels' must be torch tensors (use a collator that returns tensors)")
    if ids.dim() != 2 or labels.shape != ids.shape:
        raise LessdataError(f"input_ids {tuple(ids.shape)} and labels {tuple(labels.shape)} must be the same "
                            "(batch, length) shape")
    return ids, labels


def response_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example mean cross-entropy over response tokens (labels ``-100`` ignored; 0 without any).

    ``logits[:, t]`` predicts ``labels[:, t + 1]`` (the Hugging Face causal-LM convention).

    Examples:
        >>> logits = torch.zeros(2, 4, 10)
        >>> labels = torch.tensor([[-100, 1, 2, 3], [-100, -100, -100, -100]])
        >>> response_losses(logits, labels)          # log(10) for the first, 0 for the empty one
        tensor([2.3026, 0.0000])
    """
    targets = labels[:, 1:]
    mask = targets != -100
    dtype = torch.promote_types(logits.dtype, torch.float32)  # half precision is upcast, float64 kept
    ce = F.cross_entropy(logits[:, :-1][mask].to(dtype), targets[mask], reduction="none")
    sums = torch.zeros(labels.shape[0], dtype=dtype, device=logits.device).index_add_(0, mask.nonzero()[:, 0], ce)
    return sums / mask.sum(1).clamp(min=1)


def _head_losses(head: nn.Module, hidden: torch.Tensor, labels: torch.Tensor, chunk: int) -> torch.Tensor:
    """:func:`response_losses` of ``head(hidden)``, computing logits only at response tokens, in chunks."""
    targets = labels[:, 1:]
    mask = targets != -100
    rows = mask.nonzero()[:, 0]
    h, t = hidden[:, :-1][mask], targets[mask]
    dtype = torch.promote_types(hidden.dtype, torch.float32)
    sums = torch.zeros(labels.shape[0], dtype=dtype, device=hidden.device)
    for start in range(0, len(t), chunk):
        ce = F.cross_entropy(head(h[start:start + chunk]).to(dtype), t[start:start + chunk], reduction="none")
        sums.index_add_(0, rows[start:start + chunk], ce)
    return sums / mask.sum(1).clamp(min=1)


class _StopForward(Exception):
    pass


class LastBlockRunner:
    """Run a causal LM once up to its last block, then re-run only the tail (last block, final norm, head).

    ``capture(batch)`` runs the prefix (no gradients) and keeps the last block's input; ``losses()`` gives the
    per-example response losses from that input with the current weights. ``full_losses(batch)`` is the
    plain full forward, for comparison.

    Examples:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50))
        >>> ids = torch.randint(0, 50, (4, 12))
        >>> batch = {"input_ids": ids, "labels": ids}
        >>> _ = model.eval()                         # no dropout: the two paths see the same network
        >>> runner = LastBlockRunner(model)
        >>> runner.capture(batch)
        >>> torch.allclose(runner.losses(), runner.full_losses(batch), atol=1e-5)
        True
    """

    def __init__(self, model: nn.Module, value: ValueProjection | None = None, chunk_tokens: int = 4096):
        self.model = model
        self.value = find_value_projection(model) if value is None else value
        self.tail = _find_tail(model, self.value)
        self.chunk_tokens = chunk_tokens
        self._args = self._kwargs = self._labels = None

    @staticmethod
    def model_inputs(batch) -> dict:
        return {k: batch[k] for k in _MODEL_KEYS if batch.get(k) is not None}

    @torch.no_grad()
    def capture(self, batch) -> None:
        _, self._labels = _check_batch(batch)
        captured = {}

        def hook(module, args, kwargs):
            captured["args"], captured["kwargs"] = args, kwargs
            raise _StopForward

        handle = self.tail.block.register_forward_pre_hook(hook, with_kwargs=True)
        try:
            self.model(**self.model_inputs(batch), use_cache=False)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if "args" not in captured:
            raise LessdataError("the forward pass never reached the last block; use reuse_prefix=False")
        self._args, self._kwargs = captured["args"], captured["kwargs"]

    @torch.no_grad()
    def losses(self) -> torch.Tensor:
        if self._args is None:
            raise LessdataError("call capture(batch) before losses()")
        out = self.tail.block(*self._args, **self._kwargs)
        hidden = self.tail.norm(out[0] if isinstance(out, tuple) else out)
        return _head_losses(self.tail.head, hidden, self._labels, self.chunk_tokens)

    @torch.no_grad()
    def full_losses(self, batch) -> torch.Tensor:
        _, labels = _check_batch(batch)
        return response_losses(self.model(**self.model_inputs(batch), use_cache=False).logits, labels)

    def release(self) -> None:
        """Drop the captured activations."""
        self._args = self._kwargs = self._labels = None


# ----------------------------------------------------------------------------------------- SPSA
@dataclass
class ZerothOrderEstimate:
    """Per-example SPSA estimates in factored form: ``ĝ_i = Σ_r coefficients[i, r] · directions[r] / R``.

    ``coefficients[i, r]`` is the two-sided difference quotient of example ``i`` along direction ``r``
    (an estimate of ``∇L_i · z_r``); ``directions`` holds the ``R`` shared directions ``z_r`` (float32).
    Kept factored because ``n × dim`` can be large; :meth:`dense` and :meth:`columns` materialise it.
    """

    coefficients: torch.Tensor  # (n, R)
    directions: torch.Tensor  # (R, dim)

    def __len__(self) -> int:
        return int(self.coefficients.shape[0])

    @property
    def dim(self) -> int:
        return int(self.directions.shape[1])

    def columns(self, start: int = 0, stop: int | None = None, rows=None) -> torch.Tensor:
        """Estimates restricted to coordinates ``[start, stop)`` (and to ``rows``), shape ``(n, stop − start)``."""
        c = self.coefficients if rows is None else self.coefficients[rows]
        return c @ self.directions[:, start:stop] / self.directions.shape[0]

    def dense(self) -> torch.Tensor:
        """All estimates, shape ``(n, dim)``."""
        return self.columns()

    def mean(self, rows=None) -> torch.Tensor:
        """The mean estimate over ``rows`` (all examples by default), shape ``(dim,)``."""
        c = self.coefficients if rows is None else self.coefficients[rows]
        return c.mean(0) @ self.directions / self.directions.shape[0]


def random_directions(count: int, dim: int, distribution: str = "rademacher", seed: int = 0) -> torch.Tensor:
    """``count`` random directions of length ``dim`` (float32, CPU): ±1 entries, or standard normal.

    Examples:
        >>> random_directions(2, 5, seed=0).abs().unique().tolist()
        [1.0]
    """
    check_choice(distribution, DISTRIBUTIONS, "distribution")
    gen = torch.Generator().manual_seed(int(seed))
    if distribution == "gaussian":
        return torch.randn(count, dim, generator=gen)
    return torch.randint(0, 2, (count, dim), generator=gen).float().mul_(2).sub_(1)


def _modes(model: nn.Module) -> dict:
    return {m: m.training for m in model.modules()}


def _restore_modes(modes: dict) -> None:
    for m, training in modes.items():
        m.training = training


@torch.no_grad()
def spsa_coefficients(
    model: nn.Module,
    batch,
    directions: torch.Tensor,
    *,
    epsilon: float = 1e-3,
    value: ValueProjection | None = None,
    reuse_prefix: bool = True,
    runner: LastBlockRunner | None = None,
) -> torch.Tensor:
    """Two-sided difference quotients ``[L_i(θ + εz_r) − L_i(θ − εz_r)] / 2ε``, shape ``(batch, R)``.

    ``θ`` is the V slice (:func:`find_value_projection`), ``directions`` an ``(R, dim)`` tensor. With
    ``reuse_prefix=True`` each evaluation runs only the last block, final norm and head on the captured
    input of the last block; ``False`` runs two full forwards per direction (the obvious slow path). The model
    is in eval mode meanwhile; its modes and weights are restored exactly afterwards.

    Examples:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50))
        >>> ids = torch.randint(0, 50, (4, 12))
        >>> batch = {"input_ids": ids, "labels": ids}
        >>> z = random_directions(1, find_value_projection(model).dim)
        >>> spsa_coefficients(model, batch, z).shape
        torch.Size([4, 1])
    """
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
        raise LessdataError(f"epsilon must be a positive number, got {epsilon!r}")
    _check_batch(batch)
    if value is None:
        value = runner.value if runner is not None else find_value_projection(model)
    view = value.view()
    if directions.dim() != 2 or directions.shape[1] != view.numel():
        raise LessdataError(f"directions must have shape (R, {view.numel()}), got {tuple(directions.shape)}")
    modes = _modes(model)
    model.eval()
    saved = view.clone()
    try:
        if reuse_prefix:
            runner = runner if runner is not None else LastBlockRunner(model, value)
            runner.capture(batch)
            evaluate = runner.losses
        else:
            labels = batch["labels"]

            def evaluate():
                logits = model(**LastBlockRunner.model_inputs(batch), use_cache=False).logits
                return response_losses(logits, labels)

        out = []
        for z in directions:
            step = (epsilon * z).to(device=view.device, dtype=view.dtype).view_as(view)
            view.add_(step)
            plus = evaluate()
            view.copy_(saved).sub_(step)
            minus = evaluate()
            view.copy_(saved)
            out.append(((plus - minus) / (2 * epsilon)).float())
    finally:
        view.copy_(saved)
        _restore_modes(modes)
        if reuse_prefix and runner is not None:
            runner.release()
    return torch.stack(out, dim=1)


def zeroth_order_gradients(
    model: nn.Module,
    batch,
    *,
    epsilon: float = 1e-3,
    num_directions: int = 1,
    distribution: str = "rademacher",
    seed: int = 0,
    layer: str | None = None,
    reuse_prefix: bool = True,
) -> ZerothOrderEstimate:
    """Per-example SPSA gradient estimates of the response loss w.r.t. the last block's V projection.

    Args:
        model: a Hugging Face causal LM (GPT-2, GPT-NeoX/Pythia, Llama-style), optionally PEFT-wrapped.
        batch: mapping with ``input_ids`` and ``labels`` (``-100`` on prompt and padding tokens) and optionally
            ``attention_mask`` / ``position_ids``, on the model's device.
        epsilon: perturbation size ``ε`` (the paper's 1e-3).
        num_directions: directions ``R`` to average (1 in the paper: one shared ``z`` per step).
        distribution: ``"rademacher"`` (±1 entries, the default) or ``"gaussian"``.
        seed: seed of the directions.
        layer: module name of the layer to perturb instead of the detected V projection.
        reuse_prefix: run the first ``L − 1`` blocks once (default) instead of two full forwards per direction.

    Examples:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50))
        >>> ids = torch.randint(0, 50, (4, 12))
        >>> batch = {"input_ids": ids, "labels": ids}
        >>> est = zeroth_order_gradients(model, batch, seed=0)
        >>> est.dense().shape                       # (batch, V entries of the last block)
        torch.Size([4, 1024])
    """
    if isinstance(num_directions, bool) or not isinstance(num_directions, int) or num_directions < 1:
        raise LessdataError(f"num_directions must be a positive integer, got {num_directions!r}")
    value = find_value_projection(model, layer)
    directions = random_directions(num_directions, value.dim, distribution, seed)
    coefficients = spsa_coefficients(model, batch, directions, epsilon=epsilon, value=value,
                                     reuse_prefix=reuse_prefix)
    return ZerothOrderEstimate(coefficients, directions.to(coefficients.device))


# ----------------------------------------------------------------------------------------- Adam moments
class AdamNormalizer:
    """Adam-normalised per-example estimates from running moments of past estimates (CoLM, Sec. 4.2).

    Keeps Adam's exponential moving averages ``m`` and ``v`` of the batch-mean estimate. Example ``i`` of the
    current batch is represented by the update Adam would make if it were the next gradient::

        m_i = β1 m + (1 − β1) ĝ_i      v_i = β2 v + (1 − β2) ĝ_i²      u_i = m̂_i / (√v̂_i + eps)

    with bias correction ``m̂ = m_i / (1 − β1^t)``, ``v̂ = v_i / (1 − β2^t)`` at step ``t``. Call :meth:`update`
    once per step with the mean estimate (CoLM averages over the large sources' examples).

    Examples:
        >>> norm = AdamNormalizer()
        >>> g = torch.tensor([[1.0, -2.0], [3.0, 0.5]])
        >>> norm.normalize(g)                       # the first step of Adam is the sign
        tensor([[ 1., -1.],
                [ 1.,  1.]])
        >>> norm.update(g.mean(0))
    """

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
                raise LessdataError(f"{name} must be in [0, 1), got {beta!r}")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise LessdataError(f"eps must be positive, got {eps!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.steps = 0

    def normalize(self, estimates: torch.Tensor, columns=None) -> torch.Tensor:
        """Adam-normalise ``(n, k)`` estimates of the coordinates ``columns`` (a slice or index tensor; all
        coordinates when ``None``)."""
        t = self.steps + 1
        cols = slice(None) if columns is None else columns
        m = 0.0 if self.m is None else self.beta1 * self.m[cols]
        v = 0.0 if self.v is None else self.beta2 * self.v[cols]
        m_i = (m + (1 - self.beta1) * estimates) / (1 - self.beta1**t)
        v_i = (v + (1 - self.beta2) * estimates.square()) / (1 - self.beta2**t)
        return m_i / (v_i.sqrt() + self.eps)

    def update(self, mean_estimate: torch.Tensor) -> None:
        """Fold one step's mean estimate (shape ``(dim,)``) into the moments."""
        g = mean_estimate.detach().float()
        if self.m is None:
            self.m, self.v = torch.zeros_like(g), torch.zeros_like(g)
        elif self.m.shape != g.shape:
            raise LessdataError(f"the estimate has {g.numel()} coordinates but the moments have {self.m.numel()}")
        self.m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
        self.v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
        self.steps += 1


def sparse_features(
    estimate: ZerothOrderEstimate,
    sources,
    zo_dim: int = 2560,
    normalizer: AdamNormalizer | None = None,
    chunk_columns: int = 1 << 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep, per source, the ``zo_dim`` coordinates with the largest mean |(normalised) estimate|.

    Works through the coordinates in chunks (never materialising ``n × dim``) and returns
    ``(features, columns)``: the estimates (Adam-normalised when ``normalizer`` is given) at the union of the
    per-source top coordinates, shape ``(n, |union|)``, and those coordinates. Each source's own top
    ``zo_dim`` are among the columns, so re-ranking within a source (:class:`lessdata.methods.colm`) finds them.

    Examples:
        >>> from transformers import GPT2Config, GPT2LMHeadModel
        >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50))
        >>> ids = torch.randint(0, 50, (4, 12))
        >>> batch = {"input_ids": ids, "labels": ids}
        >>> est = zeroth_order_gradients(model, batch, seed=0)
        >>> X, cols = sparse_features(est, sources=torch.zeros(4), zo_dim=16)
        >>> X.shape
        torch.Size([4, 16])
    """
    if isinstance(zo_dim, bool) or not isinstance(zo_dim, int) or zo_dim < 1:
        raise LessdataError(f"zo_dim must be a positive integer, got {zo_dim!r}")
    sources = torch.as_tensor(sources).reshape(-1)
    if sources.shape[0] != len(estimate):
        raise LessdataError(f"sources has {sources.shape[0]} entries but there are {len(estimate)} examples")
    uniq, inverse = torch.unique(sources.cpu(), return_inverse=True)
    inverse = inverse.to(estimate.coefficients.device)
    k = min(zo_dim, estimate.dim)
    best_scores = [torch.empty(0, device=inverse.device) for _ in uniq]
    best_cols = [torch.empty(0, dtype=torch.long, device=inverse.device) for _ in uniq]
    for start in range(0, estimate.dim, chunk_columns):
        block = estimate.columns(start, start + chunk_columns)
        if normalizer is not None:
            block = normalizer.normalize(block, slice(start, start + block.shape[1]))
        mags = block.abs()
        cols = torch.arange(start, start + block.shape[1], device=block.device)
        for s in range(len(uniq)):
            scores = torch.cat([best_scores[s], mags[inverse == s].mean(0)])
            cand = torch.cat([best_cols[s], cols])
            top = torch.topk(scores, min(k, len(scores)), sorted=False).indices
            best_scores[s], best_cols[s] = scores[top], cand[top]
    columns = torch.unique(torch.cat(best_cols))  # sorted
    features = estimate.coefficients @ estimate.directions[:, columns] / estimate.directions.shape[0]
    if normalizer is not None:
        features = normalizer.normalize(features, columns)
    return features, columns
