"""The training-dynamics recorder: shapes and values from real fit() runs, checkpoints, save/load, errors,
and the EL2N / GraNd helpers against slow obvious computations."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from lessdata.coreset import Coreset
from lessdata.errors import LessdataError
from lessdata.signals import last_layer_gradients
from lessdata.signals.dynamics import (
    DynamicsRecorder,
    el2n_scores,
    grand_scores,
    record_checkpoint,
)
from lessdata.training import SelectOnce, fit

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*")


class Spy:
    """Keeps what fit() showed the callbacks, to compare the recorder against."""

    def __init__(self):
        self.batches = []

    def on_batch_end(self, epoch, model, batch):
        self.batches.append((epoch, batch.indices.clone(), batch.outputs.clone(), batch.targets.clone(),
                             batch.losses.clone()))


def small_digits(digits, n=300):
    train, _ = digits
    X, y = train.tensors
    return TensorDataset(X[:n], y[:n])


def test_two_epoch_fit_records_every_example_with_the_values_fit_saw(digits, make_mlp):
    train = small_digits(digits)
    recorder, spy = DynamicsRecorder(logits=True), Spy()
    fit(make_mlp(), train, epochs=2, batch_size=64, lr=0.05, callbacks=[recorder, spy])
    n = len(train)
    assert recorder.n == n and recorder.columns == [0, 1]
    for name in ("loss", "correct", "confidence", "error_norm"):
        arr = getattr(recorder, name)
        assert arr.shape == (n, 2) and arr.dtype == np.float32 and not np.isnan(arr).any()
    assert recorder.logits.shape == (n, 2, 10)
    assert recorder.seen.all()
    np.testing.assert_array_equal(recorder.targets, train.tensors[1].numpy())
    for epoch, idx, out, y, losses in spy.batches:
        idx = idx.numpy()
        p = torch.softmax(out, dim=1)
        true_p = p[torch.arange(len(y)), y].numpy()
        np.testing.assert_allclose(recorder.loss[idx, epoch], losses.numpy(), rtol=1e-6)
        np.testing.assert_allclose(recorder.confidence[idx, epoch], true_p, rtol=1e-5)
        np.testing.assert_array_equal(recorder.correct[idx, epoch], (out.argmax(1) == y).float().numpy())
        err = (p - nn.functional.one_hot(y, 10).float()).norm(dim=1).numpy()
        np.testing.assert_allclose(recorder.error_norm[idx, epoch], err, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(recorder.logits[idx, epoch], out.numpy(), rtol=1e-6)
    # cross-entropy is -log p(true class): the fields agree with each other
    np.testing.assert_allclose(recorder.loss, -np.log(recorder.confidence), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(recorder.probabilities(0)[np.arange(n), recorder.targets],
                               recorder.confidence[:, 0], rtol=1e-5)


def test_examples_outside_the_epoch_subset_are_nan(digits, make_mlp):
    train = small_digits(digits, 200)
    chosen = np.random.default_rng(0).choice(200, 50, replace=False)
    schedule = SelectOnce(lambda model: Coreset(indices=chosen, weights=np.ones(50), n=200))
    recorder = DynamicsRecorder(fields=("loss", "correct"), dtype="float16")
    fit(make_mlp(), train, epochs=2, batch_size=32, schedule=schedule, callbacks=[recorder])
    seen = np.zeros(200, dtype=bool)
    seen[chosen] = True
    assert recorder.loss.dtype == np.float16 and recorder.confidence is None
    np.testing.assert_array_equal(recorder.seen, np.repeat(seen[:, None], 2, axis=1))
    assert np.isnan(recorder.loss[~seen]).all() and not np.isnan(recorder.loss[seen]).any()
    assert set(np.unique(recorder.correct[seen]).tolist()) <= {0.0, 1.0}
    assert (recorder.targets[~seen] == -1).all()


def test_record_checkpoint_matches_a_plain_evaluation_and_appends_columns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(23, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=23)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    rec = record_checkpoint(model, X, y, name="init", batch_size=7, logits=True)
    assert model.training  # mode restored
    with torch.no_grad():
        model.eval()
        out = model(torch.from_numpy(X))
        model.train()
    want_loss = nn.functional.cross_entropy(out, torch.from_numpy(y), reduction="none").numpy()
    np.testing.assert_allclose(rec.loss[:, 0], want_loss, rtol=1e-5)
    np.testing.assert_allclose(rec.logits[:, 0], out.numpy(), rtol=1e-6)
    with torch.no_grad():
        model[2].weight.mul_(2.0)
    rec.record_checkpoint(model, (X, y), name="later")
    assert rec.columns == ["init", "later"] and rec.loss.shape == (23, 2)
    assert not np.allclose(rec.loss[:, 0], rec.loss[:, 1])
    with pytest.raises(LessdataError, match="already exists"):
        rec.record_checkpoint(model, X, y, name="later")
    with pytest.raises(LessdataError, match="recorder holds 23"):
        rec.record_checkpoint(model, X[:10], y[:10], name="short")


def test_record_checkpoint_with_a_loss_function_records_loss_for_non_classifiers():
    X = torch.randn(12, 4)
    target = torch.randn(12, 2)
    model = nn.Linear(4, 2)
    rec = record_checkpoint(model, TensorDataset(X, target), loss_fn=nn.MSELoss(reduction="none"))
    with torch.no_grad():
        want = ((model(X) - target) ** 2).mean(dim=1).numpy()
    np.testing.assert_allclose(rec.loss[:, 0], want, rtol=1e-5)
    assert np.isnan(rec.correct).all()


def test_trajectory_fill_and_forgetting_through_the_recorder():
    rec = DynamicsRecorder(3)
    right, wrong = torch.tensor([[5.0, 0.0]]), torch.tensor([[0.0, 5.0]])
    plan = {0: [right, wrong, right], 1: [None, wrong, None], 2: [right, None, wrong]}
    for t, epoch in enumerate(["a", "b", "c"]):
        rec.start_column(epoch)
        for i, row in plan.items():
            if row[t] is not None:
                rec.update([i], logits=row[t], targets=[0])
    np.testing.assert_array_equal(rec.forgetting_events(), [1, 0, 1])  # row 2: right -> (unseen) -> wrong
    raw, filled = rec.trajectory("loss"), rec.trajectory("loss", fill="forward")
    assert np.isnan(raw[1, 0]) and np.isnan(raw[2, 1]) and not np.isnan(filled).any()
    assert filled[1, 0] == filled[1, 1] == filled[1, 2] == raw[1, 1]  # leading gap takes the first value
    assert filled[2, 1] == raw[2, 0]
    assert rec.trajectory("loss", fill=0.0)[2, 1] == 0.0
    conf, var = rec.cartography()
    assert conf[1] < 0.01 and var[1] == 0.0 and var[0] > 0.4


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_save_load_round_trip(tmp_path, dtype):
    rec = DynamicsRecorder(5, logits=True, dtype=dtype)
    for epoch in range(3):
        rec.start_column(epoch)
        rec.update([0, 2, 4], logits=torch.randn(3, 4), targets=[1, 2, 3])
    path = rec.save(tmp_path / "dyn.npz")
    back = DynamicsRecorder.load(path)
    assert back.columns == [0, 1, 2] and back.n == 5 and back.dtype == dtype and back.fields == rec.fields
    for name in ("loss", "correct", "confidence", "error_norm", "logits"):
        np.testing.assert_array_equal(getattr(back, name), getattr(rec, name))
    np.testing.assert_array_equal(back.targets, rec.targets)
    back.start_column(3)  # a loaded recorder keeps recording
    back.update([1], logits=torch.randn(1, 4), targets=[0])
    assert back.loss.shape == (5, 4)
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_columns_grow_past_the_initial_capacity():
    rec = DynamicsRecorder(2, columns=1)
    for epoch in range(20):
        rec.start_column(epoch)
        rec.update([epoch % 2], losses=[float(epoch)])
    assert rec.loss.shape == (2, 20)
    np.testing.assert_array_equal(rec.loss[0, ::2], np.arange(0, 20, 2))
    assert np.isnan(rec.loss[1, ::2]).all()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda r: r.update([5], losses=[1.0]), "out of range"),
        (lambda r: r.update([0, 1], losses=[1.0]), "one entry per example"),
        (lambda r: r.update([0], logits=torch.zeros(1, 3), targets=[3]), "out of range"),
        (lambda r: r.update([0], logits=torch.zeros(1, 3)), "needs targets"),
        (lambda r: r.update([0]), "needs logits"),
        (lambda r: r.update([[0]], losses=[1.0]), "1-D"),
        (lambda r: r.field("speed"), "unknown dynamics field"),
        (lambda r: r.probabilities(), "no logits"),
        (lambda r: r.trajectory("loss", fill="backward"), "fill"),
        (lambda r: r.save("dyn.csv"), ".npz"),
        (lambda r: r.start_column(1.5), "label"),
    ],
)
def test_bad_inputs_give_one_line_errors(call, match):
    rec = DynamicsRecorder(3, fields=("loss", "correct"))
    with pytest.raises(LessdataError, match=match) as info:
        call(rec)
    assert "\n" not in str(info.value)
    assert rec.num_columns == 0 or np.isnan(rec.loss).all()  # a rejected batch writes nothing


def test_bad_construction_and_files(tmp_path):
    for kwargs in ({"dtype": "float64"}, {"fields": ("loss", "speed")}, {"fields": ()}, {"n": 0}):
        with pytest.raises(LessdataError):
            DynamicsRecorder(**kwargs)
    with pytest.raises(LessdataError, match="no such file"):
        DynamicsRecorder.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(LessdataError, match="not lessdata training dynamics"):
        DynamicsRecorder.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(LessdataError, match="not readable"):
        DynamicsRecorder.load(tmp_path / "junk.npz")
    with pytest.raises(LessdataError, match="empty"):
        DynamicsRecorder().save(tmp_path / "x.npz")
    with pytest.raises(LessdataError, match="pass n="):
        DynamicsRecorder().update([0], losses=[1.0])


def _tiny(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 4))


def _data(n=19, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 4, size=n)


def test_el2n_scores_are_the_error_norm_of_the_softmax():
    model, (X, y) = _tiny(), _data()
    with torch.no_grad():
        p = torch.softmax(model(torch.from_numpy(X)), dim=1).numpy()
    want = np.linalg.norm(p - np.eye(4)[y], axis=1)
    np.testing.assert_allclose(el2n_scores(model, X, y, batch_size=4), want, rtol=1e-5)


def test_grand_scores_match_per_example_autograd():
    model, (X, y) = _tiny(), _data()
    want = []
    for x_i, y_i in zip(torch.from_numpy(X), torch.from_numpy(y)):
        model.zero_grad()
        nn.functional.cross_entropy(model(x_i[None]), y_i[None]).backward()
        want.append(float(torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))))
    np.testing.assert_allclose(grand_scores(model, X, y, batch_size=5), want, rtol=1e-4)
    from lessdata.signals.dynamics import _gradient_norms_loop

    params = dict(model.named_parameters())
    np.testing.assert_allclose(_gradient_norms_loop(model, params, torch.from_numpy(X), torch.from_numpy(y)),
                               want, rtol=1e-4)
    full = last_layer_gradients(model, X, y, full=True)
    np.testing.assert_allclose(grand_scores(model, X, y, last_layer=True), np.linalg.norm(full, axis=1),
                               rtol=1e-4)
    with pytest.raises(LessdataError, match="out of range"):
        grand_scores(model, X, np.full(len(X), 9))
