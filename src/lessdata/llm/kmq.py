"""Iterative kMQ: k-means clusters of the embeddings, a share of the budget per round, and each later share
drawn from the clusters where the model trained so far still falls short on the gold responses.

Yu, Ustun, et al., "Diversify and Conquer: Diversity-Centric Data Selection with Iterative Refinement"
(ICLR 2025); reference code for-ai/iterative-data-selection. The cluster and budget rules (and every
departure from the reference code, including the per-round size its ``select_new_iter`` gets K times too
small) are documented in :mod:`lessdata.methods.kmq`; this module runs the loop:

1. cluster the embeddings (faiss k-means, ``n_clusters``; the paper's embeddings come from a sentence
   encoder — :func:`lessdata.llm.sentence_embeddings` ships offline);
2. round 1 takes ``budget // rounds`` (the remainder goes to the first rounds) spread evenly over the clusters;
3. every later round trains a fresh model on all picks so far (``train(model, examples)``; by default
   :func:`~lessdata.llm.train_causal_lm`), scores every picked example (``score(model, examples)``; by default
   the mean token loss of its gold response, i.e. log-perplexity — the paper's offline alternative to its
   reward-model gap), averages the scores per cluster, and draws the round's share from the unpicked examples
   by the softmax of the cluster scores (:func:`lessdata.methods.kmq.next_round`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ..coreset import Coreset
from ..errors import LessdataError
from ..methods.kmq import next_round, round_sizes, sample_clusters
from ..methods.s2l import kmeans_clusters
from ..submodular.partition import split_budget
from .data import per_example_loss

__all__ = ["gold_response_loss", "iterative_kmq"]


def gold_response_loss(model, examples: Sequence[dict], *, collator, batch_size: int = 64) -> np.ndarray:
    """Mean token loss (log-perplexity) of each example's gold response under ``model`` (eval mode, no grad)."""
    import torch

    order = np.argsort([len(ex["input_ids"]) for ex in examples], kind="stable")
    out = np.empty(len(examples), dtype=np.float64)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                out[rows] = per_example_loss(model, collator([examples[i] for i in rows])).float().cpu().numpy()
    finally:
        model.train(was_training)
    return np.nan_to_num(out, nan=0.0)


def iterative_kmq(examples: Sequence[dict], embeddings, budget: int, *, make_model: Callable[[int], object],
                  train: Callable[[object, list], object], score: Callable[[object, list], np.ndarray] | None = None,
                  collator=None, rounds: int = 3, n_clusters: int = 100, iterations: int = 20,
                  temperature: float = 1.0, weight_update: str = "softmax", seed: int = 0,
                  progress=None) -> Coreset:
    """Select ``budget`` examples over ``rounds`` rounds of iterative kMQ; returns a Coreset in pick order.

    Args:
        examples: tokenized examples (:func:`lessdata.llm.tokenize_instructions`), row-aligned with ``embeddings``.
        make_model: ``make_model(round) -> fresh model`` (the same seeded initialisation each round is fine).
        train: ``train(model, picked_examples)`` trains the model in place.
        score: ``score(model, picked_examples) -> one float per example`` (higher = further from the gold
            response); default :func:`gold_response_loss` (needs ``collator``).
        progress: tqdm-like, advanced by one per round.

    ``Coreset.partition`` holds each pick's round; ``params`` the round sizes and each round's cluster weights.
    """
    E = np.asarray(embeddings, dtype=np.float32)
    if E.ndim != 2 or E.shape[0] != len(examples):
        raise LessdataError(f"the embeddings have {E.shape[0] if E.ndim else 0} rows but there are {len(examples)} "
                            "examples: they must be row-aligned")
    if not np.isfinite(E).all():
        raise LessdataError("the embeddings contain NaN or infinite values")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or not 1 <= budget <= len(examples):
        raise LessdataError(f"budget must be an integer in [1, {len(examples)}], got {budget!r}")
    if score is None:
        if collator is None:
            raise LessdataError("the default score (gold-response loss) needs collator=")
        score = lambda model, picked: gold_response_loss(model, picked, collator=collator)  # noqa: E731
    sizes = round_sizes(int(budget), rounds)
    start = time.perf_counter()
    assign = kmeans_clusters(E, n_clusters, iterations=iterations, seed=seed)
    k = int(assign.max()) + 1
    rng = np.random.default_rng(seed)
    counts = split_budget(np.bincount(assign, minlength=k), int(sizes[0]), "equal")
    picked = sample_clusters(assign, counts, np.ones(len(examples), dtype=bool), rng)
    round_of = [np.zeros(len(picked), dtype=np.int64)]
    weights = np.full(k, 1.0 / k)
    history = [weights.tolist()]
    if progress is not None:
        progress.update(1)
    for r, size in enumerate(sizes[1:], start=1):
        model = make_model(r)
        subset = [examples[i] for i in picked]
        train(model, subset)
        s = np.asarray(score(model, subset), dtype=np.float64)
        new, weights = next_round(assign, picked, s, int(size), rng, weights=weights, temperature=temperature,
                                  weight_update=weight_update)
        picked = np.concatenate([picked, new])
        round_of.append(np.full(len(new), r, dtype=np.int64))
        history.append(weights.tolist())
        del model
        if progress is not None:
            progress.update(1)
    cs = Coreset(indices=picked, weights=np.ones(len(picked), dtype=np.float32), partition=np.concatenate(round_of),
                 params={"rounds": int(rounds), "round_sizes": sizes.tolist(), "clusters": k,
                         "cluster_weights": history, "temperature": float(temperature),
                         "weight_update": weight_update})
    cs.method, cs.seed, cs.n, cs.seconds = "kmq_iterative", int(seed), len(examples), time.perf_counter() - start
    return cs
