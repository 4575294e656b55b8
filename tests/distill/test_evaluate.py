"""DD-Ranking's scores on hand-computed numbers (fractions), and the evaluation protocol on a toy set."""

import pytest
import torch

from lessdata.distill import (
    DistilledSet,
    augmentation_robust_score,
    evaluate_distilled,
    hard_label_recovery,
    improvement_over_random,
    label_robust_score,
    random_subset,
    train_network,
)
from lessdata.errors import LessdataError

from .conftest import tiny_net, toy_images


def test_hlr_ior_by_hand():
    assert hard_label_recovery(0.9, 0.6) == pytest.approx(0.3)
    assert improvement_over_random(0.6, 0.45) == pytest.approx(0.15)
    assert improvement_over_random(0.4, 0.5) == pytest.approx(-0.1)


def test_lrs_by_hand():
    # (exp(x) - 1/e) / (e - 1/e) with x = w*IOR - (1-w)*HLR
    assert label_robust_score(0.0, 0.0) == pytest.approx(0.2689414, abs=1e-6)
    assert label_robust_score(hlr=0.2, ior=0.3) == pytest.approx(0.2907552, abs=1e-6)      # x = 0.05
    assert label_robust_score(hlr=0.1, ior=0.25) == pytest.approx(0.3020779, abs=1e-6)     # x = 0.075
    assert label_robust_score(hlr=-1.0, ior=1.0) == pytest.approx(1.0)
    assert label_robust_score(hlr=1.0, ior=-1.0) == pytest.approx(0.0, abs=1e-12)
    assert label_robust_score(hlr=0.2, ior=0.3, weight=1.0) == pytest.approx(0.4177920, abs=1e-6)  # x = 0.3


def test_ars_by_hand():
    assert augmentation_robust_score(0.1, 0.3) == pytest.approx(0.3631392, abs=1e-6)  # x = 0.05 + 0.15
    assert augmentation_robust_score(0.0, 0.0) == pytest.approx(0.2689414, abs=1e-6)


def test_scores_refuse_percentages():
    with pytest.raises(LessdataError, match="fractions, not percent"):
        hard_label_recovery(90.0, 60.0)
    with pytest.raises(LessdataError, match="fractions"):
        improvement_over_random(0.6, 45)
    with pytest.raises(LessdataError, match="IOR"):
        label_robust_score(0.1, 15.0)
    with pytest.raises(LessdataError, match="weight"):
        label_robust_score(0.1, 0.1, weight=1.5)
    with pytest.raises(LessdataError):
        augmentation_robust_score(float("nan"), 0.1)


def test_random_subset_per_class_and_seeded():
    y = torch.arange(3).repeat_interleave(5)
    a, b = random_subset(y, [2, 1, 3], seed=0), random_subset(y, [2, 1, 3], seed=0)
    assert torch.equal(a, b)
    assert torch.bincount(y[a], minlength=3).tolist() == [2, 1, 3]
    with pytest.raises(LessdataError, match="fewer than the 6"):
        random_subset(y, [6, 1, 1], seed=0)


def test_staged_training_uses_each_stage_union(monkeypatch):
    X, y = toy_images(n_per_class=3)
    stages = torch.tensor([0, 1, 0, 0, 1, 1])
    seen = []
    import lessdata.distill.evaluate as ev

    real = ev.inner_loss

    def spy(out, target):
        seen.append(len(target))
        return real(out, target)

    monkeypatch.setattr(ev, "inner_loss", spy)
    train_network(X, y, tiny_net(), lr=[0.01, 0.02], stages=stages, epochs=1, batch_size=100, augment_images=False)
    assert seen == [3, 6]  # stage 0: its 3 images; stage 1: the union of all 6
    with pytest.raises(LessdataError, match="2 stage\\(s\\) but 1 learning rate"):
        train_network(X, y, tiny_net(), lr=0.01, stages=stages, epochs=1)


def test_evaluate_distilled_report_keys_and_consistency():
    X, y = toy_images(n_per_class=8)
    Xt, yt = toy_images(n_per_class=10, seed=3)
    s = DistilledSet(X[[0, 1, 8, 9]], labels=y[[0, 1, 8, 9]], learning_rates=torch.tensor([0.05]))
    rep = evaluate_distilled(s, X, y, Xt, yt, tiny_net(), seeds=(0, 1, 2), epochs=2, full_accuracy=0.9)
    v = rep.values
    assert set(v) == {"distilled", "random", "distilled_no_aug", "random_no_aug", "IOR", "ARS", "HLR", "LRS"}
    assert all(len(x) == 3 for x in v.values())
    for i in range(3):
        assert v["IOR"][i] == pytest.approx(v["distilled"][i] - v["random"][i])
        assert v["HLR"][i] == pytest.approx(0.9 - v["distilled"][i])
        assert v["LRS"][i] == pytest.approx(label_robust_score(v["HLR"][i], v["IOR"][i]))
        assert 0.0 <= v["ARS"][i] <= 1.0
    assert rep.summary()["distilled"]["n"] == 3
    with pytest.raises(LessdataError, match="real/test images"):
        evaluate_distilled(s, X[:, :, :4, :4], y, Xt, yt, tiny_net(), seeds=(0,), epochs=1)
