"""Reshaping the training distribution: which examples a model sees more of, and which it sees augmented.

- :func:`early_separation` / :func:`separate`: split every class into fast- and slow-learnable examples from
  an early training run (k-means, k = 2, on the network outputs; slow = the higher mean loss).
- USEFUL (Nguyen et al., NeurIPS 2024): :func:`useful_coreset` upsamples the slow-learnable examples through
  Coreset multiplicities; baselines :func:`random_upsampling` and :func:`loss_upweighting`; :func:`run_useful`.
- Targeted augmentation (Nguyen et al., 2025): :func:`targeted_augmentation` appends augmented copies of the
  slow-learnable part; baselines :func:`augment_all`, :func:`random_part`.
- Coresets for augmentation (Liu & Mirzasoleiman, NeurIPS 2022): :func:`coreset_augmentation`, a schedule
  that appends augmented copies of a per-class CRAIG coreset every few epochs (or random / max-loss picks).
- :class:`AugmentedView` (the data plus ``n`` augmented copies) and :class:`TrivialAugment` (a batched
  strong augmentation policy); any ``augment(batch) -> batch`` works, a generative model included.
"""

from .augment import AugmentedView, TrivialAugment, appended_copies, check_augmented, torchvision_policy
from .coreset_augment import augment_selector, coreset_augmentation
from .separation import Separation, early_separation, separate, separation_epoch, split_classes
from .targeted import augment_all, random_part, targeted_augmentation
from .useful import loss_upweighting, random_upsampling, run_useful, useful_coreset

__all__ = [
    "AugmentedView",
    "Separation",
    "TrivialAugment",
    "appended_copies",
    "augment_all",
    "augment_selector",
    "check_augmented",
    "coreset_augmentation",
    "early_separation",
    "loss_upweighting",
    "random_part",
    "random_upsampling",
    "run_useful",
    "separate",
    "separation_epoch",
    "split_classes",
    "targeted_augmentation",
    "torchvision_policy",
    "useful_coreset",
]
