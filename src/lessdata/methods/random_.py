"""Uniform random selection, class-balanced when labels are given: the baseline every method must beat."""

from __future__ import annotations

import numpy as np

from ..submodular.partition import PartResult
from ._partitioned import partitioned_coreset
from .registry import BACKEND, BUDGET_POLICY, Method, register


@register
class RandomMethod(Method):
    """Uniform sample without replacement; with ``labels``, a stratified sample (budget split per class by
    ``budget_policy``). Each selected point's weight is the number of points it stands for (``n_c / k_c``),
    so the weights sum to ``n``."""

    name = "random"
    description = "uniform random sample (class-balanced with labels); weights n_c/k_c"
    signals = ()
    needs_features = False
    partitioned = True
    defaults = {"budget_policy": "proportional", "backend": "local"}
    parameter_constraints = {"budget_policy": BUDGET_POLICY, "backend": BACKEND}

    def run(self, X, budget, labels, seed, n, progress=None):
        def select_part(part):
            size = len(part.indices)
            picks = np.random.default_rng(part.seed).choice(size, size=part.budget, replace=False)
            if progress is not None:
                progress.update(part.budget)
            return PartResult(
                indices=picks.astype(np.int64),
                weights=np.full(part.budget, size / part.budget, dtype=np.float32),
                gains=np.full(part.budget, np.nan),
            )

        return partitioned_coreset(select_part, n, budget, labels, seed, self.params["budget_policy"],
                                   self.params["backend"], progress)
