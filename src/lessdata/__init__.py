"""lessdata: find small weighted subsets of a training set (coresets) and train on them.

>>> import numpy as np, lessdata
>>> X = np.random.default_rng(0).normal(size=(200, 8)).astype("float32")
>>> y = np.repeat(np.arange(4), 50)
>>> cs = lessdata.select(X, fraction=0.1, method="craig", labels=y, seed=0)
>>> len(cs), float(cs.weights.sum())
(20, 200.0)
"""

from __future__ import annotations

from .coreset import Coreset
from .errors import LessdataError, MissingExtraError
from .methods import Method, methods, register, select

__version__ = "0.1.0"

__all__ = ["Coreset", "LessdataError", "Method", "MissingExtraError", "methods", "register", "select",
           "__version__"]
