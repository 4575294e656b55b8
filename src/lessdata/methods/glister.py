"""GLISTER: subsets that most reduce the validation loss after one gradient step.

Killamsetty, Sivasubramanian, Ramakrishnan, Iyer, "GLISTER: Generalization based Data Subset Selection for
Efficient and Robust Learning", AAAI 2021. GLISTER-ONLINE picks ``S`` to minimise the validation loss after one
step on it, ``L_V(θ − η Σ_{i∈S} g_i)``, with a first-order Taylor expansion: the gain of adding example ``i`` to
the current set ``S`` is

    η · g_i · ∇L_V(θ_S),   θ_S = θ − η Σ_{j∈S} g_j,

a modular gain, but the validation gradient ``∇L_V(θ_S)`` changes after each pick. Greedy (``naive``) takes
the best remaining example each step; the stochastic greedy variant (Mirzasoleiman et al., AAAI 2015; the
paper's default) takes the best of a random sample of ``(n/k) log(1/ε)`` remaining examples.

How the validation gradient is updated after a pick (``update=``):

- ``"exact"`` (needs ``validation_logits`` and ``validation_labels``): recompute it at ``θ_S`` as the paper's
  code does for the last layer. For logit gradients (``d == C``, the bias gradient) the step shifts every
  validation logit by ``−η g_j``; for full last-layer gradients (``d == C·h [+ C]``, layout of
  ``last_layer_gradients(full=True)``, with ``validation_features`` ``h``) it changes them by
  ``−η (W_j h + b_j)``. Then ``∇L_V = mean(softmax(z) − onehot(y)) [⊗ h]``.
- ``"fisher"``: a first-order update of the validation gradient with the Gauss–Newton (empirical Fisher)
  approximation of the validation Hessian, ``∇L_V ← ∇L_V − η F g_j`` with ``F = mean_v g_v g_vᵀ``, from the
  validation gradients alone (``validation_gradients``, or the part's training gradients when there is no
  validation set).
- ``"none"``: keep the initial validation gradient (a plain top-k of ``g_i · ∇L_V``).
- ``"auto"`` (default): ``"exact"`` when validation logits are given, else ``"fisher"``.

With ``labels`` the selection runs per part; validation rows whose ``validation_labels`` equal the part's label
form that part's validation set (all rows when none do). All weights are 1 (as in the paper); ``gains`` are the
Taylor gains ``η g_i · ∇L_V`` at the time of each pick, and ``objective`` is their sum (the first-order estimate
of the validation-loss decrease).

Example:
    >>> import numpy as np, lessdata
    >>> G = np.random.default_rng(0).normal(size=(50, 3)).astype("float32")
    >>> cs = lessdata.select(G, budget=5, method="glister", greedy="naive")
    >>> len(cs), float(cs.weights.sum())
    (5, 5.0)
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_choice, check_features, check_labels
from ..errors import LessdataError
from ..submodular.partition import BUDGET_POLICIES, PartResult
from ._partitioned import partitioned_coreset
from ._selector import SelectorState
from .registry import Method, register

__all__ = ["FisherValidation", "GlisterMethod", "LogitValidation", "glister_part", "glister_selector"]

GREEDY = ("naive", "stochastic")
UPDATES = ("auto", "exact", "fisher", "none")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class LogitValidation:
    """Validation gradient at ``θ − η Σ g_S``, exact for the last layer: keeps the validation logits.

    ``features=None``: gradients are logit (bias) gradients of length ``C``. Otherwise gradients are full
    last-layer gradients of length ``C·h`` (``bias=False``) or ``C·h + C``, and ``features`` are the
    validation examples' penultimate features ``h`` (shape ``(m, h)``).

    Example:
        >>> v = LogitValidation(np.zeros((1, 2)), np.array([0]), eta=1.0)
        >>> v.gradient()                                   # softmax([0, 0]) - onehot(0)
        array([-0.5,  0.5])
        >>> v.step(np.array([-1.0, 1.0])); v.gradient().round(4)   # logits now [1, -1]
        array([-0.1192,  0.1192])
    """

    def __init__(self, logits, labels, *, eta: float, features=None):
        self.z = np.asarray(logits, dtype=np.float64).copy()
        self.y = np.asarray(labels, dtype=np.int64).reshape(-1)
        m, C = self.z.shape
        if len(self.y) != m:
            raise LessdataError(f"validation_labels has {len(self.y)} entries for {m} validation logits")
        if m and (self.y.min() < 0 or self.y.max() >= C):
            raise LessdataError(f"validation_labels must be class ids in [0, {C}) to match the logits")
        self.h = None if features is None else np.asarray(features, dtype=np.float64)
        if self.h is not None and self.h.shape[0] != m:
            raise LessdataError(f"validation_features has {self.h.shape[0]} rows for {m} validation logits")
        self.eta = float(eta)
        self.C = C

    def dim(self, bias: bool = True) -> int:
        return self.C if self.h is None else self.C * self.h.shape[1] + (self.C if bias else 0)

    def _bias(self, d: int) -> bool:
        if self.h is None:
            if d != self.C:
                raise LessdataError(f"gradients have {d} columns; logit gradients need {self.C} "
                                    "(give validation_features= for full last-layer gradients)")
            return True
        ch = self.C * self.h.shape[1]
        if d not in (ch, ch + self.C):
            raise LessdataError(f"gradients have {d} columns; full last-layer gradients with {self.C} classes and "
                                f"{self.h.shape[1]} features have {ch} (no bias) or {ch + self.C}")
        return d == ch + self.C

    def gradient(self, d: int | None = None) -> np.ndarray:
        r = _softmax(self.z)
        r[np.arange(len(self.y)), self.y] -= 1.0
        if self.h is None:
            return r.mean(axis=0)
        parts = [(r.T @ self.h / len(self.y)).reshape(-1)]
        if d is None or self._bias(d):
            parts.append(r.mean(axis=0))
        return np.concatenate(parts)

    def step(self, g: np.ndarray) -> None:
        """Move the parameters by ``−η g`` (one example's gradient) and update the logits."""
        g = np.asarray(g, dtype=np.float64).reshape(-1)
        bias = self._bias(g.shape[0])
        if self.h is None:
            self.z -= self.eta * g[None, :]
            return
        ch = self.C * self.h.shape[1]
        self.z -= self.eta * (self.h @ g[:ch].reshape(self.C, -1).T)
        if bias:
            self.z -= self.eta * g[ch:][None, :]


class FisherValidation:
    """Validation gradient updated to first order with the empirical Fisher as the Hessian:
    ``∇L_V ← ∇L_V − η (1/m) Σ_v g_v (g_v · g)`` after a step ``−η g``. ``update=False`` keeps it fixed.

    Example:
        >>> v = FisherValidation(np.array([[1.0, 0.0], [0.0, 2.0]]), eta=0.5)
        >>> v.gradient()
        array([0.5, 1. ])
        >>> v.step(np.array([1.0, 1.0])); v.gradient()       # F = diag(0.5, 2)
        array([0.25, 0.  ])
    """

    def __init__(self, gradients, *, eta: float, update: bool = True):
        self.V = np.asarray(gradients, dtype=np.float64)
        self.g = self.V.mean(axis=0)
        self.eta, self.update = float(eta), bool(update)

    def gradient(self, d: int | None = None) -> np.ndarray:
        return self.g

    def step(self, g: np.ndarray) -> None:
        if self.update:
            self.g = self.g - self.eta * (self.V.T @ (self.V @ np.asarray(g, dtype=np.float64))) / len(self.V)


def glister_part(G: np.ndarray, budget: int, validation, *, eta: float, greedy: str = "stochastic",
                 epsilon: float = 0.01, seed: int = 0) -> PartResult:
    """Greedy GLISTER on one part: ``budget`` picks maximising ``η g_i · ∇L_V``, updating ``validation``
    (a :class:`LogitValidation` or :class:`FisherValidation`) after each pick."""
    n, d = G.shape
    rng = np.random.default_rng(seed)
    G64 = G.astype(np.float64)
    remaining = np.ones(n, dtype=bool)
    sample = max(1, int(math.ceil(n / max(budget, 1) * math.log(1.0 / epsilon))))
    picks, gains = [], []
    for _ in range(budget):
        g_val = validation.gradient(d)
        if greedy == "naive" or sample >= int(remaining.sum()):
            cands = np.flatnonzero(remaining)
        else:
            cands = np.sort(rng.choice(np.flatnonzero(remaining), size=sample, replace=False))
        scores = eta * (G64[cands] @ g_val)
        best = int(np.argmax(scores))  # ties: the lowest index
        j = int(cands[best])
        picks.append(j)
        gains.append(float(scores[best]))
        remaining[j] = False
        validation.step(G64[j])
    gains = np.asarray(gains)
    return PartResult(indices=np.asarray(picks, dtype=np.int64), weights=np.ones(len(picks), dtype=np.float32),
                      gains=gains, objective=float(gains.sum()))


def _check_number(value, name: str, low: float = 0.0, open_low: bool = True) -> float:
    bad = isinstance(value, bool) or not isinstance(value, (int, float, np.number))
    if bad or not math.isfinite(float(value)) or (value <= low if open_low else value < low):
        raise LessdataError(f"{name} must be a finite number {'>' if open_low else '>='} {low}, got {value!r}")
    return float(value)


@register
class GlisterMethod(Method):
    """GLISTER-ONLINE (Killamsetty et al., AAAI 2021): greedy on the one-step Taylor gain ``η g_i · ∇L_V``,
    updating the validation gradient after each pick; stochastic greedy by default. All weights 1.

    ``X`` are per-example training gradients (logit or full last-layer gradients). Validation:
    ``validation_logits`` + ``validation_labels`` (+ ``validation_features`` for full gradients) for the exact
    update, or ``validation_gradients`` for the Fisher update; with neither, the part's own training gradients
    stand in for the validation set.
    """

    name = "glister"
    description = "GLISTER: greedy one-step validation-loss gain g_i . g_val, re-estimating g_val after each pick"
    signals = ("last_layer_gradients",)
    partitioned = True
    defaults = {
        "eta": 0.1,
        "greedy": "stochastic",
        "epsilon": 0.01,
        "update": "auto",
        "validation_gradients": None,
        "validation_logits": None,
        "validation_labels": None,
        "validation_features": None,
        "budget_policy": "proportional",
        "backend": "local",
    }

    def __init__(self, **params):
        super().__init__(**params)
        p = self.params
        _check_number(p["eta"], "eta")
        check_choice(p["greedy"], GREEDY, "greedy")
        check_choice(p["update"], UPDATES, "update")
        check_choice(p["budget_policy"], BUDGET_POLICIES, "budget_policy")
        if not (isinstance(p["epsilon"], (int, float)) and 0 < p["epsilon"] < 1):
            raise LessdataError(f"epsilon must be in (0, 1), got {p['epsilon']!r}")

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        update = p["update"]
        logits, features, vgrads = p["validation_logits"], p["validation_features"], p["validation_gradients"]
        if update == "auto":
            update = "exact" if logits is not None else "fisher"
        val_labels = None
        if update == "exact":
            if logits is None or p["validation_labels"] is None:
                raise LessdataError("update='exact' needs validation_logits= and validation_labels=")
            logits = check_features(logits, "validation_logits")
            val_labels = check_labels(p["validation_labels"], logits.shape[0], "validation_labels")
            if features is not None:
                features = check_features(features, "validation_features")
            LogitValidation(logits[:1], val_labels[:1], eta=p["eta"], features=None if features is None
                            else features[:1])._bias(X.shape[1])  # check the layout once, up front
        else:
            if logits is not None or features is not None:
                raise LessdataError(f"validation_logits/validation_features are only used with update='exact', "
                                    f"not {update!r}")
            if vgrads is not None:
                vgrads = check_features(vgrads, "validation_gradients")
                if vgrads.shape[1] != X.shape[1]:
                    raise LessdataError(f"validation_gradients have {vgrads.shape[1]} columns but the gradients "
                                        f"have {X.shape[1]}")
                if p["validation_labels"] is not None:
                    val_labels = check_labels(p["validation_labels"], vgrads.shape[0], "validation_labels")
        labels_given = labels is not None

        def rows_of(part):
            if not (labels_given and val_labels is not None):
                return slice(None)
            mask = val_labels == part.label
            return mask if mask.any() else slice(None)

        def select_part(part):
            G = X[part.indices]
            if update == "exact":
                rows = rows_of(part)
                validation = LogitValidation(logits[rows], val_labels[rows], eta=p["eta"],
                                             features=None if features is None else features[rows])
            else:
                V = G if vgrads is None else vgrads[rows_of(part)]
                validation = FisherValidation(V, eta=p["eta"], update=update == "fisher")
            result = glister_part(G, part.budget, validation, eta=p["eta"], greedy=p["greedy"],
                                  epsilon=p["epsilon"], seed=part.seed)
            if progress is not None:
                progress.update(part.budget)
            return result

        return partitioned_coreset(select_part, n, budget, labels if labels_given else None, seed,
                                   p["budget_policy"], p["backend"])


def glister_selector(
    data,
    labels=None,
    *,
    fraction: float | None = None,
    budget: int | None = None,
    validation=None,
    validation_labels=None,
    eta: float = 0.1,
    full: bool = False,
    per_class: bool = False,
    layer: str | None = None,
    seed: int = 0,
    batch_size: int = 512,
    device=None,
    **params,
):
    """A ``selector(model) -> Coreset`` running GLISTER with the exact last-layer update, for ``EveryKEpochs``.

    ``validation`` is a held-out set (anything :func:`~lessdata.signals.last_layer_gradients` reads, with
    ``validation_labels`` or labels in it); without one the training data stands in for it. ``eta`` is the
    one-step learning rate (use your optimizer's). ``full=False`` (logit gradients) and ``per_class=False``
    (one selection over all the data) are the paper's code defaults (CORDS ``linear_layer=False``,
    ``selection_type='Supervised'``). Each call draws its stochastic-greedy samples from a fresh seed derived
    from ``(seed, call number)``. ``params`` go to the ``glister`` method (``greedy=``, ``epsilon=``...).

    Example:
        >>> selector = glister_selector(train_set, fraction=0.1, validation=val_set)   # doctest: +SKIP
        >>> schedule = EveryKEpochs(selector, k=20)                                    # doctest: +SKIP
    """

    state = SelectorState(data, labels, seed, batch_size)
    val = {"labels": validation_labels}

    def select(model):
        import lessdata

        from ..signals import last_layer_gradients
        from ..signals.hessian import last_layer_inputs

        y = state.labels
        val_data = data if validation is None else validation
        val_y = y if validation is None else val["labels"]
        h, z, val_y = last_layer_inputs(model, val_data, val_y, layer=layer, batch_size=batch_size, device=device)
        val["labels"] = val_y if validation is not None else val["labels"]
        G = last_layer_gradients(model, data, y, layer=layer, full=full, batch_size=batch_size, device=device)
        call_seed = state.next_seed()
        return lessdata.select(G, fraction=fraction, budget=budget, method="glister",
                               labels=y if per_class else None, seed=call_seed, eta=eta, update="exact",
                               validation_logits=z, validation_labels=val_y,
                               validation_features=h if full else None, **params)

    return select
