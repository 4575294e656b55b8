"""The distilled-set file: one ``.pt`` file holding a synthetic training set and how it was made.

Contents: ``images`` ``(n, C, H, W)``; ``labels`` ``(n,)`` (class distillation) and/or ``targets`` ``(n, d)``
(learned target representations, MKDT); ``learning_rates`` (one learned step size per stage; one stage for
MTT); ``stages`` ``(n,)`` (the stage that made each image, PDD); optional ZCA statistics; and ``provenance``
(method, settings, seed, source data shape, date) stored as JSON. The file holds tensors, numbers and strings
only, so it loads with ``torch.load(weights_only=True)`` and never unpickles code. Writes are atomic.

Examples:
    >>> s = DistilledSet(torch.zeros(2, 1, 4, 4), labels=torch.tensor([0, 1]))
    >>> len(s), s[1][1].item()
    (2, 1)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .._io import atomic_path
from ..errors import LessdataError
from ._core import ZCA

FORMAT = "lessdata-distilled-v1"


@dataclass
class DistilledSet(Dataset):
    """A synthetic training set; indexing yields ``(image, label)`` (or ``(image, target)`` without labels).

    Attributes:
        images: ``(n, C, H, W)`` float tensor (in the space the networks were trained in, e.g. whitened).
        labels: ``(n,)`` class ids, or ``None``.
        targets: ``(n, d)`` learned target representations (MKDT), or ``None``.
        learning_rates: learned step size of each stage (``(P,)``).
        stages: ``(n,)`` stage id of each image (all zero for MTT).
        provenance: method, settings, seed, source shape...
        zca: ZCA statistics when the source images were whitened, else ``None``.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    learning_rates: torch.Tensor = field(default_factory=lambda: torch.tensor([0.01]))
    stages: torch.Tensor | None = None
    provenance: dict = field(default_factory=dict)
    zca: ZCA | None = None

    def __post_init__(self):
        n = len(self.images)
        if self.images.dim() != 4:
            raise LessdataError(f"distilled images must be (n, C, H, W), got shape {tuple(self.images.shape)}")
        if self.labels is None and self.targets is None:
            raise LessdataError("a distilled set needs labels or target representations")
        for name in ("labels", "targets", "stages"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise LessdataError(f"distilled {name} have {len(value)} rows but there are {n} images")
        if self.stages is None:
            self.stages = torch.zeros(n, dtype=torch.long)
        self.learning_rates = torch.as_tensor(self.learning_rates, dtype=torch.float32).reshape(-1)
        if int(self.stages.max()) >= len(self.learning_rates):
            raise LessdataError(f"distilled set has stage {int(self.stages.max())} but only "
                                f"{len(self.learning_rates)} learning rate(s)")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], (self.labels[i] if self.labels is not None else self.targets[i])

    @property
    def num_stages(self) -> int:
        return len(self.learning_rates)

    def stage_union(self, stage: int) -> torch.Tensor:
        """Indices of the images of stages ``0..stage`` (the cumulative union PDD trains on)."""
        return (self.stages <= stage).nonzero().flatten()

    def save(self, path) -> Path:
        """Write the set to ``path`` (``.pt``) atomically."""
        path = Path(path)
        if path.suffix != ".pt":
            raise LessdataError(f"distilled-set file {str(path)!r} must end in .pt")
        blob = {"format": FORMAT, "images": self.images.detach().cpu(),
                "learning_rates": self.learning_rates.detach().cpu(), "stages": self.stages.detach().cpu(),
                "provenance": json.dumps(self.provenance, default=str)}
        if self.labels is not None:
            blob["labels"] = self.labels.detach().cpu()
        if self.targets is not None:
            blob["targets"] = self.targets.detach().cpu()
        if self.zca is not None:
            blob["zca"] = self.zca.state()
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)
        return path

    @classmethod
    def load(cls, path) -> DistilledSet:
        """Read a file written by :meth:`save`; anything else raises :class:`LessdataError`."""
        path = Path(path)
        if not path.is_file():
            raise LessdataError(f"distilled-set file {path} not found")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise LessdataError(f"cannot read distilled set {path}: {str(exc).splitlines()[0]}") from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise LessdataError(f"{path} is not a lessdata distilled-set file")
        zca = ZCA(**{"inverse" if k == "inverse" else k: v for k, v in blob["zca"].items()}) if "zca" in blob else None
        return cls(blob["images"], blob.get("labels"), blob.get("targets"), blob["learning_rates"], blob["stages"],
                   json.loads(blob["provenance"]), zca)
