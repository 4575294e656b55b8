"""``lessdata bench``: regenerate the benchmarks from the command line.

    lessdata bench tta --dataset fashion-mnist --model cnn --methods full,random,rs2,craig \\
        --fractions 0.1,0.3 --seeds 3
    lessdata bench tta --quick          # a few-minute version
    lessdata bench tta --methods full,random,craig,crest --label-noise 0.2     # 20% of labels flipped

Seeds as parallel processes, then one report::

    lessdata bench tta --seed-list 0 --name run & lessdata bench tta --seed-list 1,2 --name run & wait
    lessdata bench tta-merge benchmarks/results/run_seeds0.json benchmarks/results/run_seeds1_2.json

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


def _ints(text: str, what: str, once: bool = False) -> list[int | None]:
    out: list[int | None] = []
    for item in _split(text, what):
        if once and item.lower() == "once":
            out.append(None)
            continue
        try:
            out.append(int(item))
        except ValueError:
            kinds = "positive integers or 'once'" if once else "positive integers"
            raise LessdataError(f"--{what} must be {kinds}, got {item!r}") from None
    return out


def _noise(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise LessdataError(f"--label-noise must be a number in [0, 1), got {text!r}") from None


def _command(name: str) -> str | None:
    return "lessdata bench " + " ".join(sys.argv[sys.argv.index(name):]) if name in sys.argv else None


@bench_app.command("tta")
def tta(
    dataset: Annotated[str, typer.Option(help="fashion-mnist or digits.")] = "fashion-mnist",
    model: Annotated[str, typer.Option(help="cnn (LeNet, 28x28 images) or mlp.")] = "cnn",
    methods: Annotated[str, typer.Option(help="Comma-separated: full, random, rs2, craig, crest, adacore, "
                                              "gradmatch, glister, el2n, forgetting, cartography.")] = (
        "full,random,rs2,craig"),
    fractions: Annotated[str, typer.Option(help="Comma-separated coreset fractions in (0, 1).")] = "0.1,0.3",
    seeds: Annotated[int, typer.Option(help="Runs per configuration (seeds 0..N-1).")] = 3,
    epochs: Annotated[int | None, typer.Option(help="Epochs per run (default: per dataset/model).")] = None,  # noqa: UP007
    batch_size: Annotated[int | None, typer.Option(help="Mini-batch size (default: per dataset/model).")] = None,  # noqa: UP007
    quick: Annotated[bool, typer.Option("--quick", help="A few-minute version: few epochs, one seed.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for the .md / .png / .json results.")] = Path(
        "benchmarks/results"),
    craig_every: Annotated[str, typer.Option(help="CRAIG reselection periods in epochs.")] = "1,5",
    every: Annotated[str, typer.Option(help="Reselection periods (epochs, or 'once') of adacore, gradmatch and "
                                            "glister.")] = "5",
    label_noise: Annotated[str, typer.Option(help="Share of training labels flipped to another class, in [0, 1); "
                                                  "the test set stays clean.")] = "0",
    device: Annotated[str | None, typer.Option(help="Train and compute signals here: cpu or cuda.")] = None,  # noqa: UP007
    seed_list: Annotated[str | None, typer.Option(help="Run these seeds (e.g. 1,2) instead of 0..seeds-1; merge the "  # noqa: UP007
                                                       "JSON files of several processes with tta-merge.")] = None,
    train_size: Annotated[int | None, typer.Option(help="Train on a stratified subset of this size.")] = None,  # noqa: UP007
    test_size: Annotated[int | None, typer.Option(help="Evaluate on a stratified subset of this size.")] = None,  # noqa: UP007
    name: Annotated[str | None, typer.Option(help="File stem of the results (default tta_<dataset>_<model>).")] = None,  # noqa: UP007
    threads: Annotated[int, typer.Option(help="torch intra-op threads while training.")] = 1,
    accuracy_targets: Annotated[str | None, typer.Option(help="Fixed test accuracies (e.g. 0.8,0.85) whose "  # noqa: UP007
                                                             "time to reach the report gives per arm.")] = None,
    parallel_processes: Annotated[int, typer.Option(help="Benchmark processes running side by side (this one "
                                                         "included); above 1 the report flags its timings as "
                                                         "not for speed claims.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
):
    """Time to accuracy: full data vs coreset methods (same epochs), several seeds, optional label noise."""
    from rich.console import Console

    from .._progress import rich_progress
    from .config import TtaConfig
    from .tta import run_tta

    err, console = Console(stderr=True), Console()
    try:
        config = TtaConfig(
            dataset=dataset, model=model, methods=_split(methods, "methods"), fractions=_fractions(fractions),
            seeds=seeds, epochs=epochs, batch_size=batch_size, quick=quick,
            craig_every=_ints(craig_every, "craig-every"),
            every=_ints(every, "every", once=True), noise_rate=_noise(label_noise), device=device,
            seed_list=None if seed_list is None else _ints(seed_list, "seed-list"), train_size=train_size,
            test_size=test_size, name=name, threads=threads, parallel_processes=parallel_processes,
            accuracy_targets=[] if accuracy_targets is None else _fractions(accuracy_targets))
        kwargs = {"out_dir": out, "command": _command("tta")}
        if quiet or not err.is_terminal:
            result = run_tta(config, **kwargs, log=None if quiet else (lambda line: err.print(line, highlight=False)))
        else:
            with rich_progress(err, "epochs") as bar:
                result = run_tta(config, **kwargs, progress=bar, log=lambda line: bar.console.print(line))
    except LessdataError as exc:
        _fail(exc)
    _print_summary(console, result)


@bench_app.command("tta-merge")
def tta_merge(
    parts: Annotated[list[Path], typer.Argument(help="The JSON results of the processes (split by seed or arm).")],
    out: Annotated[Path, typer.Option(help="Folder for the merged .md / .png / .json.")] = Path(
        "benchmarks/results"),
    name: Annotated[str | None, typer.Option(help="File stem (default: the parts' name).")] = None,  # noqa: UP007
):
    """Merge the JSON results of `tta --seed-list ...` processes (split by seed, or by method / fraction) into one
    report, as if one process had run them all."""
    from rich.console import Console

    from .merge import merge_files

    try:
        result = merge_files(parts, out, name=name, command=_command("tta-merge"))
    except LessdataError as exc:
        _fail(exc)
    _print_summary(Console(), result)


def _fail(exc: LessdataError):
    print(f"error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
    raise typer.Exit(2) from None


def _print_summary(console, result) -> None:
    from rich.table import Table

    summary = result["summary"]
    drop = summary["target_drop"] * 100
    table = Table(title=f"time to full-data accuracy − {drop:g} point", title_justify="left")
    noisy = any(r.get("noisy_fraction_mean") is not None for r in summary["rows"])
    columns = ["method", "data", "final acc.", "total s", "selection s", "selections", "s to target"]
    for column in columns + (["noisy picks"] if noisy else []):
        table.add_column(column, justify="left" if column == "method" else "right")
    for r in summary["rows"]:
        tta = r["seconds_to_target_mean"]
        cells = [
            r["label"], "100%" if r["fraction"] is None else f"{r['fraction']:.0%}",
            f"{r['final_accuracy_mean'] * 100:.2f} ± {r['final_accuracy_std'] * 100:.2f}",
            f"{r['total_seconds_mean']:.1f}", f"{r['selection_seconds_mean']:.1f}", str(r["selections"]),
            ("–" if tta is None else f"{tta:.1f}") + f" ({r['reached']}/{r['seeds']})",
        ]
        if noisy:
            value = r.get("noisy_fraction_mean")
            cells.append("–" if value is None else f"{value:.1%}")
        table.add_row(*cells)
    console.print(table)
    crest = summary["checks"].get("crest_speedup")
    if crest:
        best = max((e["speedup_vs_full_total"] or 0.0 for e in crest["entries"]), default=0.0)
        detail = f"best {best:.2f}x the full-data training time" if best else "it never reached the target"
        console.print(f"CREST at least 2x faster than full data to the target (selection included): "
                      f"{'met' if crest['met'] else 'not met'} ({detail})", highlight=False)
    for key in ("markdown", "plot", "json"):
        if key in result["files"]:
            console.print(f"{key}: {result['files'][key]}", highlight=False)
