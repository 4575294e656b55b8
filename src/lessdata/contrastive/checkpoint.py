"""Save a trained :class:`SimCLR` or :class:`TinyCLIP` to one ``.pt`` file and load it back.

The file holds the constructor arguments (and a CLIP model's vocabulary) next to the weights, so
``load_model`` rebuilds the same network; it is read with ``torch.load(weights_only=True)`` (no pickled code)
and written atomically (a failed save leaves no partial file).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .._io import atomic_path
from ..errors import LessdataError
from .models import SimCLR, TinyCLIP, Vocabulary

__all__ = ["load_model", "save_model"]

_FORMAT = "lessdata.contrastive"
_VERSION = 1


def save_model(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model`` (a :class:`SimCLR` or :class:`TinyCLIP` built by lessdata, or a
    :class:`~lessdata.contrastive.ContrastiveRun`'s ``model``) to ``path`` (``.pt``).

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "simclr.pt"
        >>> model = SimCLR(width=4, projection_dim=8)
        >>> back = load_model(save_model(model, path))
        >>> all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))
        True
    """
    path = Path(path)
    if path.suffix.lower() != ".pt":
        raise LessdataError(f"cannot save a model as {path.name!r}: use a .pt file name")
    if isinstance(model, SimCLR):
        kind, extra = "simclr", {}
    elif isinstance(model, TinyCLIP):
        kind, extra = "clip", {"vocab": list(model.vocab.words)}
    else:
        raise LessdataError(f"save_model takes a SimCLR or TinyCLIP model, got {type(model).__name__}")
    if model.config is None:
        raise LessdataError("this SimCLR model has a custom encoder: save its state_dict() with torch.save")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": _FORMAT, "format_version": _VERSION, "kind": kind, "config": dict(model.config),
               "state_dict": state, **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Read a model written by :func:`save_model`, in eval mode on ``device``."""
    path = Path(path)
    if not path.is_file():
        raise LessdataError(f"no such model file: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file, truncated, or holding pickled code
        raise LessdataError(f"{path} is not a readable lessdata contrastive model ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise LessdataError(f"{path} is not a lessdata contrastive model (written by save_model)")
    if payload.get("format_version") != _VERSION:
        raise LessdataError(f"{path} has format version {payload.get('format_version')}; this lessdata reads "
                            f"version {_VERSION}")
    config = payload["config"]
    if payload["kind"] == "simclr":
        model = SimCLR(**config)
    elif payload["kind"] == "clip":
        model = TinyCLIP(Vocabulary(payload["vocab"]), **config)
    else:
        raise LessdataError(f"{path} holds an unknown model kind {payload['kind']!r}")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise LessdataError(f"{path}: the weights do not fit the model ({str(exc).splitlines()[0]})") from None
    return model.to(device).eval()
