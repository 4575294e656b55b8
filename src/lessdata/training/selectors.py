"""Model selectors: ``selector(model) -> Coreset`` for the epoch schedules (:class:`EveryKEpochs`...).

One mechanism serves every method that reselects with the current model: a :class:`ModelSelector` holds the
training data, a method name and its parameters, a *signal* (what to compute from the model: last-layer
gradients, logit gradients...) and optional *extras* (further per-call parameters computed from the model,
e.g. AdaCore's curvature or GLISTER's validation logits). Each call computes them with the current model and
runs :func:`lessdata.select` on the result. The method files stay arrays in, Coreset out.

The named selectors are thin constructors of it: :func:`gradient_selector` (CRAIG, or any registered
method, on last-layer gradients), :func:`adacore_selector`, :func:`crest_selector`,
:func:`gradmatch_selector` and :func:`glister_selector`.

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
        layer, batch_size, device: for the signal computations.
        **params: method parameters, checked now (an unknown or bad one fails before training starts).

    ``calls`` counts the selections so far.
    """

    def __init__(self, data, method: str, signal: Signal, *, extras: Extras | None = None, labels=None,
                 fraction: float | None = None, budget: int | None = None, seed: int = 0, per_class: bool = True,
                 layer: str | None = None, batch_size: int = 512, device=None, **params: Any):
        get_method(method)(**params)  # unknown method, unknown or bad parameters: one line, now
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise LessdataError(f"seed must be a non-negative integer, got {seed!r}")
        if not callable(signal) or (extras is not None and not callable(extras)):
            raise LessdataError("signal (and extras, when given) must be callables taking (model, call)")
        self.data, self.method, self.signal, self.extras = data, method, signal, extras
        self.fraction, self.budget, self.seed, self.per_class = fraction, budget, int(seed), bool(per_class)
        self.layer, self.batch_size, self.device, self.params = layer, batch_size, device, params
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
                      **params: Any) -> ModelSelector:
    """A selector that runs ``method`` (CRAIG by default) on the current model's last-layer gradients.

    The gradient of the loss with respect to the logits (softmax − one-hot) is the cheap proxy CRAIG uses
    for deep networks (Mirzasoleiman et al., 2020, Sec. 4); selection is per class. ``data`` is anything
    :func:`lessdata.signals.last_layer_gradients` accepts, e.g. a dataset yielding ``(x, y)``; ``labels``
    default to the ones in ``data`` (read once, on the first selection). ``params`` go to
    :func:`lessdata.select` (e.g. ``metric=``, ``optimizer=``). Seeds: see :mod:`lessdata.training.selectors`.

    Examples:
        >>> schedule = EveryKEpochs(gradient_selector(train_set, fraction=0.1), k=1)  # doctest: +SKIP
    """
    return ModelSelector(data, method, last_layer_signal(), labels=labels, fraction=fraction, budget=budget,
                         seed=seed, batch_size=batch_size, device=device, **params)


def adacore_selector(data, labels=None, *, fraction: float | None = None, budget: int | None = None,
                     full: bool = True, damping: float = 0.01, beta2: float = 0.99, samples: int = 1,
                     layer: str | None = None, seed: int = 0, batch_size: int = 512, device=None,
                     **params) -> ModelSelector:
    """A selector running AdaCore (Pooladzandi et al., ICML 2022) with the current model.

    Each call computes the per-example last-layer gradients (``full=True``: weight and bias; else logits only)
    and one Hutchinson estimate of the last layer's Hessian diagonal per batch, folds those into a running
    :class:`~lessdata.signals.CurvatureEMA` kept across calls (``beta2``), preconditions and selects.
    ``params`` go to the ``adacore`` method (``metric=``, ``optimizer=``...). The selector's ``ema`` attribute
    holds the running estimate.

    Examples:
        >>> schedule = EveryKEpochs(adacore_selector(train_set, fraction=0.1), k=1)   # doctest: +SKIP
    """
    curvature = HessianCurvature(full=full, damping=damping, beta2=beta2, samples=samples)
    selector = ModelSelector(data, "adacore", last_layer_signal(full), extras=curvature, labels=labels,
                             fraction=fraction, budget=budget, seed=seed, layer=layer, batch_size=batch_size,
                             device=device, **params)
    selector.ema = curvature.ema
    return selector


def crest_selector(data, labels=None, *, fraction: float | None = None, budget: int | None = None,
                   layer: str | None = None, seed: int = 0, batch_size: int = 512, device=None,
                   **params) -> ModelSelector:
    """A selector for ``EveryKEpochs``: CREST's mini-batch coresets (Yang et al., ICML 2023) on the current
    model's logit gradients, fresh random subsets at every call.

    This reselects on the epoch schedule, without CREST's loss-model check; for that use
    :class:`lessdata.training.CrestTrainer`. ``params`` go to the ``crest`` method (``minibatch_size=``...).
    """
    return ModelSelector(data, "crest", last_layer_signal(), labels=labels, fraction=fraction, budget=budget,
                         seed=seed, layer=layer, batch_size=batch_size, device=device, **params)


def gradmatch_selector(data, labels=None, *, fraction: float | None = None, budget: int | None = None,
                       validation=None, validation_labels=None, full: bool = True, layer: str | None = None,
                       seed: int = 0, batch_size: int = 512, device=None, **params) -> ModelSelector:
    """A selector running GRAD-MATCH (Killamsetty et al., ICML 2021) on the current model's last-layer
    gradients.

    ``full=True`` uses the weight and bias gradients of the last layer (CORDS's ``linear_layer=True``);
    ``validation`` (anything :func:`~lessdata.signals.last_layer_gradients` reads, with ``validation_labels``
    or labels in it) switches the target to the validation gradients. ``params`` go to the ``gradmatch``
    method (``lam=``, ``tol=``...).

    Examples:
        >>> schedule = EveryKEpochs(gradmatch_selector(train_set, fraction=0.1), k=20)   # doctest: +SKIP
    """
    extras = None if validation is None else validation_gradients(validation, validation_labels, full)
    return ModelSelector(data, "gradmatch", last_layer_signal(full), extras=extras, labels=labels,
                         fraction=fraction, budget=budget, seed=seed, layer=layer, batch_size=batch_size,
                         device=device, **params)


def glister_selector(data, labels=None, *, fraction: float | None = None, budget: int | None = None,
                     validation=None, validation_labels=None, eta: float = 0.1, full: bool = False,
                     per_class: bool = False, layer: str | None = None, seed: int = 0, batch_size: int = 512,
                     device=None, **params) -> ModelSelector:
    """A selector running GLISTER (Killamsetty et al., AAAI 2021) with the exact last-layer update.

    ``validation`` is a held-out set (anything :func:`~lessdata.signals.last_layer_gradients` reads, with
    ``validation_labels`` or labels in it); without one the training data stands in for it. ``eta`` is the
    one-step learning rate (use your optimizer's). ``full=False`` (logit gradients) and ``per_class=False``
    (one selection over all the data) are the paper's code defaults (CORDS ``linear_layer=False``,
    ``selection_type='Supervised'``). ``params`` go to the ``glister`` method (``greedy=``, ``epsilon=``...).

    Examples:
        >>> selector = glister_selector(train_set, fraction=0.1, validation=val_set)   # doctest: +SKIP
        >>> schedule = EveryKEpochs(selector, k=20)                                    # doctest: +SKIP
    """
    return ModelSelector(data, "glister", last_layer_signal(full), extras=validation_logits(validation,
                         validation_labels, full), labels=labels, fraction=fraction, budget=budget, seed=seed,
                         per_class=per_class, layer=layer, batch_size=batch_size, device=device, eta=eta, **params)
