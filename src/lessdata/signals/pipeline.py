"""Signals at scale: a Ray Data pipeline that computes embeddings or last-layer gradients into Parquet shards.

The rows of the source (Parquet files, or an image folder) are numbered ``0..n-1`` in a fixed order and cut
into shards of ``rows_per_shard`` consecutive rows. ``ray.data`` runs ``map_batches`` over a pool of actors,
each holding the model (built once per actor, on its GPU if it asked for one); an actor reads a shard's rows,
computes the signal in mini-batches and writes ``shard-00042.parquet`` (atomically: temporary file, then
rename) with an ``id`` column (the global row number), the ``label`` when there is one, the image ``path``
for image folders, and the ``signal`` as a fixed-size float32 list. A manifest
(``_lessdata_signals.json``) records the settings.

Resumable: a rerun with the same settings skips every shard whose file is complete, so an interrupted run
(a lost node, a killed job) only recomputes what is missing. ``lessdata select SHARD_DIR`` and
:func:`read_signals` read the shards back as one row-aligned array.

    >>> from lessdata.signals.pipeline import compute_signals, read_signals
    >>> out = compute_signals("train.parquet", "signals/", model=encoder, signal="embeddings",
    ...                       labels="label", num_workers=8)                              # doctest: +SKIP
    >>> X, y, ids = read_signals("signals/")                                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import LessdataError

MANIFEST = "_lessdata_signals.json"
SIGNALS = ("embeddings", "last_layer_gradients")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
FORMAT_VERSION = 1


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}.parquet"


# ------------------------------------------------------------------------------------- the source
@dataclass
class _Source:
    """Where rows come from, in a fixed order: Parquet files (with row counts) or image files."""

    kind: str  # "parquet" or "images"
    root: str
    files: list[str]
    rows: list[int]  # rows per file (parquet) or 1 per image
    feature_columns: list[str] = field(default_factory=list)
    label_column: str | None = None
    image_labels: list[int] | None = None
    classes: list[str] | None = None

    @property
    def n(self) -> int:
        return int(sum(self.rows))

    def listing(self) -> str:
        """A digest of the file list and sizes: a different source means a different fingerprint."""
        h = hashlib.sha256()
        for name, rows in zip(self.files, self.rows):
            h.update(f"{name}\0{rows}\n".encode())
        return h.hexdigest()[:16]


def _scan_parquet(root: Path, features, labels) -> _Source:
    import pyarrow.parquet as pq
    import pyarrow.types as pat

    files = [root] if root.is_file() else sorted(root.rglob("*.parquet"))
    if not files:
        raise LessdataError(f"no .parquet files in {root}")
    rows = []
    for f in files:
        try:
            rows.append(pq.ParquetFile(f).metadata.num_rows)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input
            raise LessdataError(f"could not read {f}: {str(exc).splitlines()[0]}") from None
    schema = pq.read_schema(files[0])
    names = schema.names
    if labels is not None and labels not in names:
        raise LessdataError(f"{files[0].name} has no column {labels!r}; columns are: {', '.join(names)}")
    if labels is None and "label" in names:
        labels = "label"
    if features is None:
        def numeric(name):
            kind = schema.field(name).type
            return pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind)

        features = [c for c in names if c not in (labels, "id") and numeric(c)]
    else:
        features = [features] if isinstance(features, str) else list(features)
        missing = [c for c in features if c not in names]
        if missing:
            raise LessdataError(f"{files[0].name} has no column(s) {missing}; columns are: {', '.join(names)}")
    if not features:
        raise LessdataError(f"{files[0].name} has no numeric feature columns")
    return _Source("parquet", str(root), [str(f) for f in files], rows, features, labels)


def _scan_images(root: Path) -> _Source:
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise LessdataError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {root}")
    rel = [p.relative_to(root) for p in files]
    classes = labels = None
    if all(len(r.parts) == 2 for r in rel):  # root/<class>/<image>, as torchvision's ImageFolder
        classes = sorted({r.parts[0] for r in rel})
        index = {c: i for i, c in enumerate(classes)}
        labels = [index[r.parts[0]] for r in rel]
    return _Source("images", str(root), [str(r) for r in rel], [1] * len(rel), image_labels=labels,
                   classes=classes)


def _scan(source, features, labels) -> _Source:
    root = Path(source)
    if not root.exists():
        raise LessdataError(f"signal source not found: {root}")
    if root.is_file() or any(root.rglob("*.parquet")):
        return _scan_parquet(root, features, labels)
    if features is not None or labels is not None:
        raise LessdataError("features= and labels= name Parquet columns; an image folder takes its labels "
                            "from its class sub-folders")
    return _scan_images(root)


def _read_rows(source: _Source, start: int, stop: int, image_size=None):
    """Rows ``start..stop-1`` of the source: ``(X, y or None, paths or None)``."""
    if source.kind == "images":
        from PIL import Image

        arrays = []
        for rel in source.files[start:stop]:
            with Image.open(Path(source.root) / rel) as img:
                img = img.convert("RGB")
                if image_size is not None:
                    img = img.resize((image_size[1], image_size[0]))
                arrays.append(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))  # C, H, W
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise LessdataError(f"images have different sizes {sorted(shapes)[:3]}...; pass image_size=(H, W)")
        X = np.stack(arrays).astype(np.float32) / np.float32(255.0)
        y = None if source.image_labels is None else np.asarray(source.image_labels[start:stop])
        return X, y, list(source.files[start:stop])
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = source.feature_columns + ([source.label_column] if source.label_column else [])
    pieces, offset = [], 0
    for name, rows in zip(source.files, source.rows):
        lo, hi = max(start, offset), min(stop, offset + rows)
        if lo < hi:
            pf = pq.ParquetFile(name)
            groups, g_off = [], 0
            for g in range(pf.metadata.num_row_groups):
                g_rows = pf.metadata.row_group(g).num_rows
                if g_off < hi - offset and g_off + g_rows > lo - offset:
                    groups.append((g, g_off))
                g_off += g_rows
            table = pf.read_row_groups([g for g, _ in groups], columns=columns)
            first = groups[0][1]
            pieces.append(table.slice(lo - offset - first, hi - lo))
        offset += rows
    table = pa.concat_tables(pieces)
    X = np.empty((table.num_rows, len(source.feature_columns)), dtype=np.float32)
    for j, name in enumerate(source.feature_columns):
        X[:, j] = table.column(name).to_numpy()
    y = table.column(source.label_column).to_numpy() if source.label_column else None
    return X, y, None


# ------------------------------------------------------------------------------------ the actor
class _SignalWorker:
    """A Ray Data actor: builds the model once, then turns shard numbers into written shard files."""

    def __init__(self, config: dict, source: _Source, model):
        import torch

        self.config, self.source = config, source
        self.model = model() if callable(model) and not isinstance(model, torch.nn.Module) else model
        if not isinstance(self.model, torch.nn.Module):
            raise LessdataError(f"model must be a torch nn.Module or a function returning one, "
                                f"got {type(self.model).__name__}")
        self.device = torch.device("cuda" if config["use_gpu"] and torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()

    def __call__(self, batch):
        shards, rows, dims, secs = [], [], [], []
        for shard in np.asarray(batch["shard"]).tolist():
            t0 = time.perf_counter()
            count, dim = self.write_shard(int(shard))
            shards.append(shard)
            rows.append(count)
            dims.append(dim)
            secs.append(time.perf_counter() - t0)
        return {"shard": np.asarray(shards, dtype=np.int64), "rows": np.asarray(rows, dtype=np.int64),
                "dim": np.asarray(dims, dtype=np.int64), "seconds": np.asarray(secs)}

    def write_shard(self, shard: int) -> tuple[int, int]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        cfg = self.config
        start = shard * cfg["rows_per_shard"]
        stop = min(start + cfg["rows_per_shard"], self.source.n)
        X, y, paths = _read_rows(self.source, start, stop, cfg["image_size"])
        if cfg["input_shape"] is not None:
            X = X.reshape((len(X), *cfg["input_shape"]))
        S = self.signal(X, y)
        columns = {"id": pa.array(np.arange(start, stop, dtype=np.int64))}
        if y is not None:
            columns["label"] = pa.array(y)
        if paths is not None:
            columns["path"] = pa.array(paths, type=pa.string())
        dim = S.shape[1]
        columns["signal"] = pa.FixedSizeListArray.from_arrays(pa.array(S.reshape(-1), type=pa.float32()), dim)
        table = pa.table(columns)
        with atomic_path(Path(cfg["output"]) / shard_name(shard)) as tmp:
            pq.write_table(table, tmp)
        return stop - start, dim

    def signal(self, X, y) -> np.ndarray:
        import torch

        cfg = self.config
        if cfg["signal"] == "last_layer_gradients":
            from .gradients import last_layer_gradients

            if y is None:
                raise LessdataError("last_layer_gradients need labels: name the label column with labels=")
            return last_layer_gradients(self.model, X, np.asarray(y).astype(np.int64), layer=cfg["layer"],
                                        full=cfg["full"], batch_size=cfg["batch_size"], device=self.device)
        captured = {}
        handle = None
        if cfg["layer"] is not None:
            modules = dict(self.model.named_modules())
            if cfg["layer"] not in modules:
                raise LessdataError(f"the model has no layer named {cfg['layer']!r}")
            handle = modules[cfg["layer"]].register_forward_hook(
                lambda module, inputs, output: captured.__setitem__("out", output))
        chunks = []
        try:
            with torch.no_grad():
                for s in range(0, len(X), cfg["batch_size"]):
                    out = self.model(torch.from_numpy(np.ascontiguousarray(X[s: s + cfg["batch_size"]]))
                                     .to(self.device))
                    out = captured.get("out", out)
                    chunks.append(out.float().reshape(len(out), -1).cpu().numpy())
        finally:
            if handle is not None:
                handle.remove()
        return np.concatenate(chunks).astype(np.float32, copy=False)


# ------------------------------------------------------------------------------------- the driver
@dataclass
class SignalShards:
    """The result of :func:`compute_signals`: where the shards are and what this run did."""

    path: Path
    n: int
    dim: int
    n_shards: int
    computed: list[int]  # shards computed by this run (the others were already complete)
    skipped: list[int]
    seconds: float

    def read(self, labels=None):
        """``(X, y, ids)``: :func:`read_signals` of :attr:`path`."""
        return read_signals(self.path, labels=labels)


def _model_fingerprint(model) -> str:
    import torch

    if isinstance(model, torch.nn.Module):
        h = hashlib.sha256(type(model).__qualname__.encode())
        for name, tensor in model.state_dict().items():
            h.update(name.encode())
            buf = io.BytesIO()
            np.save(buf, tensor.detach().cpu().numpy(), allow_pickle=False)
            h.update(buf.getvalue())
        return h.hexdigest()[:16]
    return f"{getattr(model, '__module__', '?')}.{getattr(model, '__qualname__', type(model).__name__)}"


def _complete(path: Path, expected_rows: int) -> bool:
    """A shard file that exists, reads, and has the rows its range should have."""
    import pyarrow.parquet as pq

    if not path.is_file():
        return False
    try:
        return pq.ParquetFile(path).metadata.num_rows == expected_rows
    except Exception:  # noqa: BLE001 - a truncated or foreign file: recompute it
        return False


def compute_signals(
    source,
    output,
    model,
    *,
    signal: str = "embeddings",
    features=None,
    labels: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    layer: str | None = None,
    full: bool = False,
    image_size: tuple[int, int] | None = None,
    rows_per_shard: int = 50_000,
    batch_size: int = 512,
    num_workers: int = 2,
    num_cpus_per_worker: float = 1,
    num_gpus_per_worker: float = 0,
    address: str | None = None,
    overwrite: bool = False,
) -> SignalShards:
    """Compute a signal for every row of ``source`` on Ray, into row-aligned Parquet shards under ``output``.

    Args:
        source: a Parquet file or a folder of them (rows numbered in sorted file order), or an image folder
            (``root/<class>/<image>`` gives labels; images sorted by path).
        output: folder for the shards and the manifest; rerunning with the same settings resumes.
        model: a torch ``nn.Module`` (sent to every actor), or a function returning one (called once per
            actor: better for large models, or ones that load weights from storage).
        signal: ``"embeddings"`` (the model's output, or ``layer``'s output) or ``"last_layer_gradients"``
            (softmax − one-hot at the last linear layer, ``full=True`` for ⊗ its input; needs labels).
        features: Parquet feature columns (default: the numeric columns but ``id`` and the labels).
        labels: the Parquet label column (default ``"label"`` when there is one).
        input_shape: reshape each row for the model, e.g. ``(1, 28, 28)``.
        layer: embeddings: the named module whose output is the signal; gradients: the last linear layer.
        image_size: ``(H, W)`` to resize images to (needed when they differ in size).
        rows_per_shard: rows per output shard (the unit of work and of resumption).
        batch_size: rows per forward pass inside an actor.
        num_workers: actors in the pool, each holding the model.
        num_cpus_per_worker, num_gpus_per_worker: resources per actor (GPUs: the model runs on CUDA).
        address: Ray cluster (see :func:`lessdata.backends.ray.connect`).
        overwrite: recompute everything, even shards that are complete.
    """
    from ..backends.ray import connect

    if signal not in SIGNALS:
        raise LessdataError(f"unknown signal {signal!r}; choose one of: {', '.join(SIGNALS)}")
    for name, value in (("rows_per_shard", rows_per_shard), ("batch_size", batch_size),
                        ("num_workers", num_workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LessdataError(f"{name} must be a positive integer, got {value!r}")
    start_time = time.perf_counter()
    src = _scan(source, features, labels)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise LessdataError(f"output {out} is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    n = src.n
    n_shards = -(-n // rows_per_shard)
    settings = {
        "signal": signal, "features": src.feature_columns, "labels": src.label_column,
        "input_shape": list(input_shape) if input_shape else None, "layer": layer, "full": bool(full),
        "image_size": list(image_size) if image_size else None, "rows_per_shard": rows_per_shard,
        "source": str(Path(source).resolve()), "source_listing": src.listing(), "n": n,
        "model": _model_fingerprint(model),
    }
    manifest_path = out / MANIFEST
    if manifest_path.exists() and not overwrite:
        _read_manifest(out)  # a damaged manifest is reported, not resumed from
        old = json.loads(manifest_path.read_text())
        changed = sorted(k for k in settings if old["settings"].get(k) != settings[k])
        if changed:
            raise LessdataError(f"{out} holds signals computed with other settings ({', '.join(changed)}); "
                                "use a new output folder or overwrite=True")
    manifest = {"format_version": FORMAT_VERSION, "settings": settings, "n_shards": n_shards,
                "classes": src.classes, "dim": None}
    with atomic_path(manifest_path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))

    expected = [min(rows_per_shard, n - s * rows_per_shard) for s in range(n_shards)]
    todo = [s for s in range(n_shards) if overwrite or not _complete(out / shard_name(s), expected[s])]
    skipped = [s for s in range(n_shards) if s not in set(todo)]
    dims = set()
    if todo:
        ray = connect(address)
        config = {"signal": signal, "layer": layer, "full": bool(full), "batch_size": batch_size,
                  "rows_per_shard": rows_per_shard, "input_shape": tuple(input_shape) if input_shape else None,
                  "image_size": tuple(image_size) if image_size else None, "output": str(out.resolve()),
                  "use_gpu": num_gpus_per_worker > 0}
        ds = ray.data.from_items([{"shard": s} for s in todo], override_num_blocks=len(todo))
        ds = ds.map_batches(
            _SignalWorker,
            fn_constructor_kwargs={"config": config, "source": src, "model": model},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(num_workers, len(todo))),
            num_cpus=num_cpus_per_worker,
            num_gpus=num_gpus_per_worker or None,
        )
        try:
            done = ds.take_all()
        except Exception as exc:
            finished = sum(_complete(out / shard_name(s), expected[s]) for s in range(n_shards))
            raise LessdataError(
                f"signal pipeline stopped with {finished} of {n_shards} shards complete "
                f"({_worker_error(exc)}); rerun the same call to resume"
            ) from exc
        dims = {int(row["dim"]) for row in done}
    for s in skipped:
        dims.add(_shard_dim(out / shard_name(s)))
    if len(dims) != 1:
        raise LessdataError(f"the shards in {out} have different signal widths {sorted(dims)}")
    manifest["dim"] = dims.pop()
    with atomic_path(manifest_path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))
    return SignalShards(out, n, manifest["dim"], n_shards, todo, skipped, time.perf_counter() - start_time)


def _worker_error(exc: BaseException) -> str:
    """``Type: message`` of the exception raised in the actor, out of Ray's many-line report."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    for line in text.splitlines():
        found = re.match(r"^\s*((?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception))): (.+)$", line)
        if found and found.group(2) not in ("RayTaskError", "UserCodeException"):
            return f"{found.group(2)}: {found.group(3).strip()}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"


def _shard_dim(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_schema(path).field("signal").type.list_size


# ------------------------------------------------------------------------------------ reading back
def _read_manifest(root: Path) -> tuple[int, int]:
    """``(n, n_shards)`` from the folder's manifest, or one line saying what is wrong with it."""
    where = root / MANIFEST
    try:
        manifest = json.loads(where.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LessdataError(f"cannot read the signal manifest {where}: {exc}") from None
    settings = manifest.get("settings") if isinstance(manifest, dict) else None
    n = settings.get("n") if isinstance(settings, dict) else None
    n_shards = manifest.get("n_shards") if isinstance(manifest, dict) else None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (n, n_shards)):
        raise LessdataError(f"the signal manifest {where} is damaged: it needs settings.n and n_shards as "
                            "positive integers; rerun compute_signals with overwrite=True")
    if n_shards > n:
        raise LessdataError(f"the signal manifest {where} is damaged: {n_shards} shards for {n} rows")
    return n, n_shards


def _missing_shards(root: Path, n_shards: int, shown: int = 11) -> list[int]:
    """Up to ``shown`` missing shard numbers, found without probing every number of a huge claimed count."""
    present = {p.name for p in root.glob("*.parquet")}
    missing = []
    for s in range(n_shards):
        if shard_name(s) not in present:
            missing.append(s)
            if len(missing) == shown:
                break
    return missing


def _read_shard(path: Path):
    """One shard as a pyarrow table with a fixed-size ``signal`` list column and an ``id`` column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise LessdataError(f"cannot read the signal shard {path}: {exc}") from None
    if "signal" not in table.column_names or "id" not in table.column_names:
        raise LessdataError(f"the signal shard {path} has no 'signal' or 'id' column; columns are: "
                            f"{', '.join(table.column_names) or 'none'}")
    if not pa.types.is_fixed_size_list(table.schema.field("signal").type):
        raise LessdataError(f"the 'signal' column of {path} is not a fixed-size list of floats")
    return table


def is_signal_dir(path) -> bool:
    """True when ``path`` is a folder written by :func:`compute_signals`."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def read_signals(path, labels=None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Read the shards of a :func:`compute_signals` folder as ``(X, y, ids)``, rows in ``id`` order.

    ``labels``: ``None`` uses the shards' ``label`` column when there is one; a column name; or ``False``
    for none. Fails with one line when a shard is missing or the ids are not ``0..n-1`` in order.
    """

    root = Path(path)
    if not is_signal_dir(root):
        raise LessdataError(f"{root} is not a signal folder written by compute_signals (no {MANIFEST})")
    n, n_shards = _read_manifest(root)
    missing = _missing_shards(root, n_shards)
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise LessdataError(f"signals in {root} are incomplete: shard(s) {shown} of {n_shards} missing; "
                            "rerun compute_signals to finish them")
    X_parts, y_parts, id_parts = [], [], []
    for s in range(n_shards):
        table = _read_shard(root / shard_name(s))
        column = table.column("signal").combine_chunks()
        dim = column.type.list_size
        X_parts.append(column.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim))
        id_parts.append(table.column("id").to_numpy())
        name = ("label" if "label" in table.column_names else None) if labels is None else labels
        if name:
            if name not in table.column_names:
                raise LessdataError(f"the shards in {root} have no column {name!r}; columns are: "
                                    f"{', '.join(table.column_names)}")
            y_parts.append(table.column(name).to_numpy(zero_copy_only=False))
    ids = np.concatenate(id_parts)
    if len(ids) != n or not np.array_equal(ids, np.arange(n)):
        raise LessdataError(f"the shards in {root} are not row-aligned: expected ids 0..{n - 1} in order")
    X = np.ascontiguousarray(np.concatenate(X_parts), dtype=np.float32)
    y = np.concatenate(y_parts) if y_parts else None
    return X, y, ids
