"""Data selection for causal-LM fine-tuning (the ``llm`` extra: transformers, tokenizers).

- :mod:`lessdata.llm.data`: instruction data (JSONL / ``datasets.Dataset``), tokenizers, response-only
  labels, a padding collator and the per-example loss;
- :mod:`lessdata.llm.models`: tiny GPT-2 / GPT-NeoX proxies and targets trained from scratch;
- :mod:`lessdata.llm.trajectories`: per-example loss trajectories of a proxy (S2L's signal), from a plain
  training loop or any Hugging Face ``Trainer`` through :class:`TrajectoryCallback`;
- :func:`sentence_embeddings`: all-MiniLM-L6-v2 sentence embeddings (facility-location baseline).
- :func:`iterative_kmq`: kMQ with iterative refinement (k-means clusters, per-round resampling by how far a
  model trained on the picks so far is from the gold responses);
- :class:`LessFeatures`: LESS's LoRA gradient features (warm-up, projection, Adam preconditioning), stored for
  reuse with any target set (select with ``method="less"``).

transformers and tokenizers are imported only when a function needs them.
"""

from __future__ import annotations

from .data import (
    IGNORE_INDEX,
    InstructionCollator,
    InstructionData,
    get_tokenizer,
    load_instructions,
    per_example_loss,
    tokenize_instructions,
)
from .models import load_causal_lm, tiny_causal_lm

_LAZY = {
    "TrajectoryCallback": "trajectories",
    "TrajectoryResult": "trajectories",
    "checkpoint_steps": "trajectories",
    "loss_trajectories": "trajectories",
    "record_losses": "trajectories",
    "train_causal_lm": "trajectories",
    "sentence_embeddings": "embeddings",
    "iterative_kmq": "kmq",
    "gold_response_loss": "kmq",
    "LessFeatures": "less",
    "RandomProjection": "less",
    "gradient_features": "less",
    "lora_model": "less",
    "lora_warmup": "less",
}


def __getattr__(name):  # the trajectory tools import transformers: only when first used
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "IGNORE_INDEX",
    "InstructionCollator",
    "InstructionData",
    "LessFeatures",
    "RandomProjection",
    "TrajectoryCallback",
    "TrajectoryResult",
    "checkpoint_steps",
    "get_tokenizer",
    "gold_response_loss",
    "gradient_features",
    "iterative_kmq",
    "load_causal_lm",
    "load_instructions",
    "loss_trajectories",
    "lora_model",
    "lora_warmup",
    "per_example_loss",
    "record_losses",
    "sentence_embeddings",
    "tiny_causal_lm",
    "tokenize_instructions",
    "train_causal_lm",
]
