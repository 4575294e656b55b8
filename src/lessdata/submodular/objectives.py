"""More set functions for the greedy family: feature-based, saturated coverage, log-determinant, disparity,
modular scores, and the facility-location mutual information used for targeted selection.

Every class follows the :class:`~lessdata.submodular.functions.Objective` protocol (``gains``, ``add``,
``value``, ``reset``, ``evaluate``), so every optimizer, partition and backend runs it unchanged. Each also
says whether lazy evaluation is exact for it: ``diminishing = True`` when a candidate's score can only
fall as the selection grows (submodular functions, and the farthest-first score of disparity min), which is
what lazy greedy's stale upper bounds rely on.

Definitions match submodlib's (Kaushal et al., "Submodlib: A Submodular Optimization Library", 2022) and
apricot's (Schreiber, Bilmes, Noble, JMLR 2020) implementations of the same functions; the differences are
listed in each class.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..errors import LessdataError

CONCAVE = ("sqrt", "log", "inverse")


# ------------------------------------------------------------------------------------- feature-based
@njit(fastmath=False, nogil=True, cache=True)
def _concave(x, kind):
    if kind == 0:
        return math.sqrt(x)
    if kind == 1:
        return math.log1p(x)
    return x / (1.0 + x)  # "inverse": 1 - 1/(1 + x)


@njit(nogil=True, cache=True)
def _feature_gains(M, cands, current, g_current, w, kind):
    out = np.empty(cands.shape[0], dtype=np.float64)
    for t in range(cands.shape[0]):
        row = M[cands[t]]
        total = 0.0
        for f in range(row.shape[0]):
            if row[f] != 0.0:
                total += w[f] * (_concave(current[f] + row[f], kind) - g_current[f])
        out[t] = total
    return out


class FeatureBased:
    """Feature-based coverage ``f(S) = Σ_f w_f · g(Σ_{j∈S} m_jf)`` with ``g`` concave: ``sqrt``,
    ``log`` (``log(1 + x)``) or ``inverse`` (``1 − 1/(1 + x)``) (Wei, Iyer, Bilmes, ICML 2015).

    ``features`` (``n × d``) must be non-negative. Monotone submodular. Unlike submodlib this does not
    min–max rescale the features (pass them scaled as you want them); apricot's ``sigmoid`` is our
    ``inverse``. Gains cost O(d) each; the state is the ``d`` running sums, so the selection alone defines
    the value (which is what streaming needs: :meth:`gains_rows` / :meth:`add_row`).
    """

    diminishing = True
    batch_gains = True  # lazy greedy re-evaluates stale tops in batches: one compiled call, not one per gain

    def __init__(self, features: np.ndarray | None, concave: str = "sqrt", feature_weights=None,
                 n_features: int | None = None):
        if concave not in CONCAVE:
            raise LessdataError(f"unknown concave function {concave!r}; choose one of: {', '.join(CONCAVE)}")
        self.kind = CONCAVE.index(concave)
        self.concave = concave
        if features is not None:
            M = np.ascontiguousarray(features, dtype=np.float32)
            if M.ndim != 2:
                raise LessdataError(f"features must be 2-D, got shape {M.shape}")
            check_non_negative(M, "feature-based functions")
            self.M, d = M, M.shape[1]
        else:
            self.M, d = None, int(n_features)
        self.n_candidates = 0 if self.M is None else self.M.shape[0]
        if feature_weights is None:
            self.w = np.ones(d, dtype=np.float64)
        else:
            self.w = np.asarray(feature_weights, dtype=np.float64).reshape(-1)
            if self.w.shape[0] != d or (self.w < 0).any() or not np.isfinite(self.w).all():
                raise LessdataError(f"feature_weights must be {d} finite non-negative numbers")
        self.d = d
        self.reset()

    def reset(self) -> None:
        self.current = np.zeros(self.d, dtype=np.float64)
        self.g_current = np.zeros(self.d, dtype=np.float64)
        self._value = 0.0

    def gains(self, candidates) -> np.ndarray:
        cands = np.ascontiguousarray(candidates, dtype=np.int64).reshape(-1)
        return _feature_gains(self.M, cands, self.current, self.g_current, self.w, self.kind)

    def gains_rows(self, rows: np.ndarray) -> np.ndarray:
        """Gains of feature rows that are not part of ``features`` (streaming)."""
        return _feature_gains(rows, np.arange(rows.shape[0], dtype=np.int64), self.current, self.g_current,
                              self.w, self.kind)

    def add(self, j: int) -> None:
        self.add_row(self.M[int(j)])

    def add_row(self, row: np.ndarray) -> None:
        self._value += float(self.gains_rows(np.asarray(row, dtype=np.float32).reshape(1, -1))[0])
        self.current += row
        self.g_current = _apply_concave(self.current, self.kind)

    def value(self) -> float:
        return self._value

    def evaluate(self, selected) -> float:
        sums = self.M[np.asarray(selected, dtype=np.int64)].astype(np.float64).sum(axis=0)
        return float(self.w @ _apply_concave(sums, self.kind))


def _apply_concave(x: np.ndarray, kind: int) -> np.ndarray:
    return (np.sqrt(x), np.log1p(x), x / (1.0 + x))[kind]


def check_non_negative(M: np.ndarray, what: str) -> None:
    if not np.isfinite(M).all():
        raise LessdataError(f"{what} need finite values; got NaN or infinite entries")
    if (M < 0).any():
        row, col = (int(v[0]) for v in np.nonzero(M < 0))
        raise LessdataError(f"{what} need non-negative features (a concave function of a negative sum is "
                            f"undefined); row {row}, column {col} is {float(M[row, col]):g}")


# -------------------------------------------------------------------------------- saturated coverage
@njit(nogil=True, cache=True)
def _saturated_gains(S, cands, current, cap, w):
    out = np.empty(cands.shape[0], dtype=np.float64)
    for t in range(cands.shape[0]):
        row = S[cands[t]]
        total = 0.0
        for i in range(row.shape[0]):
            v = row[i]
            if v > 0 and current[i] < cap[i]:
                total += w[i] * (min(current[i] + v, cap[i]) - current[i])
        out[t] = total
    return out


class SaturatedCoverage:
    """Saturated coverage ``f(S) = Σ_i w_i · min(Σ_{j∈S} s_ji, α · Σ_{j∈V} s_ji)`` (Lin & Bilmes, ACL 2011).

    ``similarity`` is candidate-major (rows = candidates, columns = points), dense; negative similarities
    count as 0. Monotone submodular. ``α`` defaults to apricot's 0.1 (submodlib has no such function).
    The running sums are kept capped, so the state is exact in float64.
    """

    diminishing = True

    def __init__(self, similarity: np.ndarray, alpha: float = 0.1, weights=None):
        S = np.ascontiguousarray(similarity, dtype=np.float32)
        if S.ndim != 2:
            raise LessdataError(f"similarity must be 2-D, got shape {S.shape}")
        if not 0 < alpha:
            raise LessdataError(f"alpha must be positive, got {alpha}")
        self.S = S
        self.n_candidates, n_points = S.shape
        self.w = np.ones(n_points) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        self.cap = float(alpha) * np.maximum(S, 0).sum(axis=0, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        self.current = np.zeros(self.S.shape[1], dtype=np.float64)

    def gains(self, candidates) -> np.ndarray:
        cands = np.ascontiguousarray(candidates, dtype=np.int64).reshape(-1)
        return _saturated_gains(self.S, cands, self.current, self.cap, self.w)

    def add(self, j: int) -> None:
        self.current = np.minimum(self.current + np.maximum(self.S[int(j)], 0), self.cap)

    def value(self) -> float:
        return float(self.w @ self.current)

    def evaluate(self, selected) -> float:
        sums = np.maximum(self.S[np.asarray(selected, dtype=np.int64)], 0).astype(np.float64).sum(axis=0)
        return float(self.w @ np.minimum(sums, self.cap))


# ---------------------------------------------------------------------------------- log-determinant
class LogDeterminant:
    """Log-determinant ``f(S) = log det(L_S + λ I)`` of a PSD kernel ``L`` (the DPP MAP objective; greedy with
    the incremental Cholesky of Chen, Zhang, Zhou, "Fast Greedy MAP Inference for DPP", NeurIPS 2018).

    ``kernel`` is a dense ``n × n`` PSD matrix, or any object with ``rows(indices)`` and ``shape`` (an
    :class:`~lessdata.submodular.similarity.ImplicitSimilarity` with ``cosine`` or ``rbf``), so only one
    kernel row per pick is ever computed: memory is ``n × k`` (the Cholesky columns), never ``n × n``.
    Each candidate's gain ``log d_j²`` (``d_j²`` = its Schur complement) costs O(1); a pick costs O(n·|S|).
    Submodular; monotone only when every eigenvalue of ``L + λI`` is ≥ 1. Same function as submodlib's
    ``LogDeterminantFunction(lambdaVal=λ)``.

    With ``regularization=0`` a rank-deficient kernel makes ``L_S`` singular once ``|S|`` exceeds its rank;
    that pick raises a :class:`~lessdata.errors.LessdataError` instead of returning ``−inf``.
    """

    diminishing = True
    batch_gains = True  # O(1) gains: lazy greedy's compiled batches cost far less than one call per gain

    def __init__(self, kernel, regularization: float = 1.0, budget_hint: int = 64):
        if not regularization >= 0:
            raise LessdataError(f"regularization must be >= 0, got {regularization}")
        if hasattr(kernel, "rows"):
            self.kernel = kernel
            n = kernel.shape[0]
            self._row = lambda j: kernel.rows(np.array([j]))[0].astype(np.float64)
            self.diag = _implicit_diagonal(kernel)
        else:
            K = np.asarray(kernel)
            if K.ndim != 2 or K.shape[0] != K.shape[1]:
                raise LessdataError(f"log-determinant needs a square kernel, got shape {K.shape}")
            if not np.isfinite(K).all():
                raise LessdataError("kernel contains NaN or infinite values")
            self.kernel = np.ascontiguousarray(K, dtype=np.float32)
            n = K.shape[0]
            self._row = lambda j: self.kernel[j].astype(np.float64)
            self.diag = np.diagonal(self.kernel).astype(np.float64)
        self.lam = float(regularization)
        self.n_candidates = n
        self._cap = max(1, int(budget_hint))
        # a Schur complement this small relative to the largest diagonal means L_S is singular to float32's
        # precision (the kernel's entries are float32)
        self.tol = 1e-5 * max(1.0, float(self.diag.max(initial=0.0)) + self.lam)
        self.reset()

    def reset(self) -> None:
        self.C = np.zeros((self.n_candidates, self._cap), dtype=np.float64)
        self.d2 = self.diag + self.lam
        self.selected: list[int] = []
        self._value = 0.0

    def gains(self, candidates) -> np.ndarray:
        cands = np.ascontiguousarray(candidates, dtype=np.int64).reshape(-1)
        d2 = self.d2[cands]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d2 > self.tol, np.log(np.maximum(d2, self.tol)), -np.inf)

    def add(self, j: int) -> None:
        j = int(j)
        t = len(self.selected)
        if not self.d2[j] > self.tol:
            raise LessdataError(
                f"log-determinant: the kernel restricted to the {t + 1} picks is singular (the kernel is "
                f"rank-deficient, rank about {t}); pass a regularization > 0 (e.g. 1e-3)")
        if t == self.C.shape[1]:
            self.C = np.concatenate([self.C, np.zeros_like(self.C)], axis=1)
        dj = math.sqrt(self.d2[j])
        e = (self._row(j) - self.C[:, :t] @ self.C[j, :t]) / dj
        self.C[:, t] = e
        self.d2 = self.d2 - e * e
        self.d2[j] = 0.0
        self._value += 2.0 * math.log(dj)
        self.selected.append(j)

    def value(self) -> float:
        return self._value

    def evaluate(self, selected) -> float:
        sel = np.asarray(selected, dtype=np.int64)
        if len(sel) == 0:
            return 0.0
        if isinstance(self.kernel, np.ndarray):
            K = self.kernel[np.ix_(sel, sel)].astype(np.float64)
        else:
            K = self.kernel.rows(sel)[:, sel].astype(np.float64)
        sign, logdet = np.linalg.slogdet(K + self.lam * np.eye(len(sel)))
        return float(logdet) if sign > 0 else float("-inf")


def _implicit_diagonal(kernel) -> np.ndarray:
    """The diagonal of an implicit cosine / rbf kernel (1 for every row that is not all zero)."""
    if getattr(kernel, "metric", None) == "rbf":
        return np.ones(kernel.shape[0], dtype=np.float64)
    norms = np.einsum("ij,ij->i", kernel.Y, kernel.Y)
    return (norms > 0).astype(np.float64)


# ------------------------------------------------------------------------------------------ disparity
class DisparitySum:
    """Disparity sum ``f(S) = Σ_{i<j∈S} d_ij`` over a dissimilarity ``D`` (submodlib's ``DisparitySum``
    uses ``d = 1 − s``). Not submodular (gains grow with ``S``): lazy greedy is not exact for it, so use
    ``naive`` or ``stochastic``."""

    diminishing = False

    def __init__(self, dissimilarity: np.ndarray):
        D = np.ascontiguousarray(dissimilarity, dtype=np.float32)
        if D.ndim != 2 or D.shape[0] != D.shape[1]:
            raise LessdataError(f"disparity needs a square dissimilarity, got shape {D.shape}")
        self.D = D
        self.n_candidates = D.shape[0]
        self.reset()

    def reset(self) -> None:
        self.acc = np.zeros(self.n_candidates, dtype=np.float64)
        self._value = 0.0

    def gains(self, candidates) -> np.ndarray:
        return self.acc[np.asarray(candidates, dtype=np.int64)]

    def add(self, j: int) -> None:
        self._value += float(self.acc[int(j)])
        self.acc += self.D[int(j)]

    def value(self) -> float:
        return self._value

    def evaluate(self, selected) -> float:
        sel = np.asarray(selected, dtype=np.int64)
        return float(np.triu(self.D[np.ix_(sel, sel)].astype(np.float64), 1).sum())


class DisparityMin:
    """Disparity min ``f(S) = min_{i≠j∈S} d_ij`` (0 for ``|S| ≤ 1``), maximised farthest-first.

    ``f`` is not submodular and its marginal gains are 0 or negative after two picks, so greedy on raw gains
    would pick by index. Instead ``gains`` returns each candidate's distance to the nearest selected point
    (Gonzalez 1985: a 2-approximation of the max–min dispersion): with nothing selected every score is the
    largest distance ``max D`` (so the first pick is candidate 0 and its reported gain is that bound), then
    each pick is the candidate farthest from the selection. The score can
    only fall as ``S`` grows, so lazy greedy is exact for it. ``value()`` is the true ``f``. submodlib's
    greedy on its ``DisparityMin`` uses marginal gains and does not pick farthest-first.
    """

    diminishing = True

    def __init__(self, dissimilarity: np.ndarray):
        D = np.ascontiguousarray(dissimilarity, dtype=np.float32)
        if D.ndim != 2 or D.shape[0] != D.shape[1]:
            raise LessdataError(f"disparity needs a square dissimilarity, got shape {D.shape}")
        self.D = D
        self.n_candidates = D.shape[0]
        self.top = float(D.max(initial=0.0))
        self.reset()

    def reset(self) -> None:
        # with nothing selected every score is the largest distance, an upper bound of all later scores
        self.nearest = np.full(self.n_candidates, self.top, dtype=np.float64)
        self.n_selected = 0
        self._value = 0.0

    def gains(self, candidates) -> np.ndarray:
        return self.nearest[np.asarray(candidates, dtype=np.int64)]

    def add(self, j: int) -> None:
        j = int(j)
        row = self.D[j].astype(np.float64)
        if self.n_selected == 0:
            self.nearest = row
        else:
            self._value = float(self.nearest[j]) if self.n_selected == 1 else min(self._value, self.nearest[j])
            self.nearest = np.minimum(self.nearest, row)
        self.n_selected += 1

    def value(self) -> float:
        return self._value

    def evaluate(self, selected) -> float:
        sel = np.asarray(selected, dtype=np.int64)
        if len(sel) < 2:
            return 0.0
        sub = self.D[np.ix_(sel, sel)].astype(np.float64)
        return float(sub[~np.eye(len(sel), dtype=bool)].min())


# ------------------------------------------------------------------------------------- modular / SMI
class Modular:
    """``f(S) = Σ_{j∈S} score_j``: gains never change, greedy = the top ``k`` (ties to the lowest index).
    Graph-cut mutual information with a query set is this with ``score_j = 2λ Σ_q s_jq``."""

    diminishing = True

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        self.n_candidates = self.scores.shape[0]
        self.reset()

    def reset(self) -> None:
        self._value = 0.0

    def gains(self, candidates) -> np.ndarray:
        return self.scores[np.asarray(candidates, dtype=np.int64)]

    def add(self, j: int) -> None:
        self._value += float(self.scores[int(j)])

    def value(self) -> float:
        return self._value

    def evaluate(self, selected) -> float:
        return float(self.scores[np.asarray(selected, dtype=np.int64)].sum())


def gcmi_scores(query_similarity: np.ndarray, lam: float = 1.0) -> np.ndarray:
    """Graph-cut mutual information ``I(A; Q) = 2λ Σ_{a∈A} Σ_{q∈Q} s_aq`` as per-candidate scores
    (Kothawade et al., PRISM, AAAI 2022; submodlib ``GraphCutMutualInformationFunction``).
    ``query_similarity`` is candidates × queries."""
    return 2.0 * float(lam) * np.asarray(query_similarity, dtype=np.float64).sum(axis=1)


def flmi_similarity(similarity, query_similarity: np.ndarray, eta: float = 1.0):
    """The similarity whose facility location is facility-location mutual information with a query set:
    ``I(A; Q) = Σ_{i∈V} min(max_{a∈A} s_ia, η max_{q∈Q} s_iq)`` (PRISM; submodlib
    ``FacilityLocationMutualInformationFunction``) equals facility location on ``min(s_ai, η max_q s_iq)``.

    ``similarity`` is candidate-major ``n × n`` (dense or scipy CSR), ``query_similarity`` is points ×
    queries. Returns the capped similarity (same kind), ready for :class:`FacilityLocation`."""
    Q = np.asarray(query_similarity, dtype=np.float32)
    big = float(np.finfo(np.float32).max)  # a huge η means no cap: keep it finite in float32
    cap = np.clip(float(eta) * Q.max(axis=1).astype(np.float64), -big, big).astype(np.float32)
    if hasattr(similarity, "tocsr"):
        S = similarity.tocsr(copy=True).astype(np.float32)
        S.data = np.minimum(S.data, cap[S.indices])
        return S
    return np.minimum(np.asarray(similarity, dtype=np.float32), cap[None, :])
