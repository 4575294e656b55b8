"""Per-example loss trajectories of a small proxy LM: the signal of S2L.

S2L (Yang et al., 2024, "SmallToLarge (S2L): Scalable Data Selection for Fine-tuning Large Language Models
by Summarizing Training Trajectories of Small Models") fine-tunes a small proxy on all the data, evaluates
every example's loss at ``T`` checkpoints, and clusters the resulting ``N × T`` trajectories. This module
records them into a :class:`~lessdata.signals.dynamics.DynamicsRecorder` (one column per checkpoint):

- :func:`loss_trajectories`: train a proxy with :func:`train_causal_lm` (a plain PyTorch loop) or a Hugging
  Face ``Trainer`` and return the trajectories, in one call;
- :class:`TrajectoryCallback`: a ``transformers.TrainerCallback`` for your own ``Trainer`` script;
- :func:`record_losses`: evaluate any causal LM on all examples and add one column.

The loss is the mean response-token cross-entropy (:func:`~lessdata.llm.data.per_example_loss`). Rows of
the recorder follow the order of the tokenized examples you pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._validation import POSITIVE_INT, check_param
from ..errors import LessdataError, require
from ..signals.dynamics import DynamicsRecorder
from .data import InstructionCollator, InstructionData, per_example_loss, tokenize_instructions

transformers = require("transformers", "llm", "loss trajectories of causal language models")

__all__ = [
    "TrajectoryCallback",
    "TrajectoryResult",
    "checkpoint_steps",
    "loss_trajectories",
    "record_losses",
    "train_causal_lm",
]


def checkpoint_steps(total_steps: int, checkpoints: int) -> list[int]:
    """``checkpoints`` training steps evenly spread over ``1..total_steps``, the last one at the end.

    Examples:
        >>> checkpoint_steps(100, 4)
        [25, 50, 75, 100]
    """
    total_steps = int(check_param("checkpoint_steps", "total_steps", total_steps, POSITIVE_INT))
    checkpoints = int(check_param("checkpoint_steps", "checkpoints", checkpoints, POSITIVE_INT))
    if checkpoints > total_steps:
        raise LessdataError(f"cannot record {checkpoints} checkpoints in {total_steps} training steps: "
                            f"train longer or record fewer")
    return [round((t + 1) * total_steps / checkpoints) for t in range(checkpoints)]


def _autocast(device: torch.device, bf16: bool):
    import contextlib

    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def record_losses(model, examples: Sequence[dict], recorder: DynamicsRecorder, *, collator, name=None,
                  batch_size: int = 64, bf16: bool = False, progress=None) -> int:
    """Evaluate ``model`` on every tokenized example and record their losses as one new recorder column.

    Row ``i`` of the recorder is ``examples[i]``. The model runs in eval mode without gradients (its modes are
    restored), on its own device, in batches of similar lengths (less padding). Returns the column position.

    Examples:
        >>> from lessdata.llm import load_instructions, get_tokenizer, tokenize_instructions, InstructionCollator
        >>> from lessdata.llm import tiny_causal_lm
        >>> data = load_instructions([{"question": "1+1?", "answer": "2"}, {"question": "2+2?", "answer": "4"}])
        >>> tok = get_tokenizer(texts=data.texts(), vocab_size=300)
        >>> examples = tokenize_instructions(data, tok)
        >>> rec = DynamicsRecorder(len(examples), fields=("loss",))
        >>> record_losses(tiny_causal_lm(vocab_size=len(tok)), examples, rec, collator=InstructionCollator(tok))
        0
        >>> rec.loss.shape
        (2, 1)
    """
    batch_size = int(check_param("record_losses", "batch_size", batch_size, POSITIVE_INT))
    if recorder.n is None:
        recorder.set_n(len(examples))
    elif recorder.n != len(examples):
        raise LessdataError(f"the recorder holds {recorder.n} examples but {len(examples)} were given")
    label = f"checkpoint {recorder.num_columns}" if name is None else name
    if label in recorder.columns:
        raise LessdataError(f"a column named {label!r} already exists")
    device = next(model.parameters()).device
    order = np.argsort([len(ex["input_ids"]) for ex in examples], kind="stable")
    modes = {module: module.training for module in model.modules()}
    losses = np.empty(len(examples), dtype=np.float32)
    try:
        model.eval()
        with torch.no_grad(), _autocast(device, bf16):
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                batch = collator([examples[i] for i in rows])
                losses[rows] = per_example_loss(model, batch).float().cpu().numpy()
                if progress is not None:
                    progress.update(len(rows))
    finally:
        for module, training in modes.items():
            module.train(training)
    col = recorder.start_column(label)
    recorder.update(np.arange(len(examples)), losses=torch.from_numpy(losses))
    return col


class TrajectoryCallback(transformers.TrainerCallback):
    """A Hugging Face ``TrainerCallback`` that records every example's loss at ``checkpoints`` training steps.

    The steps are evenly spread over the run (:func:`checkpoint_steps` of ``state.max_steps``), or given
    exactly with ``steps=``. At each, after the optimizer step, the model is evaluated on all ``examples``
    (tokenized, e.g. by :func:`~lessdata.llm.tokenize_instructions`; they need not be the training set) and one
    column is added to ``recorder`` (a new :class:`~lessdata.signals.dynamics.DynamicsRecorder` by default).

    Example::

        callback = TrajectoryCallback(examples, collator=InstructionCollator(tok), checkpoints=5)
        trainer = Trainer(model=model, args=args, train_dataset=examples,
                          data_collator=InstructionCollator(tok, keep_index=False), callbacks=[callback])
        trainer.train()
        traj = callback.trajectories()          # (N, 5) float32, NaN -> 0
        lessdata.select(traj, fraction=0.3, method="s2l", labels=sources)
    """

    def __init__(self, examples: Sequence[dict], recorder: DynamicsRecorder | None = None, *, collator,
                 checkpoints: int = 5, steps: Sequence[int] | None = None, batch_size: int = 64,
                 on_record: Callable[[int, object], None] | None = None, progress=None):
        if not len(examples):
            raise LessdataError("TrajectoryCallback needs at least one example to evaluate")
        self.examples = examples
        self.recorder = recorder if recorder is not None else DynamicsRecorder(len(examples), fields=("loss",))
        self.collator = collator
        self.checkpoints = int(check_param("TrajectoryCallback", "checkpoints", checkpoints, POSITIVE_INT))
        self.steps = None if steps is None else sorted(
            {int(check_param("TrajectoryCallback", "each checkpoint step", s, POSITIVE_INT)) for s in steps})
        self.batch_size = int(check_param("TrajectoryCallback", "batch_size", batch_size, POSITIVE_INT))
        self.on_record = on_record
        self.progress = progress

    def on_train_begin(self, args, state, control, **kwargs):
        if self.steps is None:
            self.steps = checkpoint_steps(state.max_steps, self.checkpoints)
        elif state.max_steps and self.steps[-1] > state.max_steps:
            raise LessdataError(f"checkpoint step {self.steps[-1]} is beyond the run's {state.max_steps} steps")

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.steps is not None and state.global_step in self.steps:
            record_losses(model, self.examples, self.recorder, collator=self.collator,
                          name=f"step {state.global_step}", batch_size=self.batch_size,
                          bf16=bool(getattr(args, "bf16", False)), progress=self.progress)
            if self.on_record is not None:
                self.on_record(state.global_step, model)

    def trajectories(self) -> np.ndarray:
        """The float32 ``(N, T)`` loss matrix recorded so far, NaN (not recorded) replaced by 0."""
        return self.recorder.trajectory("loss", fill=0.0)


# ------------------------------------------------------------------------------------ plain training loop
def train_causal_lm(model, examples: Sequence[dict], *, collator, epochs: float = 1.0, max_steps: int | None = None,
                    batch_size: int = 32, learning_rate: float = 1e-3, weight_decay: float = 0.0,
                    warmup_ratio: float = 0.05, min_lr_ratio: float = 0.1, max_grad_norm: float = 1.0,
                    seed: int = 0, bf16: bool = False, on_step: Callable[[int, object], None] | None = None,
                    progress=None) -> dict:
    """Fine-tune a causal LM on tokenized examples with AdamW (a small reference loop, nanoGPT style).

    Batches are drawn from a stream of seeded random permutations of ``examples``, so a run of ``max_steps``
    steps on a small subset simply wraps around it (more epochs): training on a coreset for as many steps
    as one epoch of the full data is ``max_steps=ceil(N_full / batch_size)``. Without ``max_steps``, the run
    covers ``epochs`` passes. Learning rate: linear warm-up over ``warmup_ratio`` of the steps, then cosine
    decay to ``min_lr_ratio`` of the peak. The loss is the mean over a batch's examples of their response-token
    loss. ``on_step(step, model)`` is called after each optimizer step (1-based). The model trains on its own
    device. Returns ``{"steps", "seconds", "loss"}`` (``loss``: the last 10 steps' mean training loss).

    Examples:
        >>> from lessdata.llm import load_instructions, get_tokenizer, tokenize_instructions, InstructionCollator
        >>> from lessdata.llm import tiny_causal_lm
        >>> data = load_instructions([{"question": f"{i}+1?", "answer": str(i + 1)} for i in range(8)])
        >>> tok = get_tokenizer(texts=data.texts(), vocab_size=300)
        >>> model = tiny_causal_lm(vocab_size=len(tok))
        >>> train_causal_lm(model, tokenize_instructions(data, tok), collator=InstructionCollator(tok),
        ...                 max_steps=3, batch_size=4)["steps"]
        3
    """
    if not len(examples):
        raise LessdataError("cannot train on zero examples")
    batch_size = int(check_param("train_causal_lm", "batch_size", batch_size, POSITIVE_INT))
    if max_steps is None:
        if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not epochs > 0:
            raise LessdataError(f"epochs must be a positive number, got {epochs!r}")
        total = max(1, round(epochs * len(examples)))
        steps = math.ceil(total / batch_size)
    else:
        steps = int(check_param("train_causal_lm", "max_steps", max_steps, POSITIVE_INT))
        total = steps * batch_size
    for name, value in (("learning_rate", learning_rate), ("warmup_ratio", warmup_ratio),
                        ("min_lr_ratio", min_lr_ratio), ("weight_decay", weight_decay)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
            raise LessdataError(f"{name} must be a non-negative number, got {value!r}")
    rng = np.random.default_rng(seed)
    stream = np.concatenate([rng.permutation(len(examples)) for _ in range(math.ceil(total / len(examples)))])
    device = next(model.parameters()).device
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=learning_rate, betas=(0.9, 0.95), fused=device.type == "cuda")
    warmup = round(warmup_ratio * steps)

    def lr_at(step: int) -> float:  # step is 0-based
        if step < warmup:
            return learning_rate * (step + 1) / warmup
        progress_ = (step - warmup) / max(1, steps - warmup)
        return learning_rate * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress_)))

    model.train()
    recent: list[float] = []
    start = time.perf_counter()
    for step in range(steps):
        rows = stream[step * batch_size:min((step + 1) * batch_size, total)]
        batch = collator([examples[i] for i in rows])
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        with _autocast(device, bf16):
            loss = per_example_loss(model, batch).mean()
        if (step % 50 == 0 or step >= steps - 10) and not math.isfinite(loss.item()):  # .item() syncs: not always
            raise LessdataError(f"the training loss is {loss.item()} at step {step + 1}: lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        if step >= steps - 10:
            recent.append(loss.item())
        if on_step is not None:
            on_step(step + 1, model)
        if progress is not None:
            progress.update(1)
    return {"steps": steps, "seconds": time.perf_counter() - start,
            "loss": float(np.mean(recent)) if recent else float("nan")}


# ------------------------------------------------------------------------------------------ one-call API
@dataclass
class TrajectoryResult:
    """What :func:`loss_trajectories` returns.

    Attributes:
        trajectories: float32 ``(N, T)`` per-example losses at the checkpoints (NaN replaced by 0).
        sources: int64 ``(N,)`` source id per example (the labels S2L balances across).
        steps: the training step of each checkpoint.
        recorder: the :class:`~lessdata.signals.dynamics.DynamicsRecorder` holding them.
        model: the trained proxy.
        seconds: wall-clock seconds of training + recording.
    """

    trajectories: np.ndarray
    sources: np.ndarray
    steps: list[int]
    recorder: DynamicsRecorder
    model: object
    seconds: float


def loss_trajectories(data: InstructionData, tokenizer, *, model=None, checkpoints: int = 5, epochs: float = 1.0,
                      batch_size: int = 32, learning_rate: float = 1e-3, max_length: int = 256, seed: int = 0,
                      device=None, bf16: bool = False, use_trainer: bool = False, save_dir=None,
                      eval_batch_size: int = 64, progress=None) -> TrajectoryResult:
    """Fine-tune a proxy on all of ``data`` and record each example's loss at ``checkpoints`` evenly spread steps.

    ``model``: the proxy (default: a fresh :func:`~lessdata.llm.tiny_causal_lm` ``"proxy"`` seeded with
    ``seed``). ``use_trainer=True`` trains with a Hugging Face ``Trainer`` and :class:`TrajectoryCallback`
    instead of :func:`train_causal_lm` (same recording, different optimizer details). ``save_dir``: also save
    the model at each checkpoint (``save_dir/step-<k>``). ``progress``: tqdm-like, advanced once per step.

    Examples:
        >>> from lessdata.llm import load_instructions, get_tokenizer
        >>> data = load_instructions([{"question": f"{i}+1?", "answer": str(i + 1)} for i in range(8)])
        >>> tok = get_tokenizer(texts=data.texts(), vocab_size=300)
        >>> res = loss_trajectories(data, tok, checkpoints=2, batch_size=4, max_length=32)
        >>> res.trajectories.shape, res.steps
        ((8, 2), [1, 2])
    """
    from .models import tiny_causal_lm

    if not isinstance(data, InstructionData):
        raise LessdataError(f"data must be an InstructionData (see load_instructions), got {type(data).__name__}")
    examples = tokenize_instructions(data, tokenizer, max_length=max_length)
    if model is None:
        model = tiny_causal_lm("proxy", vocab_size=len(tokenizer), max_length=max_length, seed=seed,
                               pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    if device is not None:
        model = model.to(device)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not epochs > 0:
        raise LessdataError(f"epochs must be a positive number, got {epochs!r}")
    batch_size = int(check_param("loss_trajectories", "batch_size", batch_size, POSITIVE_INT))
    total_steps = math.ceil(max(1, round(epochs * len(examples))) / batch_size)
    steps = checkpoint_steps(total_steps, checkpoints)
    recorder = DynamicsRecorder(len(examples), fields=("loss",), columns=len(steps))
    eval_collator = InstructionCollator(tokenizer)

    def save(step, m):
        if save_dir is not None:
            m.save_pretrained(Path(save_dir) / f"step-{step}")

    start = time.perf_counter()
    if use_trainer:
        callback = TrajectoryCallback(examples, recorder, collator=eval_collator, steps=steps,
                                      batch_size=eval_batch_size, on_record=save)
        _train_with_trainer(model, examples, tokenizer, callback, steps=total_steps, batch_size=batch_size,
                            learning_rate=learning_rate, seed=seed, bf16=bf16, progress=progress)
    else:
        def on_step(step, m):
            if step in steps:
                record_losses(m, examples, recorder, collator=eval_collator, name=f"step {step}",
                              batch_size=eval_batch_size, bf16=bf16)
                save(step, m)

        train_causal_lm(model, examples, collator=InstructionCollator(tokenizer, keep_index=False),
                        max_steps=total_steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                        bf16=bf16, on_step=on_step, progress=progress)
    seconds = time.perf_counter() - start
    return TrajectoryResult(recorder.trajectory("loss", fill=0.0), data.sources.copy(), steps, recorder, model,
                            seconds)


def _train_with_trainer(model, examples, tokenizer, callback, *, steps, batch_size, learning_rate, seed, bf16,
                        progress):
    import tempfile

    class _Progress(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if progress is not None:
                progress.update(1)

    with tempfile.TemporaryDirectory() as tmp:
        args = transformers.TrainingArguments(
            output_dir=tmp, max_steps=steps, per_device_train_batch_size=batch_size, learning_rate=learning_rate,
            lr_scheduler_type="cosine", warmup_steps=round(0.05 * steps), weight_decay=0.0, adam_beta2=0.95,
            max_grad_norm=1.0, seed=seed, data_seed=seed, bf16=bf16, save_strategy="no", report_to=[],
            logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0, use_cpu=next(
                model.parameters()).device.type == "cpu")
        trainer = transformers.Trainer(model=model, args=args, train_dataset=list(examples),
                                       data_collator=InstructionCollator(tokenizer, keep_index=False),
                                       callbacks=[callback, _Progress()])
        trainer.train()
