"""Tiny causal language models trained from scratch: the S2L proxy and the target of the benchmarks.

Both are plain ``transformers`` models built from a config (GPT-2 or GPT-NeoX/Pythia style), randomly
initialised from ``seed`` without touching the global random state, with dropout off (so a training-mode
forward and an evaluation forward give the same loss: the trajectories S2L records are then exactly the
losses the model trains on). Any local pretrained causal LM works the same way: :func:`load_causal_lm`.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice
from ..errors import LessdataError, require

__all__ = ["SIZES", "load_causal_lm", "tiny_causal_lm"]

#: layers, width (hidden size) and attention heads of the two model sizes
SIZES = {"proxy": (2, 128, 4), "target": (4, 256, 4)}
FAMILIES = ("gpt2", "gpt_neox")


def tiny_causal_lm(size: str = "proxy", *, vocab_size: int, max_length: int = 256, family: str = "gpt2",
                   seed: int = 0, pad_token_id: int | None = None, eos_token_id: int | None = None):
    """A randomly initialised causal LM: ``"proxy"`` (2 layers, width 128) or ``"target"`` (4 layers, 256).

    ``family``: ``"gpt2"`` (learned positions) or ``"gpt_neox"`` (Pythia style, rotary positions, parallel
    attention + MLP). The MLP is 4x the width; 4 attention heads. ``max_length`` is the longest sequence.

    Examples:
        >>> model = tiny_causal_lm("proxy", vocab_size=4096, max_length=256, seed=0)
        >>> model.config.n_layer, model.config.n_embd
        (2, 128)
    """
    transformers = require("transformers", "llm", "tiny causal language models")
    import torch

    check_choice(size, SIZES, "model size")
    check_choice(family, FAMILIES, "model family")
    for name, value, low in (("vocab_size", vocab_size, 2), ("max_length", max_length, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise LessdataError(f"{name} must be an integer of at least {low}, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LessdataError(f"seed must be a non-negative integer, got {seed!r}")
    layers, width, heads = SIZES[size]
    special = {"pad_token_id": pad_token_id, "eos_token_id": eos_token_id, "bos_token_id": eos_token_id}
    if family == "gpt2":
        config = transformers.GPT2Config(vocab_size=int(vocab_size), n_positions=int(max_length), n_embd=width,
                                         n_layer=layers, n_head=heads, n_inner=4 * width, resid_pdrop=0.0,
                                         embd_pdrop=0.0, attn_pdrop=0.0, **special)
    else:
        config = transformers.GPTNeoXConfig(vocab_size=int(vocab_size), max_position_embeddings=int(max_length),
                                            hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads,
                                            intermediate_size=4 * width, hidden_dropout=0.0, attention_dropout=0.0,
                                            use_parallel_residual=True, tie_word_embeddings=False, **special)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = transformers.AutoModelForCausalLM.from_config(config)
    return model


def load_causal_lm(name_or_path, *, dtype=None):
    """A local pretrained causal LM (``AutoModelForCausalLM.from_pretrained``), e.g. a saved proxy.

    Examples:
        >>> model = tiny_causal_lm("proxy", vocab_size=300, max_length=32)
        >>> import tempfile; path = tempfile.mkdtemp()
        >>> model.save_pretrained(path)
        >>> load_causal_lm(path).config.n_layer
        2
    """
    transformers = require("transformers", "llm", "loading a causal language model")
    kwargs = {} if dtype is None else {"dtype": dtype}
    try:
        return transformers.AutoModelForCausalLM.from_pretrained(str(name_or_path), **kwargs)
    except (OSError, ValueError) as exc:
        text = str(exc).strip().splitlines()
        raise LessdataError(f"cannot load a causal LM from {str(name_or_path)!r}: "
                            f"{text[0] if text else type(exc).__name__}") from None
