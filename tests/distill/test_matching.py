"""The unrolled trajectory-matching loss: its gradient against finite differences, the augmentation, and a
few MTT iterations on a toy two-class set (the loss falls; the result beats its noise initialisation)."""

import pytest
import torch

from lessdata.distill import (
    FlatModel,
    MTTConfig,
    accuracy,
    augment,
    distill_mtt,
    matching_loss,
    train_experts,
    train_network,
)
from lessdata.errors import LessdataError

from .conftest import tiny_net, toy_images


def _setup():
    torch.manual_seed(0)
    model = tiny_net(width=2, depth=1, size=4)().double()
    net = FlatModel(model)
    start = net.flatten()
    target = start + 0.05 * torch.randn(start.shape, generator=torch.Generator().manual_seed(1)).double()
    images = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(2)).double().requires_grad_(True)
    labels = torch.tensor([0, 1, 0, 1])
    lr = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    return net, start, target, images, labels, lr


@pytest.mark.parametrize("augment_images", [False, True])
def test_unrolled_gradient_matches_finite_differences(augment_images):
    net, start, target, images, labels, lr = _setup()

    def loss_of(imgs, step):  # the same generator state every call: the same augmentation (siamese)
        return matching_loss(net, start, target, imgs, labels, step, syn_steps=3, batch_syn=2,
                             generator=torch.Generator().manual_seed(7), augment_images=augment_images)

    loss = loss_of(images, lr)
    g_images, g_lr = torch.autograd.grad(loss, (images, lr))
    eps = 1e-6
    for flat_index in (0, 5, 17, 40, 63):
        e = torch.zeros_like(images).reshape(-1)
        e[flat_index] = eps
        e = e.view_as(images)
        with torch.no_grad():
            fd = (loss_of(images + e, lr) - loss_of(images - e, lr)) / (2 * eps)
        assert float(fd) == pytest.approx(float(g_images.reshape(-1)[flat_index]), rel=1e-4, abs=1e-8)
    with torch.no_grad():
        fd_lr = (loss_of(images, lr + eps) - loss_of(images, lr - eps)) / (2 * eps)
    assert float(fd_lr) == pytest.approx(float(g_lr), rel=1e-4, abs=1e-8)
    assert float(g_lr) != 0.0


def test_matching_loss_is_one_with_zero_step_and_zero_for_an_exact_match():
    net, start, target, images, labels, lr = _setup()
    zero = torch.tensor(0.0, dtype=torch.float64)
    assert float(matching_loss(net, start, target, images, labels, zero, syn_steps=2, batch_syn=4,
                               augment_images=False)) == pytest.approx(1.0)
    # target reached exactly by one plain SGD step -> loss 0
    x = images.detach()
    params = start.clone().requires_grad_(True)
    g = torch.autograd.grad(torch.nn.functional.cross_entropy(net(params, x), labels), params)[0]
    exact = (start - 0.05 * g).detach()
    loss = matching_loss(net, start, exact, x, labels, torch.tensor(0.05, dtype=torch.float64), syn_steps=1,
                         batch_syn=4, augment_images=False)
    assert float(loss) == pytest.approx(0.0, abs=1e-20)


def test_augment_is_siamese_and_differentiable():
    x = torch.rand(6, 1, 8, 8, requires_grad=True)
    for seed in range(12):  # covers every transform
        a = augment(x, torch.Generator().manual_seed(seed))
        b = augment(x, torch.Generator().manual_seed(seed))
        assert torch.equal(a, b) and a.shape == x.shape
        a.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    different = [not torch.equal(augment(x, torch.Generator().manual_seed(s)), x) for s in range(12)]
    assert sum(different) >= 8


@pytest.mark.slow
def test_mtt_lowers_matching_loss_and_beats_noise_init(tmp_path):
    X, y = toy_images(n_per_class=16, seed=0)
    Xtest, ytest = toy_images(n_per_class=50, seed=1)
    net = tiny_net()
    buf = train_experts(X, y, net, tmp_path / "buf", num_experts=1, epochs=3, lr=0.05, batch_size=8,
                        augment_images=False)
    cfg = MTTConfig.for_ipc(2, iterations=30, syn_steps=8, expert_epochs=2, max_start_epoch=0, lr_img=10.0,
                            lr_lr=1e-6, lr_teacher=0.05, init="noise", augment=False)
    s = distill_mtt(X, y, buf, net, cfg, seed=0)
    noise = distill_mtt(X, y, buf, net, MTTConfig.for_ipc(2, iterations=1, syn_steps=8, expert_epochs=2,
                                                          max_start_epoch=0, lr_img=1e-12, lr_lr=1e-12,
                                                          lr_teacher=0.05, init="noise", augment=False), seed=0)
    assert s.provenance["final_loss"] < noise.provenance["final_loss"] * 0.8
    accs = {}
    for name, ds in (("distilled", s), ("noise", noise)):
        accs[name] = sum(accuracy(train_network(ds.images, ds.labels, net, lr=0.05, epochs=30, augment_images=False,
                                                seed=seed), Xtest, ytest) for seed in range(3)) / 3
    assert accs["distilled"] > accs["noise"] + 0.1


def test_nonfinite_loss_stops_with_an_error(tmp_path):
    X, y = toy_images(n_per_class=6)
    net = tiny_net()
    buf = train_experts(X, y, net, tmp_path / "buf", num_experts=1, epochs=2, batch_size=4, augment_images=False)
    cfg = MTTConfig.for_ipc(1, iterations=3, syn_steps=2, expert_epochs=1, max_start_epoch=0, lr_img=1e30,
                            lr_lr=1e-8, augment=False)
    with pytest.raises(LessdataError, match="diverged|step size"):
        distill_mtt(X, y, buf, net, cfg, checkpoint=tmp_path / "c.pt", checkpoint_every=100)
    assert not (tmp_path / "c.pt").exists()
