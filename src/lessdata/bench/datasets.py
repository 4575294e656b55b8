"""The benchmark datasets and models: Fashion-MNIST (LeNet or MLP) and scikit-learn's digits (MLP), their
training settings, and stratified subsets for quick runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import check_choice
from ..errors import LessdataError
from .arms import stratified_split, take

__all__ = ["COMMON_SETTINGS", "DATASETS", "DEFAULT_SETTINGS", "MODELS", "MODEL_DESCRIPTIONS",
           "load_benchmark_data", "model_factory", "subsample"]

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

