"""``lessdata robust``: attack a dataset, train with or without a defence, write the measurements as JSON.

    lessdata robust crust --noise 0.5 --epochs 10 -o crust.json             # CRUST on 50% symmetric noise
    lessdata robust crust --noise 0.5 --arm standard -o standard.json       # the same attack, no defence
    lessdata robust epic --poison-rate 0.01 --target 0 -o epic.json          # EPIC against a BadNets backdoor

The lead CLI mounts :data:`robust_app` lazily as the ``robust`` group. Bad input is one ``error:`` line,
exit code 2, and no output file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import LessdataError

robust_app = typer.Typer(
    name="robust",
    help="Training that resists noisy labels (CRUST) and poisoned data (EPIC), measured against real attacks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@robust_app.callback()
def _robust():
    """Training that resists noisy labels (CRUST) and poisoned data (EPIC), measured against real attacks."""


Out = Annotated[Path, typer.Option("--out", "-o", help="Where to write the measurements (.json).",
                                   show_default=False)]
Dataset = Annotated[str, typer.Option(help="fashion-mnist (LeNet) or digits (a small MLP).")]
TrainSize = Annotated[int, typer.Option(help="Training images used (a fixed random subsample).")]
TestSize = Annotated[int, typer.Option(help="Test images used (the first ones).")]
Epochs = Annotated[int, typer.Option(help="Training epochs.")]
Lr = Annotated[float, typer.Option(help="SGD learning rate (momentum 0.9, cosine schedule).")]
Seed = Annotated[int, typer.Option(help="Seed of the attack, the initialisation and the shuffling.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _check_out(path: Path) -> Path:
    if path.suffix.lower() != ".json":
        raise LessdataError(f"output {str(path)!r} must end in .json")
    if path.is_dir():
        raise LessdataError(f"output {path} is a directory")
    if path.parent.exists() and not path.parent.is_dir():
        raise LessdataError(f"cannot write {path}: {path.parent} is not a directory")
    return path


def _write(path: Path, result: dict) -> None:
    from .._io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=1, default=float))


def _run(fn, out: Path, quiet: bool, **kwargs) -> dict:
    from rich.console import Console

    from .._progress import rich_progress

    err = Console(stderr=True)
    with rich_progress(err, "epochs", enabled=not quiet) as bar:
        result = fn(progress=bar, **kwargs)
    _write(out, result)
    return result


@robust_app.command()
def crust(
    out: Out,
    arm: Annotated[str, typer.Option(help="crust, or a comparison: standard, craig, random.")] = "crust",
    noise: Annotated[float, typer.Option(help="Share of training labels flipped, in [0, 1).")] = 0.2,
    noise_type: Annotated[str, typer.Option(help="symmetric or asymmetric.")] = "symmetric",
    fl_ratio: Annotated[float, typer.Option(help="Coreset share of every class, in (0, 1].")] = 0.5,
    radius: Annotated[float, typer.Option(help="CRUST's weight radius r (> 0).")] = 2.0,
    warmup: Annotated[int, typer.Option(help="Epochs on all data before the first coreset.")] = 3,
    dataset: Dataset = "fashion-mnist",
    train_size: TrainSize = 5000,
    test_size: TestSize = 2000,
    epochs: Epochs = 10,
    lr: Lr = 0.05,
    seed: Seed = 0,
    quiet: Quiet = False,
):
    """Flip a share of the labels, train (CRUST by default) and report clean test accuracy and the
    coresets' clean-label share."""
    from .experiments import noisy_label_run

    _check_out(out)
    result = _run(noisy_label_run, out, quiet, arm=arm, dataset=dataset, noise=noise, noise_type=noise_type,
                  train_size=train_size, test_size=test_size, epochs=epochs, warmup=warmup, fl_ratio=fl_ratio,
                  radius=radius, lr=lr, seed=seed)
    share = "" if result["clean_share"] is None else f", coreset clean share {result['clean_share']:.2%}"
    typer.echo(f"{arm}: clean test accuracy {result['final_accuracy']:.2%}{share}; wrote {out}")


@robust_app.command()
def epic(
    out: Out,
    arm: Annotated[str, typer.Option(help="epic, or standard for the undefended comparison.")] = "epic",
    poison_rate: Annotated[float, typer.Option(help="Share of training images given the trigger, in [0, 1).")] = 0.01,
    target: Annotated[int, typer.Option(help="The backdoor's target class.")] = 0,
    trigger_size: Annotated[int, typer.Option(help="Side of the square checkerboard trigger, in pixels.")] = 3,
    subset_size: Annotated[float, typer.Option(help="Medoids per selection, as a share of the data.")] = 0.2,
    subset_freq: Annotated[int, typer.Option(help="Select every this many epochs.")] = 2,
    drop_after: Annotated[int, typer.Option(help="First epoch that may drop points.")] = 3,
    cluster_thresh: Annotated[float, typer.Option(help="Drop clusters of at most this many points.")] = 1.0,
    dataset: Dataset = "fashion-mnist",
    train_size: TrainSize = 5000,
    test_size: TestSize = 2000,
    epochs: Epochs = 10,
    lr: Lr = 0.05,
    seed: Seed = 0,
    quiet: Quiet = False,
):
    """Plant a BadNets backdoor, train (EPIC by default) and report clean accuracy, attack success rate and
    the share of poisons among the dropped points."""
    from .experiments import backdoor_run

    _check_out(out)
    result = _run(backdoor_run, out, quiet, arm=arm, dataset=dataset, poison_rate=poison_rate, target=target,
                  trigger_size=trigger_size, train_size=train_size, test_size=test_size, epochs=epochs,
                  subset_size=subset_size, subset_freq=subset_freq, drop_after=drop_after,
                  cluster_thresh=cluster_thresh, lr=lr, seed=seed)
    dropped = "" if result["dropped_poison_share"] is None else (
        f", dropped {result['dropped']} ({result['dropped_poison_share']:.1%} poisons)")
    typer.echo(f"{arm}: clean accuracy {result['clean_accuracy']:.2%}, attack success "
               f"{result['attack_success_rate']:.2%}{dropped}; wrote {out}")
