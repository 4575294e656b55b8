"""Signals: arrays computed from data (and a model) that selection objectives compare.

This is the torch side of lessdata (the submodular engine never imports torch). The plain-numpy parts
(:mod:`~lessdata.signals.statistics`, :mod:`~lessdata.signals.preconditioning`, :func:`features`) load with
the package; the torch-based signals load on first use, so the selection methods can import the statistics
without loading torch.
"""

from importlib import import_module

from .features import features, standardize
from .preconditioning import precondition_gradients
from .statistics import (
    UNCERTAINTY_SCORES,
    cartography_statistics,
    forgetting_events,
    forgetting_scores,
    uncertainty_scores,
)

# public name -> the module (under lessdata.signals) that defines it; imported when the name is first used
_TORCH_SIDE = {
    "DynamicsRecorder": "dynamics",
    "el2n_scores": "dynamics",
    "grand_scores": "dynamics",
    "record_checkpoint": "dynamics",
    "find_last_linear": "gradients",
    "last_layer_gradients": "gradients",
    "model_device": "gradients",
    "CurvatureEMA": "hessian",
    "hessian_vector_product": "hessian",
    "hutchinson_diagonal": "hessian",
    "last_layer_hessian_diagonal": "hessian",
    "last_layer_inputs": "hessian",
    "precondition": "hessian",
}
_SUBMODULES = {"dynamics", "embeddings", "features", "gradients", "hessian", "pipeline", "zeroth_order"}


def __getattr__(name: str):
    if name in _TORCH_SIDE:
        return getattr(import_module(f".{_TORCH_SIDE[name]}", __name__), name)
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_TORCH_SIDE) | _SUBMODULES)


__all__ = ["DynamicsRecorder", "el2n_scores", "features", "find_last_linear", "grand_scores",
           "last_layer_gradients", "model_device", "record_checkpoint", "standardize",
           "CurvatureEMA", "hessian_vector_product", "hutchinson_diagonal", "last_layer_hessian_diagonal",
           "last_layer_inputs", "precondition", "precondition_gradients", "UNCERTAINTY_SCORES",
           "cartography_statistics", "forgetting_events", "forgetting_scores", "uncertainty_scores"]
