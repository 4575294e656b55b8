"""GraNd (Paul et al., 2021): per-example gradient norms, and the target checks shared with the recorder.

Split out of :mod:`lessdata.signals.dynamics`, which imports :func:`grand_scores` back (it stays importable
from there and from :mod:`lessdata.signals`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.torch_data import iter_batches
from ..errors import LessdataError
from .gradients import find_last_linear, model_device

__all__ = ["grand_scores"]


def _as_targets(targets, b: int, num_classes: int):
    y = torch.as_tensor(targets).detach().reshape(-1)
    if y.shape[0] != b:
        raise LessdataError(f"got {y.shape[0]} targets for a batch of {b} examples")
    if y.is_floating_point():
        if not torch.equal(y, y.round()):
            raise LessdataError("targets must be integer class ids")
    y = y.long()
    if b and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise LessdataError(f"target {bad} is out of range for logits with {num_classes} classes")
    return y


def grand_scores(model, data, labels=None, *, last_layer: bool = False, batch_size: int = 64,
                 device=None) -> np.ndarray:
    """GraNd (Paul et al., 2021): the norm of each example's cross-entropy gradient, float32 ``(n,)``.

    By default the gradient with respect to all trainable parameters, computed per example with
    ``torch.func`` (``vmap`` over ``grad``), in eval mode (so BatchNorm uses its running statistics);
    models ``vmap`` cannot trace fall back to one backward pass per example. ``last_layer=True`` uses
    only the last ``nn.Linear`` layer, in closed form ``||p - e_y|| · sqrt(||h||² + 1)`` (one forward pass;
    without the ``+ 1`` when the layer has no bias). Paul et al. compute it at initialisation, averaged
    over 10 initialisations; see :func:`lessdata.training.early_training_scores`.
    """
    device = model_device(model) if device is None else torch.device(device)
    modes = {module: module.training for module in model.modules()}
    chunks = []
    try:
        model.eval()
        if last_layer:
            _, linear = find_last_linear(model)
            captured = {}
            handle = linear.register_forward_hook(lambda m, i, o: captured.__setitem__("h", i[0]))
            try:
                with torch.no_grad():
                    for x, y in iter_batches(data, labels, batch_size=max(batch_size, 256)):
                        y = _need_labels(y, "grand_scores")
                        logits = model(x.to(device))
                        y = _as_targets(y, len(x), logits.shape[1]).to(device)
                        probs = torch.softmax(logits.float(), dim=1)
                        probs[torch.arange(len(y), device=probs.device), y] -= 1.0
                        h2 = captured["h"].float().reshape(len(x), -1).square().sum(dim=1)
                        if linear.bias is not None:
                            h2 = h2 + 1.0
                        chunks.append((probs.norm(dim=1) * h2.sqrt()).cpu().numpy())
            finally:
                handle.remove()
        else:
            params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
            if not params:
                raise LessdataError("the model has no trainable parameters to take gradients of")
            for x, y in iter_batches(data, labels, batch_size=batch_size):
                x, y = x.to(device), _need_labels(y, "grand_scores").to(device)
                with torch.no_grad():  # check the labels against the model's outputs before differentiating
                    y = _as_targets(y, len(x), model(x).shape[1])
                chunks.append(_gradient_norms(model, params, x, y))
    finally:
        for module, training in modes.items():
            module.train(training)
    if not chunks:
        raise LessdataError("no examples to score: the data is empty")
    return np.concatenate(chunks).astype(np.float32)


def _need_labels(y, what: str):
    if y is None:
        raise LessdataError(f"{what} needs class labels: pass labels= or data that yields (x, y)")
    return y


def _gradient_norms(model, params, x, y) -> np.ndarray:
    from torch.func import functional_call, grad, vmap

    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss_one(p, xi, yi):
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, yi.reshape(1).long())

    try:
        grads = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, x, y)
        total = sum(g.reshape(len(x), -1).float().square().sum(dim=1) for g in grads.values())
        return total.sqrt().cpu().numpy()
    except (RuntimeError, NotImplementedError):  # an op vmap cannot batch: one backward pass per example
        return _gradient_norms_loop(model, params, x, y)


def _gradient_norms_loop(model, params, x, y) -> np.ndarray:
    names = list(params)
    live = dict(model.named_parameters())
    out = np.empty(len(x), dtype=np.float32)
    for i in range(len(x)):
        loss = torch.nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1].long())
        grads = torch.autograd.grad(loss, [live[k] for k in names], allow_unused=True)
        out[i] = math.sqrt(sum(float(g.float().square().sum()) for g in grads if g is not None))
    return out
