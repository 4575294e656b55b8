"""Attacks do exactly what they claim: counts, positions, labels, determinism; every bad input is one error."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lessdata.data import (
    asymmetric_label_noise,
    attack_success_rate,
    badnets,
    check_noise_rate,
    checkerboard_trigger,
    image_text_backdoor,
    stamp_trigger,
    symmetric_label_noise,
    targeted_image_text_poison,
)
from lessdata.errors import LessdataError

NAMES = ["shirt", "trouser", "bag"]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 200), classes=st.integers(2, 12), rate=st.floats(0, 0.99), seed=st.integers(0, 2**31))
def test_symmetric_noise_flips_exactly_the_count_to_other_classes(n, classes, rate, seed):
    y = np.random.default_rng(seed).integers(0, classes, size=n)
    noisy, flipped = symmetric_label_noise(y, rate, seed=seed, num_classes=classes)
    assert flipped.sum() == round(rate * n)
    assert (noisy[flipped] != y[flipped]).all() and (noisy[~flipped] == y[~flipped]).all()
    assert noisy.min() >= 0 and noisy.max() < classes
    again = symmetric_label_noise(y, rate, seed=seed, num_classes=classes)
    assert np.array_equal(again[0], noisy) and np.array_equal(again[1], flipped)


def test_symmetric_noise_spreads_over_all_other_classes():
    y = np.zeros(20_000, dtype=np.int64)
    noisy, flipped = symmetric_label_noise(y, 0.5, seed=3, num_classes=5)
    counts = np.bincount(noisy[flipped], minlength=5)
    assert counts[0] == 0 and np.allclose(counts[1:] / flipped.sum(), 0.25, atol=0.02)


def test_asymmetric_noise_follows_the_mapping_and_default_is_a_derangement():
    y = np.arange(1000) % 4
    noisy, flipped = asymmetric_label_noise(y, 0.3, seed=0, mapping=[2, 3, 0, 1])
    assert flipped.sum() == 300
    assert np.array_equal(noisy[flipped], np.array([2, 3, 0, 1])[y[flipped]])
    assert np.array_equal(noisy[~flipped], y[~flipped])
    noisy, flipped = asymmetric_label_noise(y, 0.5, seed=7)
    table = {}
    for a, b in zip(y[flipped], noisy[flipped]):
        assert a != b
        assert table.setdefault(int(a), int(b)) == int(b)  # one fixed target per class
    assert sorted(table.values()) == [0, 1, 2, 3]  # a permutation


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.2", True, None])
def test_bad_noise_rates(rate):
    with pytest.raises(LessdataError, match="rate"):
        check_noise_rate(rate)
    with pytest.raises(LessdataError):
        symmetric_label_noise([0, 1], rate)
    with pytest.raises(LessdataError):
        asymmetric_label_noise([0, 1], rate)
    with pytest.raises(LessdataError):
        badnets(np.zeros((2, 4, 4)), [0, 1], rate, target=0)


@pytest.mark.parametrize("mapping", [[0, 1], [1, 0, 2], [1, 5], [1.0, 0.0], [1]])
def test_bad_asymmetric_mapping(mapping):
    with pytest.raises(LessdataError, match="mapping"):
        asymmetric_label_noise(np.array([0, 1, 0, 1]), 0.5, mapping=mapping)


def test_bad_labels():
    for labels in ([], [[0, 1]], [0.5, 1.0], [-1, 0]):
        with pytest.raises(LessdataError):
            symmetric_label_noise(labels, 0.1)
    with pytest.raises(LessdataError, match="num_classes"):
        symmetric_label_noise([0, 3], 0.5, num_classes=2)


def test_stamp_trigger_positions_and_channels():
    X = np.zeros((2, 6, 5), dtype=np.uint8)
    out = stamp_trigger(X, position="top_left")
    assert np.array_equal(out[:, :3, :3], np.broadcast_to(checkerboard_trigger(3), (2, 3, 3)))
    assert out[:, 3:, :].sum() == 0 and out[:, :, 3:].sum() == 0 and X.sum() == 0  # input untouched
    out = stamp_trigger(X, np.ones((2, 2)), position=(1, 2))
    assert out.sum() == 2 * 4 and out[:, 1:3, 2:4].min() == 1
    rgb = stamp_trigger(np.zeros((1, 5, 5, 3), dtype=np.float32))
    assert rgb.dtype == np.float32 and np.array_equal(rgb[0, 2:, 2:, 1], checkerboard_trigger(3, high=1.0))


@pytest.mark.parametrize("trigger,position", [(np.ones((7, 2)), "top_left"), (np.ones((2, 6)), "top_left"),
                                              (None, (4, 0)), (None, "middle"), (None, (0, -1)),
                                              (np.ones((2, 2, 3)), "top_left")])
def test_bad_triggers(trigger, position):
    with pytest.raises(LessdataError):
        stamp_trigger(np.zeros((1, 6, 5)), trigger, position)
    with pytest.raises(LessdataError):
        badnets(np.zeros((4, 6, 5)), [0, 1, 0, 1], 0.25, target=0, trigger=trigger, position=position)


def test_badnets_poisons_exactly_non_target_images_and_is_deterministic():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 200, size=(300, 10, 10)).astype(np.uint8)
    y = np.arange(300) % 3
    attack = badnets(X, y, rate=0.1, target=2, seed=5)
    p = attack.poisoned
    assert p.sum() == 30 and (y[p] != 2).all() and (attack.labels[p] == 2).all()
    assert np.array_equal(attack.labels[~p], y[~p]) and np.array_equal(attack.images[~p], X[~p])
    assert np.array_equal(attack.images[p][:, 7:, 7:], np.broadcast_to(checkerboard_trigger(3).astype(np.uint8),
                                                                       (30, 3, 3)))
    assert np.array_equal(attack.images[p][:, :7], X[p][:, :7])  # only the patch changes
    again = badnets(X, y, rate=0.1, target=2, seed=5)
    assert np.array_equal(again.poisoned, p) and np.array_equal(again.images, attack.images)
    Xt, yt = attack.triggered(X[:30], y[:30])
    assert len(yt) == 20 and (yt != 2).all() and (Xt[:, 9, 9] == 255).all()


def test_badnets_bad_target_and_sizes():
    X, y = np.zeros((4, 5, 5)), np.array([0, 1, 0, 1])
    for target in (2, -1, 1.0, "1"):
        with pytest.raises(LessdataError, match="target class"):
            badnets(X, y, 0.25, target=target)
    with pytest.raises(LessdataError, match="labels but"):
        badnets(X, y[:3], 0.25, target=0)
    with pytest.raises(LessdataError, match="only 2"):
        badnets(X, y, 0.75, target=0)


def test_attack_success_rate_counts_only_other_classes():
    assert attack_success_rate([1, 1, 0, 1], [0, 2, 0, 1], target=1) == pytest.approx(2 / 3)
    with pytest.raises(LessdataError, match="undefined"):
        attack_success_rate([1], [1], target=1)
    with pytest.raises(LessdataError, match="predictions"):
        attack_success_rate([1, 0], [1], target=1)


def test_targeted_image_text_poison():
    X = np.arange(5 * 4).reshape(5, 2, 2).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1])
    caps = [f"c{i}" for i in range(5)]
    T = np.stack([np.full((2, 2), 7.0), np.full((2, 2), 9.0)])
    kw = dict(class_names=NAMES, n_poisons=3)
    out = targeted_image_text_poison(X, caps, y, target_images=T, target_labels=[0, 1], adversarial_classes=[2, 0],
                                     templates=["a {adj} {name}", "the {name} here"], seed=1, **kw)
    assert out.captions[:5] == caps and len(out.captions) == 11 and np.array_equal(out.images[:5], X)
    assert all("bag" in c for c in out.captions[5:8]) and all("shirt" in c for c in out.captions[8:])
    assert all("  " not in c for c in out.captions)
    assert (out.images[5:8] == 7).all() and (out.images[8:] == 9).all()
    assert out.poisoned.tolist() == [False] * 5 + [True] * 6 and out.labels[5:].tolist() == [0] * 3 + [1] * 3
    assert out.adversarial_classes.tolist() == [2, 0] and out.target_class is None
    again = targeted_image_text_poison(X, caps, y, target_images=T, target_labels=[0, 1], adversarial_classes=[2, 0],
                                       templates=["a {adj} {name}", "the {name} here"], seed=1, **kw)
    assert again.captions == out.captions
    with pytest.raises(LessdataError, match="differ"):
        targeted_image_text_poison(X, caps, y, target_images=T, target_labels=[0, 1], adversarial_classes=[0, 2], **kw)
    with pytest.raises(LessdataError, match="num_classes|labels go up"):
        targeted_image_text_poison(X, caps, y, target_images=T, target_labels=[0, 1], adversarial_classes=[3, 0], **kw)
    with pytest.raises(LessdataError, match="one target label"):
        targeted_image_text_poison(X, caps, y, target_images=T, target_labels=[0], adversarial_classes=[1], **kw)
    with pytest.raises(LessdataError, match="do not match"):
        targeted_image_text_poison(X, caps, y, target_images=np.ones((1, 3, 3)), target_labels=[0],
                                   adversarial_classes=[1], **kw)
    with pytest.raises(LessdataError, match="captions but"):
        targeted_image_text_poison(X, caps[:4], y, target_images=T, target_labels=[0, 1], adversarial_classes=[2, 0],
                                   **kw)
    with pytest.raises(LessdataError, match="n_poisons"):
        targeted_image_text_poison(X, caps, y, target_images=T, target_labels=[0, 1], adversarial_classes=[2, 0],
                                   class_names=NAMES, n_poisons=0)


def test_image_text_backdoor():
    X = np.zeros((60, 8, 8), dtype=np.uint8)
    y = np.arange(60) % 3
    caps = [f"a {NAMES[c]}" for c in y]
    out = image_text_backdoor(X, caps, y, rate=0.1, target=1, class_names=NAMES, seed=2)
    p = out.poisoned
    assert p.sum() == 6 and (y[p] != 1).all() and np.array_equal(out.labels, y)
    assert all(out.captions[i] == "a photo of a trouser" for i in np.flatnonzero(p))
    assert all(out.captions[i] == caps[i] for i in np.flatnonzero(~p))
    assert (out.images[p][:, 5:, 5:].max(axis=(1, 2)) == 255).all() and out.images[~p].sum() == 0
    with pytest.raises(LessdataError, match="captions but"):
        image_text_backdoor(X, caps[:-1], y, rate=0.1, target=1, class_names=NAMES)
    with pytest.raises(LessdataError, match="class names"):
        image_text_backdoor(X, caps, y, rate=0.1, target=1, class_names=NAMES[:2])
    with pytest.raises(LessdataError, match="larger"):
        image_text_backdoor(X, caps, y, rate=0.1, target=1, class_names=NAMES, trigger=np.ones((9, 9)))
    with pytest.raises(LessdataError, match="template"):
        image_text_backdoor(X, caps, y, rate=0.1, target=1, class_names=NAMES, templates=["no slot"])
