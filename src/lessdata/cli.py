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

import contextlib
import importlib
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from typer.core import TyperGroup

from . import __version__
from .errors import LessdataError

OUTPUT_SUFFIXES = (".npz", ".parquet")
CLI_METRICS = ("euclidean", "cosine", "rbf")  # "precomputed" needs a similarity matrix: Python API only
EXIT_BAD_INPUT = 2


# ------------------------------------------------------------------------------------------ error handling
def _click_class(name: str) -> type:
    # recent typer vendors click as typer._click, older typer uses click itself: find the classes by MRO
    return next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == name)


_UsageError = _click_class("UsageError")
_ClickException = _click_class("ClickException")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str, code: int = EXIT_BAD_INPUT):
    print(f"error: {_one_line(message)}", file=sys.stderr, flush=True)
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
@contextlib.contextmanager
def _show_logs(console: Console, quiet: bool):
    """Show the "lessdata" logger's INFO messages (e.g. the switch to a sparse kNN graph) on ``console``;
    ``quiet`` shows errors only."""
    logger = logging.getLogger("lessdata")
    level = logging.ERROR if quiet else logging.INFO
    handler = RichHandler(console=console, level=level, show_time=False, show_path=False, markup=False)
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # shown here once, not again by a root handler
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def _check_output(path: Path) -> Path:
    """Fail before any work when the Coreset could not be written to ``path``."""
    if path.is_dir():
        raise LessdataError(f"output {path} is a directory")
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise LessdataError(f"output {str(path)!r} must end in {' or '.join(OUTPUT_SUFFIXES)}")
    parent = path.absolute().parent
    while not parent.exists():  # atomic_path creates missing folders; the first existing one must be a folder
        parent = parent.parent
    if not parent.is_dir():
        raise LessdataError(f"cannot write {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK):
        raise LessdataError(f"cannot write {path}: no permission to write in {parent}")
    return path


def _parse_value(text: str) -> Any:
    """``--param`` values: int, float, true/false, none/null, a JSON list/object, or else the string."""
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if text.strip()[:1] in "[{" and text.strip():
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(text)
    return text


def _parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LessdataError(f"--param expects KEY=VALUE, got {item!r}")
        if key in params:
            raise LessdataError(f"--param {key} is given twice")
        params[key] = _parse_value(value.strip())
    return params


def _parse_part_budgets(text: str, labels) -> dict:
    """``LABEL=COUNT,...`` → ``{label: count}`` with the labels as they appear in the data."""
    import numpy as np

    if labels is None:
        raise LessdataError("--budget-per-part needs --labels (or labels in the input file)")
    plain = [label.item() if isinstance(label, np.generic) else label for label in np.unique(labels)]
    by_name = {str(label): label for label in plain}
    budgets = {}
    for item in text.split(","):
        name, sep, count = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise LessdataError(f"--budget-per-part expects LABEL=COUNT,..., got {item.strip()!r}")
        if name not in by_name:
            known = ", ".join(list(by_name)[:20]) + (", ..." if len(by_name) > 20 else "")
            raise LessdataError(f"--budget-per-part names label {name!r}, not in the labels ({known})")
        try:
            value = int(count)
        except ValueError:
            raise LessdataError(f"--budget-per-part count {count!r} for {name!r} is not an integer") from None
        label = by_name[name]
        if label in budgets:
            raise LessdataError(f"--budget-per-part gives label {name!r} twice")
        budgets[label] = value
    if sum(budgets.values()) < 1:
        raise LessdataError("--budget-per-part must select at least one point in total")
    return budgets


def _precheck_budget(fraction, budget, per_part) -> None:
    """Fail before reading the data when the budget options cannot work whatever the data is."""
    from ._validation import resolve_budget

    options = (("--fraction", fraction), ("--budget", budget), ("--budget-per-part", per_part))
    given = [name for name, value in options if value is not None]
    if len(given) != 1:
        raise LessdataError(
            "give exactly one of --fraction, --budget or --budget-per-part"
            + (f" (got {' and '.join(given)})" if given else "")
        )
    if per_part is None:
        resolve_budget(2**62, fraction=fraction, budget=budget)  # range checks; "more than n" comes later


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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or log messages.")] = False,
):
    """Select a weighted coreset of the rows of INPUT and write it to OUTPUT.

    INPUT may also be a folder of signal shards written by lessdata.signals.pipeline.compute_signals.
    Image-text methods read the pairs' embeddings instead: --image-emb A.npy --text-emb B.npy (row i of
    both is one pair), plus --partial-image-emb / --partial-text-emb for c_rho."""
    import lessdata

    from ._progress import rich_progress
    from .methods import get_method

    output = _check_output(output)
    _precheck_budget(fraction, budget, budget_per_part)
    cls = get_method(method)
    params = _parse_params(param or [])
    named = {"metric": metric, "optimizer": optimizer, "epsilon": epsilon, "budget_policy": budget_policy}
    for key, value in named.items():
        if value is None:
            continue  # only what the user gave: methods such as random / rs2 take no metric
        if key in params:
            raise LessdataError(f"--{key.replace('_', '-')} and --param {key}= are both given")
        params[key] = value
    if metric is not None and metric not in CLI_METRICS:
        raise LessdataError(f"unknown metric {metric!r}; choose one of: {', '.join(CLI_METRICS)}")
    _check_named_choices(optimizer, budget_policy)
    _set_backend(params, cls, method, backend, address)
    embedding_files = {"text": text_emb, "partial_image": partial_image_emb, "partial_text": partial_text_emb,
                       "class_prompts": class_prompts}
    _check_embedding_options(cls, method, params, input, image_emb, embedding_files)
    cls(**params)  # reject unknown parameters before reading the data

    err = Console(stderr=True)
    if image_emb is not None:
        _check_file_exists(image_emb, "--image-emb")
        X, y = _read_input(image_emb, features, labels)
    else:
        X, y = _read_input(input, features, labels)
    params.update(_read_embeddings(X, embedding_files, "--image-emb" if image_emb is not None else "INPUT"))
    if budget_per_part is not None:
        budget = _parse_part_budgets(budget_per_part, y)
    if backend == "ray":  # after the input is read and checked: a bad file fails before any connection
        from .backends.ray import connect

        connect(address)
    with _show_logs(err, quiet), rich_progress(err, f"selecting ({method})", enabled=not quiet) as bar:
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


def _set_backend(params, cls, method, backend, address) -> None:
    """``--backend`` / ``--address`` → the method's ``backend`` parameter (checked before any work)."""
    from .backends import BACKENDS

    if backend not in BACKENDS:
        raise LessdataError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise LessdataError("--address is the Ray cluster address: it needs --backend ray")
    if backend == "local":
        return
    if "backend" not in cls.defaults:
        raise LessdataError(f"method {method!r} does not run partitioned selection: --backend does not apply")
    if "backend" in params:
        raise LessdataError("--backend and --param backend= are both given")
    params["backend"] = backend


def _read_input(input: Path, features, labels):
    """``(X, y)`` from a feature file, or from a folder of signal shards (read in ``id`` order)."""
    from .data import read_labels, read_table
    from .data.arrays import LABEL_SUFFIXES

    if not input.is_dir():
        return read_table(input, features=features, labels=labels)
    from .signals.pipeline import is_signal_dir, read_signals

    if not is_signal_dir(input):
        raise LessdataError(f"input {input} is a folder but not one of signal shards (written by compute_signals)")
    if features is not None:
        raise LessdataError("--features selects table columns; signal shards have one signal column")
    label_file = labels is not None and (Path(labels).is_file() or Path(labels).suffix.lower() in LABEL_SUFFIXES)
    X, y, _ = read_signals(input, labels=None if labels is None or label_file else labels)
    if label_file:
        from ._validation import check_labels

        y = check_labels(read_labels(labels), len(X), name=f"labels in {Path(labels).name}")
    return X, y


_EMBEDDING_FLAGS = {"text": "--text-emb", "partial_image": "--partial-image-emb",
                    "partial_text": "--partial-text-emb", "class_prompts": "--class-prompts"}


def _check_embedding_options(cls, method, params, input, image_emb, files) -> None:
    """Which embedding files a method takes (and needs), checked before any data is read."""
    if input is not None and image_emb is not None:
        raise LessdataError("give the features as INPUT or as --image-emb, not both")
    if input is None and image_emb is None:
        raise LessdataError("missing the features: give INPUT (or --image-emb for image-text embeddings)")
    for key, path in files.items():
        if path is None:
            continue
        if key not in cls.defaults:
            raise LessdataError(f"method {method!r} does not take {_EMBEDDING_FLAGS[key]}")
        if key in params:
            raise LessdataError(f"{_EMBEDDING_FLAGS[key]} and --param {key}= are both given")
    if "text_embeddings" not in cls.signals:
        return
    for key in ("text", "partial_image", "partial_text"):  # what an image-text method cannot run without
        if key in cls.defaults and files[key] is None and key not in params:
            raise LessdataError(f"method {method!r} needs {_EMBEDDING_FLAGS[key]} FILE "
                                f"({'the partially trained model' if 'partial' in key else 'the caption'} "
                                "embeddings, row-aligned with the image embeddings)")


def _check_file_exists(path: Path, flag: str) -> None:
    if not path.is_file():
        raise LessdataError(f"{flag} file not found: {path}" if not path.exists() else f"{flag} {path} is not a file")


def _read_embeddings(X, files, image_flag: str) -> dict[str, Any]:
    """Read the embedding files given and check them against the image embeddings ``X`` (rows, dimension)."""
    from .data import read_table

    out: dict[str, Any] = {}
    for key, path in files.items():
        if path is None:
            continue
        flag = _EMBEDDING_FLAGS[key]
        _check_file_exists(path, flag)
        out[key] = _read_prompts(path) if key == "class_prompts" else read_table(path)[0]
    n, d = X.shape
    for key, other, other_flag in (("text", X, image_flag), ("partial_image", X, image_flag),
                                   ("partial_text", out.get("partial_image"), "--partial-image-emb")):
        if key not in out or other is None:
            continue
        flag, arr = _EMBEDDING_FLAGS[key], out[key]
        if arr.shape[0] != other.shape[0]:
            raise LessdataError(f"{flag} has {arr.shape[0]} rows but {other_flag} has {other.shape[0]}; rows must "
                                "be aligned (row i = one image-caption pair)")
        if key != "partial_image" and arr.shape[1] != other.shape[1]:
            raise LessdataError(f"{flag} has dimension {arr.shape[1]} but {other_flag} has {other.shape[1]}; both "
                                "must come from the same joint embedding space")
    if "class_prompts" in out and out["class_prompts"].shape[-1] != d:
        raise LessdataError(f"--class-prompts have dimension {out['class_prompts'].shape[-1]} but {image_flag} "
                            f"has {d}")
    return out


def _read_prompts(path: Path):
    """``(classes, templates, d)`` or ``(classes, d)`` prompt embeddings from a .npy / .npz file."""
    import numpy as np

    if path.suffix.lower() not in (".npy", ".npz"):
        raise LessdataError(f"--class-prompts must be a .npy or .npz file, got {path.name}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.ndarray):
            with loaded:
                if not loaded.files:
                    raise LessdataError(f"--class-prompts {path} holds no arrays")
                loaded = loaded[loaded.files[0]]
    except LessdataError:
        raise
    except Exception as exc:  # corrupt header, pickled objects, truncated zip...
        raise LessdataError(f"could not read --class-prompts {path}: {_one_line(exc)}") from None
    if loaded.ndim not in (2, 3) or 0 in loaded.shape or not np.issubdtype(loaded.dtype, np.number):
        raise LessdataError(f"--class-prompts must be a numeric (classes, templates, d) or (classes, d) array, got "
                            f"{loaded.dtype} of shape {loaded.shape}")
    return loaded.astype(np.float32)


def _check_named_choices(optimizer, budget_policy) -> None:
    from ._validation import check_choice
    from .submodular import BUDGET_POLICIES, OPTIMIZERS

    if optimizer is not None:
        check_choice(optimizer, OPTIMIZERS, "optimizer")
    if budget_policy is not None:
        check_choice(budget_policy, BUDGET_POLICIES, "budget policy")


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
        _check_output(output)
    with _show_logs(Console(stderr=True), quiet):
        cs = run_demo(fraction=fraction, seed=seed, console=Console(), progress=not quiet)
    if output is not None:
        cs.save(output)
        Console().print(f"written to {output}", highlight=False)


def main() -> None:
    """Entry point of the ``lessdata`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
