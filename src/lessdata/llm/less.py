"""LESS gradient features: LoRA warm-up, per-example LoRA gradients, a seeded chunked random projection,
Adam preconditioning, and stored features that serve any later target set.

Xia, Malladi, Gururangan, Arora, Chen, "LESS: Selecting Influential Data for Targeted Instruction Tuning"
(ICML 2024); checked against princeton-nlp/LESS (``less/data_selection/collect_grad_reps.py``,
``less/scripts/train/warmup_lora_train.sh``, ``matching.py``). The steps, with the reference's defaults:

1. :func:`lora_warmup`: LoRA adapters (``r = 128``, ``alpha = 512``, dropout 0.1, peft's default target
   modules for the architecture) trained with AdamW (``lr = 2e-5``, linear warm-up over 3% then linear
   decay) for ``epochs = 4`` on a random ``fraction = 5%`` of the training data; after every epoch the
   adapter weights, Adam's moments and the epoch's mean learning rate are kept as a checkpoint;
2. :func:`gradient_features`: each example's gradient of its mean response-token loss with respect to the
   LoRA weights (one example at a time, as the reference), randomly projected to ``proj_dim = 8192`` by
   :class:`RandomProjection` (Rademacher ±1/√k, fixed seed 0); training examples are Adam-preconditioned with
   the checkpoint's moments: ``m' = β1·m + (1−β1)·g``, ``v' = β2·v + (1−β2)·g²``, feature ``m' / √(v' + ε)``
   (β1 = 0.9, β2 = 0.999, ε = 1e-8 inside the square root and no bias correction, exactly as the reference);
   target examples use plain gradients;
3. :class:`LessFeatures`: the training features of all checkpoints (concatenated), the checkpoint weights
   (mean learning rates), the adapters and the projection, saved to one ``.npz`` so that a new target set
   only needs :meth:`LessFeatures.target_features` (a backward per target example per checkpoint) and then
   ``lessdata.select(features.train, method="less", target=..., checkpoint_weights=features.weights)``.

Deliberate departures: gradients are taken with dropout off (the model in eval mode), so a feature does not
depend on a dropout draw; the projection is generated block by block on the CPU from ``(seed, block)`` (the
reference uses trak's CUDA projector): the same seed gives the same matrix whatever ``block_size``, and
memory stays at ``block_size × proj_dim`` numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_path
from ..errors import LessdataError, require
from .data import per_example_loss

__all__ = ["LessFeatures", "RandomProjection", "adam_moments", "gradient_features", "lora_model", "lora_warmup"]

BETAS = (0.9, 0.999)
EPS = 1e-8


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise LessdataError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class RandomProjection:
    """A fixed Rademacher projection ``R`` (``dim_in × dim_out``, entries ±1/√dim_out) applied block by block.

    Row block ``j`` of ``R`` (``block_size`` rows) is drawn from a generator seeded with ``(seed, j)``, so
    ``project(G) = G @ R`` never holds more than one block. ``E[⟨Rᵀx, Rᵀy⟩] = ⟨x, y⟩`` and the error has
    standard deviation at most ``√2 · |x| |y| / √dim_out`` (Johnson–Lindenstrauss).

    Examples:
        >>> P = RandomProjection(1000, 256, seed=0, block_size=64)
        >>> G = torch.randn(3, 1000)
        >>> torch.allclose(P.project(G), G @ P.matrix(), atol=1e-4)
        True
    """

    def __init__(self, dim_in: int, dim_out: int, *, seed: int = 0, block_size: int | None = None):
        _positive(dim_in, "dim_in")
        _positive(dim_out, "proj_dim")
        self.dim_in, self.dim_out, self.seed = int(dim_in), int(dim_out), int(seed)
        self.block_size = max(1, (1 << 22) // self.dim_out) if block_size is None else _positive(block_size,
                                                                                                "block_size")
        self._unit = 64  # blocks are made of 64-row units, so any block_size gives the same matrix

    def _unit_rows(self, u: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, u]).generate_state(1)[0]))
        rows = min(self._unit, self.dim_in - u * self._unit)
        signs = torch.randint(0, 2, (rows, self.dim_out), generator=g, dtype=torch.int8)
        return (signs.float() * 2 - 1) / math.sqrt(self.dim_out)

    def project(self, G: torch.Tensor) -> torch.Tensor:
        """``G @ R`` for a ``(m, dim_in)`` tensor, on ``G``'s device, in float32."""
        if G.dim() != 2 or G.shape[1] != self.dim_in:
            raise LessdataError(f"expected gradients of shape (m, {self.dim_in}), got {tuple(G.shape)}")
        G = G.float()
        out = torch.zeros(G.shape[0], self.dim_out, device=G.device)
        units_per_block = max(1, self.block_size // self._unit)
        n_units = -(-self.dim_in // self._unit)
        for first in range(0, n_units, units_per_block):
            units = range(first, min(n_units, first + units_per_block))
            block = torch.cat([self._unit_rows(u) for u in units]).to(G.device)
            start = first * self._unit
            out += G[:, start:start + block.shape[0]] @ block
        return out

    def matrix(self) -> torch.Tensor:
        """The whole ``dim_in × dim_out`` matrix (for checks on small sizes)."""
        return torch.cat([self._unit_rows(u) for u in range(-(-self.dim_in // self._unit))])


def lora_model(model, *, r: int = 128, alpha: int = 512, dropout: float = 0.1, target_modules=None):
    """Wrap a causal LM with fresh LoRA adapters (peft); only the adapters are trainable."""
    peft = require("peft", "llm", "LoRA gradient features")
    config = peft.LoraConfig(r=int(r), lora_alpha=int(alpha), lora_dropout=float(dropout),
                             target_modules=target_modules, task_type="CAUSAL_LM")
    try:
        return peft.get_peft_model(model, config)
    except ValueError as exc:
        raise LessdataError(f"cannot add LoRA adapters to this model: {str(exc).splitlines()[0]} "
                            "(give target_modules)") from None


def _trainable(model) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def adam_moments(model, optimizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam's ``(exp_avg, exp_avg_sq)`` of the model's trainable parameters, flattened in parameter order."""
    m, v = [], []
    for name, p in _trainable(model):
        state = optimizer.state.get(p, {})
        if "exp_avg" not in state:
            raise LessdataError(f"the optimizer has no Adam state for {name}: run at least one step first")
        m.append(state["exp_avg"].detach().reshape(-1).float().cpu())
        v.append(state["exp_avg_sq"].detach().reshape(-1).float().cpu())
    return torch.cat(m), torch.cat(v)


@dataclass
class Checkpoint:
    """One warm-up checkpoint: the adapter weights, Adam's moments and the epoch's mean learning rate."""

    adapter: dict[str, np.ndarray]
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray
    lr: float


def lora_warmup(model, examples: Sequence[dict], *, collator, fraction: float = 0.05, epochs: int = 4,
                learning_rate: float = 2e-5, batch_size: int = 8, warmup_ratio: float = 0.03, seed: int = 0,
                progress=None) -> tuple[list[Checkpoint], np.ndarray]:
    """Train the LoRA adapters of ``model`` (from :func:`lora_model`) on a random ``fraction`` of ``examples``;
    returns ``(checkpoints, warm-up subset indices)``, one checkpoint per epoch."""
    if not 0 < fraction <= 1:
        raise LessdataError(f"fraction must be in (0, 1], got {fraction!r}")
    epochs, batch_size = _positive(epochs, "epochs"), _positive(batch_size, "batch_size")
    if not _trainable(model):
        raise LessdataError("the model has no trainable parameters: wrap it with lora_model() first")
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(len(examples), max(1, round(fraction * len(examples))), replace=False))
    per_epoch = math.ceil(len(subset) / batch_size)
    total = per_epoch * epochs
    warm = max(1, round(warmup_ratio * total))
    lr_at = lambda s: learning_rate * ((s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))  # noqa: E731
    optimizer = torch.optim.AdamW([p for _, p in _trainable(model)], lr=learning_rate, betas=BETAS, eps=EPS,
                                  weight_decay=0.0)
    model.train()
    checkpoints, step = [], 0
    for _ in range(epochs):
        order = rng.permutation(subset)
        lrs = []
        for start in range(0, len(order), batch_size):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            lrs.append(lr_at(step))
            loss = per_example_loss(model, collator([examples[i] for i in order[start:start + batch_size]])).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if progress is not None:
                progress.update(1)
        m, v = adam_moments(model, optimizer)
        adapter = {n: p.detach().cpu().numpy().copy() for n, p in _trainable(model)}
        checkpoints.append(Checkpoint(adapter, m.numpy(), v.numpy(), float(np.mean(lrs))))
    return checkpoints, subset


def _load_adapter(model, adapter: dict[str, np.ndarray]) -> None:
    params = dict(_trainable(model))
    if set(params) != set(adapter):
        raise LessdataError("the stored adapters do not match this model's LoRA parameters (another base model "
                            "or LoRA configuration?)")
    with torch.no_grad():
        for name, value in adapter.items():
            params[name].copy_(torch.as_tensor(value))


def gradient_features(model, examples: Sequence[dict], *, collator, projection: RandomProjection,
                      moments: tuple[np.ndarray, np.ndarray] | None = None, chunk: int = 16,
                      progress=None) -> np.ndarray:
    """Projected per-example LoRA gradients (``n × proj_dim`` float32), Adam-preconditioned with ``moments``.

    Gradients are taken one example at a time in eval mode (modes restored) and projected ``chunk`` at a
    time. An example without response tokens has no gradient: an error.
    """
    params = [p for _, p in _trainable(model)]
    dim = sum(p.numel() for p in params)
    if dim != projection.dim_in:
        raise LessdataError(f"the projection expects {projection.dim_in} gradient entries, the model has {dim}")
    if moments is not None:
        m, v = (torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in moments)
        if m.shape != (dim,) or v.shape != (dim,):
            raise LessdataError(f"the Adam moments have {m.numel()} entries, the model's adapters {dim}")
    device = params[0].device
    modes = {mod: mod.training for mod in model.modules()}
    model.eval()
    out = np.empty((len(examples), projection.dim_out), dtype=np.float32)
    pending, rows = [], []
    try:
        for i, example in enumerate(examples):
            loss = per_example_loss(model, collator([example]))[0]
            if not torch.isfinite(loss):
                raise LessdataError(f"example {i} has no response tokens (or a non-finite loss): it has no gradient")
            grads = torch.autograd.grad(loss, params)
            g = torch.cat([x.reshape(-1) for x in grads]).float().cpu()
            if moments is not None:
                g = (BETAS[0] * m + (1 - BETAS[0]) * g) / torch.sqrt(BETAS[1] * v + (1 - BETAS[1]) * g * g + EPS)
            pending.append(g)
            rows.append(i)
            if len(pending) == chunk or i == len(examples) - 1:
                out[rows] = projection.project(torch.stack(pending).to(device)).cpu().numpy()
                pending, rows = [], []
            if progress is not None:
                progress.update(1)
    finally:
        for mod, training in modes.items():
            mod.training = training
    return out


@dataclass
class LessFeatures:
    """Stored LESS training features and what a new target set needs: adapters, projection, weights.

    ``train``: ``n × (C · proj_dim)`` Adam-preconditioned features (checkpoint blocks side by side);
    ``weights``: the ``C`` checkpoint weights (mean learning rates); ``checkpoints``: the adapters (moments
    dropped after use); ``proj_dim``, ``seed``: the projection; ``warmup_subset``: the warm-up examples.
    """

    train: np.ndarray
    weights: np.ndarray
    adapters: list[dict[str, np.ndarray]]
    proj_dim: int
    seed: int
    warmup_subset: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    seconds: float = 0.0
    lora_r: int = 128
    lora_alpha: int = 512

    def peft_model_for(self, base_model):
        """``base_model`` (the same base the features came from) with LoRA adapters shaped like the stored ones."""
        return lora_model(base_model, r=self.lora_r, alpha=self.lora_alpha, dropout=0.0)

    @classmethod
    def compute(cls, model, examples: Sequence[dict], *, collator, proj_dim: int = 8192, seed: int = 0,
                fraction: float = 0.05, epochs: int = 4, learning_rate: float = 2e-5, batch_size: int = 8,
                lora_r: int = 128, lora_alpha: int = 512, lora_dropout: float = 0.1, target_modules=None,
                progress=None) -> tuple[LessFeatures, object]:
        """Warm up LoRA on ``model`` and compute every training example's features at every checkpoint.

        Returns ``(features, peft_model)``; the peft model serves :meth:`target_features` later.
        """
        start = time.perf_counter()
        _positive(proj_dim, "proj_dim")
        peft_model = lora_model(model, r=lora_r, alpha=lora_alpha, dropout=lora_dropout,
                                target_modules=target_modules)
        checkpoints, subset = lora_warmup(peft_model, examples, collator=collator, fraction=fraction, epochs=epochs,
                                          learning_rate=learning_rate, batch_size=batch_size, seed=seed,
                                          progress=progress)
        projection = RandomProjection(sum(p.numel() for _, p in _trainable(peft_model)), int(proj_dim), seed=seed)
        blocks = []
        for ckpt in checkpoints:
            _load_adapter(peft_model, ckpt.adapter)
            blocks.append(gradient_features(peft_model, examples, collator=collator, projection=projection,
                                            moments=(ckpt.exp_avg, ckpt.exp_avg_sq), progress=progress))
        features = cls(np.concatenate(blocks, axis=1), np.array([c.lr for c in checkpoints]),
                       [c.adapter for c in checkpoints], int(proj_dim), int(seed), subset,
                       time.perf_counter() - start, int(lora_r), int(lora_alpha))
        return features, peft_model

    def target_features(self, peft_model, examples: Sequence[dict], *, collator, progress=None) -> np.ndarray:
        """Plain projected gradients of target examples at every stored checkpoint (``m × (C · proj_dim)``)."""
        if not len(examples):
            raise LessdataError("the target set is empty")
        projection = RandomProjection(sum(p.numel() for _, p in _trainable(peft_model)), self.proj_dim,
                                      seed=self.seed)
        blocks = []
        for adapter in self.adapters:
            _load_adapter(peft_model, adapter)
            blocks.append(gradient_features(peft_model, examples, collator=collator, projection=projection,
                                            progress=progress))
        return np.concatenate(blocks, axis=1)

    def save(self, path) -> Path:
        """Write everything to one ``.npz`` (atomically)."""
        path = Path(path)
        arrays = {"train": self.train, "weights": self.weights, "proj_dim": np.array(self.proj_dim),
                  "seed": np.array(self.seed), "warmup_subset": self.warmup_subset,
                  "checkpoints": np.array(len(self.adapters)), "seconds": np.array(self.seconds),
                  "lora": np.array([self.lora_r, self.lora_alpha])}
        for c, adapter in enumerate(self.adapters):
            for name, value in adapter.items():
                arrays[f"adapter{c}::{name}"] = value
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path) -> LessFeatures:
        try:
            with np.load(Path(path)) as z:
                c = int(z["checkpoints"])
                adapters = [{} for _ in range(c)]
                for key in z.files:
                    if key.startswith("adapter"):
                        head, name = key.split("::", 1)
                        adapters[int(head[len("adapter"):])][name] = z[key]
                return cls(z["train"], z["weights"], adapters, int(z["proj_dim"]), int(z["seed"]),
                           z["warmup_subset"], float(z["seconds"]), int(z["lora"][0]), int(z["lora"][1]))
        except (OSError, KeyError, ValueError) as exc:
            raise LessdataError(f"{path} is not a LESS feature file: {exc}") from None
