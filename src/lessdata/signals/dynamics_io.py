"""Saving and loading :class:`~lessdata.signals.dynamics.DynamicsRecorder`: one ``.npz`` file per recorder.

Split out of :mod:`lessdata.signals.dynamics`; :meth:`DynamicsRecorder.save
<lessdata.signals.dynamics.DynamicsRecorder.save>` and :meth:`DynamicsRecorder.load
<lessdata.signals.dynamics.DynamicsRecorder.load>` call these functions. The file holds the targets, one array per
field (``field_<name>``, ``(n, columns)``), the logits when kept, and a JSON ``meta`` record
(``format="lessdata.dynamics"``, ``format_version``, ``n``, ``fields``, ``logits``, ``dtype``, ``columns``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import LessdataError

__all__: list[str] = []

_DTYPES = {"float32": np.float32, "float16": np.float16}
_FORMAT_VERSION = 1


def _save(recorder, path: str | os.PathLike) -> Path:
    """Write ``recorder`` to the ``.npz`` file ``path`` atomically."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise LessdataError(f"cannot save training dynamics as {path.name!r}: use a .npz file name")
    if recorder._n is None:
        raise LessdataError("the recorder is empty: nothing to save")
    meta = {"format": "lessdata.dynamics", "format_version": _FORMAT_VERSION, "n": recorder._n,
            "fields": list(recorder.fields), "logits": recorder.keep_logits, "dtype": recorder.dtype,
            "columns": recorder.columns}
    arrays = {f"field_{name}": recorder._view(name) for name in recorder.fields}
    if recorder._logits is not None:
        arrays["logits"] = recorder.logits
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, targets=recorder.targets, meta=np.array(json.dumps(meta)), **arrays)
    return path


def _load(cls, path: str | os.PathLike):
    """Read a recorder written by :func:`_save` as an instance of ``cls``."""
    path = Path(path)
    if not path.exists():
        raise LessdataError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise LessdataError(f"{path} is an .npz file but not lessdata training dynamics")
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != "lessdata.dynamics":
                raise LessdataError(f"{path} is an .npz file but not lessdata training dynamics")
            arrays = {name: z[f"field_{name}"] for name in meta["fields"]}
            logits = z["logits"] if "logits" in z.files else None
            targets = z["targets"]
    except LessdataError:
        raise
    except Exception as exc:
        raise LessdataError(f"{path} is not readable lessdata training dynamics "
                            f"({type(exc).__name__}: {exc})") from None
    columns = len(meta["columns"])
    out = cls(meta["n"], logits=meta["logits"], fields=meta["fields"], dtype=meta["dtype"],
              columns=max(columns, 1))
    out.columns = list(meta["columns"])
    for name, arr in arrays.items():
        if arr.shape != (out.n, columns):
            raise LessdataError(f"{path}: field {name!r} has shape {arr.shape}, expected {(out.n, columns)}")
        out._data[name][:, :columns] = arr
    if logits is not None:
        out._logits = np.full((out.n, out._capacity, logits.shape[2]), np.nan, dtype=_DTYPES[out.dtype])
        out._logits[:, :columns] = logits
    out.targets = targets.astype(np.int64)
    return out
