"""GradMatch: gradient matching by non-negative orthogonal matching pursuit.

Killamsetty, Sivasubramanian, Ramakrishnan, De, Iyer, "GRAD-MATCH: Gradient Matching based Data Subset
Selection for Efficient Deep Model Training", ICML 2021. Per class, find at most ``k`` examples and
non-negative weights whose weighted sum of gradients matches the sum of the class's training gradients (or,
with a validation set, of its validation gradients):

    min_{w ≥ 0, |supp w| ≤ k}  ‖Σ_i w_i g_i − target‖² + λ ‖w‖²

solved greedily by orthogonal matching pursuit (Pati et al., 1993; Tropp, 2004): repeatedly add the example
whose gradient is most positively correlated with the residual, refit the weights of the chosen set by ridge
regression, and drop any example whose weight turns negative. The OMP coefficients are the training weights
(on the scale of example counts, like CRAIG's cluster sizes). If OMP stops early (the residual vanished, or no
gradient correlates positively with it any more), the part is filled up with random examples of weight 1.

Defaults follow the paper's code (CORDS): ``lam=0.5``; the tolerance is a relative residual of ``1e-4``
(stopping is rare: more atoms cannot help once the sum is matched that closely).

Checked against: CORDS (``OrthogonalMP_REG_Parallel`` with ``positive=True``: argmax of the positive correlation,
ridge refit, while a coefficient is negative drop the most negative atom and refit) and DeepCore's ``GradMatch``.
The picks and coefficients equal a naive implementation of that rule on random problems; they also equal a
non-negative least-squares refit (scipy ``nnls``) wherever no coefficient turns negative. Departures: an atom
dropped for a negative coefficient is never picked again (CORDS may re-pick it, and stops when the best atom is
already chosen); OMP runs per class with the budget split in proportion to class sizes (CORDS' ``PerClass``); a
short part is filled with random examples of weight 1. The signal is the caller's: the reference uses last-layer
gradients with the penultimate features, the default of :func:`lessdata.training.gradmatch_selector`.

Examples:
    >>> import numpy as np, lessdata
    >>> G = np.random.default_rng(0).normal(size=(60, 5)).astype("float32")
    >>> cs = lessdata.select(G, budget=6, method="gradmatch", labels=np.arange(60) % 2)
    >>> len(cs), bool((cs.weights > 0).all())
    (6, True)
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.linalg import solve_triangular

from .._validation import ARRAY, NUMBERS, Interval, check_features, check_labels, check_params
from ..errors import LessdataError
from ..submodular.partition import PartResult
from ._partitioned import partitioned_coreset
from .registry import BACKEND, BUDGET_POLICY, Method, register

__all__ = ["GradMatchMethod", "OmpResult", "nonnegative_omp"]


class OmpResult:
    """Atoms chosen by :func:`nonnegative_omp`, in the order they entered, with their final coefficients.

    ``gains`` is the drop in the residual norm when each atom entered; ``residual`` is the final residual norm.
    """

    def __init__(self, indices, coefficients, gains, residual):
        self.indices = np.asarray(indices, dtype=np.int64)
        self.coefficients = np.asarray(coefficients, dtype=np.float64)
        self.gains = np.asarray(gains, dtype=np.float64)
        self.residual = float(residual)

    def __repr__(self):
        return f"OmpResult(atoms={len(self.indices)}, residual={self.residual:.4g})"


_DEPENDENT = 1e-10  # an atom whose Schur complement is below this share of the largest Gram entry is dependent


def nonnegative_omp(A, b, k: int, *, lam: float = 0.5, tol: float = 1e-4) -> OmpResult:
    """Non-negative OMP with ridge ``lam``: at most ``k`` rows of ``A`` (atoms) whose non-negative combination
    approximates ``b``.

    Each step adds the unused atom with the largest positive correlation ``a_j · r`` with the residual ``r``,
    refits ``x = argmin ‖A_Sᵀ x − b‖² + lam ‖x‖²`` on the chosen set, and while some coefficient is negative
    removes the most negative atom (for good) and refits. An atom numerically in the span of the chosen ones
    (its Schur complement in ``A_S A_Sᵀ + lam I`` is below ``1e-10 · (max ‖a‖² + lam)``) is skipped for good.
    Stops at ``k`` atoms, when ``‖r‖ ≤ tol ‖b‖``, or when no unused atom correlates positively with ``r``.

    Cost: with ``lam`` above that threshold and fewer features ``d`` than ``k``, the refit runs in feature
    space, ``x = A_S (A_Sᵀ A_S + lam I)⁻¹ b`` (the same ridge solution), on a ``d × d`` Cholesky factor updated
    by one rank-one update per added atom and one downdate per dropped atom: ``O(n d + |S| d + d²)`` a step,
    compiled. Otherwise (``lam ≈ 0``: at most ``rank A`` atoms, or ``d ≥ k``) it runs on the Cholesky factor
    of ``A_S A_Sᵀ + lam I``, extended by one row per added atom.

    Examples:
        >>> A = np.eye(4)
        >>> res = nonnegative_omp(A, np.array([3.0, 0.0, 1.0, 0.0]), 3, lam=0.0)
        >>> res.indices.tolist(), res.coefficients.round(6).tolist()
        ([0, 2], [3.0, 1.0])
    """
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    A = np.ascontiguousarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[1] != b.shape[0]:
        raise LessdataError(f"atoms must be (n, {b.shape[0]}) to match the target, got shape {A.shape}")
    non_negative = [Interval(float, 0, None)]
    check_params("nonnegative_omp", {"k": k, "lam": lam, "tol": tol},
                 {"k": [Interval(int, 0, None)], "lam": non_negative, "tol": non_negative})
    if not (np.isfinite(A).all() and np.isfinite(b).all()):
        raise LessdataError("the atoms and the target must be finite (found NaN or inf)")
    k = min(int(k), A.shape[0])
    norm_b = float(np.linalg.norm(b))
    if k == 0 or norm_b == 0:
        return OmpResult([], [], [], norm_b)
    scale = float(np.max(np.einsum("ij,ij->i", A, A), initial=0.0)) + float(lam)
    if lam > _DEPENDENT * scale and A.shape[1] < k:  # then no atom is ever dependent: its complement is ≥ lam
        chosen, x, gains, residual = _omp_feature_space(A, b, k, float(lam), float(tol) * norm_b)
        return OmpResult(chosen, x, gains, residual)
    return _omp_atom_space(A, b, k, float(lam), float(tol) * norm_b, _DEPENDENT * scale)


def _omp_atom_space(A: np.ndarray, b: np.ndarray, k: int, lam: float, stop: float, dependent: float) -> OmpResult:
    """Non-negative OMP on the Cholesky factor ``L`` of ``A_S A_Sᵀ + lam I`` (one new row per added atom)."""
    chosen: list[int] = []
    gains: list[float] = []
    banned = np.zeros(A.shape[0], dtype=bool)  # chosen, dropped, or dependent on the chosen: never again
    L = np.zeros((k, k))
    Ab = A @ b
    x, r = np.zeros(0), b.copy()
    while len(chosen) < k and np.linalg.norm(r) > stop:
        corr = A @ r
        corr[banned] = -np.inf
        j = int(np.argmax(corr))
        if not corr[j] > 0:
            break
        banned[j] = True
        m = len(chosen)
        l = solve_triangular(L[:m, :m], A[chosen] @ A[j], lower=True, check_finite=False) if m else np.zeros(0)
        s2 = float(A[j] @ A[j]) + lam - float(l @ l)
        if s2 <= dependent:  # numerically in the span of the chosen atoms
            continue
        L[m, :m], L[m, m] = l, np.sqrt(s2)
        chosen.append(j)
        gains.append(float(np.linalg.norm(r)))  # the norm before; turned into the drop below
        x = _ridge(L[: m + 1, : m + 1], Ab[chosen])
        while chosen and x.min() < 0:
            drop = int(np.argmin(x))
            del chosen[drop], gains[drop]
            m = len(chosen)
            if m:
                L[:m, :m] = np.linalg.cholesky(A[chosen] @ A[chosen].T + lam * np.eye(m))
                x = _ridge(L[:m, :m], Ab[chosen])
            else:
                x = np.zeros(0)
        r = b - A[chosen].T @ x if chosen else b.copy()
        if chosen and chosen[-1] == j:
            gains[-1] -= float(np.linalg.norm(r))
    return OmpResult(chosen, x, gains, float(np.linalg.norm(r)))


def _ridge(L: np.ndarray, c: np.ndarray) -> np.ndarray:
    y = solve_triangular(L, c, lower=True, check_finite=False)
    return solve_triangular(L, y, lower=True, trans="T", check_finite=False)


@njit(nogil=True, cache=True)
def _cholesky_update(L, v, sign):
    """``L Lᵀ + sign · v vᵀ`` in place (lower ``L``; ``v`` is overwritten). False when a downdate loses
    positive definiteness numerically (the caller then refactors)."""
    d = L.shape[0]
    for c in range(d):
        diag = L[c, c]
        r2 = diag * diag + sign * v[c] * v[c]
        if r2 <= 1e-12 * diag * diag:
            return False
        r = np.sqrt(r2)
        cos, sin = r / diag, v[c] / diag
        L[c, c] = r
        for i in range(c + 1, d):
            L[i, c] = (L[i, c] + sign * sin * v[i]) / cos
            v[i] = cos * v[i] - sin * L[i, c]
    return True


@njit(nogil=True, cache=True)
def _refactor(L, A, chosen, m, lam):
    """``L`` = the Cholesky factor of ``A_Sᵀ A_S + lam I``, from scratch (``lam > 0``: positive definite)."""
    d = L.shape[0]
    M = lam * np.eye(d)
    for t in range(m):
        a = A[chosen[t]]
        for p in range(d):
            for q in range(d):
                M[p, q] += a[p] * a[q]
    L[:, :] = 0.0
    for j in range(d):
        acc = M[j, j]
        for p in range(j):
            acc -= L[j, p] * L[j, p]
        L[j, j] = np.sqrt(acc)
        for i in range(j + 1, d):
            acc = M[i, j]
            for p in range(j):
                acc -= L[i, p] * L[j, p]
            L[i, j] = acc / L[j, j]


@njit(nogil=True, cache=True)
def _coefficients(L, A, chosen, m, b, w, x):
    """``x_t = a_{S_t} · w`` with ``w = (A_Sᵀ A_S + lam I)⁻¹ b``: the ridge solution, by the push-through
    identity ``(A_S A_Sᵀ + lam I)⁻¹ A_S = A_S (A_Sᵀ A_S + lam I)⁻¹``."""
    d = L.shape[0]
    for i in range(d):  # L y = b
        acc = b[i]
        for p in range(i):
            acc -= L[i, p] * w[p]
        w[i] = acc / L[i, i]
    for i in range(d - 1, -1, -1):  # Lᵀ w = y
        acc = w[i]
        for p in range(i + 1, d):
            acc -= L[p, i] * w[p]
        w[i] = acc / L[i, i]
    for t in range(m):
        a = A[chosen[t]]
        acc = 0.0
        for p in range(d):
            acc += a[p] * w[p]
        x[t] = acc


@njit(nogil=True, cache=True)
def _omp_feature_space(A, b, k, lam, stop):
    """Non-negative OMP with the ridge refit in feature space (see :func:`nonnegative_omp`)."""
    n, d = A.shape
    L = np.sqrt(lam) * np.eye(d)
    chosen = np.empty(k, dtype=np.int64)
    x = np.zeros(k)
    gains = np.zeros(k)
    banned = np.zeros(n, dtype=np.bool_)
    r = b.copy()
    w = np.empty(d)
    v = np.empty(d)
    m = 0
    rnorm = np.sqrt(np.sum(b * b))
    while m < k and rnorm > stop:
        j, best = -1, -np.inf
        for i in range(n):  # the first atom of largest correlation, as np.argmax
            if banned[i]:
                continue
            c = 0.0
            for p in range(d):
                c += A[i, p] * r[p]
            if c > best:
                j, best = i, c
        if j < 0 or not best > 0:
            break
        banned[j] = True
        chosen[m] = j
        gains[m] = rnorm  # the norm before; turned into the drop below
        m += 1
        v[:] = A[j]
        if not _cholesky_update(L, v, 1.0):  # an update stays positive definite; refactor all the same
            _refactor(L, A, chosen, m, lam)
        _coefficients(L, A, chosen, m, b, w, x)
        while m > 0:
            drop, low = 0, x[0]
            for t in range(1, m):
                if x[t] < low:
                    drop, low = t, x[t]
            if not low < 0:
                break
            v[:] = A[chosen[drop]]
            for t in range(drop, m - 1):
                chosen[t] = chosen[t + 1]
                gains[t] = gains[t + 1]
            m -= 1
            if not _cholesky_update(L, v, -1.0):
                _refactor(L, A, chosen, m, lam)
            if m > 0:
                _coefficients(L, A, chosen, m, b, w, x)
        r[:] = b
        for t in range(m):
            a = A[chosen[t]]
            for p in range(d):
                r[p] -= x[t] * a[p]
        rnorm = np.sqrt(np.sum(r * r))
        if m > 0 and chosen[m - 1] == j:
            gains[m - 1] -= rnorm
    return chosen[:m].copy(), x[:m].copy(), gains[:m].copy(), rnorm


def gradmatch_part(G: np.ndarray, budget: int, target: np.ndarray, *, lam: float, tol: float,
                   seed: int) -> PartResult:
    """GradMatch for one part: OMP on the part's gradients, then random fill-up with weight 1."""
    res = nonnegative_omp(G, target, budget, lam=lam, tol=tol)
    keep = res.coefficients > 0
    indices, weights, gains = res.indices[keep], res.coefficients[keep], res.gains[keep]
    short = budget - len(indices)
    if short > 0:
        rest = np.setdiff1d(np.arange(G.shape[0]), indices)
        fill = np.sort(np.random.default_rng(seed).choice(rest, size=short, replace=False))
        indices = np.concatenate([indices, fill])
        weights = np.concatenate([weights, np.ones(short)])
        gains = np.concatenate([gains, np.full(short, np.nan)])
    matched = (weights[:, None] * G[indices].astype(np.float64)).sum(axis=0) if len(indices) else 0.0
    return PartResult(indices=indices, weights=weights.astype(np.float32), gains=gains,
                      objective=float(np.linalg.norm(matched - target)))


@register
class GradMatchMethod(Method):
    """GRAD-MATCH (Killamsetty et al., ICML 2021): per-class non-negative OMP with ridge ``lam`` matching the
    sum of the class's training gradients (or, given ``validation_gradients``, of its validation gradients
    rescaled to the class's size); weights = OMP coefficients, short parts filled with random points of weight 1.

    The Coreset's ``objective`` is the matching error ``Σ_parts ‖Σ_i w_i g_i − target‖`` (lower is better);
    ``gains`` are the residual-norm drops of the OMP picks (NaN for fill-up points).
    """

    name = "gradmatch"
    description = "GradMatch: per-class non-negative OMP matching the gradient sum; weights = OMP coefficients"
    signals = ("last_layer_gradients",)
    partitioned = True
    defaults = {
        "lam": 0.5,
        "tol": 1e-4,
        "validation_gradients": None,
        "validation_labels": None,
        "budget_policy": "proportional",
        "backend": "local",
    }
    parameter_constraints = {
        "lam": [Interval(float, 0, None)],
        "tol": [Interval(float, 0, None)],
        "validation_gradients": [NUMBERS, None],
        "validation_labels": [ARRAY, None],
        "budget_policy": BUDGET_POLICY,
        "backend": BACKEND,
    }

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        val, val_labels = _validation(p["validation_gradients"], p["validation_labels"], X.shape[1])
        labels_given = labels is not None
        part_labels = labels if labels_given else np.zeros(n, dtype=np.int64)

        def select_part(part):
            G = X[part.indices]
            if val is None:
                target = G.astype(np.float64).sum(axis=0)
            else:
                rows = val if not (labels_given and val_labels is not None) else val[val_labels == part.label]
                rows = val if len(rows) == 0 else rows
                target = rows.astype(np.float64).sum(axis=0) * (len(part.indices) / len(rows))
            result = gradmatch_part(G, part.budget, target, lam=p["lam"], tol=p["tol"], seed=part.seed)
            if progress is not None:
                progress.update(part.budget)
            return result

        return partitioned_coreset(select_part, n, budget, part_labels if labels_given else None, seed,
                                   p["budget_policy"], p["backend"])


def _validation(gradients, labels, d: int):
    if gradients is None:
        if labels is not None:
            raise LessdataError("validation_labels= needs validation_gradients=")
        return None, None
    V = check_features(gradients, "validation_gradients")
    if V.shape[1] != d:
        raise LessdataError(f"validation_gradients have {V.shape[1]} columns but the gradients have {d}")
    return V, (None if labels is None else check_labels(labels, V.shape[0], "validation_labels"))
