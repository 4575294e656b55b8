"""Shared pieces of the dataset-distillation benchmarks: the reduced Fashion-MNIST setting, result writing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from _common import peak_rss_gib

from lessdata.data import fashion_mnist

RESULTS = Path(__file__).parent / "results"
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST pixel mean / std


def load(per_class: int, test_size: int, seed: int = 0):
    """A class-balanced pool of ``per_class`` training images per class and a class-balanced test subset,
    normalised with the dataset mean / std, as ``(n, 1, 28, 28)`` float tensors."""
    def prep(X):
        return torch.from_numpy(X).float().div(255).sub(MEAN).div(STD).unsqueeze(1)

    X, y = fashion_mnist(split="train")
    Xt, yt = fashion_mnist(split="test")
    rng = np.random.default_rng(seed)
    pool = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in range(10)])
    test = np.concatenate([rng.permutation(np.flatnonzero(yt == c))[:test_size // 10] for c in range(10)])
    return (prep(X[pool]), torch.from_numpy(y[pool].astype(np.int64)),
            prep(Xt[test]), torch.from_numpy(yt[test].astype(np.int64)))


def peak_rss_mb() -> float:
    return peak_rss_gib() * 1024


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def mean_std(values) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean() * 100:.1f} ± {v.std() * 100:.1f}"


def write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    tmp.replace(path)
