"""``lessdata distill``: expert trajectories, MTT / PDD / MKDT distillation and a fair evaluation.

    lessdata distill experts buffer/ --experts 5 --epochs 6 --width 32          # Fashion-MNIST by default
    lessdata distill mtt buffer/ -o fmnist_ipc1.pt --ipc 1 --iterations 200 --checkpoint run.ckpt.pt
    lessdata distill mtt buffer/ -o fmnist_ipc1.pt --ipc 1 --iterations 200 --checkpoint run.ckpt.pt --resume
    lessdata distill evaluate fmnist_ipc1.pt --seeds 0 1 2 --epochs 300
    lessdata distill pdd work/ -o fmnist_pdd.pt --ipc 10 --stages 2
    lessdata distill experts kd_buffer/ --teacher encoder.ts --experts 5        # MKDT students
    lessdata distill mkdt kd_buffer/ --teacher encoder.ts --size 100 -o fmnist_mkdt.pt

``--data`` is ``fashion-mnist`` (the local IDX files, normalised with the dataset mean and std) or an ``.npz``
with ``images`` ((n, H, W) or (n, C, H, W); uint8 is scaled to [0, 1]) and ``labels``. A teacher is a
TorchScript file (``torch.jit.save``) mapping image batches to vectors. The lead CLI mounts :data:`distill_app`
lazily as the ``distill`` group.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from rich.console import Console

from .._progress import rich_progress
from ..errors import LessdataError
from ._core import check_class_labels, check_images, positive_int
from .buffer import load_buffer, train_experts
from .distilled import DistilledSet
from .evaluate import evaluate_distilled
from .mkdt import distill_mkdt, mkdt_config, teacher_representations
from .mtt import MTTConfig, distill_mtt
from .pdd import distill_pdd

distill_app = typer.Typer(
    name="distill",
    help="Dataset distillation: expert trajectories, MTT, PDD, MKDT, and a fair evaluation (DD-Ranking scores).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530


@distill_app.callback()
def _distill():
    """Dataset distillation: expert trajectories, MTT, PDD, MKDT, and a fair evaluation (DD-Ranking scores)."""


Data = Annotated[str, typer.Option(help="'fashion-mnist' or an .npz with 'images' and 'labels'.")]
PerClass = Annotated[int | None, typer.Option(help="Use at most N images per class (a seeded random choice).")]
Width = Annotated[int, typer.Option(help="ConvNet width (depth 3, instance norm).")]
Device = Annotated[str, typer.Option(help="'cpu', 'cuda', 'cuda:1' or 'auto' (CUDA when present).")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Distilled-set file to write (.pt).", show_default=False)]


def load_data(data: str, split: str = "train", per_class: int | None = None, seed: int = 0):
    """(images, labels) as a float (n, C, H, W) tensor and a long tensor."""
    if data == "fashion-mnist":
        from ..data import fashion_mnist

        X, y = fashion_mnist(split=split)
        images = torch.from_numpy(X).float().div(255).sub(FASHION_MEAN).div(FASHION_STD)
        labels = torch.from_numpy(y.astype(np.int64))
    else:
        path = Path(data)
        if path.suffix != ".npz":
            raise LessdataError(f"--data {data!r} must be 'fashion-mnist' or an .npz file")
        if not path.is_file():
            raise LessdataError(f"data file {path} not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                if "images" not in z or "labels" not in z:
                    raise LessdataError(f"{path} must hold arrays 'images' and 'labels' (has {sorted(z.files)})")
                X, y = z["images"], z["labels"]
        except (ValueError, OSError) as exc:
            raise LessdataError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
        images = check_images(X)
        labels = check_class_labels(y, len(images))
    images = check_images(images)
    if per_class is not None:
        per_class = positive_int(per_class, "--per-class")
        g = torch.Generator().manual_seed(seed)
        keep = [idx[torch.randperm(len(idx), generator=g)[:per_class]]
                for c in range(int(labels.max()) + 1) if len(idx := (labels == c).nonzero().flatten())]
        keep = torch.cat(keep).sort().values
        images, labels = images[keep], labels[keep]
    return images, labels


def _factory(images: torch.Tensor, outputs: int, width: int):
    from ..models import ConvNet

    c, h, w = images.shape[1:]
    if h != w:
        raise LessdataError(f"the ConvNet needs square images, got {h}x{w}")
    positive_int(width, "--width")
    return lambda: ConvNet(in_channels=c, image_size=h, num_classes=outputs, width=width)


def _teacher(path: Path) -> torch.nn.Module:
    if not path.is_file():
        raise LessdataError(f"teacher file {path} not found")
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise LessdataError(f"cannot load teacher {path} as TorchScript: {str(exc).splitlines()[0]}") from None


def _check_out(out: Path) -> Path:
    if out.suffix != ".pt":
        raise LessdataError(f"output {str(out)!r} must end in .pt")
    if out.is_dir():
        raise LessdataError(f"output {out} is a directory")
    return out


@distill_app.command()
def experts(
    buffer: Annotated[Path, typer.Argument(help="Folder for the expert files (created; a rerun resumes).")],
    data: Data = "fashion-mnist", per_class: PerClass = None, width: Width = 128,
    experts: Annotated[int, typer.Option("--experts", help="Number of experts.")] = 100,
    epochs: Annotated[int, typer.Option(help="Epochs per expert.")] = 50,
    lr: Annotated[float, typer.Option(help="SGD learning rate (no momentum).")] = 0.01,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 256,
    teacher: Annotated[Path | None, typer.Option(help="TorchScript teacher: train MKDT KD students instead.")] = None,
    device: Device = "auto", seed: Seed = 0, quiet: Quiet = False,
):
    """Train expert trajectories on real data (MTT's buffer), or KD students of a teacher (MKDT)."""
    images, labels = load_data(data, per_class=per_class, seed=seed)
    targets = labels
    if teacher is not None:
        targets = teacher_representations(_teacher(teacher), images, device=device)
    outputs = targets.shape[1] if teacher is not None else int(labels.max()) + 1
    console = Console(stderr=True)
    with rich_progress(console, "experts", enabled=not quiet) as bar:
        buf = train_experts(images, targets, _factory(images, outputs, width), buffer, num_experts=experts,
                            epochs=epochs, lr=lr, batch_size=batch_size, augment_images=teacher is None, seed=seed,
                            device=device, progress=bar)
    typer.echo(f"{len(buf.trajectories)} experts x {buf.epochs} epochs in {buffer}")


def _config(ipc, iterations, syn_steps, expert_epochs, max_start_epoch, lr_img, lr_lr, lr_teacher, batch_syn, init,
            augment) -> MTTConfig:
    overrides = {k: v for k, v in dict(iterations=iterations, syn_steps=syn_steps, expert_epochs=expert_epochs,
                                       max_start_epoch=max_start_epoch, lr_img=lr_img, lr_lr=lr_lr,
                                       lr_teacher=lr_teacher, batch_syn=batch_syn, init=init).items() if v is not None}
    return MTTConfig.for_ipc(ipc, augment=augment, **overrides)


Ipc = Annotated[int, typer.Option(help="Synthetic images per class (total, for PDD).")]
Iterations = Annotated[int | None, typer.Option(help="Distillation iterations (default 5000).")]
SynSteps = Annotated[int | None, typer.Option(help="Unrolled student steps (default per IPC).")]
ExpertEpochs = Annotated[int | None, typer.Option(help="Expert epochs to match (default 2).")]
MaxStart = Annotated[int | None, typer.Option(help="Latest start epoch (default per IPC).")]
LrImg = Annotated[float | None, typer.Option(help="Pixel learning rate (default 1000).")]
LrLr = Annotated[float | None, typer.Option(help="Step-size learning rate (default per IPC).")]
LrTeacher = Annotated[float | None, typer.Option(help="Initial step size (default 0.01).")]
BatchSyn = Annotated[int | None, typer.Option(help="Synthetic images per unrolled step (default: all; fewer "
                                                   "saves memory, needs more steps to cover the set).")]
Init = Annotated[str | None, typer.Option(help="'real' or 'noise'.")]
Augment = Annotated[bool, typer.Option(help="Differentiable augmentation in the inner loop.")]
Checkpoint = Annotated[Path | None, typer.Option(help="Checkpoint file (.pt), written every --checkpoint-every.")]
Every = Annotated[int, typer.Option(help="Iterations between checkpoints.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from --checkpoint (or the work folder).")]


@distill_app.command()
def mtt(
    buffer: Annotated[Path, typer.Argument(help="Expert buffer folder (lessdata distill experts).")],
    out: Out, data: Data = "fashion-mnist", per_class: PerClass = None, width: Width = 128, ipc: Ipc = 10,
    iterations: Iterations = None, syn_steps: SynSteps = None, expert_epochs: ExpertEpochs = None,
    max_start_epoch: MaxStart = None, lr_img: LrImg = None, lr_lr: LrLr = None, lr_teacher: LrTeacher = None,
    batch_syn: BatchSyn = None, init: Init = None, augment: Augment = True, checkpoint: Checkpoint = None,
    checkpoint_every: Every = 100, resume: Resume = False, device: Device = "auto", seed: Seed = 0,
    quiet: Quiet = False,
):
    """Distil a labelled image set with MTT (matching training trajectories)."""
    _check_out(out)
    if resume and checkpoint is None:
        raise LessdataError("--resume needs --checkpoint")
    config = _config(ipc, iterations, syn_steps, expert_epochs, max_start_epoch, lr_img, lr_lr, lr_teacher,
                     batch_syn, init, augment)
    images, labels = load_data(data, per_class=per_class, seed=seed)
    buf = load_buffer(buffer)
    with rich_progress(Console(stderr=True), "MTT", enabled=not quiet) as bar:
        s = distill_mtt(images, labels, buf, _factory(images, int(labels.max()) + 1, width), config, seed=seed,
                        device=device, progress=bar, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                        resume=resume)
    s.save(out)
    typer.echo(f"{len(s)} images, learned step size {float(s.learning_rates[0]):.4g}, final matching loss "
               f"{s.provenance['final_loss']:.4f} -> {out}")


@distill_app.command()
def pdd(
    workdir: Annotated[Path, typer.Argument(help="Folder for per-stage buffers and checkpoints.")],
    out: Out, data: Data = "fashion-mnist", per_class: PerClass = None, width: Width = 128, ipc: Ipc = 10,
    stages: Annotated[int, typer.Option(help="Number of stages P (ipc must be a multiple).")] = 5,
    experts: Annotated[int, typer.Option("--experts", help="Experts per stage.")] = 20,
    buffer: Annotated[Path | None, typer.Option(help="Existing MTT buffer to reuse for stage 0.")] = None,
    iterations: Iterations = None, syn_steps: SynSteps = None, expert_epochs: ExpertEpochs = None,
    max_start_epoch: MaxStart = None, lr_img: LrImg = None, lr_lr: LrLr = None, lr_teacher: LrTeacher = None,
    batch_syn: BatchSyn = None, augment: Augment = True, checkpoint_every: Every = 100, resume: Resume = False,
    device: Device = "auto", seed: Seed = 0, quiet: Quiet = False,
):
    """Distil with PDD: P stages, each adding ipc/P images per class conditioned on the earlier ones."""
    _check_out(out)
    config = _config(ipc, iterations, syn_steps, expert_epochs, max_start_epoch, lr_img, lr_lr, lr_teacher,
                     batch_syn, None, augment)
    images, labels = load_data(data, per_class=per_class, seed=seed)
    first = load_buffer(buffer) if buffer is not None else None
    with rich_progress(Console(stderr=True), "PDD", enabled=not quiet) as bar:
        s = distill_pdd(images, labels, _factory(images, int(labels.max()) + 1, width), workdir, config, stages=stages,
                        num_experts=experts, seed=seed, device=device, progress=bar, checkpoint_every=checkpoint_every,
                        resume=resume, first_buffer=first)
    s.save(out)
    lrs = ", ".join(f"{v:.4g}" for v in s.learning_rates.tolist())
    typer.echo(f"{len(s)} images in {stages} stages, learned step sizes {lrs} -> {out}")


@distill_app.command()
def mkdt(
    buffer: Annotated[Path, typer.Argument(help="KD-student buffer (lessdata distill experts --teacher).")],
    out: Out,
    teacher: Annotated[Path, typer.Option(help="TorchScript teacher encoder.", show_default=False)],
    size: Annotated[int, typer.Option(help="Number of distilled images.", show_default=False)],
    data: Data = "fashion-mnist", per_class: PerClass = None, width: Width = 128,
    iterations: Iterations = None, syn_steps: SynSteps = None, expert_epochs: ExpertEpochs = None,
    max_start_epoch: MaxStart = None, lr_img: LrImg = None, lr_lr: LrLr = None, lr_teacher: LrTeacher = None,
    batch_syn: BatchSyn = None, checkpoint: Checkpoint = None, checkpoint_every: Every = 100, resume: Resume = False,
    device: Device = "auto", seed: Seed = 0, quiet: Quiet = False,
):
    """Distil an unlabeled set for self-supervised pre-training with MKDT (images + target representations)."""
    _check_out(out)
    if resume and checkpoint is None:
        raise LessdataError("--resume needs --checkpoint")
    overrides = {k: v for k, v in dict(iterations=iterations, syn_steps=syn_steps, expert_epochs=expert_epochs,
                                       max_start_epoch=max_start_epoch, lr_img=lr_img, lr_lr=lr_lr,
                                       lr_teacher=lr_teacher, batch_syn=batch_syn).items() if v is not None}
    config = mkdt_config(**overrides)
    images, _ = load_data(data, per_class=per_class, seed=seed)
    targets = teacher_representations(_teacher(teacher), images, device=device)
    buf = load_buffer(buffer)
    with rich_progress(Console(stderr=True), "MKDT", enabled=not quiet) as bar:
        s = distill_mkdt(images, targets, buf, _factory(images, targets.shape[1], width), size, config, seed=seed,
                         device=device, progress=bar, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                         resume=resume)
    s.save(out)
    typer.echo(f"{len(s)} images with {targets.shape[1]}-d targets, learned step size "
               f"{float(s.learning_rates[0]):.4g} -> {out}")


@distill_app.command()
def evaluate(
    distilled: Annotated[Path, typer.Argument(help="Distilled-set file (.pt).")],
    data: Data = "fashion-mnist", test_data: Annotated[str | None, typer.Option(
        help="Test set: 'fashion-mnist' (its test split) or an .npz; default: the --data test split.")] = None,
    per_class: PerClass = None, width: Width = 128,
    seeds: Annotated[list[int], typer.Option(help="Evaluation seeds (repeat the option).")] = [0, 1, 2],  # noqa: B006
    epochs: Annotated[int, typer.Option(help="Training epochs per network (per stage for PDD).")] = 300,
    full_accuracy: Annotated[float | None, typer.Option(
        help="Full-data accuracy as a fraction, for HLR and LRS.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the per-seed values as JSON.")] = None,
    device: Device = "auto", quiet: Quiet = False,
):
    """Train fresh networks on the distilled set and on random real subsets; print DD-Ranking's scores."""
    s = DistilledSet.load(distilled)
    images, labels = load_data(data, per_class=per_class)
    if test_data is None:
        if data != "fashion-mnist":
            raise LessdataError("give --test-data for an .npz --data")
        test_data = "fashion-mnist"
    test_images, test_labels = load_data(test_data, split="test")
    with rich_progress(Console(stderr=True), "evaluate", enabled=not quiet) as bar:
        report = evaluate_distilled(s, images, labels, test_images, test_labels,
                                    _factory(images, int(labels.max()) + 1, width), seeds=seeds, epochs=epochs,
                                    full_accuracy=full_accuracy, device=device, progress=bar)
    for key, stats in report.summary().items():
        typer.echo(f"{key:>18}: {stats['mean']:.4f} ± {stats['std']:.4f}  (n={stats['n']})")
    if json_out is not None:
        from .._io import atomic_path

        with atomic_path(json_out) as tmp:
            tmp.write_text(json.dumps(report.values, indent=2))


@distill_app.command()
def info(distilled: Annotated[Path, typer.Argument(help="Distilled-set file (.pt).")]):
    """Print what a distilled-set file holds."""
    s = DistilledSet.load(distilled)
    typer.echo(f"images {tuple(s.images.shape)}, labels {None if s.labels is None else tuple(s.labels.shape)}, "
               f"targets {None if s.targets is None else tuple(s.targets.shape)}, stages {s.num_stages}, "
               f"learning rates {[round(v, 6) for v in s.learning_rates.tolist()]}")
    typer.echo(json.dumps({k: v for k, v in s.provenance.items() if k != "init_indices"}, default=str))
