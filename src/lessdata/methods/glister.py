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
form that part's validation set (all rows when none do).

Checked against: CORDS (``GLISTERStrategy``: greedy on ``η g_i · ∇L_V``, the validation gradient recomputed at
``θ − η Σ_S g`` through the last layer after every pick, stochastic greedy by default) and DeepCore's
``Glister``; ``greedy="naive"`` equals a step-by-step implementation of that greedy. Departures: ``update="fisher"``
and ``"none"`` are cheaper options without validation logits; with ``labels`` the selection is per class (CORDS'
default ``Supervised`` selects over all the data, as :func:`lessdata.training.glister_selector` does by
default).

All weights are 1 (as in the paper); ``gains`` are the Taylor gains ``η g_i · ∇L_V`` at the time of each pick,
and ``objective`` is their sum (the first-order estimate of the validation-loss decrease).

Examples:
    >>> import numpy as np, lessdata
    >>> G = np.random.default_rng(0).normal(size=(50, 3)).astype("float32")
    >>> cs = lessdata.select(G, budget=5, method="glister", greedy="naive")
    >>> len(cs), float(cs.weights.sum())
    (5, 5.0)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._validation import ARRAY, NUMBERS, Interval, Options, check_features, check_labels
from ..errors import LessdataError
from ..submodular.partition import PartResult
from ._partitioned import partitioned_coreset
from .registry import BACKEND, BUDGET_POLICY, EPSILON, Method, register

__all__ = ["FisherValidation", "GlisterMethod", "LogitValidation", "glister_part"]

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

    Examples:
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

    Examples:
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
    (a :class:`LogitValidation` or :class:`FisherValidation`) after each pick.

    The stochastic greedy samples, without replacement, ``ceil(n / budget · log(1/ε))`` of the examples left at
    each pick (all of them once fewer are left); ties go to the lowest index. A :class:`LogitValidation` on logit
    gradients and a :class:`FisherValidation` run in a compiled loop (the random samples are drawn up front,
    exactly as the step-by-step loop draws them, so the picks are the same); any other ``validation`` object
    with ``gradient(d)`` and ``step(g)`` runs step by step in Python.

    Examples:
        >>> G = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
        >>> part = glister_part(G, 2, FisherValidation(np.array([[1.0, 0.2]]), eta=1.0, update=False),
        ...                     eta=1.0, greedy="naive")
        >>> part.indices.tolist(), part.gains.tolist()
        ([0, 2], [1.0, 0.6])
    """
    n, d = G.shape
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or not 0 <= budget <= n:
        raise LessdataError(f"cannot pick {budget!r} of {n} examples")
    G64 = np.ascontiguousarray(G, dtype=np.float64)
    sample = max(1, int(math.ceil(n / max(budget, 1) * math.log(1.0 / epsilon))))
    if type(validation) is LogitValidation and validation.h is None:
        validation._bias(d)  # the layout check: logit gradients have C columns
        draws = _candidate_draws(n, budget, sample, greedy, seed)
        picks, gains, shift = _greedy_logit(G64, budget, float(eta), draws, validation.z, validation.y,
                                            validation.eta)
        validation.z += shift[None, :]  # leave the validation where the step-by-step loop leaves it
    elif type(validation) is FisherValidation:
        draws = _candidate_draws(n, budget, sample, greedy, seed)
        V = validation.V
        use_fisher = validation.update and d <= len(V)
        F = (V.T @ V) / len(V) if use_fisher else np.zeros((0, 0))  # d × d, so each update costs d²
        picks, gains, validation.g = _greedy_fisher(G64, budget, float(eta), draws, validation.g.copy(),
                                                    validation.eta, F, V, validation.update, use_fisher)
    else:
        picks, gains = _greedy_python(G64, budget, validation, float(eta), greedy, sample, seed)
    return PartResult(indices=np.asarray(picks, dtype=np.int64), weights=np.ones(len(picks), dtype=np.float32),
                      gains=np.asarray(gains, dtype=np.float64), objective=float(np.sum(gains)))


def _greedy_python(G64, budget, validation, eta, greedy, sample, seed):
    """The greedy loop step by step, for any ``validation`` with ``gradient(d)`` and ``step(g)``."""
    n, d = G64.shape
    rng = np.random.default_rng(seed)
    remaining = np.ones(n, dtype=bool)
    picks, gains = [], []
    for t in range(budget):
        g_val = validation.gradient(d)
        if greedy == "naive" or sample >= n - t:
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
    return picks, gains


def _candidate_draws(n: int, budget: int, sample: int, greedy: str, seed: int) -> np.ndarray:
    """The stochastic greedy's samples, drawn up front: row ``t`` holds the sorted ranks, among the examples
    left at pick ``t``, of the ones it scores. The draws depend only on how many are left (``n − t``), so they
    are the very numbers ``rng.choice(np.flatnonzero(remaining), sample, replace=False)`` takes step by step.
    Picks that score every example left (naive greedy, or ``sample ≥ n − t``) have no row."""
    rng = np.random.default_rng(seed)
    rows = 0 if greedy == "naive" else max(0, min(budget, n - sample))
    draws = np.empty((rows, sample), dtype=np.int64)
    for t in range(rows):
        draws[t] = np.sort(rng.choice(n - t, size=sample, replace=False))
    return draws


@njit(nogil=True, cache=True)
def _fenwick(n):
    """A Fenwick tree over ``n`` flags, all set: ``_nth`` finds the position of the k-th set flag."""
    tree = np.zeros(n + 1, dtype=np.int64)
    for i in range(1, n + 1):
        tree[i] += 1
        parent = i + (i & -i)
        if parent <= n:
            tree[parent] += tree[i]
    return tree


@njit(nogil=True, cache=True)
def _clear(tree, i):
    n = tree.shape[0] - 1
    i += 1
    while i <= n:
        tree[i] -= 1
        i += i & -i


@njit(nogil=True, cache=True)
def _nth(tree, k):
    """Position of the ``k``-th (from 0) set flag."""
    n = tree.shape[0] - 1
    step = 1
    while step * 2 <= n:
        step *= 2
    pos, left = 0, k + 1
    while step > 0:
        if pos + step <= n and tree[pos + step] < left:
            pos += step
            left -= tree[pos]
        step //= 2
    return pos


@njit(nogil=True, cache=True)
def _best(G, g, eta, t, draws, remaining, tree):
    """The candidate of largest ``eta · G_i · g`` at pick ``t`` (the lowest index on ties) and its score."""
    n, d = G.shape
    best_i, best = -1, 0.0
    every = t >= draws.shape[0]
    count = n if every else draws.shape[1]
    for s in range(count):
        if every:
            i = s
            if not remaining[i]:
                continue
        else:
            i = _nth(tree, draws[t, s])
        acc = 0.0
        for p in range(d):
            acc += G[i, p] * g[p]
        score = eta * acc
        if best_i < 0 or score > best:
            best_i, best = i, score
    return best_i, best


@njit(nogil=True, cache=True, fastmath={"reassoc", "contract", "arcp", "nsz"})
def _greedy_logit(G, budget, eta, draws, z, y, step_eta):
    """GLISTER with the exact update for logit gradients: every pick shifts all validation logits by ``−η g_j``.

    The logits are ``z + s`` with one shift vector ``s``, so ``softmax(z_v + s) ∝ E_v ⊙ exp(s − max s)`` with
    ``E_v = exp(z_v − max z_v)`` computed once: a pick costs a few passes of multiply-adds over the ``m × C``
    logits and no exponentials (a row whose normaliser underflows is recomputed from its logits). The gradient
    at the label, ``p_y − 1``, is taken as ``−Σ_{c≠y} p_c``, free of cancellation. Returns the picks, their
    gains and the final shift ``s``.
    """
    n, d = G.shape
    m, C = z.shape
    ET = np.empty((C, m))  # class-major, so the passes over the validation rows vectorise
    other_mask = np.ones((C, m))
    for v in range(m):
        top = z[v, 0]
        for c in range(1, C):
            top = max(top, z[v, c])
        for c in range(C):
            ET[c, v] = np.exp(z[v, c] - top)
        other_mask[y[v], v] = 0.0
    shift = np.zeros(C)
    e, g, row = np.empty(C), np.empty(C), np.empty(C)
    total, other, inv = np.empty(m), np.empty(m), np.empty(m)
    remaining = np.ones(n, dtype=np.bool_)
    tree = _fenwick(n)
    picks = np.empty(budget, dtype=np.int64)
    gains = np.empty(budget)
    for t in range(budget):
        top = shift.max()
        for c in range(C):
            e[c] = np.exp(shift[c] - top)
        total[:] = 0.0
        other[:] = 0.0
        for c in range(C):
            for v in range(m):
                p = ET[c, v] * e[c]
                total[v] += p
                other[v] += p * other_mask[c, v]
        for v in range(m):
            inv[v] = 1.0 / total[v] if total[v] > 1e-200 else 0.0  # 0: handled directly below
        for c in range(C):
            acc = 0.0
            for v in range(m):
                acc += ET[c, v] * inv[v] * other_mask[c, v]
            g[c] = acc * e[c]
        for v in range(m):
            if inv[v] > 0.0:
                g[y[v]] -= other[v] * inv[v]
                continue
            top_v = z[v, 0] + shift[0]  # the normaliser underflowed: this row from its logits
            for c in range(1, C):
                top_v = max(top_v, z[v, c] + shift[c])
            rest = 0.0
            for c in range(C):
                row[c] = np.exp(z[v, c] + shift[c] - top_v)
                if c != y[v]:
                    rest += row[c]
            whole = rest + row[y[v]]
            for c in range(C):
                if c != y[v]:
                    g[c] += row[c] / whole
            g[y[v]] -= rest / whole
        for c in range(C):
            g[c] /= m
        j, gain = _best(G, g, eta, t, draws, remaining, tree)
        picks[t], gains[t] = j, gain
        remaining[j] = False
        _clear(tree, j)
        for c in range(C):
            shift[c] -= step_eta * G[j, c]
    return picks, gains, shift


@njit(nogil=True, cache=True)
def _greedy_fisher(G, budget, eta, draws, g, step_eta, F, V, update, use_fisher):
    """GLISTER with the empirical-Fisher update ``∇L_V ← ∇L_V − η F g_j`` (``F = VᵀV / m``, precomputed when
    ``use_fisher``; else ``Vᵀ(V g_j) / m``), or none (``update=False``). Returns picks, gains, final gradient."""
    n, d = G.shape
    m = V.shape[0]
    remaining = np.ones(n, dtype=np.bool_)
    tree = _fenwick(n)
    picks = np.empty(budget, dtype=np.int64)
    gains = np.empty(budget)
    u = np.empty(m)
    for t in range(budget):
        j, gain = _best(G, g, eta, t, draws, remaining, tree)
        picks[t], gains[t] = j, gain
        remaining[j] = False
        _clear(tree, j)
        if not update:
            continue
        if use_fisher:
            for p in range(d):
                acc = 0.0
                for q in range(d):
                    acc += F[p, q] * G[j, q]
                g[p] -= step_eta * acc
        else:
            for v in range(m):
                acc = 0.0
                for q in range(d):
                    acc += V[v, q] * G[j, q]
                u[v] = acc
            for p in range(d):
                acc = 0.0
                for v in range(m):
                    acc += V[v, p] * u[v]
                g[p] -= step_eta * acc / m
    return picks, gains, g


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

    parameter_constraints = {
        "eta": [Interval(float, 0, None, closed="neither")],
        "greedy": [Options(*GREEDY)],
        "epsilon": EPSILON,
        "update": [Options(*UPDATES)],
        "validation_gradients": [NUMBERS, None],
        "validation_logits": [NUMBERS, None],
        "validation_labels": [ARRAY, None],
        "validation_features": [NUMBERS, None],
        "budget_policy": BUDGET_POLICY,
        "backend": BACKEND,
    }

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
