"""The benchmark datasets and models: Fashion-MNIST (LeNet or MLP) and scikit-learn's digits (MLP), their
training settings, and stratified subsets for quick runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import check_choice
from ..errors import LessdataError

__all__ = ["COMMON_SETTINGS", "DATASETS", "DEFAULT_SETTINGS", "MODELS", "MODEL_DESCRIPTIONS",
           "load_benchmark_data", "model_factory", "relabel", "stratified_split", "subsample", "take"]

DATASETS = ("fashion-mnist", "digits")
MODELS = ("cnn", "mlp")

#: Training settings per (dataset, model): the same for every arm of a benchmark.
DEFAULT_SETTINGS: dict[tuple[str, str], dict[str, Any]] = {
    ("fashion-mnist", "cnn"): {"epochs": 10, "quick_epochs": 3, "batch_size": 128, "lr": 0.05},
    ("fashion-mnist", "mlp"): {"epochs": 10, "quick_epochs": 3, "batch_size": 128, "lr": 0.05},
    ("digits", "mlp"): {"epochs": 20, "quick_epochs": 5, "batch_size": 32, "lr": 0.05},
}
MODEL_DESCRIPTIONS = {
    "cnn": "LeNet-5-style CNN (lessdata.models.LeNet, about 62k parameters)",
    "mlp": "MLP with hidden layers 256-128 (lessdata.models.MLP)",
}
COMMON_SETTINGS = {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 5e-4, "lr_schedule": "cosine"}


def load_benchmark_data(dataset: str, model: str):
    """``(train, test, train_labels, in_features)`` for a benchmark dataset, as torch Datasets."""
    from lessdata.data import ArrayDataset

    check_choice(dataset, DATASETS, "dataset")
    check_choice(model, MODELS, "model")
    if dataset == "fashion-mnist":
        from lessdata.data import fashion_mnist

        X, y = fashion_mnist(split="train")
        Xt, yt = fashion_mnist(split="test")
        shape = (1, 28, 28) if model == "cnn" else None
        return ArrayDataset(X, y, shape=shape), ArrayDataset(Xt, yt, shape=shape), y, 784
    if model == "cnn":
        raise LessdataError("the cnn model (LeNet) needs 28x28 images: use --model mlp with the digits dataset")
    from lessdata.data import digits

    X, y = digits()
    X = X / np.float32(16.0)
    train_idx, test_idx = stratified_split(y, test_fraction=0.2, seed=0)
    return ArrayDataset(X[train_idx], y[train_idx]), ArrayDataset(X[test_idx], y[test_idx]), y[train_idx], 64


def subsample(dataset, labels: np.ndarray, size: int | None, what: str):
    """A stratified ``size``-example subset (fixed seed 0, the same for every seed and process)."""
    if size is None or size >= len(labels):
        return dataset, labels
    if size < 10 * len(np.unique(labels)):
        raise LessdataError(f"{what}_size {size} is too small: give at least 10 examples per class")
    _, keep = stratified_split(labels, size / len(labels), seed=0)
    return take(dataset, keep), labels[keep]


def model_factory(model: str, in_features: int) -> Callable[[], Any]:
    from lessdata.models import MLP, LeNet

    check_choice(model, MODELS, "model")
    return LeNet if model == "cnn" else (lambda: MLP(in_features=in_features))


def stratified_split(y: np.ndarray, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-class random split into (train, test) indices, both sorted.

    Examples:
        >>> a, b = stratified_split(np.arange(20) % 2, 0.2, seed=0)
        >>> len(a), len(b)
        (16, 4)
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        cut = int(round(test_fraction * len(idx)))
        test.append(idx[:cut])
        train.append(idx[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def take(dataset, indices: np.ndarray, labels: np.ndarray | None = None):
    """Rows ``indices`` of ``dataset``: a new ArrayDataset (keeps the fast batch path) or a torch ``Subset``;
    ``labels`` (an ArrayDataset only) replaces its labels."""
    import torch

    from ..data import ArrayDataset

    idx = np.asarray(indices, dtype=np.int64)
    if isinstance(dataset, ArrayDataset):
        y = dataset.y[torch.from_numpy(idx)] if labels is None else np.asarray(labels)
        return ArrayDataset(dataset.X[torch.from_numpy(idx)], y, shape=dataset.shape)
    if labels is not None:
        raise LessdataError("replacing the labels of the training set needs a lessdata ArrayDataset")
    return torch.utils.data.Subset(dataset, idx.tolist())


def relabel(dataset, labels: np.ndarray):
    """The same inputs with other labels (for label noise); needs a lessdata ArrayDataset."""
    from ..data import ArrayDataset

    if not isinstance(dataset, ArrayDataset):
        raise LessdataError("label noise needs the training set as a lessdata ArrayDataset")
    return ArrayDataset(dataset.X, np.asarray(labels), shape=dataset.shape)
