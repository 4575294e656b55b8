"""SimCLR and tiny-CLIP trainers: losses against brute force, captions, augmentations, short runs, errors."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import lessdata
from lessdata.contrastive import (
    FASHION_MNIST_NAMES,
    PROMPT_TEMPLATES,
    ConvEncoder,
    TinyCLIP,
    Vocabulary,
    augment,
    class_prompt_embeddings,
    clip_embeddings,
    clip_loss,
    embed,
    image_tensor,
    linear_probe,
    make_captions,
    nt_xent,
    train_clip,
    train_simclr,
    zero_shot_accuracy,
)
from lessdata.errors import LessdataError

TINY = {"width": 4}
TINY_CLIP = {"width": 4, "embed_dim": 8, "text_dim": 8}


@pytest.fixture(scope="module")
def images():
    """48 random uint8 28x28 images with labels 0..9 and their (30% mismatched) captions."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(48, 28, 28), dtype=np.uint8)
    y = np.arange(48) % 10
    return X, y, make_captions(y, mismatch=0.3, seed=0)


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ------------------------------------------------------------------------------------------------ losses
def _nt_xent_brute(z1, z2, t):
    z = np.concatenate([z1, z2]).astype(np.float64)
    b = len(z1)
    per_anchor = []
    for i in range(2 * b):
        positive = (i + b) % (2 * b)
        denom = sum(math.exp(_cos(z[i], z[k]) / t) for k in range(2 * b) if k != i)
        per_anchor.append(-math.log(math.exp(_cos(z[i], z[positive]) / t) / denom))
    return np.array([(per_anchor[i] + per_anchor[i + b]) / 2 for i in range(b)])


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_nt_xent_matches_brute_force(temperature):
    rng = np.random.default_rng(1)
    z1, z2 = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    brute = _nt_xent_brute(z1, z2, temperature)
    t1, t2 = torch.tensor(z1), torch.tensor(z2)
    per = nt_xent(t1, t2, temperature, reduction="none").numpy()
    np.testing.assert_allclose(per, brute, rtol=1e-5)
    assert float(nt_xent(t1, t2, temperature)) == pytest.approx(brute.mean(), rel=1e-5)
    w = rng.uniform(0, 3, size=6)
    assert float(nt_xent(t1, t2, temperature, weights=torch.tensor(w))) == pytest.approx(
        (brute * w).sum() / w.sum(), rel=1e-5)
    # swapping the views or scaling a projection changes nothing (cosine, symmetric)
    np.testing.assert_allclose(nt_xent(t2, 3 * t1, temperature, reduction="none").numpy(), brute, rtol=1e-5)


def _clip_brute(v, t, scale):
    n = len(v)
    logits = np.array([[scale * _cos(v[i], t[j]) for j in range(n)] for i in range(n)])
    out = []
    for i in range(n):
        row = -logits[i, i] + math.log(sum(math.exp(logits[i, j]) for j in range(n)))
        col = -logits[i, i] + math.log(sum(math.exp(logits[j, i]) for j in range(n)))
        out.append((row + col) / 2)
    return np.array(out)


def test_clip_loss_symmetric_and_matches_brute_force():
    rng = np.random.default_rng(2)
    v, t = rng.normal(size=(7, 4)), rng.normal(size=(7, 4))
    for log_scale in (0.0, math.log(1 / 0.07), 10.0):  # 10 is clamped at log(100)
        brute = _clip_brute(v, t, min(math.exp(log_scale), 100.0))
        per = clip_loss(torch.tensor(v), torch.tensor(t), log_scale, reduction="none").numpy()
        np.testing.assert_allclose(per, brute, rtol=1e-5)
        swapped = clip_loss(torch.tensor(t), torch.tensor(v), torch.tensor(log_scale), reduction="none").numpy()
        np.testing.assert_allclose(swapped, per, rtol=1e-6)
    w = np.array([0, 0, 1, 1, 1, 1, 5.0])
    got = float(clip_loss(torch.tensor(v), torch.tensor(t), 1.0, weights=torch.tensor(w)))
    assert got == pytest.approx((_clip_brute(v, t, math.e) * w).sum() / w.sum(), rel=1e-5)


def test_loss_bad_inputs():
    z = torch.randn(4, 3)
    for call, match in [
        (lambda: nt_xent(z, z[:3]), "same shape"),
        (lambda: nt_xent(z[:1], z[:1]), "B >= 2"),
        (lambda: nt_xent(z, z, temperature=0), "temperature"),
        (lambda: nt_xent(z, z, reduction="sum"), "reduction"),
        (lambda: nt_xent(z, z, weights=torch.ones(3)), "3 weights"),
        (lambda: clip_loss(z, torch.randn(4, 5), 1.0), "same shape"),
    ]:
        with pytest.raises(LessdataError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------- captions
@pytest.mark.parametrize("n, mismatch", [(10, 0.3), (97, 0.3), (1000, 0.25), (50, 0.0), (20, 1.0)])
def test_caption_mismatch_fraction_is_exact_and_seeded(n, mismatch):
    y = np.random.default_rng(n).integers(10, size=n)
    caps = make_captions(y, mismatch=mismatch, seed=3)
    assert len(caps) == n and caps.mismatched.dtype == bool
    assert caps.mismatched.sum() == round(mismatch * n)
    np.testing.assert_array_equal(caps.classes != y, caps.mismatched)  # a mismatch always names another class
    for text, c in zip(caps.texts, caps.classes, strict=True):
        assert FASHION_MNIST_NAMES[c] in text
    again = make_captions(y, mismatch=mismatch, seed=3)
    assert again.texts == caps.texts and np.array_equal(again.mismatched, caps.mismatched)
    if 0 < mismatch < 1:
        assert make_captions(y, mismatch=mismatch, seed=4).texts != caps.texts


def test_captions_vary_and_cover_other_classes():
    y = np.zeros(2000, dtype=np.int64)
    caps = make_captions(y, mismatch=0.5, seed=0)
    assert len(set(caps.texts)) > 100  # templates x adjectives
    assert set(caps.classes[caps.mismatched].tolist()) == set(range(1, 10))


def test_caption_bad_inputs():
    for kwargs, match in [
        (dict(labels=np.array([0, 10])), "0..9"),
        (dict(labels=np.array([0.5, 1.0])), "integer"),
        (dict(labels=np.array([0, 1]), mismatch=1.5), "mismatch"),
        (dict(labels=np.array([0, 1]), templates=("a photo",)), "{name}"),
        (dict(labels=np.array([0, 0]), class_names=("bag",)), "2 class names"),
    ]:
        with pytest.raises(LessdataError, match=match):
            make_captions(**kwargs)


def test_vocabulary():
    vocab = Vocabulary.from_texts(["A photo of a T-shirt", "an ankle boot"])
    ids = vocab.encode(["a t-shirt", "a dog!", ""], max_len=3)
    assert ids.dtype == torch.int64 and ids.shape == (3, 3)
    assert ids[0].tolist() == [vocab.index["a"], vocab.index["t-shirt"], 0]
    assert ids[1].tolist() == [vocab.index["a"], Vocabulary.UNK, 0]
    assert ids[2].tolist() == [Vocabulary.UNK, 0, 0]  # never an all-padding row
    with pytest.raises(LessdataError, match="non-empty list"):
        vocab.encode("a t-shirt")


# --------------------------------------------------------------------------------------- augmentations
def test_augment_keeps_shape_and_dtype_and_views_differ():
    x = torch.rand(8, 1, 28, 28, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    v1, v2 = augment(x, g), augment(x, g)
    assert v1.shape == x.shape and v1.dtype == torch.float64
    assert not torch.allclose(v1, v2) and not torch.allclose(v1, x)
    assert all(not torch.allclose(v1[i], v2[i]) for i in range(8))  # each image's two views differ
    torch.testing.assert_close(augment(x, torch.Generator().manual_seed(0)), v1)  # seeded
    # no crop, flip, jitter or noise: the identity (up to bilinear resampling at the same grid)
    same = augment(x, g, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=0.0, jitter=0.0, noise=0.0)
    torch.testing.assert_close(same, x, atol=1e-6, rtol=0)
    flipped = augment(x, g, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=1.0, jitter=0.0, noise=0.0)
    torch.testing.assert_close(flipped, x.flip(-1), atol=1e-6, rtol=0)
    for bad in (x.to(torch.uint8), x[0]):
        with pytest.raises(LessdataError, match="floating-point image batch"):
            augment(bad)


def test_image_tensor_shapes_and_errors():
    assert image_tensor(np.full((2, 784), 255, np.uint8)).shape == (2, 1, 28, 28)
    assert float(image_tensor(np.full((2, 28, 28), 255, np.uint8)).max()) == 1.0
    assert image_tensor(torch.zeros(3, 3, 8, 8)).shape == (3, 3, 8, 8)
    for bad, match in [(np.zeros((2, 10)), "square"), (np.zeros(5), "shape"), (np.array([["a"]]), "numeric"),
                       (np.full((2, 4), np.nan), "NaN")]:
        with pytest.raises(LessdataError, match=match):
            image_tensor(bad)


# ----------------------------------------------------------------------------------------------- SimCLR
def test_simclr_runs_on_a_coreset_and_its_loss_decreases(images):
    X, y, _ = images
    cs = lessdata.select(X.reshape(len(X), -1).astype(np.float32), fraction=0.5, method="random", labels=y)
    run = train_simclr(X, subset=cs, epochs=6, batch_size=8, lr=5e-3, seed=0, **TINY)
    assert run.n_train == 24 and run.steps == 6 * 3 and len(run.losses) == 6
    assert run.losses[-1] < run.losses[0]
    assert not run.model.training
    again = train_simclr(X, subset=cs.indices, epochs=6, batch_size=8, lr=5e-3, seed=0, **TINY)
    assert again.losses == run.losses  # seeded
    # uniform weights are the unweighted loss; other weights change training
    weighted = train_simclr(X, subset=cs, weights=np.full(24, 7.0), epochs=6, batch_size=8, lr=5e-3, **TINY)
    np.testing.assert_allclose(weighted.losses, run.losses, rtol=1e-5)
    skewed = train_simclr(X, subset=cs, weights=np.arange(24.0), epochs=6, batch_size=8, lr=5e-3, **TINY)
    assert skewed.losses != run.losses


def test_simclr_progress_and_amp(images):
    X, _, _ = images

    class Bar:
        total, n = None, 0

        def update(self, k=1):
            self.n += k

    bar = Bar()
    run = train_simclr(X, epochs=2, batch_size=16, amp=True, progress=bar, **TINY)  # bfloat16 autocast on CPU
    assert bar.total == bar.n == 6 == run.steps and all(math.isfinite(v) for v in run.losses)


def test_embed_averages_augmented_views(images):
    X, _, _ = images
    enc = ConvEncoder(width=4)
    plain = embed(enc, X)
    assert plain.shape == (48, 16) and plain.dtype == np.float32
    np.testing.assert_allclose(plain, embed(enc, X, batch_size=7), rtol=1e-4, atol=1e-5)
    aug = embed(enc, X, augmentations=3, seed=1)
    assert not np.allclose(aug, plain)
    np.testing.assert_array_equal(aug, embed(enc, X, augmentations=3, seed=1))
    # k views averaged = the mean of the views embedded one at a time from the same random stream
    g = torch.Generator().manual_seed(1)
    data = image_tensor(X)
    enc.eval()
    with torch.no_grad():
        views = [enc(augment(data, g)).numpy() for _ in range(3)]
    np.testing.assert_allclose(aug, np.mean(views, axis=0), rtol=1e-4, atol=1e-5)


def test_linear_probe_on_separable_features():
    rng = np.random.default_rng(0)
    y = np.arange(200) % 4
    X = rng.normal(scale=0.1, size=(200, 4, 4)).astype(np.float32)
    X[np.arange(200), y, 0] += 3.0  # the class sets one pixel
    identity = nn.Sequential(nn.Flatten())
    identity.register_parameter("anchor", nn.Parameter(torch.zeros(1)))  # a device to find
    assert linear_probe(identity, (X[:100], y[:100]), (X[100:], y[100:])) == 1.0
    noise = rng.permutation(y)
    assert linear_probe(identity, (X[:100], noise[:100]), (X[100:], noise[100:])) < 0.6
    with pytest.raises(LessdataError, match="one label per image"):
        linear_probe(identity, (X[:100], y[:99]), (X[100:], y[100:]))
    with pytest.raises(LessdataError, match=r"\(images, labels\) pair"):
        linear_probe(identity, X, (X, y))


def test_trainer_bad_inputs(images):
    X, y, caps = images
    cases = [
        (lambda: train_simclr(X, subset=[0]), "at least 2"),
        (lambda: train_simclr(X, subset=[0, 48]), "out of range"),
        (lambda: train_simclr(X, subset=np.array([0.5, 1.5])), "integer indices"),
        (lambda: train_simclr(X, subset=[0, 1, 2], weights=[1, 1]), "2 entries"),
        (lambda: train_simclr(X, weights=-np.ones(48)), "non-negative"),
        (lambda: train_simclr(X, epochs=0), "epochs"),
        (lambda: train_simclr(X, batch_size=1), "batch_size"),
        (lambda: train_simclr(X, temperature=-1), "temperature"),
        (lambda: train_simclr(X, device="warp-drive"), "device"),
        (lambda: train_simclr(np.zeros((4, 3, 3, 3, 3))), "shape"),
        (lambda: train_clip(X, caps.texts[:-1]), "47 texts but 48 images"),
        (lambda: train_clip(X, "a bag"), "list of strings"),
        (lambda: train_clip(X, caps, epochs=1, snapshots=(2,)), "snapshot epoch 2"),
        (lambda: embed(ConvEncoder(4), X, augmentations=-1), "augmentations"),
    ]
    for call, match in cases:
        with pytest.raises(LessdataError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------------- CLIP
def test_clip_runs_keeps_snapshots_and_embeds(images):
    X, y, caps = images
    run = train_clip(X, caps, epochs=3, batch_size=16, snapshots=(1,), seed=0, **TINY_CLIP)
    assert run.steps == 9 and len(run.losses) == 3 and sorted(run.snapshots) == [1]
    partial = run.snapshots[1]
    assert not torch.equal(partial.logit_scale, run.model.logit_scale)  # a copy, not the final model
    v, t = clip_embeddings(run.model, X, caps)
    assert v.shape == t.shape == (48, 8)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, rtol=1e-5)
    P = class_prompt_embeddings(run.model)
    assert P.shape == (10, len(PROMPT_TEMPLATES), 8)
    acc = zero_shot_accuracy(run.model, X, y)
    assert 0 <= acc <= 1
    # the embeddings feed the image-text selection methods directly
    cs = lessdata.select(v, fraction=0.5, method="clipcov", text=t, class_prompts=P)
    assert len(cs) == 24
    pv, pt = clip_embeddings(partial, X, caps.texts)
    cr = lessdata.select(v, budget=10, method="c_rho", text=t, partial_image=pv, partial_text=pt)
    assert len(cr) == 10
    sub = train_clip(X, caps, subset=cs, weights=cs.weights, epochs=1, batch_size=8, **TINY_CLIP)
    assert sub.n_train == 24 and sub.steps == 3


class _OneHotImages(nn.Module):
    """Image -> one-hot of its brightness level (pixel value / 10 of a constant image)."""

    out_features = 4

    def forward(self, x):
        level = (x[:, 0, 0, 0] * 255 / 10).round().long()
        return nn.functional.one_hot(level, 4).float()


class _OneHotWords(nn.Module):
    """Text -> sum of one-hot codes of the class words it contains."""

    def __init__(self, ids):
        super().__init__()
        self.ids = ids

    def forward(self, tokens):
        return torch.stack([(tokens == i).any(1).float() for i in self.ids], dim=1)


def test_zero_shot_on_a_constructed_model():
    names = ["bag", "coat", "dress", "shirt"]
    vocab = Vocabulary.from_texts([f"a photo of a {n}" for n in names])
    model = TinyCLIP(vocab, **TINY_CLIP)
    model.image_encoder, model.image_projection = _OneHotImages(), nn.Identity()
    model.text_encoder = _OneHotWords([vocab.index[n] for n in names])
    model.text_projection = nn.Identity()
    y = np.array([0, 1, 2, 3, 3, 2, 1, 0])
    X = np.repeat((y * 10).astype(np.uint8)[:, None, None], 28, 1).repeat(28, 2)
    assert zero_shot_accuracy(model, X, y, names) == 1.0
    assert zero_shot_accuracy(model, X, (y + 1) % 4, names) == 0.0
    assert zero_shot_accuracy(model, X, y, names[::-1]) == pytest.approx(0.0)
    with pytest.raises(LessdataError, match="no class name"):
        zero_shot_accuracy(model, X, y, names[:2])
    with pytest.raises(LessdataError, match="must contain"):
        class_prompt_embeddings(model, names, ["a photo"])
