"""Read a feature matrix (and optionally labels) from ``.npy``, ``.npz``, ``.parquet`` or ``.csv``.

This is what ``lessdata select INPUT [--labels FILE|COLUMN] [--features COLUMNS]`` reads. Every failure is a
one-line :class:`~lessdata.errors.LessdataError` that names the file and the problem.

Examples:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "points.npz")
    >>> np.savez(path, X=np.eye(3), y=np.array([0, 1, 1]))
    >>> X, y = read_table(path)
    >>> X.dtype, X.shape, y.tolist()
    (dtype('float32'), (3, 3), [0, 1, 1])
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .._validation import check_features, check_labels
from ..errors import LessdataError

TABLE_SUFFIXES = (".parquet", ".csv")
ARRAY_SUFFIXES = (".npy", ".npz")
LABEL_SUFFIXES = (".npy", ".npz", ".csv", ".parquet", ".txt")
_FEATURE_KEYS = ("X", "features")
_LABEL_KEYS = ("y", "labels")
_LABEL_COLUMNS = ("label", "labels", "y", "target", "class")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _check_file(path: Path, suffixes: tuple[str, ...], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise LessdataError(
            f"cannot read {what} {path}: unknown file type {suffix or '(none)'!r}; "
            f"use one of {', '.join(suffixes)}"
        )
    if not path.is_file():
        raise LessdataError(f"{what} file not found: {path}")
    return suffix


def read_table(path, features=None, labels=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Read ``(X, y)`` from a file: ``X`` float32 ``(n, d)``, ``y`` a 1-D array or ``None``.

    Args:
        path: a ``.npy`` (the features; arrays with more than 2 dimensions, e.g. images, are flattened per
            row), ``.npz`` (arrays ``X``/``features`` and ``y``/``labels`` if present, else its first
            array), ``.parquet`` or ``.csv`` file (header row required).
        features: for tables, the feature column names (a list, or one comma-separated string);
            ``None`` uses every numeric column except the labels column.
        labels: a column of the table (or an array name in a ``.npz``), or the path of a separate
            ``.npy``/``.npz``/``.csv``/``.parquet``/``.txt`` file with one label per row. ``None``: a
            ``.npz``'s ``y``/``labels`` array if there is one, otherwise no labels.

    Examples:
        >>> X, y = read_table("train.parquet", labels="label")                 # doctest: +SKIP
        >>> X, y = read_table("train.csv", features="f0,f1", labels="y.txt")    # doctest: +SKIP
    """
    path = Path(path)
    suffix = _check_file(path, ARRAY_SUFFIXES + TABLE_SUFFIXES, "input")
    features = _feature_names(features)
    label_column, label_file = _split_labels(labels, path)
    if suffix in ARRAY_SUFFIXES:
        if features is not None:
            raise LessdataError(f"features= selects table columns, but {path.name} has no column names")
        X, y = _read_arrays(path, label_column)
    else:
        X, y = _read_columns(path, features, label_column)
    if label_file is not None:
        y = read_labels(label_file)
    if X.ndim > 2:
        X = X.reshape(len(X), -1)
    X = check_features(X, name=f"features in {path.name}")
    if y is not None:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        y = check_labels(y, len(X), name="labels" if label_file is None else f"labels in {label_file.name}")
    return X, y


def _feature_names(features) -> list[str] | None:
    if features is None:
        return None
    if isinstance(features, str):
        features = [name.strip() for name in features.split(",")]
    names = [str(name) for name in features]
    if not names or any(not name for name in names):
        raise LessdataError(f"features must be a non-empty list of column names, got {features!r}")
    if len(set(names)) != len(names):
        raise LessdataError(f"features lists a column twice: {names}")
    return names


def _split_labels(labels, path: Path) -> tuple[str | None, Path | None]:
    """Decide whether ``labels`` names a column (of ``path``) or a separate file."""
    if labels is None:
        return None, None
    if isinstance(labels, os.PathLike):
        return None, Path(labels)
    labels = str(labels)
    candidate = Path(labels)
    if candidate.is_file() or candidate.suffix.lower() in LABEL_SUFFIXES:
        return None, candidate
    return labels, None


def _read_arrays(path: Path, key: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # corrupt header, pickled objects, truncated zip...
        raise LessdataError(f"could not read {path} as a {path.suffix} file: {_first_line(exc)}") from None
    if isinstance(loaded, np.ndarray):
        if key is not None:
            raise LessdataError(f"labels {key!r} is not a file, and {path.name} has no named columns")
        return loaded, None
    try:
        with loaded:
            names = list(loaded.files)
            if not names:
                raise LessdataError(f"{path} holds no arrays")
            x_key = next((k for k in _FEATURE_KEYS if k in names), names[0])
            if key is not None and key not in names:
                raise LessdataError(f"{path.name} has no array {key!r} for the labels; it has {names}")
            y_key = key if key is not None else next((k for k in _LABEL_KEYS if k in names), None)
            return loaded[x_key], (loaded[y_key] if y_key is not None else None)
    except LessdataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise LessdataError(f"could not read {path}: {_first_line(exc)}") from None


def _read_arrow(path: Path):
    """Read a parquet or csv file into a ``pyarrow.Table``, turning every failure into one line."""
    import pyarrow as pa

    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        import pyarrow.csv as pacsv

        return pacsv.read_csv(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LessdataError(f"could not read {path}: {_first_line(exc)}") from None


def _read_columns(path: Path, features, label_column) -> tuple[np.ndarray, np.ndarray | None]:
    import pyarrow.types as pat

    table = _read_arrow(path)
    columns = table.column_names
    if table.num_rows == 0:
        raise LessdataError(f"{path} has no rows")
    for name in (features or []) + ([label_column] if label_column else []):
        if name not in columns:
            raise LessdataError(f"{path.name} has no column {name!r}; columns are: {', '.join(columns)}")
    y = _column_values(table.column(label_column), label_column, path) if label_column else None

    def numeric(name):
        kind = table.schema.field(name).type
        return pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind)

    if features is None:
        features = [name for name in columns if name != label_column and numeric(name)]
        if not features:
            raise LessdataError(f"{path.name} has no numeric feature columns (columns: {', '.join(columns)})")
    elif label_column in features:
        raise LessdataError(f"column {label_column!r} is both the labels and a feature")
    for name in features:
        if not numeric(name):
            raise LessdataError(
                f"feature column {name!r} in {path.name} is not numeric "
                f"(type {table.schema.field(name).type})"
            )
        if table.column(name).null_count:
            raise LessdataError(
                f"feature column {name!r} in {path.name} has {table.column(name).null_count} missing values"
            )
    X = np.empty((table.num_rows, len(features)), dtype=np.float32)
    for j, name in enumerate(features):
        X[:, j] = table.column(name).to_numpy()
    return X, y


def _column_values(column, name: str, path: Path) -> np.ndarray:
    """A pyarrow column as a numpy array (strings become a unicode array), rejecting missing values."""
    import pyarrow.types as pat

    if column.null_count:
        raise LessdataError(f"labels column {name!r} in {path.name} has {column.null_count} missing values")
    if pat.is_integer(column.type) or pat.is_floating(column.type) or pat.is_boolean(column.type):
        return column.to_numpy()
    if pat.is_string(column.type) or pat.is_large_string(column.type) or pat.is_dictionary(column.type):
        return np.asarray([str(v) for v in column.to_pylist()])
    raise LessdataError(f"labels column {name!r} in {path.name} has unsupported type {column.type}")


def read_labels(path) -> np.ndarray:
    """Read one label per row from a ``.npy``, ``.npz``, ``.csv``, ``.parquet`` or ``.txt`` file.

    A ``.csv``/``.parquet`` must have a single column or one named ``label``/``labels``/``y``/``target``/
    ``class``; a one-column ``.csv`` whose first line is a number is read as having no header. A ``.txt``
    file has one label per line; they are returned as integers or floats when all of them parse as such.

    Examples:
        >>> y = read_labels("labels.txt")  # doctest: +SKIP
    """
    path = Path(path)
    suffix = _check_file(path, LABEL_SUFFIXES, "labels")
    if suffix in ARRAY_SUFFIXES:
        values, y = _read_arrays(path, None)
        y = values if y is None else y
    elif suffix == ".txt":
        y = _read_text_labels(path)
    else:
        y = _read_label_table(path)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise LessdataError(f"labels in {path.name} must be one value per row, got shape {y.shape}")
    return y


def _read_label_table(path: Path) -> np.ndarray:
    table = _read_arrow(path)
    columns = table.column_names
    if len(columns) == 1 and path.suffix.lower() == ".csv" and _is_number(columns[0]):
        table = _read_headerless_csv(path)  # the "header" was the first label
        columns = table.column_names
    if len(columns) == 1:
        name = columns[0]
    else:
        name = next((c for c in columns if c.lower() in _LABEL_COLUMNS), None)
        if name is None:
            raise LessdataError(
                f"{path.name} has {len(columns)} columns; a labels file needs one column or "
                f"one named {'/'.join(_LABEL_COLUMNS)}"
            )
    return _column_values(table.column(name), name, path)


def _read_headerless_csv(path: Path):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        return pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LessdataError(f"could not read {path}: {_first_line(exc)}") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_text_labels(path: Path) -> np.ndarray:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LessdataError(f"could not read {path}: {_first_line(exc)}") from None
    values = [line.strip() for line in lines]
    while values and not values[-1]:
        values.pop()  # trailing blank lines
    if not values:
        raise LessdataError(f"labels file {path} is empty")
    if "" in values:
        raise LessdataError(f"labels file {path} has an empty line (line {values.index('') + 1})")
    for kind in (int, float):
        try:
            return np.asarray([kind(v) for v in values])
        except ValueError:
            continue
    return np.asarray(values)
