"""Every bad input named for dataset distillation raises one LessdataError and writes nothing."""

import pytest
import torch

from lessdata.distill import (
    MTTConfig,
    distill_mkdt,
    distill_mtt,
    distill_pdd,
    teacher_representations,
    train_experts,
)
from lessdata.errors import LessdataError

from .conftest import tiny_net, toy_images


@pytest.fixture(scope="module")
def buf(tmp_path_factory):
    X, y = toy_images(n_per_class=6)
    return train_experts(X, y, tiny_net(), tmp_path_factory.mktemp("b") / "buf", num_experts=1, epochs=2,
                         batch_size=6, augment_images=False)


CFG = MTTConfig.for_ipc(1, iterations=1, syn_steps=1, max_start_epoch=0, expert_epochs=1)


def _no_files(path):
    return not path.exists() or not any(path.iterdir())


def test_nan_images(tmp_path, buf):
    X, y = toy_images(n_per_class=6)
    X[3, 0, 2, 2] = float("nan")
    with pytest.raises(LessdataError, match="NaN or infinite values \\(first in image 3\\)"):
        distill_mtt(X, y, buf, tiny_net(), CFG, checkpoint=tmp_path / "out" / "c.pt")
    with pytest.raises(LessdataError, match="NaN"):
        train_experts(X, y, tiny_net(), tmp_path / "b2", num_experts=1, epochs=1)
    assert _no_files(tmp_path / "out") and not (tmp_path / "b2").exists()


@pytest.mark.parametrize("bad, message", [
    (torch.randn(12, 64), "must be images shaped"),          # a feature table, not images
    (torch.randn(12, 8, 8, 8, 8), "must be images shaped"),
    (torch.randn(12, 16, 8, 8), "do not look like images"),   # 16 channels
    (torch.zeros(0, 1, 8, 8), "is empty"),
    (["a", "b"], "must be a tensor or array"),
])
def test_non_image_tensors(tmp_path, buf, bad, message):
    y = torch.arange(2).repeat_interleave(6)
    with pytest.raises(LessdataError, match=message):
        distill_mtt(bad, y, buf, tiny_net(), CFG)


def test_label_mismatches(buf):
    X, y = toy_images(n_per_class=6)
    with pytest.raises(LessdataError, match="one label per image"):
        distill_mtt(X, y[:-1], buf, tiny_net(), CFG)
    with pytest.raises(LessdataError, match="integer class ids"):
        distill_mtt(X, y.float() + 0.5, buf, tiny_net(), CFG)
    with pytest.raises(LessdataError, match="ipc 3 must be a multiple of stages 2"):
        distill_pdd(X, y, tiny_net(), "unused", MTTConfig.for_ipc(3, iterations=1), stages=2)
    with pytest.raises(LessdataError, match="labels have length 11"):
        train_experts(X, y[:-1], tiny_net(), "unused", num_experts=1, epochs=1)


def test_ipc_larger_than_a_class(tmp_path, buf):
    X, y = toy_images(n_per_class=6)
    keep = torch.cat([torch.arange(6), torch.arange(6, 9)])  # class 1 keeps 3 images
    with pytest.raises(LessdataError, match="images per class 4 is larger than class 1, which has 3"):
        distill_mtt(X[keep], y[keep], buf, tiny_net(), MTTConfig.for_ipc(4, iterations=1, max_start_epoch=0,
                                                                         expert_epochs=1),
                    checkpoint=tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_short_buffer(tmp_path, buf):
    X, y = toy_images(n_per_class=6)
    with pytest.raises(LessdataError, match="too short"):
        distill_mtt(X, y, buf, tiny_net(), MTTConfig.for_ipc(1, iterations=1, max_start_epoch=1, expert_epochs=2),
                    checkpoint=tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


@pytest.mark.parametrize("field, value, message", [
    ("iterations", 0, "iterations must be an integer >= 1"),
    ("lr_img", -1.0, "lr_img must be a positive"),
    ("init", "zeros", "init"),
    ("batch_syn", 0, "batch_syn"),
])
def test_bad_settings(buf, field, value, message):
    X, y = toy_images(n_per_class=6)
    from dataclasses import replace

    with pytest.raises(LessdataError, match=message):
        distill_mtt(X, y, buf, tiny_net(), replace(CFG, **{field: value}))


def test_mkdt_bad_targets_and_teacher(buf):
    X, _ = toy_images(n_per_class=6)
    with pytest.raises(LessdataError, match="float teacher representations"):
        distill_mkdt(X, torch.zeros(12, dtype=torch.long), buf, tiny_net(), 2)
    with pytest.raises(LessdataError, match="targets have 11 rows"):
        distill_mkdt(X, torch.zeros(11, 4), buf, tiny_net(), 2)
    with pytest.raises(LessdataError, match="size 13 is larger"):
        distill_mkdt(X, torch.zeros(12, 4), buf, tiny_net(), 13)
    with pytest.raises(LessdataError, match=r"\(batch, d\) vectors"):
        teacher_representations(torch.nn.Identity(), X)


def test_bad_device():
    X, y = toy_images(n_per_class=2)
    with pytest.raises(LessdataError, match="not a torch device"):
        train_experts(X, y, tiny_net(), "unused", num_experts=1, epochs=1, device="gpu0")
