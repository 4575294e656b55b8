"""Raw-input signals for convex models.

For a convex model such as logistic regression, CRAIG (Mirzasoleiman et al., 2020, "Coresets for
Data-efficient Training of Machine Learning Models", Sec. 3.3) bounds the distance between two examples'
gradients, for any parameters, by a constant times the distance between their inputs. Selecting on the
flattened inputs therefore needs no model at all.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_features
from ..errors import LessdataError


def features(data, *, batch_size: int = 1024) -> np.ndarray:
    """Return the inputs of ``data`` flattened to a float32 ``(n, d)`` array.

    ``data`` is anything :func:`lessdata.data.as_arrays` accepts: an array, an ``(X, y)`` pair, a torch
    Dataset or DataLoader, or a file path. uint8 arrays (images) are scaled by 1/255, the same as
    :class:`~lessdata.data.ArrayDataset` feeds them to a model.

    Examples:
        >>> import numpy as np
        >>> features(np.full((2, 2, 2), 255, dtype=np.uint8))
        array([[1., 1., 1., 1.],
               [1., 1., 1., 1.]], dtype=float32)
    """
    from ..data.torch_data import as_arrays  # torch loads only when data is read

    X, _ = as_arrays(data, batch_size=batch_size)
    X = np.asarray(X)
    if X.ndim == 0:
        raise LessdataError("features need one row per example, got a scalar")
    if X.dtype == np.uint8:
        X = X.astype(np.float32) / np.float32(255.0)
    return check_features(X.reshape(len(X), -1), name="features")


def standardize(X, mean=None, std=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale each column to zero mean and unit variance: return ``(Z, mean, std)``.

    Pass the returned ``mean`` and ``std`` to standardize other data (e.g. a test set) the same way.
    Constant columns get ``std = 1`` so they become zero instead of NaN.

    Examples:
        >>> import numpy as np
        >>> Z, mean, std = standardize(np.array([[1.0, 5.0], [3.0, 5.0]]))
        >>> Z.tolist(), mean.tolist(), std.tolist()
        ([[-1.0, 0.0], [1.0, 0.0]], [2.0, 5.0], [1.0, 1.0])
    """
    X = check_features(X, name="X")
    if mean is None:
        mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
    if std is None:
        std = X.std(axis=0, dtype=np.float64).astype(np.float32)
        std[std == 0] = 1.0
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    for name, value in (("mean", mean), ("std", std)):
        if value.shape not in ((), (X.shape[1],)):
            raise LessdataError(
                f"{name} must have one value per column ({X.shape[1]}), got shape {value.shape}"
            )
    if np.any(std <= 0) or not np.all(np.isfinite(std)):
        raise LessdataError("std must be positive and finite")
    return (X - mean) / std, mean, std
