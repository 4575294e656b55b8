"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes): a tiny, offline dataset for
quick experiments and tests. Needs scikit-learn (the ``bench`` or ``dev`` extra)."""

from __future__ import annotations

import numpy as np

from ..errors import require


def digits() -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, y)``: float32 pixel intensities 0-16 of shape ``(1797, 64)`` and int64 labels 0-9.

    Examples:
        >>> X, y = digits()
        >>> X.shape, X.dtype, sorted(set(y.tolist())) == list(range(10))
        ((1797, 64), dtype('float32'), True)
    """
    datasets = require("sklearn.datasets", "bench", "the digits dataset")
    bunch = datasets.load_digits()
    return np.ascontiguousarray(bunch.data, dtype=np.float32), bunch.target.astype(np.int64)
