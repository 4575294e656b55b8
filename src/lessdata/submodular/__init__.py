"""The submodular selection engine (no torch): similarity, objectives, the greedy family, partitions."""

from .functions import FacilityLocation, GraphCut, Objective
from .greedi import Evaluation, GreediResult, euclidean_constant, evaluate_facility_location, greedi
from .objectives import (
    DisparityMin,
    DisparitySum,
    FeatureBased,
    LogDeterminant,
    Modular,
    SaturatedCoverage,
    flmi_similarity,
    gcmi_scores,
)
from .optimizers import OPTIMIZERS, GreedyResult, maximize
from .partition import BUDGET_POLICIES, Part, PartResult, make_parts, plain_label, run_partitioned, split_budget
from .selection import facility_location_part
from .similarity import METRICS, build_similarity, dense_similarity, knn_similarity
from .streaming import StreamResult, sieve_streaming

__all__ = [
    "BUDGET_POLICIES", "METRICS", "OPTIMIZERS", "DisparityMin", "DisparitySum", "Evaluation", "FeatureBased",
    "LogDeterminant", "Modular", "SaturatedCoverage", "flmi_similarity", "gcmi_scores", "FacilityLocation",
    "GraphCut", "GreediResult",
    "GreedyResult", "Objective", "euclidean_constant", "evaluate_facility_location", "greedi",
    "Part", "PartResult", "dense_similarity", "facility_location_part", "knn_similarity", "make_parts",
    "maximize", "plain_label", "sieve_streaming", "StreamResult", "run_partitioned", "build_similarity", "split_budget",
]

from . import _warmup  # noqa: E402, F401  (loads the compiled kernels now, not in the first selection)
