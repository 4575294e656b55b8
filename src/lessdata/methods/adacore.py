"""AdaCore: Hessian-aware coresets.

Pooladzandi, Davini, Mirzasoleiman, "Adaptive Second Order Coresets for Data-efficient Machine Learning",
ICML 2022. CRAIG matches the full gradient with a weighted subset; AdaCore matches the *preconditioned*
gradient ``H⁻¹ g`` (the Newton step each example asks for) instead, so that the subset also captures the
curvature of the loss: differences between examples along flat directions of the loss count more, and
differences along sharp directions count less.

As in the paper, ``H`` is the diagonal of the Hessian of the last layer's parameters, estimated with
Hutchinson's method and averaged over time in the AdaHessian form (:class:`~lessdata.signals.hessian.CurvatureEMA`);
each example's last-layer gradient is divided by it (with a small damping term), then per-class facility
location selects the coreset and each pick is weighted by the size of the cluster it represents.

Defaults and why:

- ``damping=0.01`` relative to the mean curvature: scale-free (the loss's units cancel) and it caps how much a
  near-flat coordinate is amplified at 100x the average, so Hutchinson noise in a tiny diagonal entry cannot
  dominate the distances.
- ``beta2=0.99`` for the curvature average in :func:`lessdata.training.adacore_selector`: it is updated once
  per batch of each selection pass, so 0.99 averages over about the last hundred batches (one selection on
  CIFAR-size data): it smooths the single-sample Hutchinson noise but follows the model as it trains.
  AdaHessian's 0.999 is tuned for one update per optimizer step and would keep the curvature of the first
  epochs for most of a run.
- ``full=True`` in :func:`lessdata.training.adacore_selector`: the curvature is that of the last layer's
  *parameters* (weight and bias), which is what the paper preconditions; logit-only gradients
  (``full=False``) are cheaper.
- ``metric="euclidean"`` (CRAIG's ``max d − d``) and per-class selection, as CRAIG.

Examples:
    >>> import numpy as np, lessdata
    >>> G = np.random.default_rng(0).normal(size=(100, 4)).astype("float32")
    >>> cs = lessdata.select(G, budget=10, method="adacore", labels=np.arange(100) % 2,
    ...                      curvature=np.array([1.0, 1.0, 10.0, 10.0]))
    >>> len(cs), float(cs.weights.sum())
    (10, 100.0)
"""

from __future__ import annotations

from .._validation import NUMBERS, Interval
from ..signals.preconditioning import precondition_gradients
from .facility_location import FacilityLocationMethod
from .registry import FEATURE_METRIC, register

__all__ = ["AdaCoreMethod", "precondition_gradients"]


@register
class AdaCoreMethod(FacilityLocationMethod):
    """AdaCore (Pooladzandi et al., ICML 2022): per-class facility location on last-layer gradients
    preconditioned by the inverse Hessian diagonal; weights = cluster sizes.

    ``X`` are per-example gradients; ``curvature`` is a positive estimate of the Hessian diagonal, one entry per
    column (e.g. from :func:`lessdata.signals.last_layer_hessian_diagonal` or a ``CurvatureEMA``). Each row is
    divided by ``curvature + damping * mean(curvature)``. With ``curvature=None`` the rows are taken as already
    preconditioned (e.g. by :func:`lessdata.signals.precondition`).

    Checked against: the paper (no reference code checked): preconditioned last-layer gradients, per-class facility
    location, cluster-size weights. Departures (module docs): ``beta2=0.99`` (AdaHessian's 0.999 assumes one update
    per optimizer step) and damping relative to the mean curvature.
    """

    name = "adacore"
    description = "AdaCore: per-class facility location on Hessian-preconditioned gradients; weights = cluster sizes"
    signals = ("last_layer_gradients", "hessian_diagonal")
    defaults = {**FacilityLocationMethod.defaults, "metric": "euclidean", "curvature": None, "damping": 0.01}
    parameter_constraints = {
        **FacilityLocationMethod.parameter_constraints,
        "metric": FEATURE_METRIC,  # it preconditions the gradients: a precomputed similarity does not apply
        "curvature": [NUMBERS, None],
        "damping": [Interval(float, 0, None)],
    }

    def run(self, X, budget, labels, seed, n, progress=None):
        if self.params["curvature"] is not None:
            X = precondition_gradients(X, self.params["curvature"], self.params["damping"])
        return super().run(X, budget, labels, seed, n, progress)
