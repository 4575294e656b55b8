"""``lessdata demo``: a 10% CRAIG coreset of Fashion-MNIST (or scikit-learn's digits when it is absent).

CRAIG (Mirzasoleiman, Bilmes, Leskovec, ICML 2020) here is per-class facility location on raw pixels
(scaled to [0, 1]) with euclidean similarity ``max(d) − d``; each selected image is weighted by the number
of training images it represents, so the weights sum to the size of the training set.

Examples:
    >>> from lessdata.demo import run_demo
    >>> cs = run_demo(fraction=0.1, seed=0)   # doctest: +SKIP
    >>> len(cs), int(cs.weights.sum())        # doctest: +SKIP
    (6000, 60000)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

import lessdata

from ._progress import rich_progress
from .coreset import Coreset
from .errors import LessdataError


@dataclass
class DemoData:
    """The demo's training set: features scaled to [0, 1], labels, class names and where it came from."""

    name: str
    X: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    note: str


def load_demo_data() -> DemoData:
    """Fashion-MNIST train (60,000 × 784) when its files are found, else scikit-learn digits (1,797 × 64)."""
    from .data import digits, fashion_mnist, fashion_mnist_classes, find_fashion_mnist

    try:
        images_path, _ = find_fashion_mnist(split="train")
        images, labels = fashion_mnist(root=images_path.parent, split="train")
    except LessdataError as exc:
        X, y = digits()
        return DemoData(
            name="scikit-learn digits",
            X=X / np.float32(16.0),
            y=y,
            classes=tuple(str(i) for i in range(10)),
            note=f"using scikit-learn's digits because Fashion-MNIST is not available: {exc}",
        )
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
    return DemoData(
        name="Fashion-MNIST train",
        X=X,
        y=labels,
        classes=tuple(fashion_mnist_classes),
        note=f"Fashion-MNIST found in {images_path.parent}; pixels scaled to [0, 1]",
    )


def weight_table(cs: Coreset) -> Table:
    stats = cs.summary()["weights"]
    table = Table(title="weights", title_justify="left")
    for name in ("min", "mean", "max", "sum"):
        table.add_column(name, justify="right")
    table.add_row(*(f"{stats[name]:,.4g}" if name != "sum" else f"{stats[name]:,.0f}"
                    for name in ("min", "mean", "max", "sum")))
    return table


def run_demo(fraction: float = 0.1, seed: int = 0, console: Console | None = None,
             progress: bool = True) -> Coreset:
    """Select a CRAIG coreset of the demo data, print a summary on ``console`` and return it.

    Args:
        fraction: share of the training set to keep, in ``(0, 1]``.
        seed: random seed (the selection is deterministic for a given seed).
        console: where to print; a new stdout :class:`rich.console.Console` when ``None``.
        progress: draw a progress bar (advanced once per selected example) while selecting.
    """
    from ._validation import resolve_budget

    resolve_budget(2**62, fraction=fraction)  # a bad fraction fails before the data is loaded
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LessdataError(f"seed must be a non-negative integer, got {seed!r}")
    console = console or Console()
    data = load_demo_data()
    console.print(f"[bold]{data.name}[/]: {len(data.X):,} examples × {data.X.shape[1]} features, "
                  f"{len(data.classes)} classes", highlight=False, soft_wrap=True)
    console.print(data.note, markup=False, highlight=False, style="dim", soft_wrap=True)
    with rich_progress(console, "selecting (CRAIG, per class)", enabled=progress) as bar:
        cs = lessdata.select(data.X, fraction=fraction, method="craig", labels=data.y, metric="euclidean",
                             seed=seed, progress=bar)
    print_demo_summary(cs, data, console)
    return cs


def print_demo_summary(cs: Coreset, data: DemoData, console: Console) -> None:
    n = len(data.X)
    console.print(
        f"CRAIG coreset: [bold]{len(cs):,}[/] of {n:,} examples ({len(cs) / n:.1%}), "
        f"objective {cs.objective:,.6g}, selected in [bold]{cs.seconds:.2f} s[/]",
        highlight=False,
        soft_wrap=True,
    )
    part_labels = cs.params.get("partition_labels") or []
    selected = cs.partition_counts()
    class_sizes = dict(zip(*np.unique(data.y, return_counts=True)))
    table = Table(title="per class", title_justify="left")
    for col, justify in (("class", "right"), ("name", "left"), ("selected", "right"), ("of", "right"),
                         ("weight sum", "right")):
        table.add_column(col, justify=justify)
    for part_id, label in enumerate(part_labels):
        mask = cs.partition == part_id
        name = data.classes[int(label)] if 0 <= int(label) < len(data.classes) else str(label)
        table.add_row(str(label), name, f"{selected.get(part_id, 0):,}", f"{int(class_sizes[label]):,}",
                      f"{float(cs.weights[mask].sum()):,.0f}")
    console.print(table)
    console.print(weight_table(cs))
    console.print(f"each selected example stands for the {cs.summary()['weights']['mean']:.3g} examples (on "
                  "average) it is most similar to in its class: train on the coreset with these weights",
                  style="dim", highlight=False)
