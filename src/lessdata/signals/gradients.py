"""Per-example last-layer gradients: the cheap gradient proxy of CRAIG and CREST.

For cross-entropy loss the gradient with respect to the logits ``z = W h + b`` of example ``i`` is
``softmax(z_i) - onehot(y_i)``; the gradient with respect to the last layer's weights is that vector times
the penultimate features ``h_i`` (an outer product), and with respect to the bias it is the vector itself.
Mirzasoleiman et al. (2020), "Coresets for Data-efficient Training of Machine Learning Models" (CRAIG),
and Yang et al. (2023), "Towards Sustainable Learning: Coresets for Data-efficient Deep Learning" (CREST),
select with these in place of full per-example gradients, which would need one backward pass per example.
Here everything comes from one batched forward pass, with no autograd at all.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from ..data.torch_data import iter_batches
from ..errors import LessdataError


def find_last_linear(model: nn.Module, layer: str | None = None) -> tuple[str, nn.Linear]:
    """Return ``(name, module)`` of the layer named ``layer``, or of the last ``nn.Linear`` in
    ``model.modules()`` order; raise :class:`LessdataError` if there is none or it is not an ``nn.Linear``.

    Examples:
        >>> from lessdata.models import LeNet
        >>> find_last_linear(LeNet())[0]
        'fc3'
    """
    if layer is not None:
        modules = dict(model.named_modules())
        if layer not in modules:
            linear_names = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
            raise LessdataError(
                f"the model has no layer named {layer!r}; its nn.Linear layers are: "
                f"{', '.join(linear_names) or '(none)'}"
            )
        if not isinstance(modules[layer], nn.Linear):
            raise LessdataError(f"layer {layer!r} is a {type(modules[layer]).__name__}, not an nn.Linear")
        return layer, modules[layer]
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise LessdataError(
            f"the model ({type(model).__name__}) has no nn.Linear layer to take last-layer gradients from"
        )
    return found[-1]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def last_layer_gradients(
    model: nn.Module,
    data,
    labels=None,
    *,
    layer: str | None = None,
    full: bool = False,
    batch_size: int = 512,
    device=None,
    progress=None,
) -> np.ndarray:
    """Per-example cross-entropy gradients at the last linear layer, as a float32 array.

    Row ``i`` is ``g_i = softmax(z_i) - onehot(y_i)`` (shape ``(n, C)``), the gradient of the loss with
    respect to the logits. With ``full=True`` it is the gradient with respect to the last layer's
    parameters: ``outer(g_i, h_i)`` flattened row-major (the layout of ``layer.weight``), then ``g_i`` for the
    bias if the layer has one, i.e. ``(n, C * (h + 1))`` or ``(n, C * h)``, where ``h_i`` is the input of the
    layer captured by a forward hook. Exact when the model returns that layer's output as its logits.

    The model runs in eval mode under ``torch.no_grad()``, batch by batch; each module's train/eval mode
    is restored afterwards.

    Args:
        model: a classifier whose output is the logits ``(batch, C)``.
        data: numpy array / tensor of inputs (labels in ``labels``), an ``(X, y)`` pair, a torch Dataset
            yielding ``(x, y)``, or a DataLoader that does not shuffle. uint8 arrays are scaled by 1/255.
        labels: integer class labels, one per example; replaces those in ``data`` when given.
        layer: name of the last layer in ``model.named_modules()`` (e.g. ``"fc3"``); default: the last
            ``nn.Linear`` in ``model.modules()`` order.
        full: also return the weight (and bias) gradient, not only the logits gradient.
        batch_size: examples per forward pass (when ``data`` is not already a DataLoader).
        device: where to run the model; default the device of the model's parameters. The model is
            not moved: it must already be there.
        progress: optional tqdm-compatible object; ``.total`` is set when known and ``.update(n)`` is called
            after each batch.

    Examples:
        >>> import numpy as np
        >>> from lessdata.models import MLP
        >>> X = np.random.default_rng(0).random((100, 784), dtype=np.float32)
        >>> y = np.arange(100) % 10
        >>> last_layer_gradients(MLP(), X, y).shape
        (100, 10)
        >>> last_layer_gradients(MLP(), X, y, full=True).shape   # 10 * (128 + 1)
        (100, 1290)
    """
    name, linear = find_last_linear(model, layer)
    device = model_device(model) if device is None else torch.device(device)
    captured: dict[str, torch.Tensor] = {}

    def hook(module, inputs, output):
        captured["input"], captured["output"] = inputs[0], output

    batches = iter_batches(data, labels, batch_size=batch_size)
    if progress is not None and hasattr(progress, "total"):
        size = _size(data, labels)
        if size is not None:
            progress.total = size
    modes = {module: module.training for module in model.modules()}
    handle = linear.register_forward_hook(hook)
    chunks = []
    try:
        model.eval()
        with torch.no_grad():
            for x, y in batches:
                if y is None:
                    raise LessdataError(
                        "last_layer_gradients needs class labels: pass labels= or data that yields (x, y)"
                    )
                captured.clear()
                logits = model(x.to(device))
                chunks.append(_batch_gradients(logits, y.to(device), captured, name, linear, full))
                if progress is not None:
                    progress.update(len(x))
    finally:
        handle.remove()
        for module, training in modes.items():
            module.train(training)
    if not chunks:
        raise LessdataError("no examples to compute gradients for: the data is empty")
    return np.concatenate(chunks)


def _batch_gradients(logits, y, captured, name: str, linear: nn.Linear, full: bool) -> np.ndarray:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise LessdataError(f"the model must return logits of shape (batch, classes), got {shape}")
    if "output" not in captured:
        raise LessdataError(f"layer {name!r} was not called in the model's forward pass")
    if captured["output"].shape != logits.shape:
        raise LessdataError(
            f"layer {name!r} outputs shape {tuple(captured['output'].shape)} but the model "
            f"returns logits of shape {tuple(logits.shape)}; name the layer that produces "
            "the logits"
        )
    y = y.reshape(-1)
    if y.is_floating_point():
        if not torch.equal(y, y.round()):
            raise LessdataError("labels must be integer class ids")
    num_classes = logits.shape[1]
    if len(y) != len(logits):
        raise LessdataError(f"got {len(y)} labels for a batch of {len(logits)} examples")
    y = y.long()
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise LessdataError(f"label {bad} is out of range for a model with {num_classes} outputs")
    grad = torch.softmax(logits.float(), dim=1)
    grad[torch.arange(len(y), device=grad.device), y] -= 1.0
    if full:
        features = captured["input"].float().reshape(len(grad), -1)
        parts = [(grad[:, :, None] * features[:, None, :]).reshape(len(grad), -1)]
        if linear.bias is not None:
            parts.append(grad)
        grad = torch.cat(parts, dim=1)
    return grad.cpu().numpy()


def _size(data, labels) -> int | None:
    """Number of examples, if known without iterating (for the progress bar's total)."""
    if labels is not None:
        return len(labels)
    source = data.dataset if isinstance(data, torch.utils.data.DataLoader) else data
    if isinstance(source, tuple):
        source = source[0]
    if isinstance(source, (str, os.PathLike)):
        return None
    try:
        return len(source)
    except TypeError:
        return None
