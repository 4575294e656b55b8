"""Data loaders: feature tables (npy/npz/parquet/csv), Fashion-MNIST (IDX), scikit-learn digits, and the
bridge between numpy arrays and torch Datasets; attacks (label noise, backdoors, image–text poisons) on arrays."""

from .arrays import read_labels, read_table
from .attacks import (
    Backdoor,
    ImageTextPoison,
    asymmetric_label_noise,
    attack_success_rate,
    badnets,
    check_noise_rate,
    checkerboard_trigger,
    image_text_backdoor,
    stamp_trigger,
    symmetric_label_noise,
    targeted_image_text_poison,
)
from .digits import digits
from .fashion_mnist import download_fashion_mnist, fashion_mnist, fashion_mnist_classes, find_fashion_mnist
from .idx import read_idx, write_idx

_TORCH_SIDE = {"ArrayDataset", "as_arrays", "batch_fetcher", "dataset_labels", "iter_batches", "split_batch"}


def __getattr__(name):
    # the torch bridge is imported on first use, so reading tables or IDX files does not load torch
    if name in _TORCH_SIDE:
        from . import torch_data

        return getattr(torch_data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ArrayDataset",
    "Backdoor",
    "ImageTextPoison",
    "asymmetric_label_noise",
    "attack_success_rate",
    "badnets",
    "check_noise_rate",
    "checkerboard_trigger",
    "image_text_backdoor",
    "stamp_trigger",
    "symmetric_label_noise",
    "targeted_image_text_poison",
    "as_arrays",
    "batch_fetcher",
    "dataset_labels",
    "digits",
    "download_fashion_mnist",
    "fashion_mnist",
    "fashion_mnist_classes",
    "find_fashion_mnist",
    "iter_batches",
    "read_idx",
    "read_labels",
    "read_table",
    "split_batch",
    "write_idx",
]
