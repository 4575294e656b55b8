"""CREST's quadratic model of the loss and the forward passes behind its resets and checks.

Split out of :mod:`lessdata.training.crest`: :class:`QuadraticModel` (``L0 + δᵀg + ½ δᵀDδ`` around the reset
point), :class:`CheckResult` (one validity check) and the forward passes :class:`~lessdata.training.CrestTrainer`
runs over the random subsets ``∪R_p`` (per-example losses and logit gradients, the quadratic model's AdaHessian
moments), in eval mode. Both classes are also importable from :mod:`lessdata.training.crest`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..coreset import Coreset
from ..errors import LessdataError
from ..signals.hessian import hutchinson_diagonal
from .samplers import _weighted_mean

__all__ = ["CheckResult", "QuadraticModel"]


@dataclass
class QuadraticModel:
    """CREST's model of the loss around the reset point ``origin``: ``loss + δᵀg + ½ δᵀ diag(curvature) δ``."""

    loss: float
    gradient: torch.Tensor
    curvature: torch.Tensor
    origin: torch.Tensor
    curvature_norm: float

    def predict(self, delta: torch.Tensor) -> float:
        """The approximate loss at ``origin + delta`` (flat parameter vector)."""
        d = delta.double()
        return float(self.loss + d @ self.gradient.double() + 0.5 * (d * self.curvature.double()) @ d)


@dataclass
class CheckResult:
    """One validity check: the true loss on the random subsets against the quadratic model's prediction."""

    step: int
    true_loss: float
    approx_loss: float
    difference: float
    threshold: float
    valid: bool



class _ForwardPasses:
    """CrestTrainer's forward passes over ``∪R_p`` (a base class: they read and set the trainer's state)."""

    def _params(self) -> list[torch.Tensor]:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise LessdataError("the model has no trainable parameters")
        return params

    def _flat_params(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self._params()]).clone()

    def _eval_mode(self):
        modes = {module: module.training for module in self.model.modules()}
        self.model.eval()
        return modes

    @staticmethod
    def _restore(modes) -> None:
        for module, training in modes.items():
            module.train(training)

    def _union_rows(self, indices: np.ndarray) -> torch.Tensor:
        """Positions of dataset ``indices`` in the (sorted) union."""
        pos = np.searchsorted(self.union, indices)
        if not (pos < len(self.union)).all() or not np.array_equal(self.union[pos], indices):
            raise LessdataError("internal error: the coreset holds examples outside the random subsets")
        return torch.from_numpy(pos)

    def _losses_and_gradients(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-example cross-entropy and logit gradients (softmax − one-hot) of the union, eval mode."""
        modes = self._eval_mode()
        chunks = []
        try:
            with torch.no_grad():
                for start in range(0, len(self._union_x), self.eval_batch_size):
                    x = self._union_x[start: start + self.eval_batch_size]
                    chunks.append(self.model(x.to(self.device)).float())
        finally:
            self._restore(modes)
        logits = torch.cat(chunks)
        if logits.ndim != 2:
            raise LessdataError(f"the model must return logits of shape (batch, classes), got {tuple(logits.shape)}")
        y = self._union_y.to(logits.device)
        if self._union_top >= logits.shape[1]:
            raise LessdataError(f"label {self._union_top} is out of range for a model with {logits.shape[1]} outputs")
        losses = nn.functional.cross_entropy(logits, y, reduction="none")
        grads = torch.softmax(logits, dim=1)
        grads[torch.arange(len(y), device=grads.device), y] -= 1.0
        return losses.cpu().numpy(), grads.cpu().numpy()

    def _record(self, indices: np.ndarray, losses: np.ndarray) -> None:
        if self._watch is None:
            return
        self._watch[self._recorded[indices] % self.drop_window, indices] = losses
        self._recorded[indices] += 1

    def _quadratic_model(self, coreset: Coreset) -> QuadraticModel:
        params = self._params()
        weights = torch.from_numpy(coreset.normalized_weights())
        y_all = torch.from_numpy(self.labels[coreset.indices])
        rows = self._union_rows(coreset.indices)  # the coreset's inputs are already here, in the union's
        g_sum = d_sum = None
        loss_sum, norms, seen = 0.0, [], 0
        modes = self._eval_mode()
        try:
            with torch.enable_grad():
                for start in range(0, len(rows), self.batch_size):
                    chunk = rows[start: start + self.batch_size]
                    x = torch.index_select(self._union_x, 0, chunk.to(self._union_x.device))
                    k = len(x)
                    y = y_all[seen: seen + k].to(self.device)
                    w = weights[seen: seen + k].to(self.device)
                    out = self.model(x.to(self.device))
                    loss = _weighted_mean(nn.functional.cross_entropy(out, y, reduction="none"), w)
                    grads, diag = hutchinson_diagonal(loss, params, samples=self.hutchinson_samples,
                                                      generator=self._generator)
                    self.ema.update(grads, diag)
                    g, d = self.ema.gradient * k, self.ema.curvature
                    g_sum = g if g_sum is None else g_sum + g
                    d_sum = d * k if d_sum is None else d_sum + d * k
                    norms.append(float(d.norm()))
                    loss_sum += float(loss.detach()) * k
                    seen += k
        finally:
            self._restore(modes)
        origin, start = self._flat_params(), 0
        self._slots = {}
        for p in params:
            self._slots[id(p)] = (start, start + p.numel())
            start += p.numel()
        self._delta = torch.zeros(len(origin), dtype=torch.float64, device=origin.device)
        return QuadraticModel(loss=loss_sum / seen, gradient=g_sum / seen, curvature=d_sum / seen,
                              origin=origin, curvature_norm=float(np.mean(norms)))
