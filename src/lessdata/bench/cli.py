"""``lessdata bench``: regenerate the benchmarks from the command line.

    lessdata bench tta --dataset fashion-mnist --model cnn --methods full,random,rs2,craig \\
        --fractions 0.1,0.3 --seeds 3
    lessdata bench tta --quick          # a few-minute version

The lead CLI mounts :data:`bench_app` with ``app.add_typer(bench_app, name="bench")``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import LessdataError

bench_app = typer.Typer(
    name="bench",
    help="Benchmarks: time to accuracy of coreset training against the full data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@bench_app.callback()
def _bench():
    """Benchmarks: time to accuracy of coreset training against the full data."""


def _split(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise LessdataError(f"--{what} is empty; give a comma-separated list")
    return items


def _fractions(text: str) -> list[float]:
    out = []
    for item in _split(text, "fractions"):
        try:
            out.append(float(item))
        except ValueError:
            raise LessdataError(f"--fractions must be numbers in (0, 1), got {item!r}") from None
    return out


def _ints(text: str, what: str) -> list[int]:
    out = []
    for item in _split(text, what):
        try:
            out.append(int(item))
        except ValueError:
            raise LessdataError(f"--{what} must be positive integers, got {item!r}") from None
    return out


@bench_app.command("tta")
def tta(
    dataset: Annotated[str, typer.Option(help="fashion-mnist or digits.")] = "fashion-mnist",
    model: Annotated[str, typer.Option(help="cnn (LeNet, 28x28 images) or mlp.")] = "cnn",
    methods: Annotated[str, typer.Option(help="Comma-separated: full, random, rs2, craig.")] = (
        "full,random,rs2,craig"),
    fractions: Annotated[str, typer.Option(help="Comma-separated coreset fractions in (0, 1).")] = "0.1,0.3",
    seeds: Annotated[int, typer.Option(help="Runs per configuration (seeds 0..N-1).")] = 3,
    epochs: Annotated[int | None, typer.Option(help="Epochs per run (default: per dataset/model).")] = None,  # noqa: UP007
    quick: Annotated[bool, typer.Option("--quick", help="A few-minute version: few epochs, one seed.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for the .md / .png / .json results.")] = Path(
        "benchmarks/results"),
    craig_every: Annotated[str, typer.Option(help="CRAIG reselection periods in epochs.")] = "1,5",
    threads: Annotated[int, typer.Option(help="torch intra-op threads while training.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
):
    """Time to accuracy: full data vs random, RS2 and CRAIG coresets (same epochs), several seeds."""
    from rich.console import Console

    from .._progress import rich_progress
    from .tta import run_tta

    err, console = Console(stderr=True), Console()
    try:
        kwargs = {
            "dataset": dataset, "model": model, "methods": _split(methods, "methods"),
            "fractions": _fractions(fractions), "seeds": seeds, "epochs": epochs, "quick": quick,
            "out_dir": out, "craig_every": _ints(craig_every, "craig-every"), "threads": threads,
            "command": "lessdata bench " + " ".join(sys.argv[sys.argv.index("tta"):])
            if "tta" in sys.argv else None,
        }
        if quiet or not err.is_terminal:
            result = run_tta(**kwargs, log=None if quiet else (lambda line: err.print(line, highlight=False)))
        else:
            with rich_progress(err, "epochs") as bar:
                result = run_tta(**kwargs, progress=bar, log=lambda line: bar.console.print(line))
    except LessdataError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        raise typer.Exit(2) from None
    _print_summary(console, result)


def _print_summary(console, result) -> None:
    from rich.table import Table

    summary = result["summary"]
    drop = summary["target_drop"] * 100
    table = Table(title=f"time to full-data accuracy − {drop:g} point", title_justify="left")
    for name in ("method", "data", "final acc.", "total s", "selection s", "s to target"):
        table.add_column(name, justify="left" if name == "method" else "right")
    for r in summary["rows"]:
        tta = r["seconds_to_target_mean"]
        table.add_row(
            r["label"], "100%" if r["fraction"] is None else f"{r['fraction']:.0%}",
            f"{r['final_accuracy_mean'] * 100:.2f} ± {r['final_accuracy_std'] * 100:.2f}",
            f"{r['total_seconds_mean']:.1f}", f"{r['selection_seconds_mean']:.1f}",
            ("–" if tta is None else f"{tta:.1f}") + f" ({r['reached']}/{r['seeds']})",
        )
    console.print(table)
    for key in ("markdown", "plot", "json"):
        if key in result["files"]:
            console.print(f"{key}: {result['files'][key]}", highlight=False)
