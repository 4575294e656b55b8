"""What ``lessdata select`` reads and checks before any work: the input features or signal shards, the image-text
embedding files, ``--param KEY=VALUE`` values, the budget options (``--budget-per-part``), the backend, the output
path; and how the "lessdata" logger is shown while it runs.

Every check raises :class:`~lessdata.errors.LessdataError`, which :mod:`lessdata.cli` prints as one ``error:`` line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler

from .errors import LessdataError

OUTPUT_SUFFIXES = (".npz", ".parquet")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


@contextlib.contextmanager
def show_logs(console: Console, quiet: bool):
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


def check_output(path: Path) -> Path:
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


def parse_value(text: str, key: str = "") -> Any:
    """``--param`` values: int, float, true/false, none/null, a JSON list/object, ``@FILE`` (the array in a
    ``.npy`` / ``.npz`` file, for array parameters such as ``scores``), or else the string."""
    if text.startswith("@"):
        return load_array(Path(text[1:]), f"--param {key}=@{text[1:]}")
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


def parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LessdataError(f"--param expects KEY=VALUE, got {item!r}")
        if key in params:
            raise LessdataError(f"--param {key} is given twice")
        params[key] = parse_value(value.strip(), key)
    return params


def parse_part_budgets(text: str, labels) -> dict:
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


def precheck_budget(fraction, budget, per_part) -> None:
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


def set_backend(params, cls, method, backend, address) -> None:
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


def read_input(input: Path, features, labels):
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


EMBEDDING_FLAGS = {"text": "--text-emb", "partial_image": "--partial-image-emb",
                    "partial_text": "--partial-text-emb", "class_prompts": "--class-prompts", "query": "--query"}


def check_embedding_options(cls, method, params, input, image_emb, files) -> None:
    """Which embedding files a method takes (and needs), checked before any data is read."""
    for key, flag in EMBEDDING_FLAGS.items():
        if isinstance(params.get(key), str):  # --param query=Q.npy: a file name where an array is expected
            raise LessdataError(f"give {key} as {flag} FILE, not --param {key}=")
    if input is not None and image_emb is not None:
        raise LessdataError("give the features as INPUT or as --image-emb, not both")
    if input is None and image_emb is None:
        raise LessdataError("missing the features: give INPUT (or --image-emb for image-text embeddings)")
    for key, path in files.items():
        if path is None:
            continue
        if key not in cls.defaults:
            raise LessdataError(f"method {method!r} does not take {EMBEDDING_FLAGS[key]}")
        if key in params:
            raise LessdataError(f"{EMBEDDING_FLAGS[key]} and --param {key}= are both given")
    if "text_embeddings" not in cls.signals:
        return
    for key in ("text", "partial_image", "partial_text"):  # what an image-text method cannot run without
        if key in cls.defaults and files[key] is None and key not in params:
            raise LessdataError(f"method {method!r} needs {EMBEDDING_FLAGS[key]} FILE "
                                f"({'the partially trained model' if 'partial' in key else 'the caption'} "
                                "embeddings, row-aligned with the image embeddings)")


def check_file_exists(path: Path, flag: str) -> None:
    if not path.is_file():
        raise LessdataError(f"{flag} file not found: {path}" if not path.exists() else f"{flag} {path} is not a file")


def read_embeddings(X, files, image_flag: str) -> dict[str, Any]:
    """Read the files given (embeddings, prompts, a query set) and check them against the features or image
    embeddings ``X`` (rows, dimension)."""
    from .data import read_table

    out: dict[str, Any] = {}
    for key, path in files.items():
        if path is None:
            continue
        flag = EMBEDDING_FLAGS[key]
        check_file_exists(path, flag)
        out[key] = read_prompts(path) if key == "class_prompts" else read_table(path)[0]
    n, d = X.shape
    for key, other, other_flag in (("text", X, image_flag), ("partial_image", X, image_flag),
                                   ("partial_text", out.get("partial_image"), "--partial-image-emb")):
        if key not in out or other is None:
            continue
        flag, arr = EMBEDDING_FLAGS[key], out[key]
        if arr.shape[0] != other.shape[0]:
            raise LessdataError(f"{flag} has {arr.shape[0]} rows but {other_flag} has {other.shape[0]}; rows must "
                                "be aligned (row i = one image-caption pair)")
        if key != "partial_image" and arr.shape[1] != other.shape[1]:
            raise LessdataError(f"{flag} has dimension {arr.shape[1]} but {other_flag} has {other.shape[1]}; both "
                                "must come from the same joint embedding space")
    if "query" in out and out["query"].shape[1] != d:
        raise LessdataError(f"--query has {out['query'].shape[1]} columns but {image_flag} has {d}; the query rows "
                            "must have the features' width")
    if "class_prompts" in out and out["class_prompts"].shape[-1] != d:
        raise LessdataError(f"--class-prompts have dimension {out['class_prompts'].shape[-1]} but {image_flag} "
                            f"has {d}")
    return out


def load_array(path: Path, what: str):
    """The array in a ``.npy`` file, or the first array of a ``.npz`` file, shape kept; ``what`` names it in
    errors."""
    import numpy as np

    if path.suffix.lower() not in (".npy", ".npz"):
        raise LessdataError(f"{what} must be a .npy or .npz file, got {path.name}")
    check_file_exists(path, what)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.ndarray):
            with loaded:
                if not loaded.files:
                    raise LessdataError(f"{what} {path} holds no arrays")
                loaded = loaded[loaded.files[0]]
    except LessdataError:
        raise
    except Exception as exc:  # corrupt header, pickled objects, truncated zip...
        raise LessdataError(f"could not read {what} {path}: {one_line(exc)}") from None
    return loaded


def read_prompts(path: Path):
    """``(classes, templates, d)`` or ``(classes, d)`` prompt embeddings from a .npy / .npz file."""
    import numpy as np

    loaded = load_array(path, "--class-prompts")
    if loaded.ndim not in (2, 3) or 0 in loaded.shape or not np.issubdtype(loaded.dtype, np.number):
        raise LessdataError(f"--class-prompts must be a numeric (classes, templates, d) or (classes, d) array, got "
                            f"{loaded.dtype} of shape {loaded.shape}")
    return loaded.astype(np.float32)


def check_named_choices(optimizer, budget_policy) -> None:
    from ._validation import check_choice
    from .submodular import BUDGET_POLICIES, OPTIMIZERS

    if optimizer is not None:
        check_choice(optimizer, OPTIMIZERS, "optimizer")
    if budget_policy is not None:
        check_choice(budget_policy, BUDGET_POLICIES, "budget policy")
