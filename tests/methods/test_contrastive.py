import itertools

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.contrastive import clip_scores, sas_scores, semdedup_max_similarity
from lessdata.submodular.coverage import clip_coverage, clip_coverage_scores, cross_modal_similarity
from lessdata.submodular.functions import GraphCut
from lessdata.submodular.optimizers import maximize


def _unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _pairs(n=40, d=8, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, d))
    t = v + rng.normal(scale=1.0, size=(n, d))
    return v.astype(np.float32), t.astype(np.float32)


def test_csim_symmetric_and_brute_force():
    v, t = _pairs(12)
    v, t = _unit(v), _unit(t)
    C = cross_modal_similarity(v, t)
    brute = np.array([[max(0.0, v[i] @ t[j] + v[j] @ t[i]) for j in range(12)] for i in range(12)])
    assert np.allclose(C, C.T, atol=1e-6)
    assert np.allclose(C, brute, atol=1e-5)
    assert (C >= 0).all() and (brute == 0).any()  # some negatives were clipped


@pytest.mark.parametrize("redundancy", [0.0, 0.8])
def test_clipcov_gains_match_brute_force(redundancy):
    v, t = _pairs(10)
    v, t = _unit(v), _unit(t)
    C = cross_modal_similarity(v, t).astype(np.float64)

    def F(S):
        S = list(S)
        return (C[:, S].sum() - redundancy * C[np.ix_(S, S)].sum() + 2.0 * np.diag(C)[S].sum()) if S else 0.0

    obj = clip_coverage(C, lam=2.0, redundancy=redundancy)
    for j in (3, 7, 1):
        for c in range(10):
            if c not in obj.selected:
                assert obj.gains([c])[0] == pytest.approx(F(obj.selected + [c]) - F(obj.selected), rel=1e-5, abs=1e-5)
        obj.add(j)
    assert obj.value() == pytest.approx(F([3, 7, 1]), rel=1e-5)
    assert obj.evaluate([3, 7, 1]) == pytest.approx(F([3, 7, 1]), rel=1e-5)
    if redundancy == 0:  # modular: blocked scores are the gains, in any block size
        assert np.allclose(clip_coverage_scores(v, t, 2.0, block=3), clip_coverage(C).gains(range(10)), rtol=1e-5)


def test_clipcov_method_is_exact_top_k_per_class():
    v, t = _pairs(60)
    y = np.repeat([0, 1, 2], 20)
    cs = lessdata.select(v, budget=12, method="clipcov", labels=y, text=t, seed=0)
    assert len(cs) == 12 and np.bincount(y[cs.indices]).tolist() == [4, 4, 4]
    assert float(cs.weights.sum()) == pytest.approx(60)
    vu, tu = _unit(v), _unit(t)
    for c in range(3):
        idx = np.flatnonzero(y == c)
        s = clip_coverage_scores(vu[idx], tu[idx], 2.0)
        best = set(idx[np.argsort(-s)[:4]])
        assert set(cs.indices[y[cs.indices] == c]) == best
    # exhaustive check on one class: top-k is the optimum of the modular objective
    idx = np.flatnonzero(y == 0)[:8]
    C = cross_modal_similarity(vu[idx], tu[idx]).astype(np.float64)
    F = [C[:, list(S)].sum() + 2 * np.diag(C)[list(S)].sum() for S in itertools.combinations(range(8), 3)]
    top = np.argsort(-clip_coverage_scores(vu[idx], tu[idx], 2.0))[:3]
    assert C[:, top].sum() + 2 * np.diag(C)[top].sum() == pytest.approx(max(F), rel=1e-6)
    # redundancy > 1/2 runs random greedy, within budget
    cs2 = lessdata.select(v, budget=12, method="clipcov", labels=y, text=t, redundancy=1.0, seed=0)
    assert len(cs2) <= 12 and cs2.params["optimizer"] == "random_greedy"


def test_sas_gains_match_brute_force_and_random_greedy():
    rng = np.random.default_rng(0)
    E = _unit(rng.normal(size=(12, 5)))
    S = np.maximum(E @ E.T, 0)
    lam = 0.9
    obj = GraphCut(S, lam)

    def F(A):
        A = list(A)
        return S[:, A].sum() - lam * S[np.ix_(A, A)].sum() if A else 0.0

    for j in (2, 5):
        obj.add(j)
    g = obj.gains(np.arange(12))
    for c in range(12):
        if c not in (2, 5):
            assert g[c] == pytest.approx(F([2, 5, c]) - F([2, 5]), rel=1e-5, abs=1e-5)
    obj.reset()
    res = maximize(obj, 4, "random_greedy", seed=3)
    assert len(res.indices) <= 4 and obj.value() > 0
    assert obj.value() == pytest.approx(F(res.indices), rel=1e-5)


def test_sas_method_and_rank():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 6)).astype(np.float32)
    y = np.repeat([0, 1], 40)
    cs = lessdata.select(X, fraction=0.25, method="sas", labels=y, seed=0)
    assert len(cs) == 20 and cs.params["optimizer"] == "lazy" and cs.objective > 0
    cs2 = lessdata.select(X, fraction=0.25, method="sas", labels=y, lam=1.0, seed=0)
    assert len(cs2) <= 20 and cs2.params["optimizer"] == "random_greedy" and cs2.objective > 0
    again = lessdata.select(X, fraction=0.25, method="sas", labels=y, lam=1.0, seed=0)
    assert (again.indices == cs2.indices).all()
    r = lessdata.select(X, fraction=0.25, method="sas_rank", labels=y, seed=0)
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        E = _unit(X[idx])
        brute = np.maximum(E @ E.T, 0).sum(axis=1)
        assert np.allclose(sas_scores(X[idx], block=7), brute, rtol=1e-5)
        assert set(r.indices[y[r.indices] == c]) == set(idx[np.argsort(-brute)[:10]])
    k = lessdata.select(X, fraction=0.25, method="sas_rank", n_clusters=3, seed=0)
    assert k.params["latent_classes"] == 3 and len(k) == 20


def test_semdedup_removes_planted_duplicates():
    rng = np.random.default_rng(0)
    base = _unit(rng.normal(size=(30, 16)))
    groups = [0, 4, 9, 17]  # plant 3 near-copies of each
    dups = np.concatenate([base[g] + rng.normal(scale=1e-3, size=(3, 16)) for g in groups])
    X = np.vstack([base, dups]).astype(np.float32)
    owner = np.concatenate([np.arange(30), np.repeat(groups, 3)])
    for keep in ("hard", "easy", "random"):
        cs = lessdata.select(X, fraction=1.0, method="semdedup", epsilon=0.01, n_clusters=3, keep=keep, seed=0)
        assert len(cs) == 30 and cs.params["removed"] == 12
        assert sorted(owner[cs.indices].tolist()) == list(range(30))  # one of each group survives
    # budget mode: epsilon searched implicitly, exactly the budget, duplicates dropped first
    cs = lessdata.select(X, budget=30, method="semdedup", n_clusters=3, seed=0)
    assert len(cs) == 30 and sorted(owner[cs.indices].tolist()) == list(range(30))
    M = semdedup_max_similarity(X, np.zeros(len(X)), "hard")
    assert np.isinf(M).sum() == 1 and (M > 0.99).sum() == 12
    for g in groups:  # each group of 4 near-copies: exactly one is not a duplicate of an earlier member
        assert (M[owner == g] <= 0.99).sum() == 1


def test_clip_score_and_c_rho():
    v, t = _pairs(50)
    s = clip_scores(v, t)
    cs = lessdata.select(v, budget=10, method="clip_score", text=t)
    assert set(cs.indices) == set(np.argsort(-s)[:10])
    v2, t2 = _pairs(50, d=4, seed=5)
    cr = lessdata.select(v, budget=10, method="c_rho", text=t, partial_image=v2, partial_text=t2)
    assert set(cr.indices) == set(np.argsort(-(s - clip_scores(v2, t2)))[:10])


def test_bad_inputs_one_line_errors():
    v, t = _pairs(20)
    cases = [
        (dict(method="clipcov", text=t[:-1]), "rows must be aligned"),
        (dict(method="clipcov", text=t[:, :5]), "dimension 5"),
        (dict(method="clip_score"), "text="),
        (dict(method="c_rho", text=t), "partial_image"),
        (dict(method="c_rho", text=t, partial_image=v, partial_text=t[:3]), "rows"),
        (dict(method="clipcov", text=t, class_prompts=np.ones((2, 3, 7))), "dimension 7"),
        (dict(method="sas", lam=-1), "lam"),
        (dict(method="sas", optimizer="bogus"), "optimizer"),
        (dict(method="semdedup", keep="median"), "keep"),
        (dict(method="semdedup", epsilon=3), "epsilon"),
    ]
    for params, match in cases:
        with pytest.raises(LessdataError, match=match) as info:
            lessdata.select(v, budget=5, **params)
        assert "\n" not in str(info.value)
