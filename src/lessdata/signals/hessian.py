"""Second-order signals: Hessian-vector products, Hutchinson's diagonal estimator, AdaHessian-style moments.

- A Hessian-vector product ``H v`` costs one more backward pass through the gradient's graph: it is the
  gradient of ``<grad L, v>`` (Pearlmutter, 1994, "Fast exact multiplication by the Hessian").
- Hutchinson's estimator: for a Rademacher vector ``z`` (entries ±1), ``E[z * (H z)] = diag(H)``
  (Hutchinson, 1989; Bekas, Kokiopoulou, Saad, 2007, for the diagonal).
- :class:`CurvatureEMA` keeps the two moments of AdaHessian (Yao et al., AAAI 2021): a bias-corrected
  exponential average of gradients (``beta1 = 0.9``) and of squared Hutchinson diagonals (``beta2 = 0.999``),
  whose square root is the curvature. CREST (Yang, Kang, Mirzasoleiman, ICML 2023) builds its quadratic loss
  model from these moments; AdaCore (Pooladzandi, Davini, Mirzasoleiman, ICML 2022) preconditions
  per-example last-layer gradients with the curvature of the last layer (:func:`last_layer_hessian_diagonal`,
  :func:`precondition`).

Examples:
    >>> import torch
    >>> A = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
    >>> theta = torch.zeros(2, requires_grad=True)
    >>> loss = 0.5 * theta @ A @ theta + theta.sum()
    >>> grads, diag = hutchinson_diagonal(loss, [theta], samples=200, generator=torch.Generator().manual_seed(0))
    >>> torch.allclose(diag[0], torch.tensor([2.0, 3.0]), atol=0.3)
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._validation import Interval, check_param, check_params
from ..data.torch_data import iter_batches
from ..errors import LessdataError
from .gradients import find_last_linear, model_device
from .preconditioning import precondition_gradients

__all__ = [
    "CurvatureEMA",
    "hessian_vector_product",
    "hutchinson_diagonal",
    "last_layer_hessian_diagonal",
    "last_layer_inputs",
    "precondition",
    "rademacher_like",
]


_BETA = [Interval(float, 0, 1, closed="left")]


def rademacher_like(tensors: Sequence[torch.Tensor], generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Independent ±1 tensors shaped like ``tensors`` (drawn on the CPU from ``generator``, then moved)."""
    out = []
    for t in tensors:
        z = torch.randint(0, 2, tuple(t.shape), generator=generator, dtype=torch.int8)
        out.append(z.to(device=t.device, dtype=t.dtype) * 2 - 1)
    return out


def hessian_vector_product(grads: Sequence[torch.Tensor], params: Sequence[torch.Tensor],
                           vectors: Sequence[torch.Tensor], *, retain_graph: bool = True) -> list[torch.Tensor]:
    """``H v`` for each parameter, from gradients computed with ``create_graph=True``.

    Gradients without a graph (the loss is linear in that parameter) contribute a zero block.

    Examples:
        >>> theta = torch.ones(2, requires_grad=True)
        >>> (g,) = torch.autograd.grad((theta ** 3).sum(), [theta], create_graph=True)
        >>> hessian_vector_product([g], [theta], [torch.tensor([1.0, 0.0])])[0]   # H = diag(6 θ)
        tensor([6., 0.])
    """
    if not (len(grads) == len(params) == len(vectors)):
        raise LessdataError(f"got {len(grads)} gradients, {len(params)} parameters and {len(vectors)} vectors")
    live = [i for i, g in enumerate(grads) if g.requires_grad]
    out = [torch.zeros_like(p) for p in params]
    if not live:
        return out
    hv = torch.autograd.grad([grads[i] for i in live], list(params), grad_outputs=[vectors[i] for i in live],
                             retain_graph=retain_graph, allow_unused=True)
    for j, h in enumerate(hv):
        if h is not None:
            out[j] = h.detach()
    return out


def hutchinson_diagonal(loss: torch.Tensor, params: Sequence[torch.Tensor], *, samples: int = 1,
                        generator: torch.Generator | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Gradient and Hutchinson estimate of the Hessian diagonal of ``loss`` w.r.t. ``params``.

    Returns ``(grads, diag)``: detached lists shaped like ``params``. ``diag`` averages ``z * (H z)`` over
    ``samples`` Rademacher vectors; it is unbiased, and exact for a diagonal Hessian with a single sample.
    Costs one backward pass with ``create_graph=True`` plus one Hessian-vector product per sample.
    """
    check_param("hutchinson_diagonal", "samples", samples, [Interval(int, 1, None)])
    samples = int(samples)
    params = list(params)
    if not params:
        raise LessdataError("hutchinson_diagonal needs at least one parameter")
    if loss.ndim != 0:
        raise LessdataError(f"the loss must be a single number, got shape {tuple(loss.shape)}")
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
    diag = [torch.zeros_like(p) for p in params]
    for s in range(samples):
        z = rademacher_like(params, generator)
        hz = hessian_vector_product(grads, params, z, retain_graph=s + 1 < samples)
        for d, zi, hi in zip(diag, z, hz):
            d.add_(zi * hi)
    return [g.detach() for g in grads], [d / samples for d in diag]


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors]) if tensors else torch.zeros(0)


class CurvatureEMA:
    """The AdaHessian moments of a set of parameters, flattened into one vector each.

    ``update(grads, diag)`` folds in one gradient and one Hutchinson diagonal (tensors or lists of tensors):
    ``m ← β1 m + (1−β1) g`` and ``v ← β2 v + (1−β2) diag²``. :attr:`gradient` is ``m / (1 − β1^t)`` and
    :attr:`curvature` is ``sqrt(v / (1 − β2^t)) + eps`` (AdaHessian's denominator with Hessian power 1): a
    positive, time-averaged magnitude of the Hessian diagonal.

    Examples:
        >>> ema = CurvatureEMA()
        >>> ema.update(torch.tensor([1.0, -2.0]), torch.tensor([4.0, -3.0]))
        >>> ema.gradient, ema.curvature
        (tensor([ 1., -2.]), tensor([4.0001, 3.0001]))
    """

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-4):
        check_params("CurvatureEMA", {"beta1": beta1, "beta2": beta2, "eps": eps},
                     {"beta1": _BETA, "beta2": _BETA, "eps": [Interval(float, 0, None)]})
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.steps = 0
        self._m: torch.Tensor | None = None
        self._v: torch.Tensor | None = None

    def update(self, grads, diag) -> None:
        g = grads.detach().reshape(-1) if isinstance(grads, torch.Tensor) else _flat(grads)
        d = diag.detach().reshape(-1) if isinstance(diag, torch.Tensor) else _flat(diag)
        if g.shape != d.shape:
            raise LessdataError(f"gradient has {g.numel()} entries but the diagonal has {d.numel()}")
        if self._m is None:
            self._m, self._v = torch.zeros_like(g), torch.zeros_like(d)
        elif self._m.shape != g.shape:
            raise LessdataError(f"CurvatureEMA tracks {self._m.numel()} parameters, got {g.numel()}")
        self.steps += 1
        self._m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
        self._v.mul_(self.beta2).addcmul_(d, d, value=1 - self.beta2)

    def _require(self) -> None:
        if self._m is None:
            raise LessdataError("CurvatureEMA has no estimate yet: call update() first")

    @property
    def gradient(self) -> torch.Tensor:
        """Bias-corrected exponential average of the gradients."""
        self._require()
        return self._m / (1 - self.beta1**self.steps)

    @property
    def curvature(self) -> torch.Tensor:
        """``sqrt`` of the bias-corrected average of squared Hessian diagonals, plus ``eps``."""
        self._require()
        return (self._v / (1 - self.beta2**self.steps)).sqrt() + self.eps

    def __repr__(self) -> str:
        size = 0 if self._m is None else self._m.numel()
        return f"CurvatureEMA(beta1={self.beta1}, beta2={self.beta2}, parameters={size}, steps={self.steps})"


# ------------------------------------------------------------------------------------- last layer
def _last_layer_batches(model: nn.Module, data, labels, layer, batch_size: int, device):
    """Yield ``(features, logits, y)`` per batch: the last layer's input and the model's output, no grad."""
    name, linear = find_last_linear(model, layer)
    device = model_device(model) if device is None else torch.device(device)
    captured: dict[str, torch.Tensor] = {}

    def hook(module, inputs, output):
        captured["input"], captured["output"] = inputs[0], output

    modes = {module: module.training for module in model.modules()}
    handle = linear.register_forward_hook(hook)
    try:
        model.eval()
        with torch.no_grad():
            for x, y in iter_batches(data, labels, batch_size=batch_size):
                if y is None:
                    raise LessdataError("last-layer signals need class labels: pass labels= or data that yields (x, y)")
                captured.clear()
                logits = model(x.to(device))
                if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
                    raise LessdataError("the model must return logits of shape (batch, classes)")
                if "output" not in captured or captured["output"].shape != logits.shape:
                    raise LessdataError(
                        f"layer {name!r} does not produce the model's logits; name the layer that does"
                    )
                y = y.reshape(-1).long().to(device)
                if len(y) and (int(y.min()) < 0 or int(y.max()) >= logits.shape[1]):
                    raise LessdataError(f"labels must be class ids in [0, {logits.shape[1]})")
                yield captured["input"].float().reshape(len(x), -1), logits.float(), y
    finally:
        handle.remove()
        for module, training in modes.items():
            module.train(training)


def last_layer_inputs(model: nn.Module, data, labels=None, *, layer: str | None = None, batch_size: int = 512,
                      device=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(features, logits, labels)`` as numpy arrays: the input of the last linear layer (the penultimate
    features ``h``), the logits, and the integer labels, from batched forward passes in eval mode.

    GLISTER's exact one-step update of the validation gradient needs the validation logits (and the features
    when it works on full last-layer gradients).

    Examples:
        >>> from lessdata.models import MLP
        >>> X = np.zeros((3, 784), dtype=np.float32)
        >>> [a.shape for a in last_layer_inputs(MLP(), X, [0, 1, 2])]
        [(3, 128), (3, 10), (3,)]
    """
    parts = [tuple(t.cpu() for t in batch) for batch in _last_layer_batches(model, data, labels, layer,
                                                                             batch_size, device)]
    if not parts:
        raise LessdataError("no examples: the data is empty")
    h, z, y = (torch.cat(p).numpy() for p in zip(*parts))
    return h.astype(np.float32), z.astype(np.float32), y.astype(np.int64)


def last_layer_hessian_diagonal(
    model: nn.Module,
    data,
    labels=None,
    *,
    layer: str | None = None,
    samples: int = 1,
    batch_size: int = 512,
    generator: torch.Generator | None = None,
    ema: CurvatureEMA | None = None,
    device=None,
) -> np.ndarray:
    """Hutchinson estimate of the Hessian diagonal of the mean cross-entropy loss w.r.t. the last linear
    layer's parameters, in the layout of ``last_layer_gradients(full=True)`` (weight row-major, then bias).

    The penultimate features are held fixed (one forward pass per batch, no grad through the body), so each
    Hessian-vector product only runs through the last layer and costs next to nothing. Each batch gives one
    estimate (``samples`` Rademacher vectors averaged); the result is their average weighted by batch size,
    an unbiased estimate of the diagonal for the whole data. With ``ema`` each batch's gradient and diagonal
    are also folded into that running :class:`CurvatureEMA` (AdaCore keeps one across selections).

    Examples:
        >>> from lessdata.models import MLP
        >>> X = np.random.default_rng(0).random((20, 784), dtype=np.float32)
        >>> last_layer_hessian_diagonal(MLP(hidden=(8,)), X, np.arange(20) % 10).shape   # 10 * (8 + 1)
        (90,)
    """
    check_param("last_layer_hessian_diagonal", "samples", samples, [Interval(int, 1, None)])
    samples = int(samples)
    _, linear = find_last_linear(model, layer)
    total, count = None, 0
    for h, _, y in _last_layer_batches(model, data, labels, layer, batch_size, device):
        weight = linear.weight.detach().float().clone().requires_grad_(True)
        params = [weight]
        if linear.bias is not None:
            params.append(linear.bias.detach().float().clone().requires_grad_(True))
        with torch.enable_grad():
            logits = h @ weight.T + (params[1] if len(params) > 1 else 0.0)
            loss = nn.functional.cross_entropy(logits, y)
            grads, diag = hutchinson_diagonal(loss, params, samples=samples, generator=generator)
        if ema is not None:
            ema.update(grads, diag)
        flat = _flat(diag).double() * len(y)
        total = flat if total is None else total + flat
        count += len(y)
    if total is None:
        raise LessdataError("no examples: the data is empty")
    return (total / count).cpu().numpy().astype(np.float32)


def precondition(gradients, curvature, damping: float = 0.01) -> np.ndarray:
    """AdaCore's preconditioned gradients: each row divided by ``curvature + damping * mean(curvature)``.

    ``curvature`` is a positive estimate of the Hessian diagonal (e.g. :attr:`CurvatureEMA.curvature`, a
    tensor or array), one entry per gradient column. The damping is relative to the mean curvature, so the
    result does not depend on the loss's scale and no coordinate is amplified more than ``1 / damping`` times
    the average.

    Examples:
        >>> precondition(np.array([[1.0, 1.0]], dtype=np.float32), np.array([1.0, 3.0]), damping=0.0)
        array([[1.        , 0.33333334]], dtype=float32)
    """
    G = gradients.detach().cpu().numpy() if isinstance(gradients, torch.Tensor) else np.asarray(gradients)
    D = curvature.detach().cpu().numpy() if isinstance(curvature, torch.Tensor) else curvature
    if G.ndim != 2:
        raise LessdataError(f"gradients must be 2-D (n, d), got shape {G.shape}")
    return precondition_gradients(G.astype(np.float32), D, damping)

