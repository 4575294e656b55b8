"""Early-training separation: split every class into a fast-learnable and a slow-learnable part.

USEFUL (Nguyen, Haddad, Gan & Mirzasoleiman, NeurIPS 2024, "Changing the Training Data Distribution to
Reduce Simplicity Bias Improves In-distribution Generalization", Sec. 4) trains the network for a few
epochs, clusters the examples of each class into two groups by the network's output (k-means, k = 2), and
calls the cluster with the higher mean loss *slow-learnable*. Targeted augmentation (Nguyen et al., 2025,
"Do we need all the synthetic data?") uses the same split to decide what to augment. This module does the
split once, for both:

- :func:`split_classes`: the k-means split itself, from outputs, losses and labels (any arrays);
- :func:`separate`: the split read from a :class:`~lessdata.signals.DynamicsRecorder` kept with
  ``logits=True`` (at a fixed epoch, or at the epoch :func:`separation_epoch` picks);
- :func:`early_separation`: trains a model with :func:`~lessdata.training.fit` and a recorder, then
  :func:`separate`.

Deliberate departures (no reference code for USEFUL was available to check against):

- The outputs and losses of an epoch are the ones recorded while training on it (the recorder's training
  columns: each example's logits just before its own update), not a separate pass over the data after the
  epoch. This costs nothing extra; pass your own arrays to :func:`split_classes` for the other choice.
- The paper picks the separating epoch "where the training error's decline slows" from the curve; here
  that is made a rule (see :func:`separation_epoch`): the first epoch whose drop in training error is less
  than ``slowdown`` (default 0.5) times the largest drop so far.
- k-means is faiss's (random initial centroids, ``restarts`` runs, best kept), via the clustering routine the
  S2L method uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path
from ..errors import LessdataError
from ..methods.s2l import kmeans_clusters
from ..signals import DynamicsRecorder
from ..training import fit

__all__ = ["Separation", "early_separation", "separate", "separation_epoch", "split_classes"]


@dataclass
class Separation:
    """Which training examples are slow-learnable, per class.

    Attributes:
        slow: bool ``(n,)``: the example is in its class's slow-learnable cluster.
        labels: int64 ``(n,)`` class of each example.
        epoch: the epoch (0-based) whose outputs were clustered (-1 when given arrays directly).
        train_error: training error per epoch of the early run (empty when unknown).
        mean_loss: ``{class: (fast mean loss, slow mean loss)}``.
    """

    slow: np.ndarray
    labels: np.ndarray
    epoch: int = -1
    train_error: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mean_loss: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.slow.shape[0])

    def slow_indices(self) -> np.ndarray:
        return np.flatnonzero(self.slow).astype(np.int64)

    def fast_indices(self) -> np.ndarray:
        return np.flatnonzero(~self.slow).astype(np.int64)

    def summary(self) -> dict[str, Any]:
        classes = np.unique(self.labels)
        return {
            "n": self.n,
            "slow": int(self.slow.sum()),
            "slow_fraction": float(self.slow.mean()) if self.n else 0.0,
            "epoch": self.epoch,
            "slow_per_class": {int(c): int(self.slow[self.labels == c].sum()) for c in classes},
            "mean_loss": {int(c): list(v) for c, v in self.mean_loss.items()},
        }

    def save(self, path) -> Path:
        """Write to a ``.npz`` file atomically (nothing is left behind on failure)."""
        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise LessdataError(f"a Separation is saved as .npz, got {path.name!r}")
        classes = np.array(sorted(self.mean_loss), dtype=np.int64)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, slow=self.slow, labels=self.labels, epoch=np.int64(self.epoch),
                     train_error=self.train_error, loss_classes=classes,
                     loss_means=np.array([self.mean_loss[int(c)] for c in classes], dtype=np.float64).reshape(-1, 2))
        return path

    @classmethod
    def load(cls, path) -> Separation:
        path = Path(path)
        if not path.is_file():
            raise LessdataError(f"separation file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                means = {int(c): (float(a), float(b)) for c, (a, b) in zip(z["loss_classes"], z["loss_means"],
                                                                             strict=True)}
                return cls(slow=z["slow"].astype(bool), labels=z["labels"].astype(np.int64), epoch=int(z["epoch"]),
                           train_error=z["train_error"].astype(np.float64), mean_loss=means)
        except LessdataError:
            raise
        except Exception as exc:
            raise LessdataError(f"{path} is not a readable separation file ({type(exc).__name__}: {exc})") from None


def separation_epoch(train_error, slowdown: float = 0.5) -> int:
    """The epoch at which the decline of the training error slows down (USEFUL's separating epoch).

    ``train_error[e]`` is the training error during epoch ``e``. The drop of epoch ``e >= 1`` is
    ``train_error[e-1] - train_error[e]``; the answer is the first epoch whose drop is below ``slowdown``
    times the largest drop seen up to it, or the last epoch when the curve never slows that much.

    Examples:
        >>> separation_epoch([0.8, 0.4, 0.3, 0.28, 0.27])   # drops 0.4, 0.1: slows at epoch 2
        2
    """
    err = np.asarray(train_error, dtype=np.float64).reshape(-1)
    if err.size < 2:
        raise LessdataError(f"choosing the separation epoch needs the training error of at least 2 epochs, "
                            f"got {err.size}")
    if not np.isfinite(err).all():
        raise LessdataError("the training error curve contains NaN or infinite values")
    if isinstance(slowdown, bool) or not isinstance(slowdown, (int, float)) or not 0 < slowdown < 1:
        raise LessdataError(f"slowdown must be a number in (0, 1), got {slowdown!r}")
    drops = err[:-1] - err[1:]
    best = 0.0
    for e, drop in enumerate(drops, start=1):
        best = max(best, drop)
        if best > 0 and drop < slowdown * best:
            return e
    return int(err.size - 1)


def split_classes(outputs, labels, losses, *, seed: int = 0, iterations: int = 20, restarts: int = 3
                  ) -> tuple[np.ndarray, dict[int, tuple[float, float]]]:
    """k-means (k = 2) on the outputs of each class; the cluster with the higher mean loss is slow.

    Returns ``(slow, mean_loss)``: a bool mask over the examples and ``{class: (fast, slow) mean loss}``.
    A class with fewer than 2 examples, or whose outputs all coincide, cannot be split: LessdataError.
    """
    outputs = np.asarray(outputs, dtype=np.float32)
    labels = np.asarray(labels)
    losses = np.asarray(losses, dtype=np.float64).reshape(-1)
    if outputs.ndim != 2:
        raise LessdataError(f"outputs must be a 2-D array (examples, classes), got shape {outputs.shape}")
    n = outputs.shape[0]
    if labels.shape != (n,) or losses.shape != (n,):
        raise LessdataError(f"outputs, labels and losses must have one row per example; got {n}, "
                            f"{labels.shape[0] if labels.ndim else 0} and {losses.shape[0]}")
    if not (np.isfinite(outputs).all() and np.isfinite(losses).all()):
        raise LessdataError("outputs and losses must be finite (was every example seen in that epoch?)")
    slow = np.zeros(n, dtype=bool)
    mean_loss: dict[int, tuple[float, float]] = {}
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if members.size < 2:
            raise LessdataError(f"class {c} has {members.size} example(s): too small to split into fast- and "
                                f"slow-learnable parts (needs at least 2)")
        cluster = kmeans_clusters(outputs[members], 2, iterations=iterations, seed=seed, restarts=restarts)
        if np.unique(cluster).size < 2:
            raise LessdataError(f"class {c} cannot be split: the network outputs of its {members.size} examples "
                                f"coincide (train longer before separating)")
        means = [float(losses[members[cluster == k]].mean()) for k in (0, 1)]
        slow_cluster = int(np.argmax(means))
        slow[members[cluster == slow_cluster]] = True
        mean_loss[int(c)] = (means[1 - slow_cluster], means[slow_cluster])
    return slow, mean_loss


def separate(recorder, *, epoch: int | str = "auto", labels=None, slowdown: float = 0.5, seed: int = 0,
             restarts: int = 3) -> Separation:
    """Split the classes at one epoch of a :class:`~lessdata.signals.DynamicsRecorder` (``logits=True``).

    ``epoch`` is a 0-based column of the recorder, or ``"auto"`` for :func:`separation_epoch` of the
    recorded training error (one minus the mean of ``correct`` per column). ``labels`` default to the
    recorder's targets.
    """
    logits = recorder.logits
    if logits is None:
        raise LessdataError("separation needs the network outputs: record with DynamicsRecorder(logits=True)")
    correct, loss = recorder.field("correct"), recorder.field("loss")
    T = logits.shape[1]
    train_error = 1.0 - np.nanmean(correct, axis=0) if T else np.zeros(0)
    if epoch == "auto":
        col = separation_epoch(train_error, slowdown)
    elif isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise LessdataError(f"epoch must be a non-negative integer or 'auto', got {epoch!r}")
    elif epoch >= T:
        raise LessdataError(f"separation epoch {epoch} is beyond the run: the recorder holds {T} epoch(s) "
                            f"(0 to {T - 1})")
    else:
        col = int(epoch)
    y = recorder.targets if labels is None else np.asarray(labels)
    if y is None or (np.asarray(y) < 0).any():
        raise LessdataError("some examples were never seen by the recorder; pass labels= or record every example")
    slow, mean_loss = split_classes(logits[:, col], y, loss[:, col], seed=seed, restarts=restarts)
    return Separation(slow=slow, labels=np.asarray(y, dtype=np.int64), epoch=col,
                      train_error=np.asarray(train_error, dtype=np.float64), mean_loss=mean_loss)


def early_separation(model, train, *, epochs: int = 8, epoch: int | str = "auto", labels=None,
                     slowdown: float = 0.5, seed: int = 0, **fit_kwargs) -> Separation:
    """Train ``model`` on ``train`` for ``epochs`` epochs with :func:`~lessdata.training.fit`, then separate.

    ``epoch`` (a 0-based epoch below ``epochs``, or ``"auto"``) chooses which epoch's outputs are clustered;
    ``fit_kwargs`` go to ``fit`` (``lr``, ``batch_size``, ``lr_schedule``, ``progress``...). The USEFUL paper
    trains the early model with the final run's settings; its separating epoch is ~5-10% of the full run.

    Examples:
        >>> sep = early_separation(LeNet(), train_set, epochs=5)    # doctest: +SKIP
        >>> sep.summary()["slow_fraction"]                          # doctest: +SKIP
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise LessdataError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(epoch, str) and isinstance(epoch, (int, np.integer)) and not isinstance(epoch, bool) \
            and epoch >= epochs:
        raise LessdataError(f"separation epoch {epoch} is beyond the run of {epochs} epoch(s) (0 to {epochs - 1})")
    if epoch == "auto" and epochs < 2:
        raise LessdataError("epoch='auto' needs a run of at least 2 epochs")
    recorder = DynamicsRecorder(logits=True, fields=("loss", "correct"), columns=epochs)
    callbacks = list(fit_kwargs.pop("callbacks", ())) + [recorder]
    fit(model, train, epochs=epochs, seed=seed, callbacks=callbacks, **fit_kwargs)
    return separate(recorder, epoch=epoch, labels=labels, slowdown=slowdown, seed=seed)
