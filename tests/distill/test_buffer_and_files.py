"""Expert buffers (resume, refusal), the distilled-set file, checkpoints and --resume."""

import math

import pytest
import torch
from torch.utils.data import DataLoader

from lessdata.distill import DistilledSet, MTTConfig, distill_mtt, load_buffer, train_experts
from lessdata.errors import LessdataError

from .conftest import tiny_net, toy_images


def _buffer(tmp_path, net=None, n=2, epochs=3, X=None, y=None):
    if X is None:
        X, y = toy_images(n_per_class=6)
    return train_experts(X, y, net or tiny_net(), tmp_path / "buf", num_experts=n, epochs=epochs, batch_size=4)


def test_buffer_shapes_and_resume_reproduces_missing_experts(tmp_path):
    buf = _buffer(tmp_path)
    assert len(buf.trajectories) == 2 and buf.epochs == 3
    assert buf.trajectories[0].shape[0] == 4  # initialisation + 3 epochs
    assert not torch.equal(buf.trajectories[0][0], buf.trajectories[0][-1])
    kept = tmp_path / "buf" / "expert_0000.pt"
    before = kept.stat().st_mtime_ns
    original = buf.trajectories[1].clone()
    (tmp_path / "buf" / "expert_0001.pt").unlink()
    again = _buffer(tmp_path)
    assert kept.stat().st_mtime_ns == before  # the finished expert was not retrained
    assert torch.equal(again.trajectories[1], original)  # the missing one is retrained identically


def test_buffer_refuses_another_architecture_or_data_shape(tmp_path):
    _buffer(tmp_path)
    with pytest.raises(LessdataError, match="built differently"):
        _buffer(tmp_path, net=tiny_net(width=5))
    X, y = toy_images(n_per_class=6)
    with pytest.raises(LessdataError, match="built differently"):
        _buffer(tmp_path, X=X[:, :, :, :].repeat(1, 2, 1, 1), y=y,
                net=lambda: tiny_net()().__class__(in_channels=2, image_size=8, num_classes=2, width=4, depth=2))
    buf = load_buffer(tmp_path / "buf")
    with pytest.raises(LessdataError, match="another model or data"):
        distill_mtt(X, y, buf, tiny_net(width=5), MTTConfig.for_ipc(1, iterations=1, max_start_epoch=0,
                                                                     expert_epochs=1))


def test_buffer_too_short_is_refused_before_any_work(tmp_path):
    X, y = toy_images(n_per_class=6)
    buf = _buffer(tmp_path, epochs=3)
    cfg = MTTConfig.for_ipc(1, iterations=2, max_start_epoch=2, expert_epochs=2)
    with pytest.raises(LessdataError, match="too short for max_start_epoch 2 \\+ expert_epochs 2"):
        distill_mtt(X, y, buf, tiny_net(), cfg, checkpoint=tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_load_buffer_errors(tmp_path):
    with pytest.raises(LessdataError, match="not a folder"):
        load_buffer(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LessdataError, match="no expert"):
        load_buffer(tmp_path / "empty")
    (tmp_path / "empty" / "expert_0000.pt").write_bytes(b"garbage")
    with pytest.raises(LessdataError, match="cannot read expert file"):
        load_buffer(tmp_path / "empty")


def test_distilled_file_round_trip_as_dataset(tmp_path):
    s = DistilledSet(torch.randn(6, 1, 8, 8), labels=torch.tensor([0, 0, 1, 1, 2, 2]),
                     learning_rates=torch.tensor([0.01, 0.02]), stages=torch.tensor([0, 0, 0, 1, 1, 1]),
                     provenance={"method": "pdd", "seed": 3, "settings": {"ipc": 2}})
    path = s.save(tmp_path / "set.pt")
    t = DistilledSet.load(path)
    assert torch.equal(t.images, s.images) and torch.equal(t.labels, s.labels)
    assert torch.equal(t.stages, s.stages) and t.learning_rates.tolist() == pytest.approx([0.01, 0.02])
    assert t.provenance == {"method": "pdd", "seed": 3, "settings": {"ipc": 2}}
    assert t.stage_union(0).tolist() == [0, 1, 2]
    xb, yb = next(iter(DataLoader(t, batch_size=4)))
    assert xb.shape == (4, 1, 8, 8) and yb.tolist() == [0, 0, 1, 1]
    m = DistilledSet(torch.randn(3, 1, 4, 4), targets=torch.randn(3, 5))
    m2 = DistilledSet.load(m.save(tmp_path / "m.pt"))
    assert m2.labels is None and torch.equal(m2.targets, m.targets) and m2[2][1].shape == (5,)


def test_distilled_file_bad_input(tmp_path):
    with pytest.raises(LessdataError, match="3 rows but there are 2 images"):
        DistilledSet(torch.zeros(2, 1, 4, 4), labels=torch.tensor([0, 1, 1]))
    with pytest.raises(LessdataError, match="needs labels or target"):
        DistilledSet(torch.zeros(2, 1, 4, 4))
    with pytest.raises(LessdataError, match="stage 1 but only 1 learning rate"):
        DistilledSet(torch.zeros(2, 1, 4, 4), labels=torch.tensor([0, 1]), stages=torch.tensor([0, 1]))
    s = DistilledSet(torch.zeros(2, 1, 4, 4), labels=torch.tensor([0, 1]))
    with pytest.raises(LessdataError, match="must end in .pt"):
        s.save(tmp_path / "x.npz")
    (tmp_path / "other.pt").write_bytes(b"not torch")
    with pytest.raises(LessdataError, match="cannot read"):
        DistilledSet.load(tmp_path / "other.pt")
    torch.save({"a": 1}, tmp_path / "dict.pt")
    with pytest.raises(LessdataError, match="not a lessdata distilled-set"):
        DistilledSet.load(tmp_path / "dict.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dict.pt", "other.pt"]


class _Interrupt:
    """A progress object that raises KeyboardInterrupt once it has seen ``after`` iterations."""

    def __init__(self, after):
        self.after, self.seen, self.total = after, 0, None

    def update(self, n=1):
        self.seen += n
        if self.seen >= self.after:
            raise KeyboardInterrupt


def test_checkpoint_and_resume_continue_exactly(tmp_path):
    X, y = toy_images(n_per_class=6)
    net = tiny_net()
    buf = _buffer(tmp_path)
    cfg = MTTConfig.for_ipc(2, iterations=6, syn_steps=3, max_start_epoch=1, expert_epochs=1, lr_img=10.0,
                            lr_lr=1e-6)
    straight = distill_mtt(X, y, buf, net, cfg, seed=1)
    ckpt = tmp_path / "run.ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        distill_mtt(X, y, buf, net, cfg, seed=1, checkpoint=ckpt, checkpoint_every=2, progress=_Interrupt(5))
    assert ckpt.exists()  # the last good state (iteration 4)
    assert int(torch.load(ckpt, weights_only=True)["iteration"]) == 4
    resumed = distill_mtt(X, y, buf, net, cfg, seed=1, checkpoint=ckpt, checkpoint_every=2, resume=True)
    assert torch.allclose(resumed.images, straight.images, atol=1e-6)
    assert math.isclose(float(resumed.learning_rates[0]), float(straight.learning_rates[0]), rel_tol=1e-6)
    # a checkpoint for other settings is refused
    other = MTTConfig.for_ipc(2, iterations=6, syn_steps=4, max_start_epoch=1, expert_epochs=1, lr_img=10.0)
    with pytest.raises(LessdataError, match="other settings"):
        distill_mtt(X, y, buf, net, other, seed=1, checkpoint=ckpt, resume=True)
