"""LESS: select the training examples whose gradients point where the target task's gradients point.

Xia, Malladi, Gururangan, Arora, Chen, "LESS: Selecting Influential Data for Targeted Instruction Tuning"
(ICML 2024). Checked against the reference code princeton-nlp/LESS (``less/data_selection/matching.py``,
``less/data_selection/collect_grad_reps.py``).

The features are per-example LoRA gradient features — randomly projected, and for the training examples
Adam-preconditioned with the optimizer state of a short warm-up — computed by
:func:`lessdata.llm.less_gradient_features` (any ``n × d`` array works). ``target`` holds the target set's
features (plain projected gradients, as in the reference). Selection:

1. every row (training and target) is normalised to unit length within each checkpoint's block of
   ``d / C`` columns (``C = len(checkpoint_weights)``, one block by default), so each block's inner product
   is a cosine similarity;
2. an example's similarity to a target example is the checkpoint-weighted sum of those cosines (weights
   normalised to sum 1; the paper weighs checkpoints by their average learning rate);
3. its **score** is, over the target tasks (``target_tasks``: one task id per target row; one task by
   default), the **maximum** of its mean similarity to the task's examples (the reference's
   ``.mean(-1).max(-1)``);
4. the ``budget`` highest-scoring examples are picked (ties by index), weight 1; ``Coreset.gains`` holds
   their scores.

Deliberate departure: the reference reshapes the score matrix into equal-sized tasks (its target sets have
the same number of examples per subtask); ``target_tasks`` allows tasks of any size.
"""

from __future__ import annotations

import numpy as np

from .._validation import ARRAY, NUMBERS, Interval
from ..coreset import Coreset
from ..errors import LessdataError
from .registry import Method, register

__all__ = ["LessMethod", "less_scores"]


def _blocks(X: np.ndarray, checkpoints: int, what: str) -> np.ndarray:
    if X.shape[1] % checkpoints:
        raise LessdataError(f"{what} has {X.shape[1]} columns, not a multiple of the {checkpoints} checkpoint(s)")
    return X.reshape(X.shape[0], checkpoints, X.shape[1] // checkpoints)


def _unit(blocks: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(blocks, axis=2, keepdims=True)
    return blocks / np.where(norms > 0, norms, 1.0)


def less_scores(train, target, target_tasks=None, checkpoint_weights=None, *, chunk_size: int = 4096) -> np.ndarray:
    """LESS score of every training row: max over target tasks of the mean checkpoint-weighted cosine.

    Memory stays bounded: training rows are scored ``chunk_size`` at a time.

    Examples:
        >>> train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> [round(float(v), 3) for v in less_scores(train, np.array([[2.0, 0.0]]))]
        [1.0, 0.0, 0.707]
    """
    train = np.asarray(train, dtype=np.float32)
    if target is None:
        raise LessdataError("LESS needs the target set's gradient features (target=...): none were given")
    target = np.asarray(target, dtype=np.float32)
    if target.ndim != 2 or target.shape[0] == 0:
        raise LessdataError(f"target must be a non-empty 2-D array of gradient features, got shape {target.shape}")
    if target.shape[1] != train.shape[1]:
        raise LessdataError(f"target features have {target.shape[1]} dimensions but the training features have "
                            f"{train.shape[1]}: were they projected with the same projection?")
    if not np.isfinite(target).all():
        raise LessdataError("target features contain NaN or infinite values")
    weights = np.ones(1) if checkpoint_weights is None else np.asarray(checkpoint_weights, dtype=np.float64)
    if weights.ndim != 1 or len(weights) == 0 or not np.isfinite(weights).all() or (weights < 0).any() \
            or weights.sum() <= 0:
        raise LessdataError("checkpoint_weights must be non-negative numbers with a positive sum")
    weights = weights / weights.sum()
    tgt = _blocks(target, len(weights), "target")
    norms = np.linalg.norm(tgt, axis=2)
    if (norms == 0).any():
        row = int(np.argwhere(norms == 0)[0, 0])
        raise LessdataError(f"target example {row} has a zero gradient (no response tokens?): it has no direction")
    tgt = _unit(tgt)
    tasks = np.zeros(target.shape[0], dtype=np.int64) if target_tasks is None else np.asarray(target_tasks)
    if tasks.shape != (target.shape[0],):
        raise LessdataError(f"target_tasks must name one task per target row ({target.shape[0]}), got shape "
                            f"{tasks.shape}")
    _, task_ids = np.unique(tasks, return_inverse=True)
    n_tasks = int(task_ids.max()) + 1
    counts = np.bincount(task_ids, minlength=n_tasks).astype(np.float64)
    # per-task mean of the similarities = similarity to the task's summed unit target rows / task size
    task_sum = np.zeros((n_tasks,) + tgt.shape[1:], dtype=np.float64)
    np.add.at(task_sum, task_ids, tgt)
    task_mean = (task_sum / counts[:, None, None] * weights[None, :, None]).astype(np.float32)
    out = np.empty(train.shape[0], dtype=np.float32)
    blocks = _blocks(train, len(weights), "the training features")
    for start in range(0, train.shape[0], chunk_size):
        part = _unit(blocks[start:start + chunk_size])
        out[start:start + chunk_size] = np.einsum("ncd,tcd->nt", part, task_mean).max(axis=1)
    return out


@register
class LessMethod(Method):
    """LESS (Xia et al., ICML 2024): the examples whose projected, Adam-preconditioned LoRA gradients are most
    similar (cosine) to the target set's gradients, max over target tasks. See :mod:`lessdata.methods.less`.

    Examples:
        >>> import lessdata
        >>> rng = np.random.default_rng(0)
        >>> train = rng.normal(size=(100, 16)).astype("float32")
        >>> train[:10] += 4 * np.eye(16, dtype="float32")[0]          # ten examples aligned with the target
        >>> target = np.eye(16, dtype="float32")[[0, 0]] + 0.01
        >>> cs = lessdata.select(train, budget=10, method="less", target=target)
        >>> sorted(cs.indices.tolist()) == list(range(10))
        True
    """

    name = "less"
    description = "LESS (Xia et al. 2024): cosine of projected LoRA gradients to a target set's, max over tasks"
    expects = "target= (the target set's gradient features, same width)"
    signals = ("lora_gradients",)
    defaults = {"target": None, "target_tasks": None, "checkpoint_weights": None, "chunk_size": 4096}
    parameter_constraints = {"target": [NUMBERS, None], "target_tasks": [ARRAY, None],
                             "checkpoint_weights": [NUMBERS, None], "chunk_size": [Interval(int, 1, None)]}

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        scores = less_scores(X, p["target"], p["target_tasks"], p["checkpoint_weights"], chunk_size=p["chunk_size"])
        order = np.argsort(-scores, kind="stable")[: int(budget)]
        if progress is not None:
            progress.update(len(order))
        return Coreset(indices=order.astype(np.int64), weights=np.ones(len(order), dtype=np.float32),
                       gains=scores[order].astype(np.float64))
