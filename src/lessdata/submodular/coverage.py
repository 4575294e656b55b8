"""Cross-modal coverage for image–text pairs: the ClipCov objective (Joshi, Jain & Mirzasoleiman,
"Data-Efficient Contrastive Language-Image Pretraining: Prioritizing Data Quality over Quantity", AISTATS 2024).

With unit-norm image embeddings ``v`` and text embeddings ``t`` (row ``i`` is one image–caption pair),

    csim(i, j) = max(0, v_i·t_j + v_j·t_i)        (symmetric, negatives clipped at 0)

    F(S) = Σ_{i∈V} Σ_{j∈S} csim(i, j) − μ Σ_{i∈S} Σ_{j∈S} csim(i, j) + λ Σ_{i∈S} csim(i, i).

With ``μ = 0`` (the form lessdata uses by default) ``F`` is *modular*: ``F(S) = Σ_{j∈S} score_j`` with
``score_j = Σ_{i∈V} csim(i, j) + λ csim(j, j)``, so the exact maximiser under a cardinality budget is the
top-``k`` by score; :func:`clip_coverage_scores` computes the scores in blocks without an ``n × n`` matrix.
``μ > 0`` adds a graph-cut redundancy term (non-monotone for ``μ > 1/2``),
served by :func:`clip_coverage` (a :class:`~lessdata.submodular.functions.GraphCut` with a modular term).
"""

from __future__ import annotations

import numpy as np

from ..errors import LessdataError
from .functions import GraphCut

__all__ = ["clip_coverage", "clip_coverage_scores", "cross_modal_similarity"]

_BLOCK = 1024


def cross_modal_similarity(image, text, image_cols=None, text_cols=None) -> np.ndarray:
    """Dense ``csim`` between rows of (``image``, ``text``) and of (``image_cols``, ``text_cols``)
    (default: the same pairs), float32, negatives clipped at 0. Embeddings are used as given (normalise them
    first for cosine).

    Examples:
        >>> v = np.array([[1.0, 0.0], [0.0, 1.0]]); t = np.array([[1.0, 0.0], [0.6, 0.8]])
        >>> cross_modal_similarity(v, t).astype(float).round(2).tolist()
        [[2.0, 0.6], [0.6, 1.6]]
    """
    image = np.asarray(image, dtype=np.float32)
    text = np.asarray(text, dtype=np.float32)
    image_cols = image if image_cols is None else np.asarray(image_cols, dtype=np.float32)
    text_cols = text if text_cols is None else np.asarray(text_cols, dtype=np.float32)
    C = image @ text_cols.T + (image_cols @ text.T).T
    return np.maximum(C, 0.0, out=C)


def clip_coverage_scores(image, text, lam: float = 2.0, block: int = _BLOCK) -> np.ndarray:
    """``score_j = Σ_i csim(i, j) + λ csim(j, j)`` for every row ``j`` (float64), in blocks of ``block``
    columns: ``O(n² d)`` time, ``O(n · block)`` memory."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    text = np.ascontiguousarray(text, dtype=np.float32)
    n = image.shape[0]
    scores = np.empty(n, dtype=np.float64)
    for start in range(0, n, block):
        stop = min(n, start + block)
        C = cross_modal_similarity(image, text, image[start:stop], text[start:stop])  # (n, b)
        scores[start:stop] = C.sum(axis=0, dtype=np.float64)
    diag = np.maximum(2.0 * np.einsum("ij,ij->i", image.astype(np.float64), text.astype(np.float64)), 0.0)
    return scores + float(lam) * diag


def clip_coverage(csim, lam: float = 2.0, redundancy: float = 0.0) -> GraphCut:
    """The ClipCov set function on a dense ``csim`` matrix (see the module docstring), as a graph cut:
    ``f(S) = Σ_{j∈S} (Σ_i csim_ij + λ·csim_jj) − μ Σ_{i,j∈S} csim_ij`` with ``μ = redundancy``. With
    ``μ = 0`` the gains never change (modular); with ``μ > 1/2`` it is non-monotone (use ``random_greedy``)."""
    C = np.ascontiguousarray(csim, dtype=np.float32)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise LessdataError(f"ClipCov needs a square similarity, got shape {C.shape}")
    return GraphCut(C, lam=float(redundancy), modular=float(lam) * np.diagonal(C).astype(np.float64))
