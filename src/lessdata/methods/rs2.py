"""RS2: repeated random sampling without replacement across rounds.

Okanovic et al., 2023, "Repeated Random Sampling for Minimizing the Time-to-Accuracy of Learning"
(arXiv:2305.18424). Instead of training on one fixed subset, every round (epoch) trains on a fresh random
subset of ``budget`` examples, drawn *without replacement across rounds*: the data is shuffled once and
consumed chunk by chunk, and reshuffled when every example has been used. Over a few rounds the model sees
all of the data, at the per-round cost of a small subset, and selection costs nothing.

This implementation is stateless: round ``t`` alone decides the subset, so any round can be recomputed
(after a restart, on another worker) and the same ``(seed, round)`` always gives the same Coreset.

With ``N`` examples and chunk size ``B = budget`` a *pass* is ``P = ceil(N / B)`` rounds. Round ``t`` is
chunk ``c = t mod P`` of pass ``e = t // P``, whose permutation is ``np.random.default_rng([seed, e])``:

- when ``B`` divides ``N`` the pass is the permutation cut into ``N / B`` disjoint chunks, so every example
  is used exactly once every ``N / B`` rounds;
- otherwise the last chunk of a pass holds the ``N mod B`` leftover examples of the permutation, topped up
  with the first ``B - N mod B`` examples of the same permutation (which are not among the leftovers). Every
  round has exactly ``B`` distinct examples, and every example is used at least once (at most twice) per
  pass of ``ceil(N / B)`` rounds. Dropping the leftovers instead would silently skip examples in a pass;
  continuing into the next pass's permutation could put one example twice into a round.

The paper's "RS2 with replacement" variant (each round an independent uniform subset) is ``replacement=True``.
All weights are 1: every example of a round stands for itself (the loader rescales weights to mean 1 anyway).
Labels are ignored: RS2 samples uniformly, not per class.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import BOOL, Interval
from ..coreset import Coreset
from .registry import Method, register


def rs2_round_indices(n: int, budget: int, round: int, seed: int, replacement: bool = False) -> np.ndarray:
    """Indices (int64, in sampling order) of RS2 round ``round`` over ``n`` examples, ``budget`` per round.

    Examples:
        >>> rounds = [rs2_round_indices(6, 2, t, seed=0) for t in range(3)]   # one pass: 6 / 2 rounds
        >>> sorted(np.concatenate(rounds).tolist())
        [0, 1, 2, 3, 4, 5]
    """
    if replacement:
        return np.random.default_rng([seed, round]).permutation(n)[:budget].astype(np.int64)
    rounds_per_pass = math.ceil(n / budget)
    pass_, chunk = divmod(round, rounds_per_pass)
    perm = np.random.default_rng([seed, pass_]).permutation(n).astype(np.int64)
    start = chunk * budget
    if start + budget <= n:
        return perm[start : start + budget]
    leftover = perm[start:]
    return np.concatenate([leftover, perm[: budget - leftover.shape[0]]])


@register
class Rs2Method(Method):
    """RS2 without replacement (Okanovic et al., 2023): round ``round`` of a stateless shuffled stream.

    Examples:
        >>> cs = Rs2Method(round=3)(None, 10, labels=None, seed=0, n=100)
        >>> len(cs), float(cs.weights.sum()), cs.params["round"]
        (10, 10.0, 3)

    Checked against: Okanovic et al. (paper, RS2 without replacement). Departure: when ``budget`` does not divide
    ``N`` the last chunk of a pass is topped up from the same permutation (module docs). Labels are ignored, as in
    the paper (uniform sampling).
    """

    name = "rs2"
    description = (
        "RS2 (Okanovic et al. 2023): a fresh random subset each round, without replacement across rounds"
    )
    signals = ()
    needs_features = False
    defaults = {"round": 0, "replacement": False}
    parameter_constraints = {"round": [Interval(int, 0, None)], "replacement": [BOOL]}

    def run(self, X, budget, labels, seed, n, progress=None) -> Coreset:
        round_ = self.params["round"]
        replacement = bool(self.params["replacement"])
        indices = rs2_round_indices(int(n), int(budget), int(round_), int(seed), replacement)
        rounds_per_pass = math.ceil(n / budget)
        return Coreset(
            indices=indices,
            weights=np.ones(indices.shape[0], dtype=np.float32),
            params={"round": int(round_), "pass": None if replacement else int(round_) // rounds_per_pass},
        )
