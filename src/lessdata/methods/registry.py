"""The method registry: every selection method is a small class registered by name.

A method declares the signals it needs and maps ``(features, budget, labels, seed, params) -> Coreset``.
Adding a method means adding one module under ``lessdata/methods/`` that defines a :class:`Method` subclass
decorated with :func:`register`, and importing it in ``lessdata/methods/__init__.py``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from .._validation import check_choice
from ..coreset import Coreset

_REGISTRY: dict[str, type[Method]] = {}


class Method:
    """Base class of a selection method.

    Subclasses set ``name``, ``description`` (one line), ``signals`` (what the features are expected to
    be, e.g. ``("features",)`` or ``("last_layer_gradients",)``) and implement :meth:`run`.
    ``defaults`` lists the parameters the method accepts, with their default values; unknown
    parameters are rejected with a clear error.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    signals: ClassVar[tuple[str, ...]] = ("features",)
    defaults: ClassVar[dict[str, Any]] = {}
    needs_features: ClassVar[bool] = True
    #: True when the method selects per part of ``labels`` and accepts a ``{label: count}`` budget
    partitioned: ClassVar[bool] = False

    def __init__(self, **params):
        from ..errors import LessdataError

        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "none"
            raise LessdataError(f"method {self.name!r} got unknown parameter(s) {unknown}; valid: {valid}")
        self.params = {**self.defaults, **params}

    def run(self, X: np.ndarray | None, budget, labels: np.ndarray | None, seed: int, n: int,
            progress=None) -> Coreset:
        """Select ``budget`` of the ``n`` points. ``X`` is validated float32 (or None if not needed).

        ``budget`` is an int, or (for ``partitioned`` methods) a ``{label: count}`` mapping.
        """
        raise NotImplementedError

    def __call__(self, X, budget, labels=None, seed=0, n=None, progress=None) -> Coreset:
        n = X.shape[0] if n is None else n
        start = time.perf_counter()
        cs = self.run(X, budget, labels, seed, n, progress=progress)
        cs.seconds = time.perf_counter() - start
        cs.method, cs.seed, cs.n = self.name, seed, n
        cs.params = {**_jsonable(self.params), **cs.params}
        return cs


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``cls.name``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise TypeError(f"a method named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    check_choice(name, _REGISTRY, "method")
    return _REGISTRY[name]


def methods() -> dict[str, str]:
    """Registered method names mapped to their one-line descriptions."""
    return {name: cls.description for name, cls in sorted(_REGISTRY.items())}


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        if hasattr(v, "shape") and hasattr(v, "dtype"):  # arrays / sparse matrices: describe, don't store
            v = f"<{type(v).__name__} shape={tuple(v.shape)} dtype={v.dtype}>"
        if isinstance(v, (str, int, float, bool, type(None), list, tuple, dict)):
            out[k] = list(v) if isinstance(v, tuple) else v
        else:
            out[k] = repr(v)
    return out
