"""Training that resists noisy labels and poisoned data.

- :class:`CrustTrainer` / :class:`CrustSchedule`: CRUST (Mirzasoleiman, Cao, Leskovec, NeurIPS 2020):
  per-class facility-location coresets of last-layer gradients, radius weights, same-label mixup.
- :class:`EpicTrainer` / :class:`EpicSchedule`: EPIC (Yang, Liu, Mirzasoleiman, ICML 2022): drop the points
  in tiny gradient clusters for good.
- :mod:`lessdata.robust.experiments`: the attack-then-train runs behind ``lessdata robust`` and the
  benchmarks (label noise: standard vs CRUST vs CRAIG vs random; backdoor: standard vs EPIC).

The attacks themselves (label noise, BadNets) are arrays-in, arrays-out functions in :mod:`lessdata.data`.
"""

from ._common import clean_share
from .crust import CrustSchedule, CrustTrainer, SameLabelMixup
from .epic import EpicSchedule, EpicTrainer

__all__ = ["CrustSchedule", "CrustTrainer", "EpicSchedule", "EpicTrainer", "SameLabelMixup", "clean_share"]
