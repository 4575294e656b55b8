"""Early-training separation: the slowdown rule, the k-means split, the recorder path and a planted toy."""

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from lessdata import LessdataError
from lessdata.shaping import Separation, early_separation, separate, separation_epoch, split_classes
from lessdata.signals import DynamicsRecorder


def planted_outputs(n_per_part=40, seed=0):
    """Two classes; in each, a 'fast' blob of confident outputs (low loss) and a 'slow' blob (high loss)."""
    rng = np.random.default_rng(seed)
    outputs, labels, losses, slow = [], [], [], []
    for c in (0, 1):
        confident = np.zeros(2)
        confident[c] = 4.0
        for is_slow, centre, loss in ((False, confident, 0.05), (True, np.zeros(2), 0.7)):
            outputs.append(centre + 0.2 * rng.normal(size=(n_per_part, 2)))
            losses.append(loss + 0.01 * rng.random(n_per_part))
            labels.append(np.full(n_per_part, c))
            slow.append(np.full(n_per_part, is_slow))
    order = rng.permutation(4 * n_per_part)
    cat = [np.concatenate(a)[order] for a in (outputs, labels, losses, slow)]
    return cat[0].astype(np.float32), cat[1], cat[2], cat[3]


def test_slowdown_rule_against_a_direct_reading():
    assert separation_epoch([0.9, 0.5, 0.2, 0.15, 0.14]) == 3  # drops 0.4, 0.3 (>= 0.2), 0.05 (< 0.2)
    assert separation_epoch([0.9, 0.5, 0.2, 0.15], slowdown=0.1) == 3  # never slows that much: the last epoch
    assert separation_epoch([0.5, 0.5, 0.4, 0.1, 0.09]) == 4  # a flat start has no drop to compare with
    for bad, match in (([0.5], "at least 2"), ([0.5, np.nan], "NaN")):
        with pytest.raises(LessdataError, match=match):
            separation_epoch(bad)
    with pytest.raises(LessdataError, match="slowdown"):
        separation_epoch([0.5, 0.4], slowdown=1.5)


def test_split_finds_the_planted_slow_cluster():
    outputs, labels, losses, planted = planted_outputs()
    slow, mean_loss = split_classes(outputs, labels, losses)
    np.testing.assert_array_equal(slow, planted)
    for c in (0, 1):
        fast_loss, slow_loss = mean_loss[c]
        assert slow_loss > fast_loss
        assert slow_loss == pytest.approx(losses[(labels == c) & planted].mean())


def test_class_too_small_or_unsplittable():
    outputs, labels, losses, _ = planted_outputs(5)
    labels = labels.copy()
    labels[0] = 7  # a class of one example
    with pytest.raises(LessdataError, match="class 7 has 1 example"):
        split_classes(outputs, labels, losses)
    with pytest.raises(LessdataError, match="coincide"):
        split_classes(np.ones((6, 2), np.float32), np.zeros(6, int), np.arange(6.0))
    with pytest.raises(LessdataError, match="finite"):
        split_classes(np.full((4, 2), np.nan, np.float32), np.zeros(4, int), np.zeros(4))


def recorder_with(epochs_outputs, labels, losses):
    rec = DynamicsRecorder(n=len(labels), logits=True, fields=("loss", "correct"))
    for e, out in enumerate(epochs_outputs):
        rec.start_column(e)
        rec.update(np.arange(len(labels)), logits=torch.as_tensor(out), targets=torch.as_tensor(labels),
                   losses=torch.as_tensor(losses, dtype=torch.float32))
    return rec


def logits_with_accuracy(labels, share):
    """Confident logits, right for the first ``share`` of the examples and wrong for the rest."""
    n = len(labels)
    right = np.arange(n) < int(share * n)
    target = np.where(right, labels, 1 - labels)
    return (3.0 * np.eye(2)[target]).astype(np.float32)


def test_separate_reads_the_recorder_at_the_chosen_epoch():
    outputs, labels, losses, planted = planted_outputs()
    # the planted outputs are right for the fast halves; the slow halves sit at the boundary (about half wrong)
    direct_error = [1.0, 0.4, float(((outputs.argmax(1) != labels)).mean())]
    rec = recorder_with([logits_with_accuracy(labels, 0.0), logits_with_accuracy(labels, 0.6), outputs],
                        labels, losses)
    sep = separate(rec)
    np.testing.assert_allclose(sep.train_error, direct_error)
    assert sep.epoch == separation_epoch(direct_error) == 2  # drops 0.6, then about 0.15 < 0.5 * 0.6
    np.testing.assert_array_equal(sep.slow, planted)
    np.testing.assert_array_equal(separate(rec, epoch=2).slow, planted)
    with pytest.raises(LessdataError, match="epoch 3 is beyond the run"):
        separate(rec, epoch=3)
    with pytest.raises(LessdataError, match="logits=True"):
        separate(DynamicsRecorder(n=4))


def test_early_separation_on_a_planted_toy_finds_the_slow_cluster():
    """Per class: an easy half far from the boundary and a hard half near it; a linear model learns the easy
    half first, and the separation calls the hard half slow."""
    rng = np.random.default_rng(0)
    n_half = 60
    X, y, hard = [], [], []
    for c, sign in ((0, -1.0), (1, 1.0)):
        X.append(np.c_[sign * 3.0 + 0.3 * rng.normal(size=n_half), rng.normal(size=n_half)])
        X.append(np.c_[sign * 0.15 + 0.3 * rng.normal(size=n_half), rng.normal(size=n_half)])
        y += [c] * (2 * n_half)
        hard += [False] * n_half + [True] * n_half
    data = TensorDataset(torch.tensor(np.concatenate(X), dtype=torch.float32), torch.tensor(y))
    torch.manual_seed(0)
    sep = early_separation(torch.nn.Linear(2, 2), data, epochs=3, epoch=2, lr=0.05, batch_size=16,
                           lr_schedule=None)
    agreement = (sep.slow == np.array(hard)).mean()
    assert agreement > 0.85, agreement
    with pytest.raises(LessdataError, match="beyond the run of 3"):
        early_separation(torch.nn.Linear(2, 2), data, epochs=3, epoch=3)


def test_separation_save_and_load(tmp_path):
    sep = Separation(slow=np.array([True, False, True]), labels=np.array([0, 1, 0]), epoch=2,
                     train_error=np.array([0.5, 0.3, 0.2]), mean_loss={0: (0.1, 0.9), 1: (0.2, 0.4)})
    back = Separation.load(sep.save(tmp_path / "s.npz"))
    assert back.slow.tolist() == sep.slow.tolist() and back.epoch == 2 and back.mean_loss == sep.mean_loss
    np.testing.assert_array_equal(back.train_error, sep.train_error)
    with pytest.raises(LessdataError, match=".npz"):
        sep.save(tmp_path / "s.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]
