"""``lessdata shaping``: split a training set into fast- and slow-learnable examples, and build USEFUL's
upsampled training set (or a baseline, or the targeted-augmentation epoch) from the split.

    lessdata shaping separate fashion-mnist --limit 10000 --epochs 4 -o sep.npz   # or X.npy --labels y.npy
    lessdata shaping useful sep.npz -o useful.npz                   # slow-learnable examples twice per epoch
    lessdata shaping useful sep.npz --baseline upweight -o w.npz     # or: --baseline random
    lessdata shaping targeted sep.npz -o targeted.npz               # + one augmented copy of each slow example
    lessdata inspect useful.npz                                     # multiplicities per epoch

The lead CLI mounts :data:`shaping_app` lazily as the ``shaping`` group. Bad input is one ``error:`` line and
exit code 2; nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ..errors import LessdataError

shaping_app = typer.Typer(
    name="shaping",
    help="Reshape the training distribution: early-training separation, USEFUL, targeted augmentation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

MODELS = ("auto", "lenet", "mlp")
BASELINES = ("none", "random", "upweight")


@shaping_app.callback()
def _shaping():
    """Reshape the training distribution: early-training separation, USEFUL, targeted augmentation."""


def _check_output(path: Path, suffixes: tuple[str, ...]) -> Path:
    """Fail before any work when ``path`` could not be written."""
    if path.suffix.lower() not in suffixes:
        raise LessdataError(f"output {str(path)!r} must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise LessdataError(f"output {path} is a directory")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise LessdataError(f"cannot write {path}: {parent} is not a writable directory")
    return path


def _load_arrays(data: str, labels: Path | None, limit: int | None):
    if data == "fashion-mnist":
        from ..data import fashion_mnist

        X, y = fashion_mnist()
    else:
        path = Path(data)
        if path.suffix.lower() != ".npy" or not path.is_file():
            raise LessdataError(f"DATA must be 'fashion-mnist' or an existing .npy file, got {data!r}")
        if labels is None:
            raise LessdataError("--labels (a .npy file of integer class ids) is needed with a .npy DATA file")
        if labels.suffix.lower() != ".npy" or not labels.is_file():
            raise LessdataError(f"--labels must be an existing .npy file, got {str(labels)!r}")
        try:
            X, y = np.load(path, allow_pickle=False), np.load(labels, allow_pickle=False)
        except Exception as exc:
            raise LessdataError(f"could not read the arrays ({type(exc).__name__}: {exc})") from None
    if limit is not None:
        if limit < 1:
            raise LessdataError(f"--limit must be a positive integer, got {limit}")
        X, y = X[:limit], y[:limit]
    if X.ndim < 2 or len(X) != len(y) or y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise LessdataError(f"need one row of X per integer label; got X {X.shape} and labels {y.shape} {y.dtype}")
    return X, y


def _model(name: str, X: np.ndarray, num_classes: int):
    from ..models import MLP, LeNet

    image = X.shape[1:] in ((28, 28), (1, 28, 28), (784,))
    if name == "auto":
        name = "lenet" if image else "mlp"
    if name == "lenet":
        if not image:
            raise LessdataError(f"--model lenet needs 28x28 images, got rows of shape {X.shape[1:]}")
        return LeNet(num_classes)
    return MLP(in_features=int(np.prod(X.shape[1:])), num_classes=num_classes)


@shaping_app.command()
def separate(
    data: Annotated[str, typer.Argument(help="'fashion-mnist' (the local copy) or an X .npy file.",
                                        show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the separation (.npz).",
                                      show_default=False)],
    labels: Annotated[Path | None, typer.Option(help="Integer class ids (.npy), with an X .npy file.")] = None,
    epochs: Annotated[int, typer.Option(help="Length of the early training run.")] = 8,
    epoch: Annotated[str, typer.Option(help="Epoch (0-based) whose outputs are clustered, or 'auto'.")] = "auto",
    model: Annotated[str, typer.Option(help="auto, lenet (28x28 images) or mlp.")] = "auto",
    lr: Annotated[float, typer.Option(help="SGD learning rate.")] = 0.05,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    limit: Annotated[int | None, typer.Option(help="Use only the first N examples.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
):
    """Train briefly, then split every class into fast- and slow-learnable examples (k-means, k = 2)."""
    from rich.console import Console

    from .._progress import rich_progress
    from ..data.torch_data import ArrayDataset
    from .separation import early_separation

    out = _check_output(out, (".npz",))
    if model not in MODELS:
        raise LessdataError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")
    if epochs < 1:
        raise LessdataError(f"--epochs must be a positive integer, got {epochs}")
    if epoch != "auto":
        try:
            epoch = int(epoch)
        except ValueError:
            raise LessdataError(f"--epoch must be an integer or 'auto', got {epoch!r}") from None
        if not 0 <= epoch < epochs:
            raise LessdataError(f"separation epoch {epoch} is beyond the run of {epochs} epoch(s) (0 to {epochs - 1})")
    X, y = _load_arrays(data, labels, limit)
    counts = np.bincount(y) if len(y) and y.min() >= 0 else None
    if counts is None:
        raise LessdataError("labels must be non-negative integer class ids")
    small = [c for c in range(len(counts)) if 0 < counts[c] < 2]
    if small:
        raise LessdataError(f"class {small[0]} has {counts[small[0]]} example(s): too small to split into fast- and "
                            f"slow-learnable parts (needs at least 2)")
    net = _model(model, X, int(y.max()) + 1)
    err = Console(stderr=True)
    with rich_progress(err, "early training", enabled=not quiet) as bar:
        sep = early_separation(net, ArrayDataset(X, y), epochs=epochs, epoch=epoch, seed=seed, lr=lr,
                               batch_size=batch_size, progress=bar)
    sep.save(out)
    summary = sep.summary()
    Console().print(f"separated at epoch {sep.epoch}: {summary['slow']:,} of {summary['n']:,} examples "
                    f"({summary['slow_fraction']:.1%}) are slow-learnable; written to {out}", highlight=False)


@shaping_app.command()
def useful(
    separation: Annotated[Path, typer.Argument(help="A separation written by `lessdata shaping separate`.",
                                               show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the Coreset (.npz or .parquet).",
                                      show_default=False)],
    factor: Annotated[int, typer.Option(help="Extra copies of each slow-learnable example per epoch.")] = 1,
    baseline: Annotated[str, typer.Option(
        help="none (USEFUL), random (upsample the same count at random) or upweight (loss weight instead).")] = "none",
    weight: Annotated[float, typer.Option(help="Loss weight of slow-learnable examples for --baseline upweight.")]
    = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed of --baseline random.")] = 0,
):
    """USEFUL's training set: every example once, each slow-learnable one 1 + FACTOR times per epoch."""
    from rich.console import Console

    from .separation import Separation
    from .useful import loss_upweighting, random_upsampling, useful_coreset

    out = _check_output(out, (".npz", ".parquet"))
    if baseline not in BASELINES:
        raise LessdataError(f"unknown baseline {baseline!r}; choose one of: {', '.join(BASELINES)}")
    sep = Separation.load(separation)
    if baseline == "none":
        coreset = useful_coreset(sep, factor)
    elif baseline == "random":
        coreset = random_upsampling(sep.n, int(sep.slow.sum()), factor, seed=seed, labels=sep.labels)
    else:
        coreset = loss_upweighting(sep, weight)
    coreset.save(out)
    Console().print(f"{coreset!r} written to {out}", highlight=False, markup=False)


@shaping_app.command()
def targeted(
    separation: Annotated[Path, typer.Argument(help="A separation written by `lessdata shaping separate`.",
                                               show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the Coreset (.npz or .parquet).",
                                      show_default=False)],
):
    """The targeted-augmentation epoch over the data plus its augmented copies (indices n + i are copies)."""
    from rich.console import Console

    from .separation import Separation
    from .targeted import targeted_augmentation

    out = _check_output(out, (".npz", ".parquet"))
    coreset = targeted_augmentation(Separation.load(separation))
    coreset.save(out)
    Console().print(f"{coreset!r} written to {out}", highlight=False, markup=False)
