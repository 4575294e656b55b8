"""Model selectors: ``selector(model) -> Coreset`` for the epoch schedules (:class:`EveryKEpochs`...).

One mechanism serves every method that reselects with the current model: a :class:`ModelSelector` holds the
training data, a method name and its parameters, a *signal* (what to compute from the model: last-layer
gradients, logit gradients...) and optional *extras* (further per-call parameters computed from the model,
e.g. AdaCore's curvature or GLISTER's validation logits). Each call computes them with the current model and
runs :func:`lessdata.select` on the result. The method files stay arrays in, Coreset out.

The named selectors are thin constructors of it: :func:`gradient_selector` (CRAIG, or any registered
method, on last-layer gradients), :func:`adacore_selector`, :func:`crest_selector`,
:func:`gradmatch_selector` and :func:`glister_selector`.

First call: the selectors of the adaptive methods start from a *random* subset at their first call
(``first="random"``, CORDS' rule for GradMatch, GLISTER and CRAIG: an untrained model's gradients say little and
cost 1-2 points), then select with the model from the second call on; ``first="model"`` selects with the model
from the first call (:func:`gradient_selector`'s default, as CRAIG's own code, baharanm/craig, does).

Seeds: call ``t`` (0, 1, 2, ...) of a selector built with ``seed=s`` selects with the seed
``SeedSequence([s, t])`` (:func:`call_seed`), and per-call randomness in its extras (AdaCore's Hutchinson
vectors) uses that seed too. So two selectors with the same seed, called on the same models, return the same
Coresets, while successive calls draw fresh random subsets / samples (CREST, stochastic greedy) instead of
repeating the first call's. :class:`~lessdata.training.CrestTrainer` seeds its resets by the same rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import Options, check_param
from ..coreset import Coreset
from ..data import dataset_labels
from ..errors import LessdataError
from ..methods import get_method, select

__all__ = [
    "HessianCurvature",
    "ModelSelector",
    "SelectorCall",
    "adacore_selector",
    "call_seed",
    "crest_selector",
    "glister_selector",
    "gradient_selector",
    "gradmatch_selector",
    "class_row_signal",
    "last_layer_signal",
    "validation_gradients",
    "validation_logits",
]


def call_seed(seed: int, call: int) -> int:
    """The seed of call ``call`` of a selector built with ``seed``: ``SeedSequence([seed, call])``.

    >>> call_seed(0, 0) == call_seed(0, 0), call_seed(0, 0) == call_seed(0, 1)
    (True, False)
    """
    return int(np.random.SeedSequence([int(seed), int(call)]).generate_state(1)[0])


@dataclass
class SelectorCall:
    """What a signal or an extras function gets besides the model: the data, the training labels, this call's
    number and seed, and the selector's ``layer`` / ``batch_size`` / ``device``."""

    data: Any
    labels: np.ndarray
    number: int
    seed: int
    layer: str | None
    batch_size: int
    device: Any


Signal = Callable[[Any, SelectorCall], np.ndarray]
#: what a selector does at its first call: ``"random"`` (a random subset, per class when the selection is) or
#: ``"model"`` (select with the model as at every later call)
FIRST = ("random", "model")
#: the last-layer gradients GradMatch can match: weight and bias (``"full"``, CORDS' and DeepCore's default),
#: the logits only (``"logits"``), or the row of the example's own class (``"class_row"``, CORDS'
#: ``PerClassPerGradient``)
GRADIENTS = ("full", "logits", "class_row")
Extras = Callable[[Any, SelectorCall], dict]


class ModelSelector:
    """``selector(model) -> Coreset``: compute ``signal`` (and ``extras``) with the model, then select.

    Args:
        data: the training data (anything :func:`lessdata.signals.last_layer_gradients` reads).
        method: a registered method name.
        signal: ``signal(model, call) -> array`` (n rows), e.g. :func:`last_layer_signal`.
        extras: optional ``extras(model, call) -> dict`` of further method parameters computed per call.
        labels: the training labels; default: read once from ``data`` on the first call.
        fraction, budget: the subset size (exactly one), as in :func:`lessdata.select`.
        seed: call ``t`` selects with :func:`call_seed` ``(seed, t)``.
        per_class: pass the labels to the method (per-class selection); ``False`` selects over all the data.
        first: ``"model"`` (default): select with the model at every call; ``"random"``: the first call returns a
            random subset (class-balanced when ``per_class``; see :data:`FIRST`), computing no signal.
        layer, batch_size, device: for the signal computations.
        **params: method parameters, checked now (an unknown or bad one fails before training starts).

    ``calls`` counts the selections so far.
    """

    def __init__(self, data, method: str, signal: Signal, *, extras: Extras | None = None, labels=None,
                 fraction: float | None = None, budget: int | None = None, seed: int = 0, per_class: bool = True,
                 layer: str | None = None, batch_size: int = 512, device=None, first: str = "model",
                 **params: Any):
        get_method(method)(**params)  # unknown method, unknown or bad parameters: one line, now
        check_param("ModelSelector", "first", first, [Options(*FIRST)])
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise LessdataError(f"seed must be a non-negative integer, got {seed!r}")
        if not callable(signal) or (extras is not None and not callable(extras)):
            raise LessdataError("signal (and extras, when given) must be callables taking (model, call)")
        self.data, self.method, self.signal, self.extras = data, method, signal, extras
        self.fraction, self.budget, self.seed, self.per_class = fraction, budget, int(seed), bool(per_class)
        self.layer, self.batch_size, self.device, self.params = layer, batch_size, device, params
        self.first = first
        self._labels = None if labels is None else np.asarray(labels)
        self.calls = 0

    @property
    def labels(self) -> np.ndarray:
        """The training labels (read from the data on first use when none were given)."""
        if self._labels is None:
            self._labels = dataset_labels(self.data, None, self.batch_size)
        return self._labels

    def __call__(self, model) -> Coreset:
        call = SelectorCall(self.data, self.labels, self.calls, call_seed(self.seed, self.calls), self.layer,
                            self.batch_size, self.device)
        self.calls += 1
        if call.number == 0 and self.first == "random":
            return select(None, fraction=self.fraction, budget=self.budget, method="random", n=len(call.labels),
                          labels=call.labels if self.per_class else None, seed=call.seed)
        X = self.signal(model, call)
        extra = {} if self.extras is None else self.extras(model, call)
        return select(X, fraction=self.fraction, budget=self.budget, method=self.method,
                      labels=call.labels if self.per_class else None, seed=call.seed, **self.params, **extra)

    def __repr__(self) -> str:
        return f"ModelSelector(method={self.method!r}, calls={self.calls})"


# --------------------------------------------------------------------------------- signals and extras
def last_layer_signal(full: bool = False) -> Signal:
    """Per-example last-layer gradients (``full=False``: w.r.t. the logits; ``True``: weight and bias)."""

    def signal(model, call: SelectorCall) -> np.ndarray:
        from ..signals import last_layer_gradients

        return last_layer_gradients(model, call.data, call.labels, layer=call.layer, full=full,
                                    batch_size=call.batch_size, device=call.device)

    return signal


def class_row_signal() -> Signal:
    """Per-example gradient of the last layer's row for the example's own class, weight then bias:
    ``g_{i,y_i} · h_i`` and ``g_{i,y_i}`` (``g = softmax − one-hot``, ``h`` the penultimate features), ``h + 1``
    columns (``h`` without a bias). CORDS' ``PerClassPerGradient`` signal: within a class it is that class's
    block of the full last-layer gradient, a ``C``-th of its width."""

    def signal(model, call: SelectorCall) -> np.ndarray:
        import torch

        from ..signals import find_last_linear, last_layer_inputs

        h, z, y = last_layer_inputs(model, call.data, call.labels, layer=call.layer, batch_size=call.batch_size,
                                    device=call.device)
        p = torch.softmax(torch.from_numpy(z).double(), dim=1).numpy()
        rows = np.arange(len(y))
        g = p[rows, y] - 1.0
        parts = [g[:, None] * h]
        if find_last_linear(model, call.layer)[1].bias is not None:
            parts.append(g[:, None])
        return np.concatenate(parts, axis=1).astype(np.float32)

    return signal


def gradient_signal(gradients: str) -> Signal:
    """The signal of one of :data:`GRADIENTS`."""
    check_param("selector", "gradients", gradients, [Options(*GRADIENTS)])
    return class_row_signal() if gradients == "class_row" else last_layer_signal(gradients == "full")


class HessianCurvature:
    """AdaCore's extras: a Hutchinson estimate of the last layer's Hessian diagonal, folded into a running
    :class:`~lessdata.signals.CurvatureEMA` (``ema``, kept across calls) -> ``{"curvature", "damping"}``.
    ``full=False`` keeps the logits' block (the bias entries)."""

    def __init__(self, full: bool = True, damping: float = 0.01, beta2: float = 0.99, samples: int = 1):
        from ..signals import CurvatureEMA

        self.full, self.damping, self.samples = full, damping, samples
        self.ema = CurvatureEMA(beta1=0.9, beta2=beta2)

    def __call__(self, model, call: SelectorCall) -> dict:
        import torch

        from ..signals import find_last_linear, last_layer_hessian_diagonal

        generator = torch.Generator().manual_seed(call.seed)
        last_layer_hessian_diagonal(model, call.data, call.labels, layer=call.layer, samples=self.samples,
                                    batch_size=call.batch_size, generator=generator, ema=self.ema,
                                    device=call.device)
        curvature = self.ema.curvature.cpu().numpy()
        if not self.full:  # the logits' curvature is the bias block (last C entries)
            _, linear = find_last_linear(model, call.layer)
            if linear.bias is None:
                raise LessdataError("full=False takes the curvature of the bias; this last layer has none")
            curvature = curvature[-linear.out_features:]
        return {"curvature": curvature, "damping": self.damping}


def _validation_labels(validation, labels, batch_size: int, cache: dict) -> np.ndarray:
    if "labels" not in cache:
        cache["labels"] = dataset_labels(validation, labels, batch_size)
    return cache["labels"]


def validation_gradients(validation, validation_labels=None, full: bool = True) -> Extras:
    """GradMatch's extras: the validation set's last-layer gradients (and labels) as the matching target."""
    cache: dict = {}

    def extras(model, call: SelectorCall) -> dict:
        from ..signals import last_layer_gradients

        y = _validation_labels(validation, validation_labels, call.batch_size, cache)
        V = last_layer_gradients(model, validation, y, layer=call.layer, full=full, batch_size=call.batch_size,
                                 device=call.device)
        return {"validation_gradients": V, "validation_labels": y}

    return extras


def validation_logits(validation=None, validation_labels=None, full: bool = False) -> Extras:
    """GLISTER's extras for its exact update: the validation logits, labels and (``full=True``) penultimate
    features under the current model; without ``validation`` the training data stands in for it."""
    cache: dict = {}

    def extras(model, call: SelectorCall) -> dict:
        from ..signals import last_layer_inputs

        if validation is None:
            data, y = call.data, call.labels
        else:
            data, y = validation, cache.get("labels", validation_labels)
        h, z, y = last_layer_inputs(model, data, y, layer=call.layer, batch_size=call.batch_size,
                                    device=call.device)
        if validation is not None:
            cache["labels"] = y
        return {"update": "exact", "validation_logits": z, "validation_labels": y,
                "validation_features": h if full else None}

    return extras


# --------------------------------------------------------------------------------- the named selectors
def gradient_selector(data, labels=None, *, fraction: float | None = None, budget: int | None = None,
                      method: str = "craig", seed: int = 0, batch_size: int = 512, device: str | None = None,
                      first: str = "model", **params: Any) -> ModelSelector:
    """A selector that runs ``method`` (CRAIG by default) on the current model's last-layer gradients.

    The gradient of the loss with respect to the logits (softmax − one-hot) is the cheap proxy CRAIG uses
    for deep networks (Mirzasoleiman et al., 2020, Sec. 4); selection is per class. ``data`` is anything
    :func:`lessdata.signals.last_layer_gradients` accepts, e.g. a dataset yielding ``(x, y)``; ``labels``
    default to the ones in ``data`` (read once, on the first selection). ``params`` go to
    :func:`lessdata.select` (e.g. ``metric=``, ``optimizer=``). Seeds: see :mod:`lessdata.training.selectors`.
    ``first="model"`` (default) selects with the model from the first call, as CRAIG's code (baharanm/craig,
    ``train_resnet.py``) does; ``first="random"`` starts from a random subset (CORDS' rule).

    Examples:
        >>> schedule = EveryKEpochs(gradient_selector(train_set, fraction=0.1), k=1)  # doctest: +SKIP
    """
    return ModelSelector(data, method, last_layer_signal(), labels=labels, fraction=fraction, budget=budget,
                         seed=seed, batch_size=batch_size, device=device, first=first, **params)


def adacore_selector(data, labels=None, *, fraction: float | None = None, budget: int | None = None,
                     full: bool = True, damping: float = 0.01, beta2: float = 0.99, samples: int = 1,
                     layer: str | None = None, seed: int = 0, batch_size: int = 512, device=None,
                     first: str = "model", **params) -> ModelSelector:
    """A selector running AdaCore (Pooladzandi et al., ICML 2022) with the current model.

    Each call computes the per-example last-layer gradients (``full=True``: weight and bias; else logits only)
    and one Hutchinson estimate of the last layer's Hessian diagonal per batch, folds those into a running
    :class:`~lessdata.signals.CurvatureEMA` kept across calls (``beta2``), preconditions and selects.
    ``params`` go to the ``adacore`` method (``metric=``, ``optimizer=``...). The selector's ``ema`` attribute
    holds the running estimate. ``first``: see :data:`FIRST` (``"random"`` skips the curvature at call 0).

    Examples:
        >>> schedule = EveryKEpochs(adacore_selector(train_set, fraction=0.1), k=1)   # doctest: +SKIP
    """
    curvature = HessianCurvature(full=full, damping=damping, beta2=beta2, samples=samples)
    selector = ModelSelector(data, "adacore", last_layer_signal(full), extras=curvature, labels=labels,
                             fraction=fraction, budget=budget, seed=seed, layer=layer, batch_size=batch_size,
                             device=device, first=first, **params)
    selector.ema = curvature.ema
    return selector


def crest_selector(data, labels=None, *, fraction: float | None = None, budget: int | None = None,
                   layer: str | None = None, seed: int = 0, batch_size: int = 512, device=None,
                   first: str = "model", **params) -> ModelSelector:
    """A selector for ``EveryKEpochs``: CREST's mini-batch coresets (Yang et al., ICML 2023) on the current
    model's logit gradients, fresh random subsets at every call.

    This reselects on the epoch schedule, without CREST's loss-model check; for that use
    :class:`lessdata.training.CrestTrainer`. ``params`` go to the ``crest`` method (``minibatch_size=``...).
    """
    return ModelSelector(data, "crest", last_layer_signal(), labels=labels, fraction=fraction, budget=budget,
                         seed=seed, layer=layer, batch_size=batch_size, device=device, first=first, **params)


def gradmatch_selector(data, labels=None, *, fraction: float | None = None, budget: int | None = None,
                       validation=None, validation_labels=None, gradients: str = "full",
                       first: str = "random", layer: str | None = None, seed: int = 0, batch_size: int = 512,
                       device=None, **params) -> ModelSelector:
    """A selector running GRAD-MATCH (Killamsetty et al., ICML 2021) on the current model's last-layer
    gradients.

    Reference settings by default (CORDS ``GradMatchStrategy`` with ``linear_layer=True``, DeepCore's
    ``GradMatch``): ``gradients="full"``, the last layer's weight and bias gradients (penultimate features
    included), and ``first="random"``, a random subset at the first call (CORDS starts every adaptive strategy
    from one). Options (:data:`GRADIENTS`): ``"class_row"`` is CORDS' ``PerClassPerGradient`` (each class
    matched on its own row of the weight gradient plus its bias entry, ``h + 1`` columns: a ``C``-th of the
    OMP cost); ``"logits"`` matches the logit gradients only. Measured on Fashion-MNIST with LeNet (10 epochs,
    10%, reselected every 5 epochs, 2 seeds): full 82.4 / 84.6%, class_row 81.7 / 83.7% at a tenth of the OMP
    time, logits 48.5 / 47.1% (random 81.7 / 83.5%): logit-only OMP picks the hardest examples (mean true-class
    probability 0.22 vs 0.46 with full gradients) and should not be used for training subsets. ``first="model"``
    selects with the model from the first call (1-2 points lower there).

    ``validation`` (anything :func:`~lessdata.signals.last_layer_gradients` reads, with ``validation_labels``
    or labels in it) switches the target to the validation gradients (``gradients="full"`` or ``"logits"``).
    ``params`` go to the ``gradmatch`` method (``lam=``, ``tol=``...).

    Examples:
        >>> schedule = EveryKEpochs(gradmatch_selector(train_set, fraction=0.1), k=20)   # doctest: +SKIP
    """
    signal = gradient_signal(gradients)
    if validation is not None and gradients == "class_row":
        raise LessdataError("gradmatch_selector: a validation target needs gradients='full' or 'logits'")
    extras = (None if validation is None
              else validation_gradients(validation, validation_labels, gradients == "full"))
    return ModelSelector(data, "gradmatch", signal, extras=extras, labels=labels, fraction=fraction,
                         budget=budget, seed=seed, layer=layer, batch_size=batch_size, device=device, first=first,
                         **params)


def glister_selector(data, labels=None, *, fraction: float | None = None, budget: int | None = None,
                     validation=None, validation_labels=None, eta: float = 0.1, gradients: str = "full",
                     per_class: bool = False, first: str = "random", layer: str | None = None, seed: int = 0,
                     batch_size: int = 512, device=None, **params) -> ModelSelector:
    """A selector running GLISTER (Killamsetty et al., AAAI 2021) with the exact last-layer update.

    ``validation`` is a held-out set (anything :func:`~lessdata.signals.last_layer_gradients` reads, with
    ``validation_labels`` or labels in it); without one the training data stands in for it. ``eta`` is the
    one-step learning rate (use your optimizer's). Reference settings by default: ``gradients="full"`` (the
    last layer's weight and bias gradients with the penultimate features, and the exact update of the
    validation logits through both; CORDS' ``GLISTERStrategy`` with ``linear_layer=True``, DeepCore's
    ``Glister``), ``per_class=False`` (one selection over all the data, CORDS ``selection_type='Supervised'``)
    and ``first="random"`` (a random subset at the first call, as CORDS). ``gradients="logits"`` is the
    cheaper logit-only variant: on Fashion-MNIST with LeNet (10 epochs, 10%, 2 seeds) it reached 68.3 / 71.4%
    against 81.1 / 80.7% with full gradients. ``params`` go to the ``glister`` method (``greedy=``,
    ``epsilon=``...).

    Class balance: over all classes (``per_class=False``) the picks follow the validation gain, not the class
    frequencies. On a half-trained model they can be strongly imbalanced: on a 10,000-example Fashion-MNIST subset
    with LeNet after 5 or 10 epochs on 10% (10 seeds), the smallest class got 0-25 of 1,000 picks and the largest
    200-390, and at a high learning rate (0.05, SGD momentum 0.9, 15 epochs, reselected every 5) it reached
    47.4 ± 15.1% with 2 runs of 10 collapsing, against 58.2 ± 3.7% and none with ``per_class=True`` (DeepCore's
    default, ``balance=True``), which keeps every class at its share.

    Examples:
        >>> selector = glister_selector(train_set, fraction=0.1, validation=val_set)   # doctest: +SKIP
        >>> schedule = EveryKEpochs(selector, k=20)                                    # doctest: +SKIP
    """
    check_param("glister_selector", "gradients", gradients, [Options("full", "logits")])
    full = gradients == "full"
    return ModelSelector(data, "glister", last_layer_signal(full), extras=validation_logits(validation,
                         validation_labels, full), labels=labels, fraction=fraction, budget=budget, seed=seed,
                         per_class=per_class, layer=layer, batch_size=batch_size, device=device, first=first,
                         eta=eta, **params)
