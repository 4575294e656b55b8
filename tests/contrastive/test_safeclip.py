"""SafeCLIP: the GMM split on a planted bimodal similarity, the safe-ratio schedule, caption views, a tiny
run's phases and bookkeeping, and bad input."""

import numpy as np
import pytest

from lessdata.contrastive.safeclip import augment_caption, clean_probability, safe_ratios, safe_split, train_safeclip
from lessdata.errors import LessdataError


def bimodal(seed=0, clean=180, poisoned=20):
    rng = np.random.default_rng(seed)
    s = np.r_[rng.normal(0.7, 0.05, clean), rng.normal(0.1, 0.05, poisoned)]
    return s, np.r_[np.zeros(clean, bool), np.ones(poisoned, bool)]


@pytest.mark.parametrize("seed", range(3))
def test_gmm_split_separates_a_planted_bimodal_similarity(seed):
    s, bad = bimodal(seed)
    perm = np.random.default_rng(seed + 10).permutation(len(s))  # positions must not matter
    s, bad = s[perm], bad[perm]
    safe, risky, p = safe_split(s)
    assert set(risky.tolist()) == set(np.flatnonzero(bad).tolist())
    assert (p[~bad] >= 0.9).all() and (p[bad] < 0.1).all()
    assert np.array_equal(np.sort(np.r_[safe, risky]), np.arange(len(s)))
    safe, risky, _ = safe_split(s, ratio=0.5)
    assert len(safe) == 100 and s[safe].min() >= s[risky].max()  # the top half by p_clean, then similarity
    p_flipped = clean_probability(-s)  # the higher-mean component is always the clean one
    assert (p_flipped[bad] > 0.9).all()


def test_safe_ratio_schedule():
    assert safe_ratios(0.80, 7) == pytest.approx([0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.85])
    assert safe_ratios(0.9, 3) == pytest.approx([0.9, 0.85, 0.85])  # the reference caps after the first epoch
    assert safe_ratios(0.2, 3, step=0.3, cap=0.7) == pytest.approx([0.2, 0.5, 0.7])


@pytest.mark.parametrize("call", [
    lambda: safe_split(bimodal()[0], threshold=1.5),
    lambda: safe_split(bimodal()[0], threshold=-0.1),
    lambda: safe_split(bimodal()[0], ratio=1.2),
    lambda: safe_ratios(1.2, 3),
    lambda: safe_ratios(0.5, 3, step=-0.01),
    lambda: safe_ratios(0.5, 3, cap=0),
    lambda: safe_ratios(0.5, 0),
    lambda: clean_probability([0.5]),
    lambda: clean_probability([0.1, float("nan"), 0.3]),
])
def test_bad_input(call):
    with pytest.raises(LessdataError):
        call()


def test_caption_views_keep_words_and_are_seeded():
    text = "a striped shirt on a plain background"
    views = [augment_caption(text, np.random.default_rng(3)) for _ in range(2)]
    assert views[0] == views[1]
    for seed in range(20):
        view = augment_caption(text, np.random.default_rng(seed)).split()
        assert view and all(word in text.split() for word in view)


def tiny(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 255, size=(n, 28, 28), dtype=np.uint8)
    caps = [f"a photo of a {['bag', 'coat', 'shirt'][i % 3]}" for i in range(n)]
    return X, caps


def test_train_safeclip_bad_input():
    X, caps = tiny()
    small = dict(width=4, embed_dim=8, text_dim=8, batch_size=16)
    with pytest.raises(LessdataError, match="captions|texts"):
        train_safeclip(X, caps[:-1], epochs=8, **small)
    with pytest.raises(LessdataError, match="exceed"):
        train_safeclip(X, caps, epochs=3, unimodal_epochs=2, clip_warmup_epochs=1, **small)
    with pytest.raises(LessdataError, match="threshold"):
        train_safeclip(X, caps, epochs=8, threshold=1.5, **small)
    with pytest.raises(LessdataError, match="ratio_cap"):
        train_safeclip(X, caps, epochs=8, ratio_cap=0, **small)
    with pytest.raises(LessdataError, match="poisoned"):
        train_safeclip(X, caps, epochs=8, poisoned=np.zeros(3, bool), **small)


def test_train_safeclip_phases_and_bookkeeping():
    X, caps = tiny()
    poisoned = np.zeros(48, bool)
    poisoned[:4] = True
    run = train_safeclip(X, caps, epochs=5, unimodal_epochs=2, clip_warmup_epochs=1, poisoned=poisoned,
                         width=4, embed_dim=8, text_dim=8, batch_size=16, ratio_step=0.1)
    assert run.phases == ["unimodal", "unimodal", "clip-warmup", "safe", "safe"]
    assert len(run.safe_ratios) == 2 and len(run.poisons_in_safe) == 2 and len(run.losses) == 5
    assert run.safe_ratios[1] == pytest.approx(min(int(48 * min(run.safe_ratios[0] + 0.1, 0.85)) / 48, 1.0))
    assert all(0 <= k <= 4 for k in run.poisons_in_safe) and np.isfinite(run.losses).all()
