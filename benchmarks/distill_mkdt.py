"""MKDT vs KD pre-training on a random real subset vs no pre-training, linear probes with 1% / 5% labels.

Reduced setting for a shared 2-core CPU (every reduction is written to the results file): a SimCLR teacher
(the project's trainer) on a class-balanced Fashion-MNIST pool, KD students = ConvNet width 32 with a head to
the teacher's dimension, a few short student trajectories, a short distillation, 3 seeds.

    .venv/bin/python benchmarks/distill_mkdt.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import header  # noqa: E402
from _distill import MEAN, RESULTS, STD, cpu_seconds, load, mean_std, peak_rss_mb, write_json  # noqa: E402

from lessdata.distill import (  # noqa: E402
    DistilledSet,
    distill_mkdt,
    evaluate_mkdt,
    mkdt_config,
    teacher_representations,
    train_experts,
)
from lessdata.models import ConvNet  # noqa: E402

try:  # the SimCLR trainer moved to the contrastive package
    from lessdata.contrastive import train_simclr
except ImportError:  # pragma: no cover
    from lessdata.training.contrastive import train_simclr


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="benchmarks/.distill_work_mkdt")
    p.add_argument("--per-class", type=int, default=200)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--teacher-width", type=int, default=16)
    p.add_argument("--teacher-epochs", type=int, default=15)
    p.add_argument("--experts", type=int, default=3)
    p.add_argument("--expert-epochs-trained", type=int, default=5)
    p.add_argument("--expert-lr", type=float, default=0.1)
    p.add_argument("--size", type=int, default=100, help="distilled images (5%% of the pool)")
    p.add_argument("--iterations", type=int, default=40)
    p.add_argument("--syn-steps", type=int, default=20)
    p.add_argument("--batch-syn", type=int, default=25)
    p.add_argument("--pretrain-epochs", type=int, default=100)
    p.add_argument("--lr-lr", type=float, default=1e-6,
                   help="step-size learning rate (the reference's 1e-4 turned the step size negative here)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    return p.parse_args(argv)


class Features(nn.Module):
    """The ConvNet's conv trunk, flattened: what the linear probe reads."""

    def __init__(self, net: ConvNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.flatten(self.net.features(x.reshape(-1, 1, 28, 28)), 1)


def main(argv=None):
    args = get_args(argv)
    torch.set_num_threads(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    X, y, Xt, yt = load(args.per_class, args.test_size)
    reps_path = work / "teacher_reps.pt"
    if not reps_path.exists():
        cpu0 = cpu_seconds()
        raw = (X * STD + MEAN).clamp(0, 1)  # the SimCLR trainer augments images in [0, 1]
        run = train_simclr(raw, epochs=args.teacher_epochs, batch_size=256, width=args.teacher_width, seed=0)
        reps = teacher_representations(run.model.encoder, raw)
        reps = (reps - reps.mean(0)) / reps.std(0).clamp(min=1e-6)  # standardised targets for the MSE students
        torch.save(reps, reps_path)
        state["teacher"] = {"cpu_s": cpu_seconds() - cpu0, "dim": reps.shape[1]}
        write_json(state_path, state)
    reps = torch.load(reps_path)
    dim = reps.shape[1]

    def student():
        return ConvNet(width=args.width, num_classes=dim)

    cfg = mkdt_config(iterations=args.iterations, syn_steps=args.syn_steps, max_start_epoch=2, expert_epochs=3,
                      batch_syn=args.batch_syn, lr_teacher=args.expert_lr, lr_lr=args.lr_lr)
    if "buffer" not in state:
        cpu0 = cpu_seconds()
        train_experts(X, reps, student, work / "buffer", num_experts=args.experts, epochs=args.expert_epochs_trained,
                      lr=args.expert_lr, augment_images=False, device="cpu")
        state["buffer"] = {"cpu_s": cpu_seconds() - cpu0}
        write_json(state_path, state)
    from lessdata.distill import load_buffer

    buf = load_buffer(work / "buffer")
    out = work / "mkdt.pt"
    if "distill" not in state:
        cpu0, wall0, rss0 = cpu_seconds(), time.perf_counter(), peak_rss_mb()
        s = distill_mkdt(X, reps, buf, student, args.size, cfg, seed=0, device="cpu",
                         checkpoint=work / "mkdt.ckpt.pt", checkpoint_every=10, resume=True)
        s.save(out)
        state["distill"] = {"cpu_s": cpu_seconds() - cpu0, "wall_s": time.perf_counter() - wall0,
                            "peak_rss_mb": peak_rss_mb(), "rss_before_mb": rss0, "lr": s.learning_rates.tolist(),
                            "final_loss": None}
        write_json(state_path, state)
    s = DistilledSet.load(out)
    if "eval" not in state:
        g = torch.Generator().manual_seed(0)
        rnd = torch.randperm(len(X), generator=g)[:args.size]
        init = torch.tensor(s.provenance["init_indices"])
        lr = args.expert_lr
        sets = {"none": None,
                "kd_random": DistilledSet(X[rnd], targets=reps[rnd], learning_rates=torch.tensor([lr])),
                "kd_high_loss": DistilledSet(X[init], targets=reps[init], learning_rates=torch.tensor([lr])),
                "mkdt": s}
        rep = evaluate_mkdt(sets, student, lambda m: Features(m), X, y, Xt, yt, seeds=args.seeds,
                            epochs=args.pretrain_epochs, device="cpu")
        state["eval"] = rep.values
        write_json(state_path, state)
    report(args, state)


def report(args, state):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = state["eval"]
    names = [("none", "no pre-training"), ("kd_random", "KD on a random real subset"),
             ("kd_high_loss", "KD on MKDT's high-loss init subset (no distillation)"), ("mkdt", "MKDT distilled")]
    lines = [header("MKDT on Fashion-MNIST: distilled pre-training sets, linear probes with 1% and 5% labels"),
             "- Machine note: 2-core CPU, shared with other jobs; timings were NOT taken on a quiet machine.",
             f"- Reduced setting (the paper: CIFAR/TinyImageNet, ResNet-18 Barlow Twins teacher, 100 students x 20 "
             f"epochs, 5000 iterations): pool {args.per_class} images per class ({10 * args.per_class}), "
             f"SimCLR teacher "
             f"(ConvEncoder width {args.teacher_width}, {args.teacher_epochs} epochs, standardised "
             f"{state['teacher']['dim']}-d representations), {args.experts} KD students x {args.expert_epochs_trained} "
             f"epochs (ConvNet width {args.width}, SGD lr {args.expert_lr}, no momentum, no augmentation), distilled "
             f"size {args.size} ({100 * args.size / (10 * args.per_class):.0f}% of the pool), {args.iterations} "
             f"iterations, syn_steps {args.syn_steps}, batch_syn {args.batch_syn}, max start epoch 2, expert epochs 3, "
             f"step-size lr {args.lr_lr:g}; "
             f"KD pre-training {args.pretrain_epochs} epochs (MSE, DSA); probe = L-BFGS logistic regression on the "
             f"frozen ConvNet trunk; test subset {args.test_size} images; seeds {args.seeds}.", "",
             "| pre-training set | probe 1% labels | probe 5% labels |", "|---|---|---|"]
    for k, name in names:
        lines.append(f"| {name} | {mean_std(e[f'{k}@0.01'])} | {mean_std(e[f'{k}@0.05'])} |")
    d = state["distill"]
    lines += ["", f"Distillation: {d['wall_s']:.0f} s wall, {d['cpu_s']:.0f} s CPU, peak RSS {d['peak_rss_mb']:.0f} MB "
              f"(before: {d['rss_before_mb']:.0f} MB), learned step size {d['lr'][0]:.4f}. Teacher "
              f"{state['teacher']['cpu_s']:.0f} CPU s, students {state['buffer']['cpu_s']:.0f} CPU s."]
    (RESULTS / "distill_mkdt.md").write_text("\n".join(lines) + "\n")
    write_json(RESULTS / "distill_mkdt.json", {"args": vars(args), "state": state})
    fig, ax = plt.subplots(figsize=(7, 4))
    for j, (k, name) in enumerate(names):
        ms = [np.mean(e[f"{k}@{f}"]) * 100 for f in ("0.01", "0.05")]
        ss = [np.std(e[f"{k}@{f}"]) * 100 for f in ("0.01", "0.05")]
        ax.bar(np.arange(2) + 0.2 * j, ms, 0.2, yerr=ss, label=name)
    ax.set_xticks([0.3, 1.3], ["1% labels", "5% labels"])
    ax.set_ylabel("linear-probe test accuracy (%)")
    ax.set_title("MKDT, Fashion-MNIST, reduced CPU setting")
    ax.legend(fontsize=7, loc="lower right", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(RESULTS / "distill_mkdt.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
