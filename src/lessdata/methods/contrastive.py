"""Selection for contrastive learning: SAS, ClipCov, CLIP score, C-RHO and SemDeDup.

All methods take embeddings (a proxy encoder's for SAS and SemDeDup; row-aligned image and caption
embeddings from a CLIP-like model for the image–text methods) and work with cosine similarities: the
embeddings are L2-normalised first.

**Image–text API**: ``X`` is the image embeddings ``(n, d)`` and ``text=`` the caption embeddings
``(n, d)``, row ``i`` of both being one image–caption pair in the same joint space, e.g.
``select(image_emb, fraction=0.3, method="clipcov", text=text_emb, n_clusters=100)``. Misaligned rows or
different dimensions are rejected with one line.

**Latent classes**: SAS and ClipCov select per latent class (budget split by ``budget_policy``, proportional
to class size by default): ``labels`` when given, else ``n_clusters=K`` (spherical k-means, faiss, on the
embeddings — the image embeddings for ClipCov) or ``class_prompts=P`` (zero-shot against class-name prompt
embeddings ``(C, T, d)``), else the whole set as one class; see :mod:`lessdata.signals.embeddings`.
Weights are ``n_c / k_c`` (each pick stands for that many examples of its class), so they sum to ``n``.
"""

from __future__ import annotations

import numpy as np

from .._validation import BOOL, C_COUNT, NUMBERS, Interval, Options, check_choice, check_features
from ..errors import LessdataError
from ..submodular.coverage import clip_coverage, clip_coverage_scores, cross_modal_similarity
from ..submodular.functions import GraphCut
from ..submodular.optimizers import maximize
from ..submodular.partition import PartResult
from ..submodular.similarity import DEFAULT_MEMORY_CAP
from ._partitioned import partitioned_coreset
from .registry import BACKEND, BUDGET_POLICY, EPSILON, MEMORY_CAP, OPTIMIZER, Method, register
from .scores import rank

__all__ = ["clip_scores", "pair_embeddings", "sas_scores", "semdedup_group_weights", "semdedup_max_similarity"]

_BLOCK = 1024


def _normalize(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.ascontiguousarray(X / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def pair_embeddings(image, text, what: str = "text") -> tuple[np.ndarray, np.ndarray]:
    """Check that ``image`` and ``text`` are row-aligned embeddings of one joint space; return both as
    unit-norm float32."""
    if text is None:
        raise LessdataError(f"this method needs the caption embeddings as {what}= (row i = the caption of image i)")
    image = check_features(image, "image embeddings")
    text = check_features(text, f"{what} embeddings")
    if text.shape[0] != image.shape[0]:
        raise LessdataError(f"{what} has {text.shape[0]} rows but there are {image.shape[0]} image embeddings; "
                            "rows must be aligned (row i = one image-caption pair)")
    if text.shape[1] != image.shape[1]:
        raise LessdataError(f"{what} embeddings have dimension {text.shape[1]} but the image embeddings have "
                            f"{image.shape[1]}; both must come from the same joint embedding space")
    return _normalize(image), _normalize(text)


def clip_scores(image, text) -> np.ndarray:
    """CLIP score: cosine similarity of each image with its own caption, float64 ``(n,)``.

    Examples:
        >>> clip_scores([[1.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [0.0, 1.0]]).round(3).tolist()
        [0.707, 1.0]
    """
    v, t = pair_embeddings(image, text)
    return np.einsum("ij,ij->i", v.astype(np.float64), t.astype(np.float64))


def sas_scores(emb, block: int = _BLOCK) -> np.ndarray:
    """SAS ranking score ``Σ_j max(0, cos(e_i, e_j))`` of each row (the row sum of the clipped cosine
    similarity, ``j`` over all rows including ``i``), in blocks: ``O(n² d)`` time, ``O(n · block)`` memory."""
    E = _normalize(emb)
    out = np.empty(E.shape[0], dtype=np.float64)
    for start in range(0, E.shape[0], block):
        S = E[start:start + block] @ E.T
        out[start:start + block] = np.maximum(S, 0.0).sum(axis=1, dtype=np.float64)
    return out


def _check_dense(m: int, memory_cap, what: str):
    if m * m * 4 > memory_cap:
        raise LessdataError(f"{what}: a latent class of {m} points needs a {m}x{m} similarity "
                            f"({m * m * 4 / 2**30:.1f} GiB > memory_cap); use more latent classes (n_clusters=) "
                            "or raise memory_cap")


def _uniform(size: int, k: int) -> np.ndarray:
    return np.full(k, size / k if k else 0.0, dtype=np.float32)


class _LatentClassMethod(Method):
    """Shared by SAS and ClipCov: per-latent-class selection (see the module docstring)."""

    partitioned = True
    base_defaults = {"n_clusters": None, "class_prompts": None, "budget_policy": "proportional",
                     "backend": "local"}
    base_constraints = {"n_clusters": [Interval(int, 1, None), None], "class_prompts": [NUMBERS, None],
                        "budget_policy": BUDGET_POLICY, "backend": BACKEND}

    def __init__(self, **params):
        super().__init__(**params)
        if self.params["n_clusters"] is not None and self.params["class_prompts"] is not None:
            raise LessdataError("give n_clusters= or class_prompts= for the latent classes, not both")

    def _partition(self, emb, labels, seed):
        p = self.params
        if labels is not None:
            if p["n_clusters"] is not None or p["class_prompts"] is not None:
                raise LessdataError("labels are the latent classes already; drop n_clusters= / class_prompts=")
            return labels
        if p["n_clusters"] is None and p["class_prompts"] is None:
            return None
        from ..signals.embeddings import latent_classes

        return latent_classes(emb, n_clusters=p["n_clusters"], class_prompts=p["class_prompts"], seed=seed)

    def _run(self, select_part, n, budget, labels, seed):
        cs = partitioned_coreset(select_part, n, budget, labels, seed, self.params["budget_policy"],
                                 self.params["backend"])
        if labels is not None:
            cs.params["latent_classes"] = int(len(np.unique(labels)))
        return cs


def _resolve_optimizer(optimizer, non_monotone: bool) -> str:
    if optimizer is None:
        return "random_greedy" if non_monotone else "lazy"
    return optimizer


@register
class SASMethod(_LatentClassMethod):
    """SAS (Joshi & Mirzasoleiman, "Data-Efficient Contrastive Self-supervised Learning: Most Beneficial
    Examples for Supervised Learning Contribute the Least", ICML 2023): within each latent class ``V_k``,
    maximise the graph cut ``Σ_{i∈V_k} Σ_{j∈S} s_ij − λ Σ_{i,j∈S} s_ij`` on the cosine similarity ``s`` of
    proxy embeddings ``X`` (examples whose augmentations are most similar to the rest of their class, minus
    redundancy). ``clip=True`` (default) clips ``s`` at 0 as the authors' code does.

    ``lam`` defaults to ``0.5``: the authors' implementation uses the gain ``Σ_j max(0, s_ij) − Σ_{j∈S} s_ij``,
    which is this graph cut at λ = 1/2 (up to a constant when ``s_ii = 1``); that is monotone, so lazy greedy
    is exact. ``optimizer=None`` picks ``"lazy"`` for λ ≤ 1/2 and ``"random_greedy"`` (Buchbinder et al., 2014)
    for λ > 1/2, where the objective is non-monotone; random greedy may return fewer than the budget (it
    skips steps whose best gains are not positive). Dense ``n_k × n_k`` similarity per class, capped by
    ``memory_cap`` bytes. Gains: the graph-cut marginal gains.

    Checked against: the paper and the authors' gain rule stated above (λ = 1/2, similarities clipped at 0).
    Departures: latent classes may also come from ``labels`` or class prompts; ``optimizer=None`` chooses lazy or
    random greedy by λ.
    """

    name = "sas"
    description = "SAS (Joshi & Mirzasoleiman 2023): per-latent-class graph cut on proxy embeddings"
    signals = ("embeddings",)
    defaults = {**_LatentClassMethod.base_defaults, "lam": 0.5, "clip": True, "optimizer": None, "epsilon": 0.01,
                "memory_cap": DEFAULT_MEMORY_CAP}
    parameter_constraints = {**_LatentClassMethod.base_constraints, "lam": [Interval(float, 0, None)],
                             "clip": [BOOL], "optimizer": [*OPTIMIZER, None], "epsilon": EPSILON,
                             "memory_cap": MEMORY_CAP}

    def __init__(self, **params):
        super().__init__(**params)
        self.optimizer = _resolve_optimizer(self.params["optimizer"], float(self.params["lam"]) > 0.5)

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        labels = self._partition(X, labels, seed)
        E = _normalize(X)

        def select_part(part):
            _check_dense(len(part.indices), p["memory_cap"], "sas")
            Ek = E[part.indices]
            S = Ek @ Ek.T
            if p["clip"]:
                np.maximum(S, 0.0, out=S)
            obj = GraphCut(S, lam=p["lam"])
            res = maximize(obj, part.budget, self.optimizer, epsilon=p["epsilon"], seed=part.seed,
                           progress=progress)
            return PartResult(indices=res.indices, weights=_uniform(len(part.indices), len(res.indices)),
                              gains=res.gains, objective=obj.value())

        cs = self._run(select_part, n, budget, labels, seed)
        cs.params["optimizer"] = self.optimizer if isinstance(self.optimizer, str) else repr(self.optimizer)
        return cs


@register
class SASRankMethod(_LatentClassMethod):
    """SAS ranking (the cheap variant of :class:`SASMethod`): within each latent class, keep the examples with
    the largest ``Σ_{j∈V_k} max(0, s_ij)`` (see :func:`sas_scores`), no redundancy term. ``O(n_k · block)``
    memory. Gains: the scores. Ties broken at random (from ``seed``)."""

    name = "sas_rank"
    description = "SAS ranking: per latent class, keep the largest summed positive cosine similarity"
    signals = ("embeddings",)
    defaults = dict(_LatentClassMethod.base_defaults)
    parameter_constraints = dict(_LatentClassMethod.base_constraints)

    def run(self, X, budget, labels, seed, n, progress=None):
        labels = self._partition(X, labels, seed)

        def select_part(part):
            scores = sas_scores(X[part.indices])
            picks = rank(scores, True, part.seed)[: part.budget]
            if progress is not None:
                progress.update(part.budget)
            return PartResult(indices=picks, weights=_uniform(len(scores), part.budget), gains=scores[picks],
                              objective=float(scores[picks].sum()))

        return self._run(select_part, n, budget, labels, seed)


@register
class ClipCovMethod(_LatentClassMethod):
    """ClipCov (Joshi, Jain & Mirzasoleiman, "Data-Efficient Contrastive Language-Image Pretraining:
    Prioritizing Data Quality over Quantity", AISTATS 2024): per latent class ``V_k`` maximise

        ``Σ_{i∈V_k, j∈S_k} csim(i, j) + λ Σ_{i∈S_k} csim(i, i) − μ Σ_{i,j∈S_k} csim(i, j)``

    with ``csim(i, j) = max(0, v_i·t_j + v_j·t_i)`` on unit-norm image (``X``) and caption (``text=``)
    embeddings (see :mod:`lessdata.submodular.coverage`). ``lam`` = λ (default 2). ``redundancy`` = μ,
    default 0: then the objective is **modular** (a sum of per-example scores), so the exact optimum is the
    top-``k_c`` by score per class, computed in blocks without an ``n × n`` matrix; gains are the scores.
    ``redundancy > 0`` builds the dense class similarity (capped by ``memory_cap``) and runs greedy
    (``optimizer=None``: lazy for μ ≤ 1/2, random greedy above, where it is non-monotone).
    ``class_prompts`` are compared with the image embeddings; ``n_clusters`` clusters the image embeddings.

    Checked against: the paper (the objective above). Departures: ``redundancy`` (μ) defaults to 0, which makes the
    objective modular and its per-class optimum exact; latent classes from ``labels``, ``n_clusters`` or
    ``class_prompts``.
    """

    name = "clipcov"
    description = "ClipCov (Joshi et al. 2024): per-latent-class cross-modal coverage of image-text pairs"
    signals = ("image_embeddings", "text_embeddings")
    defaults = {**_LatentClassMethod.base_defaults, "text": None, "lam": 2.0, "redundancy": 0.0,
                "optimizer": None, "epsilon": 0.01, "memory_cap": DEFAULT_MEMORY_CAP}
    parameter_constraints = {**_LatentClassMethod.base_constraints, "text": [NUMBERS, None],
                             "lam": [Interval(float, 0, None)], "redundancy": [Interval(float, 0, None)],
                             "optimizer": [*OPTIMIZER, None], "epsilon": EPSILON, "memory_cap": MEMORY_CAP}

    def __init__(self, **params):
        super().__init__(**params)
        self.optimizer = _resolve_optimizer(self.params["optimizer"], float(self.params["redundancy"]) > 0.5)

    def run(self, X, budget, labels, seed, n, progress=None):
        p = self.params
        V, T = pair_embeddings(X, p["text"])
        labels = self._partition(V, labels, seed)

        def select_part(part):
            Vk, Tk = V[part.indices], T[part.indices]
            if not p["redundancy"]:
                scores = clip_coverage_scores(Vk, Tk, p["lam"])
                picks = rank(scores, True, part.seed)[: part.budget]
                if progress is not None:
                    progress.update(part.budget)
                return PartResult(indices=picks, weights=_uniform(len(scores), part.budget),
                                  gains=scores[picks], objective=float(scores[picks].sum()))
            _check_dense(len(part.indices), p["memory_cap"], "clipcov")
            obj = clip_coverage(cross_modal_similarity(Vk, Tk), lam=p["lam"], redundancy=p["redundancy"])
            res = maximize(obj, part.budget, self.optimizer, epsilon=p["epsilon"], seed=part.seed,
                           progress=progress)
            return PartResult(indices=res.indices, weights=_uniform(len(part.indices), len(res.indices)),
                              gains=res.gains, objective=obj.value())

        cs = self._run(select_part, n, budget, labels, seed)
        if p["redundancy"]:
            cs.params["optimizer"] = self.optimizer if isinstance(self.optimizer, str) else repr(self.optimizer)
        return cs


class _PairScoreMethod(Method):
    """Keep the highest-scoring image–caption pairs, per part of ``labels`` when given."""

    partitioned = True
    signals = ("image_embeddings", "text_embeddings")
    base_defaults = {"text": None, "budget_policy": "proportional", "backend": "local"}
    base_constraints = {"text": [NUMBERS, None], "budget_policy": BUDGET_POLICY, "backend": BACKEND}

    def scores(self, X) -> np.ndarray:
        raise NotImplementedError

    def run(self, X, budget, labels, seed, n, progress=None):
        scores = self.scores(X)

        def select_part(part):
            s = scores[part.indices]
            picks = rank(s, True, part.seed)[: part.budget]
            if progress is not None:
                progress.update(part.budget)
            return PartResult(indices=picks, weights=_uniform(len(s), part.budget), gains=s[picks])

        return partitioned_coreset(select_part, n, budget, labels, seed, self.params["budget_policy"],
                                   self.params["backend"])


@register
class ClipScoreMethod(_PairScoreMethod):
    """CLIP score filtering (Hessel et al., 2021, "CLIPScore"; used for data filtering in LAION and DataComp):
    keep the pairs whose image and caption embeddings are most cosine-similar (:func:`clip_scores`).
    ``X`` = image embeddings, ``text=`` caption embeddings. Gains: the scores.

    Checked against: Hessel et al.: CLIPScore is ``2.5 · max(cos, 0)``; ranking by the cosine itself gives the same
    order (negative pairs are ordered instead of tied at 0), so the scale and the clip are left out.
    """

    name = "clip_score"
    description = "CLIP score: keep the image-caption pairs with the highest cosine similarity"
    defaults = dict(_PairScoreMethod.base_defaults)
    parameter_constraints = dict(_PairScoreMethod.base_constraints)

    def scores(self, X):
        return clip_scores(X, self.params["text"])


@register
class CRhoMethod(_PairScoreMethod):
    """C-RHO: RHO-loss selection (Mindermann et al., 2022, "Prioritized Training on Points that are
    Learnable, Worth Learning, and Not Yet Learnt") adapted to CLIP, as the baseline in Joshi et al. (2024):
    score = CLIP score under a longer-trained model (``X`` image, ``text=`` caption embeddings) minus the CLIP
    score under a partially trained one (``partial_image=``, ``partial_text=``, same rows; their dimension may
    differ from the first pair's). Keep the highest: pairs the longer training made much more aligned.
    Gains: the score differences.

    Checked against: Mindermann et al. (RHO-LOSS = training loss − irreducible loss of a model trained on held-out
    data) and Joshi et al.'s description of the CLIP baseline. Departure: the score is a gain in per-pair CLIP
    similarity, a per-pair proxy of the loss drop (a pair's contrastive loss depends on the other pairs of its
    batch, so RHO-LOSS itself is not a per-pair quantity).
    """

    name = "c_rho"
    description = "C-RHO: CLIP score under a longer-trained minus a partially trained model; keep the highest"
    expects = "partial_image= and partial_text= (the partially trained model's embeddings of the pairs)"
    defaults = {**_PairScoreMethod.base_defaults, "partial_image": None, "partial_text": None}
    parameter_constraints = {**_PairScoreMethod.base_constraints, "partial_image": [NUMBERS, None],
                             "partial_text": [NUMBERS, None]}

    def scores(self, X):
        p = self.params
        if p["partial_image"] is None or p["partial_text"] is None:
            raise LessdataError("c_rho needs the partially trained model's embeddings as partial_image= and "
                                "partial_text=")
        long = clip_scores(X, p["text"])
        partial_image = check_features(p["partial_image"], "partial_image")
        if partial_image.shape[0] != len(long):
            raise LessdataError(f"partial_image has {partial_image.shape[0]} rows but there are {len(long)} "
                                "image embeddings; rows must be aligned")
        v, t = pair_embeddings(partial_image, p["partial_text"], what="partial_text")
        return long - np.einsum("ij,ij->i", v.astype(np.float64), t.astype(np.float64))


def semdedup_max_similarity(emb, clusters, keep: str = "hard", seed: int = 0, block: int = _BLOCK):
    """SemDeDup's per-example duplicate score (Abbas et al., 2023, "SemDeDup: Data-efficient learning at
    web-scale through semantic deduplication").

    Within each cluster (``clusters``: one id per row), members are ordered by keep preference — ``"hard"``:
    lowest cosine similarity to the cluster centroid first (the paper's choice), ``"easy"``: highest first,
    ``"random"``: seeded random order — and ``M_i`` is the largest cosine similarity of member ``i`` to any
    member before it (``-inf`` for the first). An example is a duplicate at threshold ``ε`` when
    ``M_i > 1 − ε``; as in the paper's implementation the comparison is to *all* earlier members, so each
    group of mutual near-duplicates keeps exactly its first member, and the kept set shrinks monotonically
    as ``ε`` grows. Returns float64 ``(n,)``.
    """
    check_choice(keep, ("hard", "easy", "random"), "keep")
    E = _normalize(emb)
    clusters = np.asarray(clusters)
    rng = np.random.default_rng(seed)
    out = np.full(E.shape[0], -np.inf)
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        if len(members) < 2:
            continue
        centroid = E[members].mean(axis=0, dtype=np.float64)
        to_centroid = E[members] @ (centroid / max(np.linalg.norm(centroid), 1e-12))
        if keep == "random":
            order = rng.permutation(len(members))
        else:
            order = np.argsort(to_centroid if keep == "hard" else -to_centroid, kind="stable")
        ordered = members[order]
        Ec = E[ordered]
        for start in range(1, len(ordered), block):
            stop = min(len(ordered), start + block)
            S = Ec[start:stop] @ Ec[:stop].T  # rows: members start..stop-1, cols: all members up to stop
            S[np.arange(stop - start)[:, None] <= (np.arange(stop)[None, :] - start)] = -np.inf  # only j < i
            out[ordered[start:stop]] = S.max(axis=1)
    return out


def _groups(ids: np.ndarray) -> dict:
    """``{id: positions}`` of each distinct value of ``ids`` (one sort, not one scan per id)."""
    if len(ids) == 0:
        return {}
    order = np.argsort(ids, kind="stable")
    values, starts = np.unique(ids[order], return_index=True)
    return dict(zip(values.tolist(), np.split(order, starts[1:]), strict=True))


def semdedup_group_weights(emb, clusters, kept, block: int = _BLOCK) -> np.ndarray:
    """Weight of each kept example after semantic deduplication: the size of its near-duplicate group.

    Every dropped example joins the kept member of its own cluster it is most cosine-similar to (the one
    it duplicates); a cluster with no kept member sends its examples to the most similar kept example
    overall. A kept example's weight is 1 plus the number of examples that joined it, so the weights sum
    to ``n`` and the coreset stands for the whole data set (as a CRAIG cluster size does). Ties go to the
    earliest kept example. Returns float32 ``(len(kept),)``, aligned with ``kept``.

    Examples:
        >>> E = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1], [0.02, 1]], dtype="float32")
        >>> semdedup_group_weights(E, np.array([0, 0, 1, 1, 1]), kept=np.array([0, 2])).tolist()
        [2.0, 3.0]
    """
    E = _normalize(emb)
    kept = np.asarray(kept, dtype=np.int64)
    clusters = np.asarray(clusters)
    weights = np.ones(len(kept), dtype=np.float64)
    if len(kept) == 0:
        return weights.astype(np.float32)
    is_kept = np.zeros(E.shape[0], dtype=bool)
    is_kept[kept] = True
    dropped = np.flatnonzero(~is_kept)
    position = np.arange(len(kept))  # position in `kept` of each candidate owner

    def join(members, owners):
        for start in range(0, len(members), block):
            S = E[members[start:start + block]] @ E[kept[owners]].T
            np.add.at(weights, owners[np.argmax(S, axis=1)], 1.0)

    kept_by_cluster = _groups(clusters[kept])
    orphans = []
    for c, members in _groups(clusters[dropped]).items():
        if c in kept_by_cluster:
            join(dropped[members], position[kept_by_cluster[c]])
        else:
            orphans.append(dropped[members])
    if orphans:
        join(np.concatenate(orphans), position)
    return weights.astype(np.float32)


@register
class SemDeDupMethod(Method):
    """SemDeDup (Abbas, Tirumala, Simig, Ganguli & Morcos, 2023, "SemDeDup: Data-efficient learning at
    web-scale through semantic deduplication"): spherical k-means (faiss) on the embeddings, then within each
    cluster drop examples whose cosine similarity to an earlier-kept-preference member exceeds ``1 − ε``
    (see :func:`semdedup_max_similarity`; ``keep`` = ``"hard"``/``"easy"``/``"random"`` decides which member
    of a duplicate group survives).

    **Budget**: the budget (or fraction) is the most that is kept. With ``epsilon=None`` (default) ``ε`` is
    searched implicitly to meet the budget exactly: the ``budget`` examples with the lowest duplicate score
    are kept (cluster firsts, then the least duplicated; ties at random from ``seed``). With ``epsilon`` given,
    every duplicate at that threshold is dropped and the result is ``min(budget, survivors)`` — pass
    ``fraction=1.0`` for plain deduplication at ``ε``. ``params["epsilon_effective"]`` reports the smallest
    ``ε`` that removes everything dropped by score (NaN if nothing was).

    ``n_clusters``: default ``ceil(sqrt(n))``; ``labels``, when given, are used as the clusters instead (no
    k-means). Weights: the size of each kept example's near-duplicate group (itself plus the dropped examples
    of its cluster that are most similar to it; see :func:`semdedup_group_weights`), so they sum to ``n``.
    Gains: each pick's duplicate score ``M_i`` (NaN for cluster firsts).

    Checked against: the paper (Alg. 1: k-means, then within each cluster drop examples whose cosine similarity to
    a kept one exceeds ``1 − ε``). Departures: the budget mode (``ε`` searched to keep exactly the budget), the
    ``keep`` preference among duplicates, and group-size weights (the paper trains unweighted: use
    ``Coreset.indices`` alone for that).
    """

    name = "semdedup"
    description = "SemDeDup (Abbas et al. 2023): drop semantic near-duplicates within k-means clusters"
    signals = ("embeddings",)
    defaults = {"epsilon": None, "keep": "hard", "n_clusters": None, "iterations": 20, "restarts": 3}
    parameter_constraints = {"epsilon": [Interval(float, 0, 2), None],  # 1 - the cosine threshold
                             "keep": [Options("hard", "easy", "random")], "n_clusters": [Interval(int, 1, None), None],
                             "iterations": C_COUNT, "restarts": C_COUNT}

    def run(self, X, budget, labels, seed, n, progress=None):
        from ..coreset import Coreset

        p = self.params
        if labels is not None:
            if p["n_clusters"] is not None:
                raise LessdataError("labels are used as the SemDeDup clusters; drop n_clusters=")
            clusters = np.unique(labels, return_inverse=True)[1]
        else:
            from ..signals.embeddings import spherical_kmeans

            k = p["n_clusters"] if p["n_clusters"] is not None else int(np.ceil(np.sqrt(n)))
            clusters = spherical_kmeans(X, k, seed=seed, iterations=p["iterations"], restarts=p["restarts"])[0]
        M = semdedup_max_similarity(X, clusters, p["keep"], seed)
        order = rank(M, descending=False, seed=seed)
        if p["epsilon"] is not None:
            order = order[M[order] <= 1.0 - float(p["epsilon"])]
        picks = order[:budget]
        dropped = np.setdiff1d(order, picks) if len(order) > len(picks) else np.empty(0, dtype=np.int64)
        if progress is not None:
            progress.update(len(picks))
        gains = np.where(np.isfinite(M[picks]), M[picks], np.nan)
        kept_max = M[picks].max() if len(picks) else -np.inf
        cs = Coreset(indices=picks, weights=semdedup_group_weights(X, clusters, picks), gains=gains)
        cs.params = {"n_clusters": int(len(np.unique(clusters))), "removed": int(n - len(picks)),
                     "epsilon_effective": float(1.0 - kept_max) if np.isfinite(kept_max) and len(dropped)
                     else float("nan")}
        return cs
