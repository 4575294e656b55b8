"""Signals: arrays computed from data (and a model) that selection objectives compare.

This is the torch side of lessdata; the submodular engine never imports torch.
"""

from .features import features, standardize
from .gradients import find_last_linear, last_layer_gradients

__all__ = ["features", "find_last_linear", "last_layer_gradients", "standardize"]
