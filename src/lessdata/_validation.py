"""Input checks shared by the library and the CLI: each failure is one clear :class:`LessdataError`."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .errors import LessdataError


def check_features(X, name: str = "features") -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 2-D array, or raise naming what is wrong."""
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise LessdataError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise LessdataError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):  # casting would silently drop the imaginary part
        raise LessdataError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise LessdataError(f"{name} must be a 2-D array (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise LessdataError(f"{name} is empty (shape {arr.shape})")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise LessdataError(f"{name} contain NaN or infinite values (first in row {bad})")
    return arr


def check_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as a 1-D array of length ``n`` (any hashable dtype numpy can sort)."""
    try:
        arr = np.asarray(labels)
    except Exception as exc:  # ragged nesting and the like
        raise LessdataError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype == object:
        arr = _object_labels(arr, name)
    if arr.ndim != 1:
        raise LessdataError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise LessdataError(f"{name} has length {arr.shape[0]} but there are {n} points")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise LessdataError(f"{name} contain NaN or infinite values")
    return arr


def _object_labels(arr: np.ndarray, name: str) -> np.ndarray:
    """An object array of labels as a plain int, float, bool or str array, or one line naming the problem
    (``None`` entries, or a mix of types that numpy cannot sort consistently)."""
    flat = arr.reshape(-1)
    if any(v is None for v in flat):
        first = next(i for i, v in enumerate(flat) if v is None)
        raise LessdataError(f"{name} contain None (first at position {first})")
    kinds = {"str" if isinstance(v, str) else "bool" if isinstance(v, (bool, np.bool_))
             else "int" if isinstance(v, (int, np.integer)) else "float" if isinstance(v, (float, np.floating))
             else type(v).__name__ for v in flat}
    mixed = len(kinds) > 1 and bool(kinds & {"str", "bool"})
    if kinds - {"str", "bool", "int", "float"} or mixed:
        raise LessdataError(f"{name} must all be of one type (ints, floats, bools or strings), got {sorted(kinds)}")
    dtype = str if kinds == {"str"} else bool if kinds == {"bool"} else float if "float" in kinds else np.int64
    return np.array(flat.tolist(), dtype=dtype).reshape(arr.shape)


def resolve_budget(n: int, fraction: float | None = None, budget: int | None = None) -> int:
    """Turn exactly one of ``fraction`` / ``budget`` into a number of points in ``[1, n]``."""
    if (fraction is None) == (budget is None):
        raise LessdataError("give exactly one of fraction= or budget=")
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.number)):
            raise LessdataError(f"fraction must be a number in (0, 1], got {fraction!r}")
        if not (0.0 < float(fraction) <= 1.0) or math.isnan(float(fraction)):
            raise LessdataError(f"fraction must be in (0, 1], got {fraction}")
        return max(1, min(n, int(math.ceil(float(fraction) * n - 1e-9))))
    if isinstance(budget, Mapping):
        bad = [(k, v) for k, v in budget.items()
               if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0]
        if bad:
            part, value = bad[0]
            raise LessdataError(f"per-part budgets must be non-negative integers, got {value!r} for part {part!r}")
        total = sum(int(v) for v in budget.values())
        return resolve_budget(n, budget=total)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise LessdataError(f"budget must be an integer, got {budget!r}")
    if budget < 1:
        raise LessdataError(f"budget must be at least 1, got {budget}")
    if budget > n:
        raise LessdataError(f"budget {budget} is larger than the number of points ({n})")
    return int(budget)


def check_choice(value: str, choices, what: str) -> str:
    """Raise a one-line error listing the valid names when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise LessdataError(f"unknown {what} {value!r}; choose one of: {', '.join(sorted(choices))}")
    return value


# ------------------------------------------------------------------------------------ parameter constraints
# A table maps each parameter to a list of accepted forms (scikit-learn's ``_parameter_constraints`` idea):
#
#     {"minibatch_size": [Interval(int, 1, None)], "subset_size": [Interval(int, 1, None), None],
#      "metric": [Options("rbf", "euclidean")], "backend": [NameOr(("local", "ray"), "map")]}
#
# A value is valid when any form accepts it; :func:`check_params` checks a whole table and raises one line:
# "method 'crest': minibatch_size must be an int ≥ 1, got 0".


class Interval:
    """Numbers of ``kind`` (``int``; or ``float``, which also accepts ints) between ``low`` and ``high``.

    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``; ``None`` bounds are open-ended.
    Bools, strings, NaN and (for ``float``) infinities are rejected.
    """

    def __init__(self, kind: type, low: float | None = None, high: float | None = None, closed: str = "both"):
        if kind not in (int, float) or closed not in ("both", "left", "right", "neither"):
            raise TypeError(f"Interval({kind!r}, closed={closed!r})")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return False
        if self.kind is int and not isinstance(value, (int, np.integer)):
            return False
        if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
            return False
        low_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        high_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return low_ok and high_ok

    def describe(self) -> str:
        what = "an int" if self.kind is int else "a number"
        low, high = _plain_number(self.low), _plain_number(self.high)
        if self.low is None and self.high is None:
            return what
        if self.high is None:
            return f"{what} {'≥' if self.closed in ('both', 'left') else '>'} {low}"
        if self.low is None:
            return f"{what} {'≤' if self.closed in ('both', 'right') else '<'} {high}"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        return f"{what} in {left}{low}, {high}{right}"


class Options:
    """One of a fixed set of strings."""

    def __init__(self, *names: str):
        self.names = tuple(names)

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value in self.names

    def describe(self) -> str:
        return "one of " + ", ".join(repr(name) for name in self.names)


class NameOr:
    """A registered name (one of ``names``) or an object with every method in ``methods`` (e.g. a backend
    given as ``"local"`` / ``"ray"`` or as any object with ``map()``)."""

    def __init__(self, names, *methods: str):
        self.options, self.methods = Options(*names), methods

    def accepts(self, value) -> bool:
        if isinstance(value, str):
            return self.options.accepts(value)
        return all(callable(getattr(value, m, None)) for m in self.methods)

    def describe(self) -> str:
        return f"{self.options.describe()} or an object with {', '.join(m + '()' for m in self.methods)}"


class Satisfies:
    """Any value ``test(value)`` accepts, described as ``description`` (e.g. ``"a DynamicsRecorder"``)."""

    def __init__(self, description: str, test):
        self.description, self.test = description, test

    def accepts(self, value) -> bool:
        return self.test(value)

    def describe(self) -> str:
        return self.description


#: the most common form: a count of at least one
POSITIVE_INT = [Interval(int, 1, None)]
#: a count of at least one that C code takes as a 32-bit int (faiss k-means iterations and restarts)
C_COUNT = [Interval(int, 1, 2**31 - 1)]
#: a finite number above zero (learning rates, temperatures)
POSITIVE_NUMBER = [Interval(float, 0, None, closed="neither")]
#: True or False (numpy bools too; not 0 / 1)
BOOL = Satisfies("a bool", lambda v: isinstance(v, (bool, np.bool_)))
#: an array-like: a numpy array or anything with a shape (tensors, sparse matrices), or a list / tuple
ARRAY = Satisfies("an array", lambda v: hasattr(v, "shape") or isinstance(v, (list, tuple)))


def _real_array(value) -> bool:
    dtype = getattr(value, "dtype", None)
    if isinstance(dtype, np.dtype):  # numpy arrays, sparse matrices
        return hasattr(value, "shape") and dtype.kind in "biuf"
    if hasattr(value, "shape"):
        return True  # a tensor or the like: converted (and checked) where it is used
    if not isinstance(value, (list, tuple)):
        return False
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (ValueError, TypeError):  # ragged nesting
        return False


#: an array of real numbers: a numpy array (or sparse matrix, tensor) of a real dtype, or a list / tuple of them
NUMBERS = Satisfies("an array of real numbers", _real_array)
#: any callable
CALLABLE = Satisfies("a callable", callable)
#: a dict-like mapping
MAPPING = Satisfies("a mapping", lambda v: isinstance(v, Mapping))
#: anything at all (for parameters checked against the data, e.g. an object whose use is checked later)
ANY = Satisfies("anything", lambda v: True)


def _plain_number(x):
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _accepts(form, value) -> bool:
    return value is None if form is None else form.accepts(value)


def describe_forms(forms) -> str:
    """``[Interval(int, 1, None), None]`` -> ``"an int ≥ 1 or None"``."""
    texts = ["None" if form is None else form.describe() for form in forms]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]


def _show(value) -> str:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"<{type(value).__name__} shape={tuple(value.shape)}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_param(owner: str, name: str, value, forms):
    """Return ``value``, or raise ``"{owner}: {name} must be {forms}, got {value!r}"`` unless one of ``forms``
    accepts it."""
    if not any(_accepts(form, value) for form in forms):
        raise LessdataError(f"{owner}: {name} must be {describe_forms(forms)}, got {_show(value)}")
    return value


def check_params(owner: str, params: Mapping, constraints: Mapping) -> None:
    """Check every parameter in ``params`` that has an entry in ``constraints`` (one message format)."""
    for name, value in params.items():
        if name in constraints:
            check_param(owner, name, value, constraints[name])
