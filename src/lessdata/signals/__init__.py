"""Signals: arrays computed from data (and a model) that selection objectives compare.

This is the torch side of lessdata; the submodular engine never imports torch.
"""

from .dynamics import DynamicsRecorder, early_training_scores, el2n_scores, grand_scores, record_checkpoint
from .features import features, standardize
from .gradients import find_last_linear, last_layer_gradients
from .hessian import (
    CurvatureEMA,
    hessian_vector_product,
    hutchinson_diagonal,
    last_layer_hessian_diagonal,
    last_layer_inputs,
    precondition,
)

__all__ = ["DynamicsRecorder", "early_training_scores", "el2n_scores", "features", "find_last_linear",
           "grand_scores", "last_layer_gradients", "record_checkpoint", "standardize",
           "CurvatureEMA", "hessian_vector_product", "hutchinson_diagonal", "last_layer_hessian_diagonal",
           "last_layer_inputs", "precondition"]
