"""The single result type of every selection method: :class:`Coreset`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_path
from .errors import LessdataError

_FORMATS = (".npz", ".parquet")


@dataclass(eq=False)
class Coreset:
    """A weighted subset of a dataset.

    Attributes:
        indices: int64 row indices into the original data, in selection order.
        weights: float32, one per index. For facility location, the number of points each selected point
            represents (its cluster size), so the weights sum to the number of points covered.
        gains: float64 marginal gain of each pick (NaN for methods without an objective).
        objective: value of the objective for the whole selection (NaN when there is none).
        partition: int64 part id of each selected point (e.g. its class), or ``None``.
        method: registered name of the method that produced it.
        params: the method's parameters (JSON-serialisable).
        seed: the random seed used.
        seconds: wall-clock seconds spent selecting.
        n: number of points in the data the coreset was selected from (``None`` if unknown).
        multiplicities: int64, one per index (default all ones): how many times each example appears in one
            training epoch. An example with multiplicity ``m`` is visited ``m`` times per epoch with its
            weight unchanged (upsampling, as in USEFUL), which is not the same as weight ``m`` under SGD.
    """

    indices: np.ndarray
    weights: np.ndarray
    gains: np.ndarray | None = None
    objective: float = float("nan")
    partition: np.ndarray | None = None
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    seconds: float = 0.0
    n: int | None = None
    multiplicities: np.ndarray | None = None

    def __post_init__(self):
        self.indices = _integer_array(self.indices, "indices")
        k = self.indices.shape[0]
        self.weights = _numeric_array(self.weights, "weights").astype(np.float32)
        self.gains = (
            np.full(k, np.nan) if self.gains is None else np.asarray(self.gains, dtype=np.float64).reshape(-1)
        )
        if self.partition is not None:
            self.partition = _integer_array(self.partition, "partition")
        self.multiplicities = _check_multiplicities(self.multiplicities, k)
        for name in ("weights", "gains", "partition", "multiplicities"):
            arr = getattr(self, name)
            if arr is not None and arr.shape[0] != k:
                raise LessdataError(f"Coreset.{name} has {arr.shape[0]} entries but there are {k} indices")
        if k and self.indices.min() < 0:
            raise LessdataError("Coreset.indices must be non-negative")
        if len(np.unique(self.indices)) != k:
            raise LessdataError("Coreset.indices contain duplicates")
        if self.n is not None and k and self.indices.max() >= self.n:
            raise LessdataError(f"Coreset index {int(self.indices.max())} is out of range for n={self.n}")
        self.objective = float(self.objective)
        self.seconds = float(self.seconds)

    # ----------------------------------------------------------------------------------------- basics
    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @property
    def epoch_size(self) -> int:
        """Examples visited in one training epoch: the sum of the multiplicities."""
        return int(self.multiplicities.sum())

    def epoch_indices(self) -> np.ndarray:
        """Dataset indices of one epoch before shuffling: each index repeated by its multiplicity."""
        return np.repeat(self.indices, self.multiplicities)

    def __repr__(self) -> str:
        of = f" of {self.n}" if self.n is not None else ""
        per_epoch = f", epoch_size={self.epoch_size}" if self.epoch_size != len(self) else ""
        return (
            f"Coreset(method={self.method!r}, size={len(self)}{of}{per_epoch}, "
            f"weight_sum={float(self.weights.sum()):.6g}, "
            f"objective={self.objective:.6g}, seconds={self.seconds:.3f})"
        )

    def __eq__(self, other) -> bool:
        """Same selection: indices, weights, multiplicities, gains, partition, objective, method, params, seed.

        Time and the execution backend (which never changes the selection) are not compared."""
        if not isinstance(other, Coreset):
            return NotImplemented
        same_part = (self.partition is None and other.partition is None) or (
            self.partition is not None
            and other.partition is not None
            and np.array_equal(self.partition, other.partition)
        )
        return (
            np.array_equal(self.indices, other.indices)
            and np.array_equal(self.weights, other.weights)
            and np.array_equal(self.multiplicities, other.multiplicities)
            and np.array_equal(self.gains, other.gains, equal_nan=True)
            and same_part
            and (self.objective == other.objective or (np.isnan(self.objective) and np.isnan(other.objective)))
            and self.method == other.method
            and _selection_params(self.params) == _selection_params(other.params)
            and self.seed == other.seed
            and self.n == other.n
        )

    def normalized_weights(self) -> np.ndarray:
        """Weights rescaled to mean 1 within the coreset (as CRAIG trains with them)."""
        w = self.weights.astype(np.float64)
        mean = w.mean() if len(w) else 1.0
        return (w / mean if mean > 0 else np.ones_like(w)).astype(np.float32)

    def partition_counts(self) -> dict[int, int]:
        """Number of selected points per partition id (empty when there is no partition)."""
        if self.partition is None:
            return {}
        ids, counts = np.unique(self.partition, return_counts=True)
        return {int(i): int(c) for i, c in zip(ids, counts)}

    def summary(self) -> dict[str, Any]:
        """Plain-dict description used by ``lessdata inspect`` and the demo."""
        w = self.weights
        stats = (
            {"min": float(w.min()), "max": float(w.max()), "mean": float(w.mean()), "sum": float(w.sum())}
            if len(w)
            else {"min": 0.0, "max": 0.0, "mean": 0.0, "sum": 0.0}
        )
        return {
            "method": self.method,
            "size": len(self),
            "n": self.n,
            "fraction": (len(self) / self.n) if self.n else None,
            "objective": self.objective,
            "seconds": self.seconds,
            "seed": self.seed,
            "weights": stats,
            "epoch_size": self.epoch_size,
            "multiplicities": {int(m): int(c) for m, c in zip(*np.unique(self.multiplicities, return_counts=True))},
            "partition_counts": self.partition_counts(),
            "params": self.params,
        }

    # ------------------------------------------------------------------------------------ save / load
    def _meta(self) -> str:
        return json.dumps(
            {
                "objective": self.objective,
                "method": self.method,
                "params": self.params,
                "seed": self.seed,
                "seconds": self.seconds,
                "n": self.n,
                "has_partition": self.partition is not None,
                "format_version": 1,
            },
            default=_json_default,
        )

    def save(self, path: str | Path) -> Path:
        """Write to ``.npz`` or ``.parquet`` (chosen by suffix) atomically; returns the path."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in _FORMATS:
            raise LessdataError(f"cannot save a Coreset as {path.name!r}: use a .npz or .parquet file name")
        part = self.partition if self.partition is not None else np.zeros(len(self), dtype=np.int64)
        with atomic_path(path) as tmp:
            if suffix == ".npz":
                with open(tmp, "wb") as fh:
                    np.savez(
                        fh,
                        indices=self.indices,
                        weights=self.weights,
                        gains=self.gains,
                        partition=part,
                        multiplicities=self.multiplicities,
                        meta=np.array(self._meta()),
                    )
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.table(
                    {
                        "index": self.indices,
                        "weight": self.weights,
                        "gain": self.gains,
                        "partition": part,
                        "multiplicity": self.multiplicities,
                    }
                )
                table = table.replace_schema_metadata({b"lessdata": self._meta().encode()})
                pq.write_table(table, tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Coreset:
        """Read a Coreset written by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise LessdataError(f"no such file: {path}")
        suffix = path.suffix.lower()
        try:
            if suffix == ".npz":
                with np.load(path, allow_pickle=False) as z:
                    cols = {k: z[k] for k in ("indices", "weights", "gains", "partition")}
                    # files written before multiplicities existed: every example once per epoch
                    cols["multiplicities"] = z["multiplicities"] if "multiplicities" in z.files else None
                    meta = json.loads(str(z["meta"]))
            elif suffix == ".parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(path)
                raw = (table.schema.metadata or {}).get(b"lessdata")
                if raw is None:
                    raise LessdataError(f"{path} is a Parquet file but not a lessdata Coreset")
                meta = json.loads(raw.decode())
                cols = {
                    "indices": table.column("index").to_numpy(),
                    "weights": table.column("weight").to_numpy(),
                    "gains": table.column("gain").to_numpy(),
                    "partition": table.column("partition").to_numpy(),
                    "multiplicities": (
                        table.column("multiplicity").to_numpy() if "multiplicity" in table.column_names else None
                    ),
                }
            else:
                raise LessdataError(f"cannot read a Coreset from {path.name!r}: expected .npz or .parquet")
        except LessdataError:
            raise
        except Exception as exc:
            raise LessdataError(f"{path} is not a readable lessdata Coreset ({type(exc).__name__}: {exc})") from None
        meta = _check_meta(meta, path)
        return cls(
            indices=cols["indices"],
            weights=cols["weights"],
            gains=cols["gains"],
            objective=meta["objective"],
            partition=cols["partition"] if meta.get("has_partition") else None,
            method=meta["method"],
            params=meta["params"],
            seed=meta["seed"],
            seconds=meta["seconds"],
            n=meta.get("n"),
            multiplicities=cols["multiplicities"],
        )

    # ----------------------------------------------------------------------------------- torch side
    def _check_dataset(self, dataset) -> int:
        try:
            size = len(dataset)
        except TypeError:
            raise LessdataError(f"the dataset must be a sized, indexable (map-style) dataset, got "
                                f"{type(dataset).__name__}") from None
        if len(self) and int(self.indices.max()) >= size:
            raise LessdataError(
                f"Coreset index {int(self.indices.max())} is out of range for a dataset of {size} examples"
            )
        if self.n is not None and self.n != size:
            raise LessdataError(f"Coreset was selected from {self.n} examples but the dataset has {size}")
        return size

    def to_subset(self, dataset):
        """``torch.utils.data.Subset`` of ``dataset`` holding the selected examples in selection order, each
        repeated by its multiplicity (so a shuffling DataLoader over it visits one planned epoch)."""
        from torch.utils.data import Subset

        self._check_dataset(dataset)
        return Subset(dataset, self.epoch_indices().tolist())

    def to_sampler(self, dataset=None, num_samples: int | None = None, replacement: bool = True, generator=None):
        """A weighted torch sampler over dataset indices: draws selected examples with probability ∝ weight.

        With multiplicities, an example is drawn with probability ∝ weight × multiplicity, and one pass draws
        :attr:`epoch_size` samples by default.

        Training with it on the full dataset approximates the weighted coreset loss in expectation. Use
        ``lessdata.training`` loaders when you want the weights delivered with each batch instead.
        """
        import torch
        from torch.utils.data import Sampler

        if dataset is not None:
            self._check_dataset(dataset)
        if len(self) == 0:
            raise LessdataError("cannot build a sampler from an empty Coreset")
        probs = torch.as_tensor(self.weights, dtype=torch.float64) * torch.as_tensor(self.multiplicities)
        if not torch.isfinite(probs).all() or (probs < 0).any() or probs.sum() <= 0:
            raise LessdataError("Coreset weights must be finite, non-negative and not all zero to sample")
        indices = torch.as_tensor(self.indices)
        if num_samples is not None and (isinstance(num_samples, (bool, np.bool_))
                                        or not isinstance(num_samples, (int, np.integer)) or num_samples < 1):
            raise LessdataError(f"num_samples must be a positive integer, got {num_samples!r}")
        count = self.epoch_size if num_samples is None else int(num_samples)
        if not replacement and count > len(self):
            raise LessdataError(f"cannot draw {count} samples without replacement from {len(self)} points")

        class CoresetSampler(Sampler):
            def __len__(self):
                return count

            def __iter__(self):
                draws = torch.multinomial(probs, count, replacement=replacement, generator=generator)
                return iter(indices[draws].tolist())

        return CoresetSampler()


def _numeric_array(values, name: str) -> np.ndarray:
    """``values`` as a 1-D numeric array; object, string and nested (list-typed) columns are refused."""
    try:
        arr = np.asarray(values)
    except Exception as exc:  # ragged lists and the like
        raise LessdataError(f"Coreset.{name} could not be read as an array: {exc}") from None
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise LessdataError(f"Coreset.{name} must be numbers, got dtype {arr.dtype}")
    if arr.ndim > 1 and arr.size != arr.shape[0]:
        raise LessdataError(f"Coreset.{name} must be one value per index, got shape {arr.shape}")
    return arr.reshape(-1)


def _integer_array(values, name: str) -> np.ndarray:
    """``values`` as int64; floats are accepted only when they are whole numbers (never truncated)."""
    arr = _numeric_array(values, name)
    whole = np.isfinite(arr) & (arr == np.round(arr)) if np.issubdtype(arr.dtype, np.floating) else None
    if whole is not None and not whole.all():
        bad = arr[~whole][0]
        raise LessdataError(f"Coreset.{name} must be integers, got {bad.item()!r}")
    return arr.astype(np.int64)


_META_TYPES = {"objective": (int, float, type(None)), "method": (str,), "params": (dict,),
               "seed": (int, type(None)), "seconds": (int, float), "n": (int, type(None))}


def _check_meta(meta, path) -> dict:
    """The metadata of a saved Coreset, checked key by key, or one line naming what is wrong."""
    if not isinstance(meta, dict):
        raise LessdataError(f"{path} is not a readable lessdata Coreset: its metadata is not a mapping")
    for key, types in _META_TYPES.items():
        if key not in meta and key != "n":
            raise LessdataError(f"{path} is not a readable lessdata Coreset: its metadata has no {key!r}")
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, types):
            raise LessdataError(f"{path} is not a readable lessdata Coreset: metadata {key!r} is {value!r}")
    if meta["objective"] is None:  # NaN is written as null by strict JSON writers
        meta = {**meta, "objective": float("nan")}
    return meta


def _check_multiplicities(multiplicities, k: int) -> np.ndarray:
    """Positive integers, one per index; ``None`` means every example once per epoch."""
    if multiplicities is None:
        return np.ones(k, dtype=np.int64)
    raw = np.asarray(multiplicities)
    if raw.dtype == bool or not (np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.floating)):
        raise LessdataError(f"Coreset.multiplicities must be positive integers, got dtype {raw.dtype}")
    raw = raw.reshape(-1)
    if raw.size and not np.isfinite(raw).all():
        raise LessdataError("Coreset.multiplicities must be positive integers, got a non-finite value")
    if raw.size and (raw != np.round(raw)).any():
        bad = raw[raw != np.round(raw)][0]
        raise LessdataError(f"Coreset.multiplicities must be positive integers, got {bad.item()!r}")
    if raw.size and (raw < 1).any():
        raise LessdataError(f"Coreset.multiplicities must be positive integers, got {raw[raw < 1][0].item()!r}")
    return raw.astype(np.int64)


def _selection_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "backend"}


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
