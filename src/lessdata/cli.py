"""The ``lessdata`` command: select, inspect and demo weighted coresets.

    lessdata select train.parquet --labels label --fraction 0.1 -o coreset.npz
    lessdata select --method clipcov --image-emb A.npy --text-emb B.npy --fraction 0.3 --out coreset.npz
    lessdata inspect coreset.npz
    lessdata methods
    lessdata demo
    lessdata bench tta --quick      (lessdata.bench.cli, mounted here lazily)

Bad input (a :class:`~lessdata.errors.LessdataError`, a missing or unreadable file, a bad option) prints one
line ``error: <message>`` on stderr and exits with code 2, and no output file is written. The commands are
thin: the work is done by :func:`lessdata.select`, :class:`lessdata.Coreset` and :mod:`lessdata.demo`.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from . import __version__
from .cli_inputs import (  # noqa: F401  (OUTPUT_SUFFIXES: importable from here, as before)
    OUTPUT_SUFFIXES,
    check_embedding_options,
    check_file_exists,
    check_named_choices,
    check_output,
    one_line,
    parse_params,
    parse_part_budgets,
    precheck_budget,
    read_embeddings,
    read_input,
    set_backend,
    show_logs,
)
from .errors import LessdataError

CLI_METRICS = ("euclidean", "cosine", "rbf")  # "precomputed" needs a similarity matrix: Python API only
EXIT_BAD_INPUT = 2


# ------------------------------------------------------------------------------------------ error handling
def _click_class(name: str) -> type:
    # recent typer vendors click as typer._click, older typer uses click itself: find the classes by MRO
    return next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == name)


_UsageError = _click_class("UsageError")
_ClickException = _click_class("ClickException")


def _fail(message: str, code: int = EXIT_BAD_INPUT):
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)
    sys.exit(code)


def _os_message(exc: OSError) -> str:
    if exc.filename is not None:
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return str(exc) or type(exc).__name__


# sub-command groups that live elsewhere, imported only when used (or listed by --help)
_LAZY_GROUPS = {"bench": ("lessdata.bench.cli", "bench_app"), "llm": ("lessdata.llm.cli", "llm_app"),
                "robust": ("lessdata.robust.cli", "robust_app"),
                "contrastive": ("lessdata.contrastive.cli", "contrastive_app"),
                "distill": ("lessdata.distill.cli", "distill_app"),
                "shaping": ("lessdata.shaping.cli", "shaping_app")}


class _Group(TyperGroup):
    """Runs the commands non-standalone so that every user error becomes one ``error:`` line and exit 2,
    whether it comes from option parsing or from lessdata itself (no usage box, no traceback)."""

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in _LAZY_GROUPS:
            module, attr = _LAZY_GROUPS[cmd_name]
            cmd = typer.main.get_group(getattr(importlib.import_module(module), attr))
            cmd.name = cmd_name
            self.add_command(cmd, cmd_name)
        return cmd

    def list_commands(self, ctx):
        names = list(super().list_commands(ctx))
        return names + [name for name in _LAZY_GROUPS if name not in names]

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except _UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `lessdata`: show the help, not an error
                print(exc.format_message())
                sys.exit(0)
            _fail(exc.format_message())
        except _ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except typer.Abort:
            _fail("aborted", 1)
        except LessdataError as exc:
            _fail(str(exc))
        except (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
                NotADirectoryError) as exc:
            _fail(_os_message(exc))
        except OSError as exc:  # disk full, I/O error: not the user's input, but still one line
            _fail(_os_message(exc), 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=_Group,
    name="lessdata",
    help="Select small weighted subsets of a training set (coresets) that train nearly as well as all of it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


# ------------------------------------------------------------------------------------------------ helpers
def _print_fields(console: Console, rows: list[tuple[str, str]]) -> None:
    """Aligned ``key  value`` lines, never truncated or wrapped (paths stay copy-pasteable)."""
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        console.print(f"{key:<{width}}  {value}", soft_wrap=True, markup=False, highlight=False)


def _label_name(part_id: int, part_labels: list) -> str:
    return str(part_labels[part_id]) if 0 <= part_id < len(part_labels) else str(part_id)


def _format_number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:,.6g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# ---------------------------------------------------------------------------------------------- commands
def _version(value: bool):
    if value:
        print(f"lessdata {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
):
    """Select small weighted subsets of a training set (coresets) that train nearly as well as all of it."""


@app.command()
def select(
    output: Annotated[Path, typer.Option(
        "--output", "--out", "-o", help="Where to write the Coreset (.npz or .parquet).", show_default=False)],
    input: Annotated[Path | None, typer.Argument(
        help="Features: a .npy, .npz, .parquet or .csv file (or --image-emb).", show_default=False)] = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", "-l", help="Labels: a column of INPUT (an array name in a .npz) or a separate file "
        "(.npy/.npz/.csv/.parquet/.txt). Partitioned methods select per label.")] = None,
    features: Annotated[str | None, typer.Option(
        help="Feature columns of a table, comma-separated (default: every numeric column but the "
        "labels).")] = None,
    method: Annotated[str, typer.Option(
        "--method", "-m", help="Selection method (see `lessdata methods`).")] = "craig",
    fraction: Annotated[float | None, typer.Option(
        "--fraction", "-f", help="Share of the points to keep, in (0, 1].")] = None,
    budget: Annotated[int | None, typer.Option("--budget", "-b", help="Number of points to keep.")] = None,
    budget_per_part: Annotated[str | None, typer.Option(
        help="Explicit per-label budgets, LABEL=COUNT,... (partitioned methods).")] = None,
    metric: Annotated[str | None, typer.Option(
        help=f"Similarity: {', '.join(CLI_METRICS)} (default: the method's).")] = None,
    optimizer: Annotated[str | None, typer.Option(
        help="Greedy optimizer: naive, lazy, stochastic, lazier_than_lazy, random_greedy "
        "(default: the method's).")] = None,
    epsilon: Annotated[float | None, typer.Option(
        help="Accuracy of the stochastic / lazier-than-lazy optimizers.")] = None,
    budget_policy: Annotated[str | None, typer.Option(
        help="How a total budget is split over labels: proportional or equal (default: the method's).",
    )] = None,
    seed: Annotated[int, typer.Option(
        help="Random seed; the same input and seed give the same Coreset.")] = 0,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="Extra method parameter KEY=VALUE (repeatable), e.g. n_neighbors=32.")] = None,
    backend: Annotated[str, typer.Option(
        help="Where the parts (or GreeDi shards) run: local (this process) or ray (a Ray cluster; "
        "pip install 'lessdata[ray]').")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster for --backend ray: auto, HOST:PORT or ray://HOST:10001 (default: RAY_ADDRESS, "
        "else a new local Ray instance).")] = None,
    image_emb: Annotated[Path | None, typer.Option(
        "--image-emb", help="Image embeddings (n, d) of image-text pairs, instead of INPUT (clipcov, "
        "clip_score, c_rho; any embedding method).", show_default=False)] = None,
    text_emb: Annotated[Path | None, typer.Option(
        "--text-emb", help="Caption embeddings (n, d), row i = the caption of image i (clipcov, clip_score, "
        "c_rho).", show_default=False)] = None,
    partial_image_emb: Annotated[Path | None, typer.Option(
        "--partial-image-emb", help="c_rho: image embeddings from the partially trained model (n, d').",
        show_default=False)] = None,
    partial_text_emb: Annotated[Path | None, typer.Option(
        "--partial-text-emb", help="c_rho: caption embeddings from the partially trained model (n, d').",
        show_default=False)] = None,
    class_prompts: Annotated[Path | None, typer.Option(
        "--class-prompts", help="sas / sas_rank / clipcov: class-name prompt embeddings (classes, templates, d) "
        "or (classes, d), .npy/.npz: zero-shot latent classes.", show_default=False)] = None,
    query: Annotated[Path | None, typer.Option(
        "--query", help="targeted: the rows to select for (.npy/.npz/.parquet/.csv), with the features' width.",
        show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or log messages.")] = False,
):
    """Select a weighted coreset of the rows of INPUT and write it to OUTPUT.

    INPUT may also be a folder of signal shards written by lessdata.signals.pipeline.compute_signals.
    Image-text methods read the pairs' embeddings instead: --image-emb A.npy --text-emb B.npy (row i of
    both is one pair), plus --partial-image-emb / --partial-text-emb for c_rho. Targeted selection reads its
    query rows from --query FILE."""
    import lessdata

    from ._progress import rich_progress
    from .methods import get_method

    output = check_output(output)
    precheck_budget(fraction, budget, budget_per_part)
    cls = get_method(method)
    params = parse_params(param or [])
    named = {"metric": metric, "optimizer": optimizer, "epsilon": epsilon, "budget_policy": budget_policy}
    for key, value in named.items():
        if value is None:
            continue  # only what the user gave: methods such as random / rs2 take no metric
        if key in params:
            raise LessdataError(f"--{key.replace('_', '-')} and --param {key}= are both given")
        params[key] = value
    if metric is not None and metric not in CLI_METRICS:
        raise LessdataError(f"unknown metric {metric!r}; choose one of: {', '.join(CLI_METRICS)}")
    check_named_choices(optimizer, budget_policy)
    set_backend(params, cls, method, backend, address)
    embedding_files = {"text": text_emb, "partial_image": partial_image_emb, "partial_text": partial_text_emb,
                       "class_prompts": class_prompts, "query": query}
    check_embedding_options(cls, method, params, input, image_emb, embedding_files)
    cls(**params)  # reject unknown parameters before reading the data

    err = Console(stderr=True)
    if image_emb is not None:
        check_file_exists(image_emb, "--image-emb")
        X, y = read_input(image_emb, features, labels)
    else:
        X, y = read_input(input, features, labels)
    params.update(read_embeddings(X, embedding_files, "--image-emb" if image_emb is not None else "INPUT"))
    if budget_per_part is not None:
        budget = parse_part_budgets(budget_per_part, y)
    if backend == "ray":  # after the input is read and checked: a bad file fails before any connection
        from .backends.ray import connect

        connect(address)
    with show_logs(err, quiet), rich_progress(err, f"selecting ({method})", enabled=not quiet) as bar:
        cs = lessdata.select(X, fraction=fraction, budget=budget, method=method, labels=y, seed=seed,
                             progress=bar, **params)
    cs.save(output)

    out = Console()
    share = f" ({len(cs) / cs.n:.1%})" if cs.n else ""
    out.print(f"selected [bold]{len(cs):,}[/] of {cs.n:,} points{share} with {cs.method}", highlight=False)
    rows = [("objective", _format_number(cs.objective)), ("seconds", f"{cs.seconds:.3f}"),
            ("weight sum", _format_number(float(cs.weights.sum())))]
    if cs.partition is not None:
        rows.append(("parts", f"{len(cs.params.get('partition_labels') or cs.partition_counts())}"))
    rows.append(("written to", str(output)))
    _print_fields(out, rows)


@app.command("methods")
def list_methods():
    """List the registered selection methods, what each reads (its signals) and what the signals are."""
    from . import methods
    from .methods import get_method
    from .methods.registry import SIGNAL_VALUES, SIGNALS, expected_input

    table = Table("method", "reads", "description", title="lessdata methods", title_justify="left")
    for name, description in methods().items():
        table.add_row(name, expected_input(get_method(name)), description)
    signals = Table("signal", "what it is", title="signals (the first one a method reads is X)",
                    title_justify="left")
    for name, text in SIGNALS.items():
        values = SIGNAL_VALUES.get(name)
        signals.add_row(name, f"{text}: {values.describe()}" if values is not None else text)
    console = Console()
    console.print(table)
    console.print(signals)


def _json_safe(value):
    """``value`` with every NaN / infinity (at any depth) as null: bare NaN is not JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def inspect_summary(cs) -> dict[str, Any]:
    """``Coreset.summary()`` with per-part counts keyed by the original labels (what ``inspect`` shows)."""
    summary = cs.summary()
    params = dict(summary["params"])
    part_labels = params.pop("partition_labels", None) or []
    summary["params"] = params
    summary["partition_counts"] = {
        _label_name(part_id, part_labels): count for part_id, count in summary["partition_counts"].items()
    }
    return summary


@app.command()
def inspect(
    coreset: Annotated[Path, typer.Argument(
        help="A Coreset file written by `lessdata select` (.npz or .parquet).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
):
    """Describe a saved Coreset: size, method, parameters, weights and per-part counts."""
    from .coreset import Coreset

    if not coreset.is_file():
        raise LessdataError(f"coreset file not found: {coreset}")
    cs = Coreset.load(coreset)
    summary = inspect_summary(cs)
    if as_json:
        print(json.dumps(_json_safe(summary), indent=2, default=str, allow_nan=False))
        return
    out = Console()
    rows = []
    for key in ("method", "size", "n", "fraction", "seed", "objective", "seconds"):
        value = summary[key]
        text = f"{value:.2%}" if key == "fraction" and value is not None else _format_number(value)
        rows.append((key, text))
    rows.append(("params", ", ".join(f"{k}={v}" for k, v in sorted(summary["params"].items())) or "-"))
    out.print(str(coreset), style="bold", soft_wrap=True, markup=False, highlight=False)
    _print_fields(out, rows)
    weights = Table("min", "mean", "max", "sum", title="weights", title_justify="left")
    stats = summary["weights"]
    weights.add_row(*(_format_number(stats[k]) for k in ("min", "mean", "max", "sum")))
    out.print(weights)
    if summary["epoch_size"] != summary["size"]:  # repeat-aware (e.g. USEFUL): how often each example is seen
        repeats = Table("multiplicity", "examples", title=f"per epoch: {summary['epoch_size']:,} visits",
                        title_justify="left")
        for multiplicity, count in summary["multiplicities"].items():
            repeats.add_row(f"{multiplicity}", f"{count:,}")
        out.print(repeats)
    if summary["partition_counts"]:
        parts = Table("label", "selected", title="per part", title_justify="left")
        for label, count in summary["partition_counts"].items():
            parts.add_row(label, f"{count:,}")
        out.print(parts)


@app.command()
def demo(
    fraction: Annotated[float, typer.Option(
        "--fraction", "-f", help="Share of the training set to keep.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Also save the Coreset (.npz or .parquet).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or log messages.")] = False,
):
    """CRAIG coreset of Fashion-MNIST train (or scikit-learn digits when Fashion-MNIST is not installed)."""
    from .demo import run_demo

    if output is not None:
        check_output(output)
    with show_logs(Console(stderr=True), quiet):
        cs = run_demo(fraction=fraction, seed=seed, console=Console(), progress=not quiet)
    if output is not None:
        cs.save(output)
        Console().print(f"written to {output}", highlight=False)


def main() -> None:
    """Entry point of the ``lessdata`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
