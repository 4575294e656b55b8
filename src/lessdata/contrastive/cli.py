"""``lessdata contrastive``: train a small SimCLR and write the embeddings contrastive selection methods read.

    lessdata contrastive train-simclr fashion-mnist --epochs 20 --out simclr.pt     # + linear-probe accuracy
    lessdata contrastive embed simclr.pt fashion-mnist --augmentations 4 --out emb.npy
    lessdata select emb.npy --method sas --fraction 0.2 -o coreset.npz
    lessdata contrastive train-simclr fashion-mnist --subset coreset.npz --out simclr_sas.pt

IMAGES is ``fashion-mnist`` (the local training split) or an ``.npy`` file of images (``(n, H, W)``,
``(n, C, H, W)`` or flat square ``(n, H*W)``; uint8 is scaled to [0, 1]). The lead CLI mounts
:data:`contrastive_app` lazily as the ``contrastive`` group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ..errors import LessdataError

FASHION_MNIST = "fashion-mnist"

contrastive_app = typer.Typer(
    name="contrastive",
    help="Contrastive pre-training for data selection: train a small SimCLR, embed images for SAS and others.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@contrastive_app.callback()
def _contrastive():
    """Contrastive pre-training for data selection: train a small SimCLR, embed images for SAS and others."""


ImagesArg = Annotated[str, typer.Argument(help="'fashion-mnist' or an .npy file of images.")]
Limit = Annotated[int | None, typer.Option(help="Use only the first N images.")]
Device = Annotated[str, typer.Option(help="cpu, cuda, cuda:1...")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def read_images(images: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(images, labels or None)`` from ``"fashion-mnist"`` (training split) or an ``.npy`` file."""
    if limit is not None and limit < 2:
        raise LessdataError(f"--limit must be at least 2, got {limit}")
    if images == FASHION_MNIST:
        from ..data import fashion_mnist

        X, y = fashion_mnist(split="train")
    else:
        path = Path(images)
        if path.suffix.lower() != ".npy":
            raise LessdataError(f"IMAGES must be {FASHION_MNIST!r} or an .npy file, got {images!r}")
        if not path.is_file():
            raise LessdataError(f"no such file: {path}")
        try:
            X = np.load(path, allow_pickle=False)
        except ValueError as exc:  # object arrays, a corrupt header
            raise LessdataError(f"{path} is not a readable .npy array ({exc})") from None
        y = None
    if limit is not None:
        X = X[:limit]
        y = None if y is None else y[:limit]
    return X, y


def _check_device(name: str):
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise LessdataError(f"unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LessdataError("--device cuda but no CUDA GPU is available")
    return device


def _check_out(path: Path, suffix: str) -> Path:
    if path.suffix.lower() != suffix:
        raise LessdataError(f"--out {str(path)!r} must end in {suffix}")
    if path.is_dir():
        raise LessdataError(f"--out {path} is a directory")
    return path


@contrastive_app.command("train-simclr")
def train_simclr_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to save the trained model (.pt).",
                                      show_default=False)],
    images: ImagesArg = FASHION_MNIST,
    subset: Annotated[Path | None, typer.Option(
        help="Train only on this coreset (.npz/.parquet from `lessdata select`), with its weights.")] = None,
    weighted: Annotated[bool, typer.Option(help="Weight each subset example's loss by its coreset weight.")] = True,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Images per batch (two views each).")] = 512,
    lr: Annotated[float, typer.Option(help="AdamW learning rate (cosine schedule).")] = 2e-3,
    temperature: Annotated[float, typer.Option(help="NT-Xent temperature.")] = 0.5,
    width: Annotated[int, typer.Option(help="Encoder width (features: 4 x width).")] = 32,
    probe: Annotated[bool, typer.Option(
        help="With fashion-mnist: report the linear-probe accuracy on the test split.")] = True,
    limit: Limit = None,
    device: Device = "cpu",
    seed: Annotated[int, typer.Option(help="Random seed (initialisation, order, augmentations).")] = 0,
    quiet: Quiet = False,
):
    """Train SimCLR (Chen et al., 2020) from scratch on IMAGES, or on a coreset of them, and save the model."""
    from rich.console import Console

    from .._progress import rich_progress
    from ..coreset import Coreset
    from .checkpoint import save_model
    from .simclr import linear_probe, train_simclr

    out = _check_out(out, ".pt")
    device = _check_device(device)
    if seed < 0:
        raise LessdataError(f"--seed must be non-negative, got {seed}")
    X, y = read_images(images, limit)
    chosen, weights = None, None
    if subset is not None:
        coreset = Coreset.load(subset)
        if coreset.n is not None and coreset.n != len(X):
            raise LessdataError(f"the coreset was selected from {coreset.n} examples but IMAGES has {len(X)}")
        chosen, weights = coreset, (coreset.weights if weighted else None)
    with rich_progress(Console(stderr=True), "training SimCLR", enabled=not quiet) as bar:
        run = train_simclr(X, subset=chosen, weights=weights, epochs=epochs, batch_size=batch_size, lr=lr,
                           temperature=temperature, width=width, device=device, seed=seed, progress=bar)
    save_model(run.model, out)
    console = Console()
    console.print(f"trained on [bold]{run.n_train:,}[/] images for {epochs} epochs ({run.steps} steps) in "
                  f"{run.seconds:.1f} s; loss {run.losses[0]:.3f} -> {run.losses[-1]:.3f}", highlight=False)
    if probe and images == FASHION_MNIST:
        from ..data import fashion_mnist

        test = fashion_mnist(split="test")
        accuracy = linear_probe(run.encoder, (X, y), test)
        console.print(f"linear-probe accuracy on the Fashion-MNIST test split: [bold]{accuracy:.4f}[/]",
                      highlight=False)
    console.print(f"model written to {out}", soft_wrap=True, highlight=False, markup=False)


@contrastive_app.command()
def embed(
    model: Annotated[Path, typer.Argument(help="A model saved by `lessdata contrastive train-simclr` (.pt).",
                                          show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the N x d embeddings (.npy).",
                                      show_default=False)],
    images: ImagesArg = FASHION_MNIST,
    augmentations: Annotated[int, typer.Option(
        help="Average the features of this many augmented views per image (SAS's proxy; 0: the plain image).")] = 0,
    batch_size: Annotated[int, typer.Option(help="Images per encoder batch.")] = 1024,
    limit: Limit = None,
    device: Device = "cpu",
    seed: Annotated[int, typer.Option(help="Random seed of the augmentations.")] = 0,
):
    """Embed IMAGES with a saved model's image encoder (the input of `lessdata select --method sas`)."""
    from rich.console import Console

    from .._io import atomic_path
    from .checkpoint import load_model
    from .simclr import embed as embed_images

    out = _check_out(out, ".npy")
    encoder = load_model(model, _check_device(device))
    X, _ = read_images(images, limit)
    emb = embed_images(encoder, X, augmentations=augmentations, batch_size=batch_size, seed=seed)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, emb)
    Console().print(f"embedded {emb.shape[0]:,} images ({emb.shape[1]} dimensions); written to {out}",
                    soft_wrap=True, highlight=False, markup=False)


@contrastive_app.command()
def safeclip(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the measurements (.json).",
                                      show_default=False)],
    attack: Annotated[str, typer.Option(help="targeted (target images with adversarial captions) or backdoor "
                                             "(trigger patch + captions naming the target class).")] = "targeted",
    arm: Annotated[str, typer.Option(help="safeclip, or clip for the undefended comparison.")] = "safeclip",
    train_size: Annotated[int, typer.Option(help="Fashion-MNIST training images (with generated captions).")] = 2000,
    test_size: Annotated[int, typer.Option(help="Test images for zero-shot accuracy.")] = 1000,
    epochs: Annotated[int, typer.Option(help="Epochs in all (SafeCLIP: unimodal + 1 CLIP warm-up + filtering).")] = 8,
    unimodal_epochs: Annotated[int, typer.Option(help="SafeCLIP's unimodal warm-up epochs.")] = 2,
    n_targets: Annotated[int, typer.Option(help="Targeted attack: number of target images.")] = 5,
    n_poisons: Annotated[int, typer.Option(help="Targeted attack: poisoned pairs per target.")] = 10,
    poison_rate: Annotated[float, typer.Option(help="Backdoor: share of training images poisoned, in [0, 1).")] = 0.01,
    target: Annotated[int, typer.Option(help="Backdoor: the target class.")] = 0,
    trigger_size: Annotated[int, typer.Option(help="Backdoor: side of the checkerboard trigger in pixels.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Pairs per batch.")] = 128,
    device: Device = "cpu",
    seed: Annotated[int, typer.Option(help="Seed of the attack, the initialisation and the batches.")] = 0,
    quiet: Quiet = False,
):
    """Poison captioned Fashion-MNIST, pre-train a tiny CLIP (SafeCLIP by default) and report attack success
    and zero-shot accuracy."""
    import json

    from rich.console import Console

    from .._io import atomic_path
    from .._progress import rich_progress
    from .poisoning import clip_poisoning_run

    out = _check_out(out, ".json")
    err = Console(stderr=True)
    with rich_progress(err, "epochs", enabled=not quiet) as bar:
        result = clip_poisoning_run(arm, attack, train_size=train_size, test_size=test_size, epochs=epochs,
                                    unimodal_epochs=unimodal_epochs, n_targets=n_targets, n_poisons=n_poisons,
                                    poison_rate=poison_rate, target=target, trigger_size=trigger_size,
                                    batch_size=batch_size, seed=seed, device=_check_device(device), progress=bar)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=1, default=float))
    Console().print(f"{arm} under the {attack} attack: attack success {result['attack_success_rate']:.2%}, "
                    f"zero-shot accuracy {result['zero_shot_accuracy']:.2%}; written to {out}",
                    soft_wrap=True, highlight=False, markup=False)
