"""CREST: random class-balanced subsets, mini-batch coresets, and the training loop with its loss-model check."""

import numpy as np
import pytest
import torch
from torch import nn

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.crest import minibatch_coresets, random_subset_size, random_subsets
from lessdata.training import CrestTrainer, EveryKEpochs, crest_selector, evaluate, weighted_loss


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


# ------------------------------------------------------------------------------------------------ selection
def test_random_subsets_are_class_balanced_and_disjoint_while_the_data_lasts():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    subsets = random_subsets(labels, 3, 15, np.random.default_rng(0))
    for s in subsets:
        assert len(s) == 15 and np.bincount(labels[s]).tolist() == [5, 5, 5]
    assert len(np.unique(np.concatenate(subsets))) == 45
    # the pool holds classes 1 (30) and 2 (20): 8 of each per subset; class 2 runs out in the third subset,
    # which then starts a fresh shuffle without repeating an example within the subset
    many = random_subsets(labels, 6, 15, np.random.default_rng(1), pool=np.arange(50, 100))
    for s in many:
        assert len(np.unique(s)) == len(s) == 16 and s.min() >= 50
    assert len(np.unique(np.concatenate(many[:2]))) == 32


def test_minibatch_coresets_pick_a_batch_per_subset_with_mean_one_weights():
    rng = np.random.default_rng(0)
    G = rng.normal(size=(300, 6)).astype(np.float32)
    labels = rng.integers(0, 3, size=300)
    subsets = random_subsets(labels, 4, 60, np.random.default_rng(0))
    cs = minibatch_coresets(G, labels, subsets, 16, n=300, seed=0)
    assert len(cs) == 64 and cs.partition_counts() == {0: 16, 1: 16, 2: 16, 3: 16}
    for p, subset in enumerate(subsets):
        mine = cs.partition == p
        assert np.isin(cs.indices[mine], subset).all()
        assert cs.weights[mine].mean() == pytest.approx(1.0)
    twice = minibatch_coresets(G, labels, [subsets[0], subsets[0]], 16, n=300, seed=0)
    assert len(twice) == 16 and twice.weights.mean() == pytest.approx(2.0)  # repeats merged, weights summed


def test_select_on_precomputed_gradients():
    rng = np.random.default_rng(1)
    G = rng.normal(size=(2000, 10)).astype(np.float32)
    labels = np.arange(2000) % 10
    cs = lessdata.select(G, fraction=0.05, method="crest", labels=labels, minibatch_size=32, seed=3)
    assert len(cs) == 100 and cs.partition_counts() == {0: 32, 1: 32, 2: 32, 3: 4}
    assert cs.params["random_subsets"] == {"count": 4, "size": random_subset_size(2000, 32)}
    assert cs == lessdata.select(G, fraction=0.05, method="crest", labels=labels, minibatch_size=32, seed=3)
    unlabeled = lessdata.select(G, budget=10, method="crest", minibatch_size=128)
    assert len(unlabeled) == 10


def test_crest_selector_draws_fresh_subsets_every_call(digits):
    train, _ = digits
    schedule = EveryKEpochs(crest_selector(train, fraction=0.05, minibatch_size=35), k=1)
    first, second = schedule.coreset_for_epoch(0, mlp()), schedule.coreset_for_epoch(1, mlp())
    assert len(first) == len(second) == 70 and first.method == "crest"
    assert set(first.indices.tolist()) != set(second.indices.tolist())


# ------------------------------------------------------------------------------------------------ trainer
def test_crest_trains_an_mlp_on_digits_and_reselects(digits):
    train, test = digits
    model = mlp()
    untrained = evaluate(model, test)["accuracy"]
    crest = CrestTrainer(model, train, fraction=0.1, batch_size=32, warmup_steps=0, seed=0)
    result = crest.fit(test, epochs=30, lr=0.05, lr_schedule=None)  # 30 epochs x 5 steps = 150 steps
    assert crest.step == 150 and crest.steps_per_epoch == 5
    assert crest.selections >= 2 and crest.checks > 0
    resets = [e for e in crest.log if e["event"] == "reset"]
    assert resets[0]["step"] == 0 and resets[1]["step"] > 0
    assert result.final_accuracy > max(0.6, untrained + 0.4)
    record = result.history[-1]
    assert record["selections"] == crest.selections and record["check_interval"] >= 1
    assert record["cumulative_seconds"] >= record["selection_seconds"] > 0
    assert len(crest.coreset) <= crest.subsets * 32 and crest.coreset.method == "crest"


def test_the_check_fires_when_the_loss_model_is_wrong(digits):
    train, _ = digits
    crest = CrestTrainer(mlp(), train, fraction=0.1, batch_size=32, warmup_steps=0, seed=1, adapt=False)
    crest.reset()
    q = crest.quadratic
    assert q.origin.shape == q.gradient.shape == q.curvature.shape and bool((q.curvature > 0).all())
    # at δ = 0 the model predicts L0; make L0 the true loss on ∪R_p and it holds
    q.loss = crest.check().true_loss
    assert crest.check().valid
    # now make it wrong on purpose: the check fails and the next batch starts with a reset
    q.loss = 2.0 * q.loss
    result = crest.check()
    assert not result.valid and result.difference > result.threshold
    before = crest.selections
    crest.next_batch()
    assert crest.selections == before + 1 and crest.reset_step == 0


def test_delta_is_the_step_the_users_optimizer_took(digits):
    """displacement='parameters', in your own loop with SGD + momentum: CREST reads δ off the parameters, one
    backward per step."""
    train, _ = digits
    model = mlp(2)
    crest = CrestTrainer(model, train, fraction=0.1, batch_size=32, warmup_steps=0, seed=2, check_threshold=1e9,
                         displacement="parameters")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    start = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()
    backward_calls = []
    model[2].weight.register_hook(lambda grad: backward_calls.append(1))
    for x, y, w, _ in crest.batches(steps=8):
        loss = weighted_loss(nn.CrossEntropyLoss(reduction="none"), model(x), y, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert crest.selections == 1 and crest.checks == 7  # a huge threshold: the model always holds
    # one backward per training step; checks run none; the reset's quadratic model one gradient and one
    # Hessian-vector product per coreset batch
    assert len(backward_calls) == 8 + 2 * int(np.ceil(len(crest.coreset) / 32))
    # the reset was at step 0, so δ is everything the optimizer (momentum included) did since the start
    assert torch.equal(crest.quadratic.origin, start)
    delta = torch.cat([p.detach().reshape(-1) for p in model.parameters()]) - start
    assert delta.norm() > 0 and crest.check().approx_loss == pytest.approx(crest.quadratic.predict(delta))


def test_delta_is_minus_the_sum_of_lr_times_gradients_as_the_reference(digits):
    """displacement='gradients' (default): δ = −Σ lr_t g_t over the steps since the reset (momentum and weight
    decay not in it), and the check's approximate loss is L0 + δᵀg + ½ δᵀ diag(D) δ computed directly."""
    train, _ = digits
    model = mlp(2)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    crest = CrestTrainer(model, train, fraction=0.1, batch_size=32, warmup_steps=0, seed=2, check_threshold=1e9,
                         optimizer=opt,
                         adapt=False)
    expected, lrs = None, [0.05, 0.05, 0.02, 0.02, 0.01]
    for step, (x, y, w, _) in enumerate(crest.batches(steps=5)):
        for group in opt.param_groups:
            group["lr"] = lrs[step]
        opt.zero_grad()
        weighted_loss(nn.CrossEntropyLoss(reduction="none"), model(x), y, w).backward()
        g = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).double()
        expected = -lrs[step] * g if expected is None else expected - lrs[step] * g
        opt.step()
    assert crest.selections == 1
    delta = crest.displacement_since_reset()
    torch.testing.assert_close(delta, expected)
    moved = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double() - crest.quadratic.origin
    assert not torch.allclose(delta, moved)  # momentum and weight decay are not in the reference's δ
    q = crest.quadratic
    direct = (q.loss + float(expected @ q.gradient.double())
              + 0.5 * float(((expected * q.curvature.double()) * expected).sum()))
    with torch.no_grad():
        xs = torch.stack([torch.as_tensor(train[i][0]) for i in crest.union])
        ys = torch.as_tensor(crest.labels[crest.union])
        true = float(nn.functional.cross_entropy(model.eval()(xs.float()), ys))
    result = crest.check()
    assert result.approx_loss == pytest.approx(direct, rel=1e-9) and result.true_loss == pytest.approx(true, rel=1e-5)
    assert result.valid == (abs(true - direct) <= 1e9 * true)


def test_gradients_displacement_needs_the_optimizer(digits):
    train, _ = digits
    model = mlp(2)
    crest = CrestTrainer(model, train, fraction=0.1, batch_size=32, warmup_steps=0, seed=2)
    crest.reset()
    assert float(crest.displacement_since_reset().abs().sum()) == 0.0  # no step since the reset: δ = 0
    crest.next_batch()
    with pytest.raises(LessdataError, match="pass optimizer="):
        crest.check()


def test_default_warmup_is_one_epoch_of_random_batches_as_the_reference(digits):
    train, _ = digits
    model = mlp(2)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    crest = CrestTrainer(model, train, fraction=0.1, batch_size=32, seed=2, optimizer=opt)
    assert crest.warmup_steps == crest.steps_per_epoch > 1
    seen = set()
    for _ in range(crest.steps_per_epoch):
        x, y, w, idx = crest.next_batch()
        seen.update(idx.tolist())
        opt.zero_grad()
        weighted_loss(nn.CrossEntropyLoss(reduction="none"), model(x), y, w).backward()
        opt.step()
    assert crest.selections == 0 and crest.coreset is None and len(seen) == crest.steps_per_epoch * 32
    crest.next_batch()
    assert crest.selections == 1 and crest.reset_step == crest.steps_per_epoch


def test_the_same_seed_gives_the_same_run(digits):
    train, _ = digits

    def run():
        model = mlp(3)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        crest = CrestTrainer(model, train, fraction=0.1, batch_size=32, warmup_steps=0, seed=7, check_threshold=0.0,
                             optimizer=opt)
        for x, y, w, _ in crest.batches(steps=5):
            opt.zero_grad()
            weighted_loss(nn.CrossEntropyLoss(reduction="none"), model(x), y, w).backward()
            opt.step()
        return crest, torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    (a, pa), (b, pb) = run(), run()
    assert a.selections == b.selections >= 2 and a.coreset == b.coreset and torch.equal(pa, pb)


def test_intervals_adapt_to_the_curvature(digits):
    train, _ = digits
    crest = CrestTrainer(mlp(), train, fraction=0.5, batch_size=32, warmup_steps=0, seed=0)
    crest._adapt(4.0)  # the first reset fixes the reference norm
    assert crest.check_interval == 1 and crest.subsets == 5
    crest._adapt(1.0)  # four times flatter: check every 4 steps, 20 mini-batches (capped at steps per epoch)
    assert crest.check_interval == 4 and crest.subsets == min(20, crest.steps_per_epoch)
    crest._adapt(8.0)
    assert crest.check_interval == 1 and crest.subsets == 5


def test_learned_examples_leave_the_pool_down_to_the_minimum(digits):
    train, _ = digits
    crest = CrestTrainer(mlp(), train, fraction=0.1, batch_size=32, warmup_steps=0, seed=0, drop_learned=True,
                         drop_threshold=100.0, drop_window=1, min_pool_fraction=0.5)
    crest.reset()
    seen = crest.union.copy()
    crest.reset()  # every recorded loss is below 100: the examples seen at the first reset leave
    assert len(crest.pool) == 1400 - len(seen) and not np.isin(seen, crest.pool).any()
    for _ in range(3):
        crest.reset()
    assert len(crest.pool) >= 700 and any(e["event"] == "drop" for e in crest.log)
    strict = CrestTrainer(mlp(), train, fraction=0.1, batch_size=32, warmup_steps=0, seed=0, drop_learned=True,
                          drop_threshold=1e-6, drop_window=1)
    strict.reset()
    strict.reset()
    assert len(strict.pool) == 1400  # nothing is learned that well yet


@pytest.mark.parametrize("kwargs, message", [
    ({"fraction": 0.0}, r"CrestTrainer: fraction must be a number in \(0, 1\], got 0.0"),
    ({"batch_size": 5000}, "larger than the dataset"),
    ({"batch_size": 0}, "CrestTrainer: batch_size must be an int ≥ 1, got 0"),
    ({"adapt": "yes"}, "CrestTrainer: adapt must be a bool, got 'yes'"),
    ({"check_threshold": -0.1}, "check_threshold"),
    ({"greedy": "fastest"}, "CrestTrainer: greedy must be one of 'naive', 'lazy'"),
    ({"metric": "manhattan"}, "CrestTrainer: metric must be one of 'rbf', 'euclidean', 'cosine'"),
    ({"metric": "precomputed"}, "metric must be one of"),
    ({"subset_size": 10}, "smaller than the mini-batch size"),
    ({"beta2": 1.5}, "beta2"),
    ({"labels": np.zeros(3)}, "labels has 3 entries"),
    ({"warmup_steps": -1}, "CrestTrainer: warmup_steps must be an int ≥ 0 or None, got -1"),
    ({"seed": "0"}, "CrestTrainer: seed must be an int ≥ 0, got '0'"),
])
def test_bad_trainer_inputs_get_one_line_errors(digits, kwargs, message):
    train, _ = digits
    with pytest.raises(LessdataError, match=message) as info:
        CrestTrainer(mlp(), train, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("params, message", [
    ({"minibatch_size": 0}, "minibatch_size"),
    ({"subset_fraction": 2.0}, "subset_fraction"),
    ({"metric": "precomputed"}, "precomputed"),
])
def test_bad_method_inputs_get_one_line_errors(params, message):
    G = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    with pytest.raises(LessdataError, match=message) as info:
        lessdata.select(G, budget=5, method="crest", **params)
    assert "\n" not in str(info.value)
