"""Load the engine's compiled kernels at import, so that the first selection in a process pays no compile or
cache-load cost (numba initialises its compiler and reads each kernel's on-disk cache on first call: a second
or more per process). Runs the hot paths once on a tiny input; set ``LESSDATA_NO_WARMUP=1`` to skip it.

The first import after installing (or after the engine's source changes) compiles the kernels into numba's
on-disk cache (``cache=True``), which every later process reads.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp


def warm_up() -> None:
    from .functions import FacilityLocation
    from .objectives import FeatureBased
    from .optimizers import maximize
    from .similarity import ImplicitSimilarity, dense_similarity

    X = np.random.default_rng(0).normal(size=(48, 3)).astype(np.float32)
    for metric in ("euclidean", "cosine", "rbf"):
        maximize(FacilityLocation(dense_similarity(X, metric=metric)), 12, "lazy")  # pruned rows: 2-byte indices
    maximize(FacilityLocation(sp.csr_matrix(dense_similarity(X))), 12, "lazy")  # a user's (or k-NN) CSR: 4-byte
    maximize(FacilityLocation(ImplicitSimilarity(X)), 12, "lazy")  # one pass keeping the guess's live entries
    maximize(FacilityLocation(ImplicitSimilarity(X)), 12, "stochastic")  # row sums, then the live-entry pass
    maximize(FeatureBased(np.abs(X)), 4, "lazy")


if os.environ.get("LESSDATA_NO_WARMUP", "") not in ("1", "true", "yes"):
    warm_up()
