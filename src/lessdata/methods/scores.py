"""Score-based selection: rank examples by a per-example score and keep the top of the ranking.

Every method here ranks examples by one score, per class when ``labels`` are given (the budget is split by
``budget_policy``, through the same partition mechanism as every other method), keeps the ``budget``
best-ranked, and weights each kept example by ``n_c / k_c`` (the number of examples of its class it stands
for, as :mod:`random <lessdata.methods.random_>` does), so the weights sum to ``n``.
``Coreset.gains`` holds the score of each pick. Ties are broken at random (from ``seed``).

Where the signal comes from, exactly one of:

- ``X``: the method's signal as an array (see each method: a correctness matrix, a probability matrix...);
- ``scores=``: a precomputed ``(n,)`` score per example;
- ``dynamics=``: a :class:`~lessdata.signals.dynamics.DynamicsRecorder` (or the path of one saved to
  ``.npz``), for the methods that read training dynamics. Its arrays may hold NaN (examples not seen):
  examples whose score is NaN are ranked last, whatever the direction.

Without ``X``, :func:`lessdata.select` needs ``n=``, e.g.
``select(n=rec.n, fraction=0.3, method="forgetting", labels=y, dynamics=rec)``.

``skip`` (a fraction in ``[0, 1)``) drops that share of each part's best-ranked examples before taking the
budget: Paul et al. (2021, Sec. 5) find that skipping the very hardest examples helps at high keep rates
and with label noise. The score functions (:mod:`lessdata.signals.statistics`, re-exported here) are plain
numpy and usable on their own.
"""

from __future__ import annotations

import os

import numpy as np

from .._validation import BOOL, NUMBERS, Interval, Options, Satisfies, check_features
from ..errors import LessdataError
from ..signals.statistics import (
    UNCERTAINTY_SCORES,
    cartography_statistics,
    forgetting_events,
    forgetting_scores,
    uncertainty_scores,
)
from ..submodular.partition import PartResult
from ._partitioned import partitioned_coreset
from .registry import BACKEND, BUDGET_POLICY, Method, check_signal, register

__all__ = [
    "cartography_statistics",
    "forgetting_events",
    "forgetting_scores",
    "rank",
    "uncertainty_scores",
]


# ------------------------------------------------------------------------------------ ranking
def rank(scores, descending: bool = True, seed: int = 0) -> np.ndarray:
    """Positions of ``scores`` from best to worst: highest first when ``descending``; ties in random order
    (from ``seed``), NaN always last.

    Examples:
        >>> rank([0.2, np.nan, 0.9, 0.5]).tolist(), rank([0.2, np.nan, 0.9, 0.5], descending=False).tolist()
        ([2, 3, 0, 1], [0, 3, 2, 1])
    """
    scores = np.asarray(scores, dtype=np.float64)
    perm = np.random.default_rng(seed).permutation(scores.shape[0])
    key = -scores[perm] if descending else scores[perm]
    return perm[np.argsort(key, kind="stable")]  # argsort puts NaN last


# ------------------------------------------------------------------------------------ methods
def _load_dynamics(value):
    from ..signals.dynamics import DynamicsRecorder

    return DynamicsRecorder.load(value) if isinstance(value, (str, os.PathLike)) else value


#: a recorder (duck-typed: anything with ``field()``) or the path of one saved to .npz
RECORDER = Satisfies("a DynamicsRecorder or the path of one saved to .npz",
                     lambda v: isinstance(v, (str, os.PathLike)) or callable(getattr(v, "field", None)))
DYNAMICS = [RECORDER, None]
KEEP = [Options("hard", "easy")]


class ScoreMethod(Method):
    """Base of the score-based methods: subclasses implement :meth:`compute` and :meth:`descending` (and add
    ``"dynamics": None`` to their defaults when they read a recorder). See the module docstring."""

    partitioned = True
    expects = "or scores= (one value per example)"
    base_defaults = {"scores": None, "skip": 0.0, "budget_policy": "proportional", "backend": "local"}
    base_constraints = {"scores": [NUMBERS, None], "skip": [Interval(float, 0, 1, closed="left")],
                        "budget_policy": BUDGET_POLICY, "backend": BACKEND}

    def __init__(self, **params):
        super().__init__(**params)
        sources = [key for key in ("scores", "dynamics") if self.params.get(key) is not None]
        if len(sources) > 1:
            raise LessdataError(f"method {self.name!r}: give scores= or dynamics=, not both")

    @property
    def needs_features(self) -> bool:
        return self.params["scores"] is None and self.params.get("dynamics") is None

    def compute(self, X: np.ndarray | None, dynamics) -> np.ndarray:
        """Per-example scores from ``X`` (the method's signal) or ``dynamics`` (a recorder)."""
        raise NotImplementedError

    def descending(self) -> bool:
        """Whether the highest score is kept first."""
        raise NotImplementedError

    def check_input(self, X: np.ndarray) -> None:
        """Refuse an ``X`` whose values cannot be the method's signal (its first declared one): raw features
        given by mistake are one clear error, not a ranking."""
        check_signal(X, self.signals[0], f"method {self.name!r}", "; pass scores= for precomputed scores")

    def _scores(self, X, n: int) -> np.ndarray:
        given = self.params["scores"]
        dynamics = self.params.get("dynamics")
        if X is not None and (given is not None or dynamics is not None):
            raise LessdataError(f"method {self.name!r}: give X or {'scores=' if given is not None else 'dynamics='}, "
                                "not both")
        if given is not None:
            scores = _vector(given, "scores")
        elif dynamics is not None:
            recorder = _load_dynamics(dynamics)
            if recorder.n is None or recorder.num_columns == 0:
                raise LessdataError("the dynamics recorder is empty: record some training first")
            scores = np.asarray(self.compute(None, recorder), dtype=np.float64)
        elif X is not None:
            self.check_input(X)
            scores = np.asarray(self.compute(X, None), dtype=np.float64)
        else:
            raise LessdataError(f"method {self.name!r} needs X, scores= or dynamics=")
        if scores.shape != (n,):
            raise LessdataError(f"method {self.name!r}: got {scores.shape[0]} scores for {n} examples")
        return scores

    def run(self, X, budget, labels, seed, n, progress=None):
        scores = self._scores(X, n)
        descending = self.descending()
        skip = float(self.params["skip"])

        def select_part(part):
            part_scores = scores[part.indices]
            size = len(part_scores)
            order = rank(part_scores, descending, part.seed)
            start = min(int(round(skip * size)), size - part.budget)
            picks = order[start : start + part.budget]
            if progress is not None:
                progress.update(part.budget)
            return PartResult(indices=picks, weights=np.full(part.budget, size / part.budget, dtype=np.float32),
                              gains=part_scores[picks])

        cs = partitioned_coreset(select_part, n, budget, labels, seed, self.params["budget_policy"],
                                 self.params["backend"])
        for key in ("scores", "dynamics"):  # record where the scores came from, not the arrays themselves
            if self.params.get(key) is not None:
                cs.params[key] = _describe(self.params[key])
        return cs


def _describe(value):
    if isinstance(value, (str, os.PathLike)):
        return str(value)
    if isinstance(value, (list, tuple)) and not all(isinstance(v, (int, float, np.number)) for v in value):
        return [_describe(v) for v in value]
    if isinstance(value, (list, tuple, np.ndarray)):
        return f"<{len(value)} precomputed scores>"
    return repr(value)


def _vector(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LessdataError(f"{name} must be numeric: {exc}") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise LessdataError(f"{name} must be one value per example, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise LessdataError(f"{name} contain infinite values")
    return arr


def _mean_columns(X: np.ndarray) -> np.ndarray:
    return X.astype(np.float64).mean(axis=1)


@register
class ForgettingMethod(ScoreMethod):
    """Forgetting events (Toneva et al., 2019, "An Empirical Study of Example Forgetting during Deep Neural
    Network Learning", ICLR): count how often each example goes from correctly to incorrectly classified
    during training; examples never forgotten ("unforgettable") can be dropped with little loss.

    Signal: ``X`` = correctness matrix ``(n, T)`` (1 = correct, per epoch), or ``dynamics=`` (its
    ``correct`` array, NaN = not seen), or ``scores=`` (counts). Never-learned examples score ``T``
    (:func:`forgetting_scores`). ``keep="hard"`` (default) keeps the most forgotten first; ``"easy"`` the
    least.

    Checked against: Toneva et al. (paper) and DeepCore (``methods/forgetting.py``). Departures: events are counted
    from the correctness recorded once per epoch when the example is trained on (the paper counts every
    presentation: the same with one presentation per epoch, as DeepCore); never-learned examples score ``T`` and
    rank as most forgotten, the paper's rule (DeepCore counts them 0, i.e. unforgettable); weights ``n_c / k_c``
    where DeepCore has none (uniform after normalisation under the proportional budget). Per class with ``labels``,
    as DeepCore's default ``balance=True``.
    """

    name = "forgetting"
    description = "forgetting events (Toneva et al. 2019): keep the most forgotten examples; weights n_c/k_c"
    signals = ("correctness", "dynamics")
    defaults = {**ScoreMethod.base_defaults, "dynamics": None, "keep": "hard"}
    parameter_constraints = {**ScoreMethod.base_constraints, "dynamics": DYNAMICS, "keep": KEEP}

    def compute(self, X, dynamics):
        return forgetting_scores(dynamics.field("correct") if dynamics is not None else X)

    def descending(self):
        return self.params["keep"] == "hard"


@register
class El2nMethod(ScoreMethod):
    """EL2N (Paul, Ganguli, Dziugaite, "Deep Learning on a Data Diet: Finding Important Examples Early in
    Training", NeurIPS 2021): the L2 norm of the error vector ``softmax(f(x)) - onehot(y)`` early in training,
    averaged over several runs; keep the highest (hardest) scores.

    Signal: ``X`` = ``(n, k)`` scores from ``k`` runs (averaged; ``(n, 1)`` for one), ``scores=``, or
    ``dynamics=`` a recorder or a list of recorders (one per run): the ``error_norm`` column at position
    ``column`` (default -1, the last), averaged over the recorders. Compute the scores with
    :func:`lessdata.training.early_training_scores` (``score="el2n"``). ``keep="hard"`` (default) or
    ``"easy"``; ``skip`` drops the very hardest share first (Paul et al. Sec. 5).

    Checked against: Paul et al. (paper; DeepCore has no EL2N). Departures: the paper ranks all examples together,
    here the ranking is per class when ``labels`` are given (pass none for the global ranking); the runs and the
    epoch are the caller's (the paper: mean over 10 runs at epoch 20 of 200).
    """

    name = "el2n"
    description = "EL2N (Paul et al. 2021): keep the examples with the largest early error norm; weights n_c/k_c"
    signals = ("el2n_scores", "dynamics")
    defaults = {**ScoreMethod.base_defaults, "dynamics": None, "column": -1, "keep": "hard"}
    parameter_constraints = {
        **ScoreMethod.base_constraints,
        "dynamics": [RECORDER, Satisfies("a non-empty list of them", lambda v: isinstance(v, (list, tuple))
                                         and len(v) > 0 and all(RECORDER.accepts(x) for x in v)), None],
        "column": [Interval(int)],
        "keep": KEEP,
    }

    def _scores(self, X, n):
        dynamics = self.params["dynamics"]
        if isinstance(dynamics, (list, tuple)):
            runs = []
            for item in dynamics:
                recorder = _load_dynamics(item)
                if recorder.n != n:
                    raise LessdataError(f"a dynamics recorder holds {recorder.n} examples but there are {n}")
                runs.append(recorder.field("error_norm")[:, recorder.column_index(self.params["column"])])
            if X is not None:
                raise LessdataError("method 'el2n': give X or dynamics=, not both")
            stacked = np.stack(runs, axis=1).astype(np.float64)
            seen = (~np.isnan(stacked)).sum(axis=1)
            total = np.nansum(stacked, axis=1)
            return np.divide(total, seen, out=np.full(n, np.nan), where=seen > 0)  # mean over the runs that saw it
        return super()._scores(X, n)

    def compute(self, X, dynamics):
        if dynamics is not None:
            return dynamics.field("error_norm")[:, dynamics.column_index(self.params["column"])]
        return _mean_columns(X)

    def descending(self):
        return self.params["keep"] == "hard"


@register
class GrandMethod(ScoreMethod):
    """GraNd (Paul, Ganguli, Dziugaite, "Deep Learning on a Data Diet", NeurIPS 2021): the expected norm of
    each example's loss gradient (at initialisation, over several initialisations); keep the highest.

    Signal: ``X`` = ``(n, k)`` gradient norms from ``k`` runs (averaged), or ``scores=``. Compute them with
    :func:`lessdata.training.early_training_scores` (``score="grand"``, ``epochs=0``) or
    :func:`~lessdata.signals.dynamics.grand_scores`. ``keep="hard"`` (default) or ``"easy"``; ``skip`` as for
    EL2N.

    Checked against: Paul et al. (paper) and DeepCore (``methods/grand.py``). The paper's GraNd is the norm of the
    gradient with respect to all parameters at initialisation, averaged over 10 initialisations (the default of
    :func:`~lessdata.signals.dynamics.grand_scores`); DeepCore uses the last layer's weight and bias gradient of a
    trained model (``grand_scores(last_layer=True)``). Per class with ``labels`` (the paper ranks globally;
    DeepCore's default ``balance=False`` too).
    """

    name = "grand"
    description = "GraNd (Paul et al. 2021): keep the examples with the largest gradient norm; weights n_c/k_c"
    signals = ("grand_scores",)
    defaults = {**ScoreMethod.base_defaults, "keep": "hard"}
    parameter_constraints = {**ScoreMethod.base_constraints, "keep": KEEP}

    def compute(self, X, dynamics):
        return _mean_columns(X)

    def descending(self):
        return self.params["keep"] == "hard"


@register
class CartographyMethod(ScoreMethod):
    """Dataset cartography (Swayamdipta et al., 2020, "Dataset Cartography: Mapping and Diagnosing Datasets
    with Training Dynamics", EMNLP): from the per-epoch probability of the true class, *confidence* (its mean)
    and *variability* (its standard deviation) place each example in a region of the data map.

    ``region``: ``"ambiguous"`` (default; highest variability first — the paper's best subset for
    out-of-distribution generalisation), ``"hard"`` (hard-to-learn: lowest confidence first) or ``"easy"``
    (easy-to-learn: highest confidence first). Gains are the variability (ambiguous) or the confidence.

    Signal: ``X`` = ``(n, T)`` true-class probability per epoch, ``dynamics=`` (its ``confidence``), or
    ``scores=`` (the score itself, ranked in the region's direction).

    Checked against: Swayamdipta et al. (paper, Sec. 2): confidence is the mean and variability the population
    standard deviation (``ddof=0``) of the true-class probability over epochs, as there. Departures: the paper
    takes a region over the whole data set (e.g. the 33% most ambiguous), here per class when ``labels`` are given;
    epochs where an example was not seen (NaN) are skipped.
    """

    name = "cartography"
    description = "dataset cartography (Swayamdipta et al. 2020): ambiguous / hard / easy regions; weights n_c/k_c"
    signals = ("confidence_trajectory", "dynamics")
    defaults = {**ScoreMethod.base_defaults, "dynamics": None, "region": "ambiguous"}
    parameter_constraints = {**ScoreMethod.base_constraints, "dynamics": DYNAMICS,
                             "region": [Options("ambiguous", "hard", "easy")]}

    def compute(self, X, dynamics):
        confidence, variability = cartography_statistics(dynamics.field("confidence") if dynamics is not None
                                                         else X)
        return variability if self.params["region"] == "ambiguous" else confidence

    def descending(self):
        return self.params["region"] != "hard"


@register
class UncertaintyMethod(ScoreMethod):
    """Uncertainty sampling for data selection (Coleman et al., 2020, "Selection via Proxy: Efficient Data
    Selection for Deep Learning", ICLR): keep the examples a (proxy) model is least sure about.

    ``score``: ``"least_confidence"`` (default, ``1 - max p``), ``"entropy"`` or ``"margin"`` (top-1 minus
    top-2 probability, kept *smallest* first); ``keep="uncertain"`` (default) or ``"certain"``.
    Signal: ``X`` = ``(n, C)`` class probabilities (or logits with ``from_logits=True``), ``dynamics=`` a
    recorder with logits (the column at position ``column``, default the last), or ``scores=``.

    Checked against: Coleman et al. (paper) and DeepCore (``methods/uncertainty.py``). lessdata follows the paper:
    least confidence is ``1 − max softmax probability``, largest first. DeepCore's ``LeastConfidence`` scores the
    largest *logit* and, without ``balance``, keeps the highest scores first (the most confident examples: the
    opposite of the method); its entropy and margin orders agree with lessdata's. Per class with ``labels``
    (DeepCore's default ``balance=False``).
    """

    name = "uncertainty"
    description = "uncertainty (least confidence / entropy / margin): keep the least certain; weights n_c/k_c"
    signals = ("probabilities", "dynamics")
    expects = "logits with from_logits=True; or scores= (one value per example)"
    defaults = {**ScoreMethod.base_defaults, "dynamics": None, "score": "least_confidence",
                "keep": "uncertain", "from_logits": False, "column": -1}
    parameter_constraints = {**ScoreMethod.base_constraints, "dynamics": DYNAMICS,
                             "score": [Options(*UNCERTAINTY_SCORES)], "keep": [Options("uncertain", "certain")],
                             "from_logits": [BOOL], "column": [Interval(int)]}

    def compute(self, X, dynamics):
        if dynamics is not None:
            return uncertainty_scores(dynamics.probabilities(self.params["column"]), self.params["score"])
        X = check_features(X, "probabilities").astype(np.float64)
        if self.params["from_logits"]:
            X = np.exp(X - X.max(axis=1, keepdims=True))
            X /= X.sum(axis=1, keepdims=True)
        return uncertainty_scores(X, self.params["score"])

    def check_input(self, X):
        if self.params["from_logits"]:  # logits take any finite values, but one class is no choice
            if X.shape[1] < 2:
                raise LessdataError(f"method 'uncertainty': X must be logits of at least 2 classes, got "
                                    f"{X.shape[1]} column(s)")
            return
        check_signal(X, "probabilities", "method 'uncertainty'",
                     "; pass from_logits=True for logits, or scores= for precomputed scores")

    def descending(self):
        uncertain_is_high = self.params["score"] != "margin"
        return uncertain_is_high == (self.params["keep"] == "uncertain")
