"""Dataset distillation: synthesise a small training set instead of selecting one.

- :func:`train_experts` / :func:`load_buffer`: expert trajectories on real data (a resumable buffer folder).
- :func:`distill_mtt`: MTT, matching training trajectories (Cazenavette et al., 2022).
- :func:`distill_pdd`: PDD, progressive multi-stage distillation (Chen et al., 2024).
- :func:`distill_mkdt`: MKDT, distillation for self-supervised pre-training via knowledge distillation
  (Joshi et al., 2025), with :func:`teacher_representations` and :func:`evaluate_mkdt`.
- :func:`evaluate_distilled`: a fair evaluation against random real subsets with DD-Ranking's scores.
- :class:`DistilledSet`: the distilled-set file, a torch ``Dataset``.

Examples:
    >>> from lessdata.distill import MTTConfig, distill_mtt, train_experts      # doctest: +SKIP
    >>> from lessdata.models import ConvNet                                      # doctest: +SKIP
    >>> net = lambda: ConvNet(width=32)                                          # doctest: +SKIP
    >>> buf = train_experts(X, y, net, "buffer", num_experts=5, epochs=6)        # doctest: +SKIP
    >>> s = distill_mtt(X, y, buf, net, MTTConfig.for_ipc(1, iterations=200))    # doctest: +SKIP
"""

from ._core import ZCA, FlatModel, augment, resolve_device
from .buffer import ExpertBuffer, load_buffer, train_experts
from .distilled import DistilledSet
from .evaluate import (
    EvaluationReport,
    accuracy,
    augmentation_robust_score,
    evaluate_distilled,
    hard_label_recovery,
    improvement_over_random,
    label_robust_score,
    random_subset,
    train_network,
)
from .mkdt import (
    distill_mkdt,
    evaluate_mkdt,
    kd_losses,
    label_fraction_subset,
    linear_probe_accuracy,
    mkdt_config,
    teacher_representations,
)
from .mtt import MTTConfig, distill_mtt, match_trajectories, matching_loss
from .pdd import distill_pdd

__all__ = [
    "ZCA", "DistilledSet", "EvaluationReport", "ExpertBuffer", "FlatModel", "MTTConfig", "accuracy", "augment",
    "augmentation_robust_score", "distill_mkdt", "distill_mtt", "distill_pdd", "evaluate_distilled",
    "evaluate_mkdt", "hard_label_recovery", "improvement_over_random", "kd_losses", "label_fraction_subset",
    "label_robust_score", "linear_probe_accuracy", "load_buffer", "match_trajectories", "matching_loss",
    "mkdt_config", "random_subset", "resolve_device", "teacher_representations", "train_experts", "train_network",
]
