"""The other submodular objectives apricot and submodlib users reach for, as selection methods:
feature-based coverage, saturated coverage, log-determinant (DPP), disparity sum / min, and targeted
selection with a query set (facility-location and graph-cut mutual information).

Each is a :class:`~lessdata.submodular.objectives` set function run per part of ``labels`` by the same
optimizers, budget policies and backends as facility location. Weights are uniform within a part
(``part size / part budget``): these objectives pick a diverse or targeted subset, they do not assign the
represented points to picks.
"""

from __future__ import annotations

import numpy as np

from .._validation import NUMBERS, Interval, Options, check_features
from ..errors import LessdataError
from ..submodular import maximize
from ..submodular.functions import FacilityLocation
from ..submodular.objectives import (
    CONCAVE,
    DisparityMin,
    DisparitySum,
    FeatureBased,
    LogDeterminant,
    Modular,
    SaturatedCoverage,
    check_non_negative,
    flmi_similarity,
    gcmi_scores,
)
from ..submodular.partition import PartResult
from ..submodular.similarity import DEFAULT_MEMORY_CAP, ImplicitSimilarity, build_similarity, dense_bytes
from ._partitioned import partitioned_coreset
from .registry import BACKEND, BUDGET_POLICY, EPSILON, MEMORY_CAP, OPTIMIZER, Method, register

_COMMON = {"optimizer": "lazy", "epsilon": 0.01, "budget_policy": "proportional", "backend": "local"}
_COMMON_CONSTRAINTS = {"optimizer": OPTIMIZER, "epsilon": EPSILON, "budget_policy": BUDGET_POLICY,
                       "backend": BACKEND}
PAIR_METRICS = ("cosine", "euclidean", "rbf")


class _ObjectiveMethod(Method):
    """One objective per part, maximised by the chosen optimizer; subclasses build the objective."""

    partitioned = True

    def objective(self, X: np.ndarray):
        raise NotImplementedError

    def check(self, X: np.ndarray) -> None:
        """Input checks that need the data (run once, before any part is selected)."""

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        self.check(X)

        def select_part(part):
            obj = self.objective(X[part.indices])
            result = maximize(obj, part.budget, p["optimizer"], epsilon=p["epsilon"], seed=part.seed,
                              progress=progress)
            size = len(part.indices)
            weights = np.full(len(result.indices), size / max(1, part.budget), dtype=np.float32)
            return PartResult(result.indices, weights, result.gains, obj.value())

        return partitioned_coreset(select_part, n, budget, labels, seed, p["budget_policy"], p["backend"],
                                   progress)


def _dense(X, metric, memory_cap, what):
    if dense_bytes(len(X), len(X)) > memory_cap:
        raise LessdataError(f"{what} needs the dense {len(X)} x {len(X)} similarity of a part, over memory_cap "
                            f"({memory_cap} bytes): select per part (labels=) or raise memory_cap")
    return build_similarity(X, metric=metric, memory_cap=memory_cap)


@register
class FeatureBasedMethod(_ObjectiveMethod):
    """Feature-based coverage ``Σ_f w_f g(Σ_{j∈S} x_jf)`` with ``g`` = ``sqrt``, ``log`` (log 1+x) or ``inverse``
    (1 − 1/(1+x)) (Wei, Iyer, Bilmes, "Submodularity in Data Subset Selection and Active Learning", ICML
    2015; checked against submodlib's ``FeatureBasedFunction`` and apricot's ``FeatureBasedSelection``).

    The features must be non-negative (counts, TF-IDF, probabilities, post-ReLU embeddings). Departure:
    submodlib min–max rescales each feature first; here they are used as given."""

    name = "feature_based"
    description = "feature-based coverage: sum over features of a concave function (sqrt/log/inverse)"
    signals = ("probabilities", "features")
    defaults = {"concave": "sqrt", "feature_weights": None, **_COMMON}
    parameter_constraints = {"concave": [Options(*CONCAVE)], "feature_weights": [NUMBERS, None],
                             **_COMMON_CONSTRAINTS}

    def objective(self, X):
        return FeatureBased(X, self.params["concave"], self.params["feature_weights"])

    def check(self, X):
        check_non_negative(X, "feature-based functions")


@register
class SaturatedCoverageMethod(_ObjectiveMethod):
    """Saturated coverage ``Σ_i min(Σ_{j∈S} s_ij, α Σ_{j∈V} s_ij)`` (Lin & Bilmes, "A Class of Submodular
    Functions for Document Summarization", ACL 2011; checked against apricot's
    ``SaturatedCoverageSelection``, whose default α = 0.1 this keeps). Negative similarities count as 0."""

    name = "saturated_coverage"
    description = "saturated coverage: each point's total similarity to the picks, capped at alpha x its total"
    signals = ("features", "embeddings")
    defaults = {"alpha": 0.1, "metric": "cosine", "memory_cap": DEFAULT_MEMORY_CAP, **_COMMON}
    parameter_constraints = {"alpha": [Interval(float, 0, None, closed="neither")],
                             "metric": [Options(*PAIR_METRICS)], "memory_cap": MEMORY_CAP, **_COMMON_CONSTRAINTS}

    def objective(self, X):
        p = self.params
        return SaturatedCoverage(_dense(X, p["metric"], p["memory_cap"], "saturated coverage"), p["alpha"])


@register
class LogDeterminantMethod(_ObjectiveMethod):
    """Log-determinant ``log det(L_S + λI)`` of a cosine or RBF kernel, the DPP MAP objective, greedy by
    incremental Cholesky (Chen, Zhang, Zhou, NeurIPS 2018; checked against submodlib's
    ``LogDeterminantFunction``). Kernel rows are computed from the features one pick at a time: memory is
    ``n × k``, never ``n × n``. ``regularization = 0`` on a rank-deficient kernel (e.g. cosine on ``d``
    features with a budget above ``d``) fails with one line instead of returning ``−inf``."""

    name = "log_determinant"
    description = "log-determinant (DPP MAP) of a cosine/RBF kernel, incremental Cholesky, never n x n"
    signals = ("features", "embeddings")
    defaults = {"metric": "cosine", "regularization": 1.0, **_COMMON}
    parameter_constraints = {"metric": [Options("cosine", "rbf")],
                             "regularization": [Interval(float, 0, None)], **_COMMON_CONSTRAINTS}

    def objective(self, X):
        return LogDeterminant(ImplicitSimilarity(X, metric=self.params["metric"]), self.params["regularization"])


def _dissimilarity(X, metric, memory_cap, what):
    """``1 − s`` for cosine (submodlib's disparity), the distance itself for euclidean."""
    S = _dense(X, metric, memory_cap, what)
    if metric == "cosine":
        return np.subtract(1.0, S, out=S)
    sim = ImplicitSimilarity(X, metric="euclidean")
    sim.row_sums()  # finds the largest distance, which max(d) − d was taken from
    return np.subtract(sim.top, S, out=S)


@register
class DisparitySumMethod(_ObjectiveMethod):
    """Disparity sum ``Σ_{i<j∈S} d_ij`` (Dasgupta, Kumar, Ravi, "Summarization through submodularity and
    dispersion", ACL 2013; checked against submodlib's ``DisparitySumFunction``, ``d = 1 − cosine``).
    Not submodular: lazy optimizers are refused, so the default optimizer is ``naive``."""

    name = "disparity_sum"
    description = "disparity sum: total pairwise distance of the picks (naive/stochastic greedy)"
    signals = ("features", "embeddings")
    defaults = {"metric": "cosine", "memory_cap": DEFAULT_MEMORY_CAP, **_COMMON, "optimizer": "naive"}
    parameter_constraints = {"metric": [Options("cosine", "euclidean")], "memory_cap": MEMORY_CAP,
                             **_COMMON_CONSTRAINTS}

    def objective(self, X):
        p = self.params
        return DisparitySum(_dissimilarity(X, p["metric"], p["memory_cap"], "disparity sum"))


@register
class DisparityMinMethod(_ObjectiveMethod):
    """Disparity min ``min_{i≠j∈S} d_ij``, picked farthest-first (Gonzalez 1985, a 2-approximation of
    max–min dispersion); same function as submodlib's ``DisparityMinFunction`` (``d = 1 − cosine``), but
    submodlib's greedy on marginal gains does not pick farthest-first."""

    name = "disparity_min"
    description = "disparity min: farthest-first picks maximising the smallest pairwise distance"
    signals = ("features", "embeddings")
    defaults = {"metric": "cosine", "memory_cap": DEFAULT_MEMORY_CAP, **_COMMON}
    parameter_constraints = {"metric": [Options("cosine", "euclidean")], "memory_cap": MEMORY_CAP,
                             **_COMMON_CONSTRAINTS}

    def objective(self, X):
        p = self.params
        return DisparityMin(_dissimilarity(X, p["metric"], p["memory_cap"], "disparity min"))


@register
class TargetedMethod(_ObjectiveMethod):
    """Targeted selection with a query set ``Q``: submodular mutual information ``I(S; Q)`` (Kothawade et
    al., "PRISM: A Rich Class of Parameterized Submodular Information Measures for Guided Data Subset
    Selection", AAAI 2022; checked against submodlib's FLMI / GCMI functions).

    ``objective="flmi"``: ``Σ_{i∈V} min(max_{j∈S} s_ij, η max_{q∈Q} s_iq)``, facility location on the
    similarity capped by each point's closeness to the query (points unlike any query count for little);
    ``"gcmi"``: ``2λ Σ_{j∈S} Σ_{q∈Q} s_jq``, modular (the top ``k`` by total similarity to the query).
    ``query`` holds the query rows, with the features' width."""

    name = "targeted"
    description = "targeted selection with a query set: FLMI or GCMI (submodular mutual information)"
    expects = "query= (the rows to select for, same width)"
    signals = ("features", "embeddings")
    defaults = {"query": None, "objective": "flmi", "metric": "cosine", "eta": 1.0, "lam": 1.0,
                "memory_cap": DEFAULT_MEMORY_CAP, **_COMMON}
    parameter_constraints = {"query": [NUMBERS, None], "objective": [Options("flmi", "gcmi")],
                             "metric": [Options(*PAIR_METRICS)], "eta": [Interval(float, 0, None)],
                             "lam": [Interval(float, 0, None)], "memory_cap": MEMORY_CAP, **_COMMON_CONSTRAINTS}

    def check(self, X):
        if self.params["query"] is None:
            raise LessdataError("method 'targeted' needs query= (the rows to select for)")
        Q = check_features(self.params["query"], "query")
        if Q.shape[1] != X.shape[1]:
            raise LessdataError(f"query has {Q.shape[1]} features but the data has {X.shape[1]}")
        self._query = Q

    def objective(self, X):
        p = self.params
        query_sim = ImplicitSimilarity(self._query, X, metric=p["metric"]).materialize()  # points x queries
        if p["objective"] == "gcmi":
            return Modular(gcmi_scores(query_sim, p["lam"]))
        S = build_similarity(X, metric=p["metric"], memory_cap=p["memory_cap"])
        return FacilityLocation(flmi_similarity(S, query_sim, p["eta"]))
