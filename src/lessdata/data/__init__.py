"""Data loaders: feature tables (npy/npz/parquet/csv), Fashion-MNIST (IDX), scikit-learn digits, and the
bridge between numpy arrays and torch Datasets."""

from .arrays import read_labels, read_table
from .digits import digits
from .fashion_mnist import download_fashion_mnist, fashion_mnist, fashion_mnist_classes, find_fashion_mnist
from .idx import read_idx, write_idx

_TORCH_SIDE = {"ArrayDataset", "as_arrays", "iter_batches"}


def __getattr__(name):
    # the torch bridge is imported on first use, so reading tables or IDX files does not load torch
    if name in _TORCH_SIDE:
        from . import torch_data

        return getattr(torch_data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ArrayDataset",
    "as_arrays",
    "digits",
    "download_fashion_mnist",
    "fashion_mnist",
    "fashion_mnist_classes",
    "find_fashion_mnist",
    "iter_batches",
    "read_idx",
    "read_labels",
    "read_table",
    "write_idx",
]
