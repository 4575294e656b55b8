"""Baselines of the S2L paper's table that rank examples by a proxy LM's losses.

Each reads the ``N × T`` loss trajectories of a proxy (``X``; see :func:`lessdata.llm.loss_trajectories`),
or a :class:`~lessdata.signals.dynamics.DynamicsRecorder` (``dynamics=``, its ``loss``), or precomputed
``scores=``. They rank per part of ``labels`` (e.g. the sources) like every score method
(:mod:`lessdata.methods.scores`: budget split by ``budget_policy``, weights ``n_c / k_c``, gains = scores).

- ``middle_perplexity`` (Marion et al., 2023, "When Less is More: Investigating Data Pruning for Pretraining
  LLMs at Scale"): keep the examples in the middle of the proxy's final-checkpoint perplexity ranking —
  the ``k`` examples whose rank is closest to the median, dropping the easiest and the hardest alike;
- ``high_learnability`` (after Zhou et al., 2023, "LoBaSS: Gauging Learnability in Supervised Fine-tuning
  Data"): keep the largest loss drop ``loss[early] - loss[late]`` between an early and a late checkpoint;
- ``least_confidence``: keep the examples the proxy is least confident about at the final checkpoint:
  the highest mean response-token loss, i.e. the lowest geometric-mean token probability ``exp(-loss)``.

Examples:
    >>> import numpy as np, lessdata
    >>> traj = np.random.default_rng(0).gamma(2.0, size=(100, 4)).astype("float32")
    >>> cs = lessdata.select(traj, fraction=0.2, method="least_confidence")
    >>> bool(cs.gains.min() >= np.sort(traj[:, -1])[-20])
    True
"""

from __future__ import annotations

import numpy as np

from .._validation import Interval
from ..errors import LessdataError
from .registry import register
from .scores import DYNAMICS, ScoreMethod


def _column(X: np.ndarray, column, name: str) -> np.ndarray:
    T = X.shape[1]
    if isinstance(column, bool) or not isinstance(column, (int, np.integer)) or not -T <= column < T:
        raise LessdataError(f"{name} must be a checkpoint position in [-{T}, {T}) (there are {T}), got {column!r}")
    return X[:, int(column)].astype(np.float64)


class _LossScoreMethod(ScoreMethod):
    signals = ("loss_trajectories", "dynamics")

    def _losses(self, X, dynamics) -> np.ndarray:
        return (dynamics.field("loss") if dynamics is not None else X).astype(np.float64)


@register
class MiddlePerplexityMethod(_LossScoreMethod):
    """Middle perplexity (Marion et al., 2023): the examples around the median of the proxy's perplexity
    ``exp(loss[column])`` (default: the final checkpoint), per part of ``labels``. The score ranked is minus
    the distance of an example's perplexity rank from the median rank (the gains), so the selection is a
    window of the ranking centred on the median."""

    name = "middle_perplexity"
    description = "middle perplexity (Marion et al. 2023): keep examples around the median proxy perplexity"
    defaults = {**ScoreMethod.base_defaults, "dynamics": None, "column": -1}
    parameter_constraints = {**ScoreMethod.base_constraints, "dynamics": DYNAMICS, "column": [Interval(int)]}

    def run(self, X, budget, labels, seed, n, progress=None):
        self._labels = labels
        return super().run(X, budget, labels, seed, n, progress)

    def compute(self, X, dynamics):
        return _column(self._losses(X, dynamics), self.params["column"], "column")

    def _scores(self, X, n):
        loss = super()._scores(X, n)  # the loss column, or scores= (any monotone proxy of the perplexity)
        labels = getattr(self, "_labels", None)
        parts = np.zeros(n, dtype=np.int64) if labels is None else np.unique(labels, return_inverse=True)[1]
        score = np.full(n, np.nan)
        for part in np.unique(parts):
            rows = np.flatnonzero((parts == part) & ~np.isnan(loss))
            ranks = np.empty(len(rows))
            ranks[np.argsort(loss[rows], kind="stable")] = np.arange(len(rows))
            score[rows] = -np.abs(ranks - (len(rows) - 1) / 2)
        return score

    def descending(self):
        return True


@register
class HighLearnabilityMethod(_LossScoreMethod):
    """High learnability (after Zhou et al., 2023, LoBaSS): the largest drop of the proxy's loss between
    checkpoint ``early`` (default the first) and ``late`` (default the last): examples the proxy learned most."""

    name = "high_learnability"
    description = "high learnability: keep the largest proxy loss drop between an early and a late checkpoint"
    expects = "at least two checkpoints; or scores= (one value per example)"
    defaults = {**ScoreMethod.base_defaults, "dynamics": None, "early": 0, "late": -1}
    parameter_constraints = {**ScoreMethod.base_constraints, "dynamics": DYNAMICS, "early": [Interval(int)],
                             "late": [Interval(int)]}

    def compute(self, X, dynamics):
        losses = self._losses(X, dynamics)
        if losses.shape[1] < 2:
            raise LessdataError("high_learnability needs loss trajectories with at least two checkpoints")
        return _column(losses, self.params["early"], "early") - _column(losses, self.params["late"], "late")

    def descending(self):
        return True


@register
class LeastConfidenceMethod(_LossScoreMethod):
    """Least confidence for language models: the highest proxy loss at checkpoint ``column`` (default the
    final one), i.e. the lowest geometric-mean probability of the response tokens."""

    name = "least_confidence"
    description = "least confidence (LM): keep the highest final proxy loss (lowest mean token log-probability)"
    defaults = {**ScoreMethod.base_defaults, "dynamics": None, "column": -1}
    parameter_constraints = {**ScoreMethod.base_constraints, "dynamics": DYNAMICS, "column": [Interval(int)]}

    def compute(self, X, dynamics):
        return _column(self._losses(X, dynamics), self.params["column"], "column")

    def descending(self):
        return True
