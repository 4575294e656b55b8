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

Example:
    >>> import numpy as np, lessdata
    >>> G = np.random.default_rng(0).normal(size=(60, 5)).astype("float32")
    >>> cs = lessdata.select(G, budget=6, method="gradmatch", labels=np.arange(60) % 2)
    >>> len(cs), bool((cs.weights > 0).all())
    (6, True)
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from .._validation import check_choice, check_features, check_labels
from ..errors import LessdataError
from ..submodular.partition import BUDGET_POLICIES, PartResult
from ._partitioned import partitioned_coreset
from ._selector import SelectorState
from .registry import Method, register

__all__ = ["GradMatchMethod", "OmpResult", "gradmatch_selector", "nonnegative_omp"]


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


def _ridge(L: np.ndarray, c: np.ndarray) -> np.ndarray:
    return solve_triangular(L.T, solve_triangular(L, c, lower=True), lower=False)


def nonnegative_omp(A, b, k: int, *, lam: float = 0.5, tol: float = 1e-4) -> OmpResult:
    """Non-negative OMP with ridge ``lam``: at most ``k`` rows of ``A`` (atoms) whose non-negative combination
    approximates ``b``.

    Each step adds the unused atom with the largest positive correlation ``a_j · r`` with the residual ``r``,
    refits ``x = argmin ‖A_Sᵀ x − b‖² + lam ‖x‖²`` on the chosen set (Cholesky factor updated in place), and
    while some coefficient is negative removes the most negative atom (for good) and refits. Stops at ``k``
    atoms, when ``‖r‖ ≤ tol ‖b‖``, or when no unused atom correlates positively with ``r``.

    Example:
        >>> A = np.eye(4)
        >>> res = nonnegative_omp(A, np.array([3.0, 0.0, 1.0, 0.0]), 3, lam=0.0)
        >>> res.indices.tolist(), res.coefficients.round(6).tolist()
        ([0, 2], [3.0, 1.0])
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if A.ndim != 2 or A.shape[1] != b.shape[0]:
        raise LessdataError(f"atoms must be (n, {b.shape[0]}) to match the target, got shape {A.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise LessdataError(f"the number of atoms must be a non-negative integer, got {k!r}")
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 <= lam < float("inf"):
        raise LessdataError(f"lam (the ridge penalty) must be a non-negative number, got {lam!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < float("inf"):
        raise LessdataError(f"tol must be a non-negative number, got {tol!r}")
    norm_b = float(np.linalg.norm(b))
    chosen: list[int] = []
    gains: list[float] = []
    banned = np.zeros(A.shape[0], dtype=bool)  # chosen, dropped, or dependent on the chosen: never again
    Lbuf = np.zeros((min(k, A.shape[0]), min(k, A.shape[0])))  # Cholesky factor of A_S A_Sᵀ + lam I
    x, r = np.zeros(0), b.copy()
    scale = float(np.max(np.einsum("ij,ij->i", A, A), initial=0.0)) + lam
    while len(chosen) < k and norm_b > 0 and np.linalg.norm(r) > tol * norm_b:
        corr = A @ r
        corr[banned] = -np.inf
        j = int(np.argmax(corr))
        if not corr[j] > 0:
            break
        banned[j] = True
        m = len(chosen)
        l = solve_triangular(Lbuf[:m, :m], A[chosen] @ A[j], lower=True) if m else np.zeros(0)
        s2 = float(A[j] @ A[j]) + lam - float(l @ l)
        if s2 <= 1e-10 * scale:  # numerically in the span of the chosen atoms
            continue
        Lbuf[m, :m], Lbuf[m, m] = l, np.sqrt(s2)
        chosen.append(j)
        gains.append(float(np.linalg.norm(r)))  # the norm before; turned into the drop below
        x = _ridge(Lbuf[: m + 1, : m + 1], A[chosen] @ b)
        while chosen and x.min() < 0:
            drop = int(np.argmin(x))
            del chosen[drop], gains[drop]
            m = len(chosen)
            if m:
                Lbuf[:m, :m] = np.linalg.cholesky(A[chosen] @ A[chosen].T + lam * np.eye(m))
                x = _ridge(Lbuf[:m, :m], A[chosen] @ b)
            else:
                x = np.zeros(0)
        r = b - A[chosen].T @ x if chosen else b.copy()
        if chosen and chosen[-1] == j:
            gains[-1] -= float(np.linalg.norm(r))
    return OmpResult(chosen, x, gains, float(np.linalg.norm(r)))


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

    def __init__(self, **params):
        super().__init__(**params)
        check_choice(self.params["budget_policy"], BUDGET_POLICIES, "budget_policy")

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


def gradmatch_selector(
    data,
    labels=None,
    *,
    fraction: float | None = None,
    budget: int | None = None,
    validation=None,
    validation_labels=None,
    full: bool = True,
    layer: str | None = None,
    seed: int = 0,
    batch_size: int = 512,
    device=None,
    **params,
):
    """A ``selector(model) -> Coreset`` running GradMatch on the current model's last-layer gradients.

    ``full=True`` uses the weight and bias gradients of the last layer (CORDS's ``linear_layer=True``);
    ``validation`` (anything :func:`~lessdata.signals.last_layer_gradients` reads, with ``validation_labels``
    or labels in it) switches the target to the validation gradients. ``params`` go to the ``gradmatch``
    method (``lam=``, ``tol=``...). Each call draws its fill-up points from a fresh seed derived from
    ``(seed, call number)``.

    Example:
        >>> schedule = EveryKEpochs(gradmatch_selector(train_set, fraction=0.1), k=20)   # doctest: +SKIP
    """
    from ..signals.hessian import _read_labels

    state = SelectorState(data, labels, seed, batch_size)
    val = {"labels": validation_labels}

    def select(model):
        import lessdata

        from ..signals import last_layer_gradients

        y = state.labels
        kw = {}
        if validation is not None:
            if val["labels"] is None:
                val["labels"] = _read_labels(validation, None, batch_size)
            kw["validation_labels"] = val["labels"]
            kw["validation_gradients"] = last_layer_gradients(model, validation, val["labels"], layer=layer,
                                                              full=full, batch_size=batch_size, device=device)
        call_seed = state.next_seed()
        G = last_layer_gradients(model, data, y, layer=layer, full=full, batch_size=batch_size, device=device)
        return lessdata.select(G, fraction=fraction, budget=budget, method="gradmatch", labels=y, seed=call_seed,
                               **kw, **params)

    return select
