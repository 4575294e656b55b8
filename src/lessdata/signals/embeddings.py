"""Latent classes of embeddings: the partition SAS and ClipCov select within.

SAS (Joshi & Mirzasoleiman, ICML 2023) and ClipCov (Joshi et al., AISTATS 2024) select per *latent class*:
the true labels when known, otherwise k-means clusters of proxy embeddings, or a CLIP-style zero-shot
assignment against class-name prompt embeddings. This module is plain numpy + faiss (no torch), so the
selection methods can use it without a model.
"""

from __future__ import annotations

import numpy as np

from .._validation import C_COUNT, Interval, check_features, check_labels, check_params
from ..errors import LessdataError

__all__ = ["latent_classes", "normalize_rows", "spherical_kmeans", "zero_shot_classes"]


def normalize_rows(X) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32; all-zero rows stay zero)."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=-1, keepdims=True)
    return np.ascontiguousarray(X / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def spherical_kmeans(emb, n_clusters: int, *, seed: int = 0, iterations: int = 20, restarts: int = 3):
    """Spherical k-means (faiss) on the L2-normalised rows of ``emb``.

    Returns ``(assign, centroids)``: the int64 cluster of each row and the unit-norm centroids
    ``(n_clusters, d)``. Runs ``restarts`` times from seeded random starts and keeps the best clustering.

    Examples:
        >>> E = np.array([[1, 0.1], [1, 0], [0, 1], [0.1, 1]], dtype="float32")
        >>> assign, _ = spherical_kmeans(E, 2)
        >>> bool(assign[0] == assign[1] != assign[2] == assign[3])
        True
    """
    import faiss

    X = normalize_rows(check_features(emb, "embeddings"))
    positive = [Interval(int, 1, None)]
    check_params("spherical_kmeans", {"n_clusters": n_clusters, "iterations": iterations, "restarts": restarts},
                 {"n_clusters": positive, "iterations": C_COUNT, "restarts": C_COUNT})
    if n_clusters > len(X):
        raise LessdataError(f"n_clusters={n_clusters} is larger than the number of points ({len(X)})")
    k, iterations, restarts = int(n_clusters), int(iterations), int(restarts)
    kmeans = faiss.Kmeans(X.shape[1], k, niter=iterations, seed=int(seed) % (1 << 31),  # faiss takes a C int
                          nredo=restarts, spherical=True, verbose=False, min_points_per_centroid=1,
                          max_points_per_centroid=1 << 30)
    kmeans.train(X)
    _, nearest = kmeans.index.search(X, 1)
    return nearest[:, 0].astype(np.int64), normalize_rows(kmeans.centroids)


def zero_shot_classes(emb, class_prompts) -> np.ndarray:
    """CLIP-style zero-shot latent classes: the class whose prompt embedding is most cosine-similar.

    ``class_prompts``: ``(C, T, d)`` text embeddings of ``T`` templates per class ("a photo of a {c}", ...)
    or ``(C, d)``; each template embedding is normalised, averaged per class and renormalised (the prompt
    ensembling of Radford et al., 2021). Returns the int64 class (0..C-1) of each row; ties go to the
    lowest class.

    Examples:
        >>> P = np.array([[[1, 0], [1, 0.2]], [[0, 1], [0.1, 1]]], dtype="float32")   # 2 classes, 2 templates
        >>> zero_shot_classes(np.array([[0.9, 0.1], [0.2, 0.8]]), P).tolist()
        [0, 1]
    """
    X = normalize_rows(check_features(emb, "embeddings"))
    try:
        P = np.asarray(class_prompts, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise LessdataError(f"class_prompts must be a numeric array (classes, templates, d): {exc}") from None
    if P.ndim == 2:
        P = P[:, None, :]
    if P.ndim != 3 or 0 in P.shape:
        raise LessdataError(f"class_prompts must have shape (classes, templates, d) or (classes, d), got {P.shape}")
    if P.shape[2] != X.shape[1]:
        raise LessdataError(f"class_prompts have dimension {P.shape[2]} but the embeddings have {X.shape[1]}")
    if not np.isfinite(P).all():
        raise LessdataError("class_prompts contain NaN or infinite values")
    classes = normalize_rows(normalize_rows(P).mean(axis=1))
    return np.argmax(X @ classes.T, axis=1).astype(np.int64)


def latent_classes(emb=None, labels=None, *, n_clusters: int | None = None, class_prompts=None, seed: int = 0,
                   iterations: int = 20, restarts: int = 3) -> np.ndarray:
    """Latent classes of the rows of ``emb``, from exactly one source:

    - ``labels``: known labels, returned as given (checked for length when ``emb`` is given);
    - ``n_clusters=K``: spherical k-means (faiss) on the L2-normalised embeddings (:func:`spherical_kmeans`);
    - ``class_prompts=P``: zero-shot assignment against class-name prompt embeddings (:func:`zero_shot_classes`).

    Examples:
        >>> E = np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype="float32")
        >>> latent_classes(E, class_prompts=np.eye(2, dtype="float32")).tolist()
        [0, 0, 1]
    """
    given = [name for name, v in (("labels", labels), ("n_clusters", n_clusters), ("class_prompts", class_prompts))
             if v is not None]
    if len(given) != 1:
        raise LessdataError("latent_classes needs exactly one of labels=, n_clusters=, class_prompts= "
                            f"(got {given or 'none'})")
    if labels is not None:
        n = len(labels) if emb is None else check_features(emb, "embeddings").shape[0]
        return check_labels(labels, n)
    if emb is None:
        raise LessdataError("latent_classes needs the embeddings for n_clusters= or class_prompts=")
    if n_clusters is not None:
        return spherical_kmeans(emb, n_clusters, seed=seed, iterations=iterations, restarts=restarts)[0]
    return zero_shot_classes(emb, class_prompts)
