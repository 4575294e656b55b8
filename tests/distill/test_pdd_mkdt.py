"""PDD's stages (frozen earlier images, experts started on the union) and MKDT's high-loss initialisation
against a straightforward independent computation."""

import torch
import torch.nn.functional as F

import lessdata.distill.pdd as pdd_module
from lessdata.distill import MTTConfig, distill_mkdt, distill_pdd, kd_losses, mkdt_config, train_experts

from .conftest import tiny_net, toy_images


def test_pdd_freezes_earlier_stages_and_starts_experts_on_the_union(tmp_path, monkeypatch):
    X, y = toy_images(n_per_class=6)
    calls = []
    real_train = pdd_module.train_network

    def spy(images, targets, *args, **kwargs):
        calls.append((len(images), kwargs["lr"]))
        return real_train(images, targets, *args, **kwargs)

    monkeypatch.setattr(pdd_module, "train_network", spy)
    cfg = MTTConfig.for_ipc(2, iterations=2, syn_steps=2, max_start_epoch=0, expert_epochs=1, lr_img=10.0, lr_lr=1e-7)
    s = distill_pdd(X, y, tiny_net(), tmp_path, cfg, stages=2, num_experts=2, expert_batch_size=4, start_epochs=1)
    assert s.stages.tolist() == [0, 0, 1, 1] and s.labels.tolist() == [0, 1, 0, 1] and s.num_stages == 2
    # each stage-1 expert was first trained on the 2 stage-0 images at the stage-0 learned step size
    assert calls == [(2, [float(s.learning_rates[0])])] * 2
    stage0 = torch.load(tmp_path / "stage_0.pt", weights_only=True)["images"]
    assert torch.equal(s.images[:2], stage0)  # frozen during stage 1
    assert not any(torch.equal(img, x) for img in s.images[2:] for x in X)  # stage-1 images moved from real ones
    assert torch.load(tmp_path / "stage_1.pt", weights_only=True)["iteration"] == 2


def test_mkdt_initialises_from_the_highest_kd_loss_images(tmp_path):
    X, _ = toy_images(n_per_class=6)
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    with torch.no_grad():
        targets = teacher(X)
    net = tiny_net(outputs=3)
    buf = train_experts(X, targets, net, tmp_path / "kd", num_experts=2, epochs=2, lr=0.1, batch_size=4,
                        augment_images=False)
    # independent computation: load each expert's last parameters into a module, loop over images
    expected = torch.zeros(len(X))
    for trajectory in buf.trajectories:
        model = net()
        offset = 0
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(trajectory[-1][offset:offset + p.numel()].view_as(p))
                offset += p.numel()
            for i in range(len(X)):
                expected[i] += F.mse_loss(model(X[i:i + 1]), targets[i:i + 1]).item()
    expected /= 2
    assert torch.allclose(kd_losses(buf, net, X, targets), expected, atol=1e-5)
    s = distill_mkdt(X, targets, buf, net, 4, mkdt_config(iterations=2, syn_steps=2, max_start_epoch=0,
                                                          expert_epochs=1, lr_lr=1e-7))
    assert s.provenance["init_indices"] == torch.argsort(expected, descending=True)[:4].tolist()
    assert s.targets.shape == (4, 3) and s.labels is None
    assert not torch.allclose(s.targets, targets[s.provenance["init_indices"]])  # the targets were learned
