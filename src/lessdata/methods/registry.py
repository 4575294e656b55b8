"""The method registry: every selection method is a small class registered by name.

A method declares the signals it needs and maps ``(features, budget, labels, seed, params) -> Coreset``.
Adding a method means adding one module under ``lessdata/methods/`` that defines a :class:`Method` subclass
decorated with :func:`register`, and importing it in ``lessdata/methods/__init__.py``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._validation import Interval, NameOr, Options, check_choice, check_params
from ..backends import BACKENDS
from ..coreset import Coreset
from ..errors import LessdataError
from ..submodular import BUDGET_POLICIES, METRICS, OPTIMIZERS

_REGISTRY: dict[str, type[Method]] = {}

#: The signals a method may declare (``Method.signals``): what its ``X`` (or an extra parameter) holds.
#: :func:`register` refuses any other name, so the common tests can build an input for every method.
SIGNALS: dict[str, str] = {
    "features": "raw feature rows (n, d)",
    "embeddings": "embedding rows (n, d) from a pretrained encoder",
    "image_embeddings": "image embeddings (n, d) of image-text pairs",
    "text_embeddings": "caption embeddings (n, d) row-aligned with the image embeddings (text=)",
    "last_layer_gradients": "per-example last-layer gradients (softmax - onehot, optionally x penultimate)",
    "hessian_diagonal": "a positive estimate of the loss Hessian's diagonal (curvature=)",
    "zeroth_order_gradients": "zeroth-order (forward-only) gradient estimates (n, d)",
    "lora_gradients": "randomly projected (Adam-preconditioned) LoRA gradient features (n, d)",
    "loss_trajectories": "per-example losses over training checkpoints (n, T)",
    "correctness": "per-example correctness per epoch (n, T), 1 = correct",
    "confidence_trajectory": "probability of the true class per epoch (n, T)",
    "probabilities": "class probabilities (n, C); logits where a method says so",
    "el2n_scores": "EL2N scores from k short runs (n, k)",
    "grand_scores": "GraNd gradient norms from k initialisations (n, k)",
    "dynamics": "a DynamicsRecorder of training dynamics (dynamics=)",
}


@dataclass(frozen=True)
class SignalValues:
    """What the values of a score-like signal must be: a range, only 0 / 1, rows summing to one, a number of
    columns. A method whose ``X`` is such a signal checks it with :func:`check_signal`, so raw features
    given by mistake are refused instead of "scored"."""

    low: float | None = None
    high: float | None = None
    binary: bool = False
    rows_sum_to_one: bool = False
    min_columns: int = 1
    max_columns: int | None = None

    def describe(self) -> str:
        def shown(x):
            return "√2" if x == math.sqrt(2) else f"{x:g}"

        parts = []
        if self.binary:
            parts.append("values 0 or 1")
        elif self.low is not None and self.high is not None:
            parts.append(f"values in [{shown(self.low)}, {shown(self.high)}]")
        elif self.low is not None:
            parts.append(f"values ≥ {shown(self.low)}")
        if self.rows_sum_to_one:
            parts.append("rows summing to 1")
        if self.min_columns > 1:
            parts.append(f"at least {self.min_columns} columns")
        if self.max_columns is not None:
            parts.append(f"at most {self.max_columns} columns")
        return ", ".join(parts)

    def problem(self, X: np.ndarray) -> str | None:
        """What is wrong with the finite 2-D array ``X``, or None."""
        columns = X.shape[1]
        if columns < self.min_columns or (self.max_columns is not None and columns > self.max_columns):
            return f"{columns} column{'s' if columns != 1 else ''}"
        if self.binary:
            bad = ~((X == 0) | (X == 1))
        else:
            bad = np.zeros(X.shape, dtype=bool)
            if self.low is not None:
                bad |= X < self.low - 1e-6
            if self.high is not None:
                bad |= X > self.high + 1e-6
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            return f"the value {float(X[row, col]):g} at row {row}, column {col}"
        if self.rows_sum_to_one:
            sums = X.sum(axis=1, dtype=np.float64)
            row = int(np.argmax(np.abs(sums - 1.0)))
            if abs(sums[row] - 1.0) > 1e-3:
                return f"row {row} summing to {sums[row]:g}"
        return None


#: runs of EL2N / GraNd scores a method averages (Paul et al. use 10); more columns are features by mistake
MAX_RUNS = 100
#: The values a score-like signal must hold (the other signals are feature rows and take any finite values).
SIGNAL_VALUES: dict[str, SignalValues] = {
    "correctness": SignalValues(binary=True),
    "confidence_trajectory": SignalValues(0.0, 1.0),
    "probabilities": SignalValues(0.0, 1.0, rows_sum_to_one=True, min_columns=2),
    "el2n_scores": SignalValues(0.0, math.sqrt(2), max_columns=MAX_RUNS),  # ||softmax - onehot||_2 <= √2
    "grand_scores": SignalValues(0.0, max_columns=MAX_RUNS),
    "loss_trajectories": SignalValues(0.0),
}


def check_signal(X: np.ndarray, signal: str, owner: str, hint: str = "") -> np.ndarray:
    """Return ``X`` (finite, 2-D, as :func:`lessdata.select` passes it), or raise one line when its values
    cannot be ``signal`` (see :data:`SIGNAL_VALUES`), e.g.
    ``method 'el2n': X must be EL2N scores ... (values in [0, √2], at most 100 columns), got 784 columns``."""
    spec = SIGNAL_VALUES.get(signal)
    problem = None if spec is None else spec.problem(X)
    if problem is not None:
        raise LessdataError(f"{owner}: X must be {SIGNALS[signal]} ({spec.describe()}), got {problem}{hint}")
    return X


def expected_input(cls: type[Method]) -> str:
    """What a method reads, in a few words (``lessdata methods``): its declared signals and its ``expects``."""
    signals = ", ".join(cls.signals) if cls.signals else "no signal (n= only)"
    return f"{signals}; {cls.expects}" if cls.expects else signals

# Forms shared by many methods' ``parameter_constraints``.
#: a greedy optimizer's name, or an object with ``run()`` (see :func:`lessdata.submodular.maximize`)
OPTIMIZER = [NameOr(OPTIMIZERS, "run")]
#: a budget policy's name, or an object with ``split()`` (see :func:`lessdata.submodular.split_budget`)
BUDGET_POLICY = [NameOr(BUDGET_POLICIES, "split")]
BACKEND = [NameOr(BACKENDS, "map")]
METRIC = [Options(*METRICS)]
#: for methods that build their own similarities from the features
FEATURE_METRIC = [Options(*(m for m in METRICS if m != "precomputed"))]
EPSILON = [Interval(float, 0, 1, closed="neither")]
MEMORY_CAP = [Interval(int, 1, None)]
N_NEIGHBORS = [Interval(int, 2, None)]


class Method:
    """Base class of a selection method.

    Subclasses set ``name``, ``description`` (one line), ``signals`` (what the features are expected to
    be, e.g. ``("features",)`` or ``("last_layer_gradients",)``) and implement :meth:`run`; ``expects``
    adds, in a few words, what the signals do not say (``lessdata methods`` shows both).
    ``defaults`` lists the parameters the method accepts, with their default values; unknown
    parameters are rejected with a clear error. ``parameter_constraints`` declares, for every key of
    ``defaults``, the forms its value may take (see :mod:`lessdata._validation`: :class:`Interval`,
    :class:`Options`, :class:`NameOr`, ``BOOL``, ``ARRAY``, ``CALLABLE``, ``None``...); :meth:`__init__`
    checks them all with one message format, e.g.
    ``method 'crest': minibatch_size must be an int ≥ 1, got 0``. :func:`register` refuses a method whose
    table misses a parameter or whose defaults break it. Checks that relate several parameters, or a
    parameter to the data, stay in the method.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    signals: ClassVar[tuple[str, ...]] = ("features",)
    defaults: ClassVar[dict[str, Any]] = {}
    parameter_constraints: ClassVar[dict[str, list]] = {}
    #: what the method reads beyond its declared signals, in a few words (shown by ``lessdata methods``)
    expects: ClassVar[str] = ""
    needs_features: ClassVar[bool] = True
    #: True when the method selects per part of ``labels`` and accepts a ``{label: count}`` budget
    partitioned: ClassVar[bool] = False

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "none"
            raise LessdataError(f"method {self.name!r} got unknown parameter(s) {unknown}; valid: {valid}")
        check_params(f"method {self.name!r}", params, self.parameter_constraints)
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
        if len(cs) == 0:  # e.g. random greedy when no gain is positive: nothing to train on is not a result
            changed = {k: v for k, v in self.params.items() if self.defaults.get(k) is not v}
            shown = ", ".join(f"{k}={v!r}" for k, v in sorted(_jsonable(changed).items())) or "the defaults"
            raise LessdataError(f"method {self.name!r} selected no point of {n} with {shown}: nothing to "
                                "train on; change the parameters")
        cs.seconds = time.perf_counter() - start
        cs.method, cs.seed, cs.n = self.name, seed, n
        cs.params = {**_jsonable(self.params), **cs.params}
        return cs


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``cls.name``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    unknown_signals = [s for s in cls.signals if s not in SIGNALS]
    if unknown_signals:
        raise TypeError(f"method {cls.name!r} declares unknown signal(s) {unknown_signals}; known: "
                        f"{', '.join(SIGNALS)} (add a new one to registry.SIGNALS)")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise TypeError(f"a method named {cls.name!r} is already registered")
    constraints = cls.parameter_constraints
    missing = sorted(set(cls.defaults) - set(constraints))
    extra = sorted(set(constraints) - set(cls.defaults))
    if missing or extra:
        raise TypeError(f"method {cls.name!r}: parameter_constraints must cover exactly its defaults "
                        f"(missing {missing}, not parameters {extra})")
    try:
        check_params(f"method {cls.name!r}", cls.defaults, constraints)
    except LessdataError as exc:
        raise TypeError(f"a default breaks its own constraint: {exc}") from None
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
