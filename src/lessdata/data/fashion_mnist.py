"""Fashion-MNIST: 70,000 28x28 grayscale images of clothing in 10 classes (Xiao et al., 2017,
"Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms", arXiv:1708.07747).

The four IDX files are looked up, in order, in ``root``; in ``$LESSDATA_DATA`` (directly or in its
``fashion-mnist/`` subfolder); and in ``/usr/share/datasets/fashion-mnist/``, where the Debian package
``dataset-fashion-mnist`` installs them. :func:`download_fashion_mnist` fetches them from the public mirror.

Examples:
    >>> X, y = fashion_mnist(split="test")          # doctest: +SKIP
    >>> X.shape, X.dtype, y.shape, fashion_mnist_classes[y[0]]  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'), (10000,), 'Ankle boot')
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .._validation import check_choice
from ..errors import LessdataError
from .idx import parse_idx, read_idx, read_idx_bytes

fashion_mnist_classes = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# MD5 of the *uncompressed* IDX files: it survives re-compression by mirrors and distributions (the Debian
# package re-gzips them, so the published .gz checksums do not match its files, but these do).
MD5_UNCOMPRESSED = {
    "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
}
_HOW_TO_GET = (
    "install them with `apt-get install dataset-fashion-mnist`, or download them with "
    "`lessdata.data.download_fashion_mnist(root)`"
)


def _candidate_dirs(root) -> list[Path]:
    if root is not None:
        return [Path(root), Path(root) / "fashion-mnist"]
    dirs = []
    env = os.environ.get("LESSDATA_DATA")
    if env:
        dirs += [Path(env), Path(env) / "fashion-mnist"]
    return dirs + [SYSTEM_DIR]


def _existing(directory: Path, name: str) -> Path | None:
    """The file ``name`` in ``directory``, gzipped or already unpacked, if either exists."""
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def find_fashion_mnist(root=None, split: str = "train") -> tuple[Path, Path]:
    """Return the paths of the images and labels files of ``split``, or raise saying how to get them."""
    check_choice(split, FILES, "Fashion-MNIST split")
    dirs = _candidate_dirs(root)
    for directory in dirs:
        paths = [_existing(directory, name) for name in FILES[split]]
        if all(paths):
            return paths[0], paths[1]
    searched = ", ".join(str(d) for d in dirs)
    raise LessdataError(
        f"Fashion-MNIST {split} files ({', '.join(FILES[split])}) not found in {searched}; {_HOW_TO_GET}"
    )


def fashion_mnist(root=None, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load a Fashion-MNIST split as ``(X, y)``: uint8 images ``(n, 28, 28)`` and int64 labels ``(n,)``.

    Args:
        root: folder holding the IDX files (or a ``fashion-mnist/`` subfolder of it). ``None`` searches
            ``$LESSDATA_DATA`` and then ``/usr/share/datasets/fashion-mnist/``.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).

    Examples:
        >>> X, y = fashion_mnist()  # doctest: +SKIP
        >>> X.shape, y.shape        # doctest: +SKIP
        ((60000, 28, 28), (60000,))
    """
    images_path, labels_path = find_fashion_mnist(root, split)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise LessdataError(
            f"{images_path} does not hold 28x28 uint8 images (got {images.dtype} of shape {images.shape})"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise LessdataError(
            f"{labels_path} does not hold uint8 labels (got {labels.dtype} of shape {labels.shape})"
        )
    if len(labels) != len(images):
        raise LessdataError(
            f"{labels_path} has {len(labels)} labels but {images_path} has {len(images)} images"
        )
    if len(labels) and labels.max() >= len(fashion_mnist_classes):
        raise LessdataError(f"{labels_path} has label {labels.max()}; Fashion-MNIST labels are 0-9")
    return images, labels.astype(np.int64)


def _check_download(path: Path, name: str, verify: bool) -> None:
    """Raise unless ``path`` is a readable IDX file of the right kind (and checksum, if ``verify``)."""
    payload = read_idx_bytes(path)
    array = parse_idx(payload, name=name)
    want_ndim = 3 if "images" in name else 1
    if array.ndim != want_ndim:
        raise LessdataError(f"{name}: expected a {want_ndim}-D IDX array, got shape {array.shape}")
    if verify and hashlib.md5(payload, usedforsecurity=False).hexdigest() != MD5_UNCOMPRESSED[name]:
        raise LessdataError(
            f"{name}: checksum mismatch, the download is corrupt or not Fashion-MNIST "
            "(pass verify=False to accept other IDX files)"
        )


def download_fashion_mnist(
    root, base_url: str = DEFAULT_URL, *, verify: bool = True, timeout: float = 60.0, progress=None
) -> Path:
    """Download the four Fashion-MNIST IDX files into ``root`` and return ``root`` as a :class:`Path`.

    Files already present and valid are kept. Each download is written to a temporary file and renamed only
    after its IDX header (and, with ``verify=True``, the MD5 of its uncompressed content) checks out, so a
    failed download never leaves a partial file behind.

    Args:
        root: destination folder (created if missing). Pass it later as ``fashion_mnist(root)``.
        base_url: folder URL holding the four ``.gz`` files (``http(s)://`` or ``file://``).
        verify: check the MD5 of each file's uncompressed content against the published dataset.
        timeout: seconds to wait on the network per request.
        progress: optional tqdm-compatible object; ``update(n)`` is called with the bytes received.

    Examples:
        >>> root = download_fashion_mnist("~/data/fashion-mnist")  # doctest: +SKIP
        >>> X, y = fashion_mnist(root)                             # doctest: +SKIP
    """
    root = Path(root).expanduser()
    names = FILES["train"] + FILES["test"]
    for name in names:
        target = root / name
        if target.is_file():
            try:
                _check_download(target, name, verify)
                continue
            except LessdataError:
                pass  # damaged or foreign file: fetch it again
        url = base_url.rstrip("/") + "/" + name
        with atomic_path(target) as tmp:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                    _copy(response, out, progress)
            except urllib.error.HTTPError as exc:
                raise LessdataError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise LessdataError(f"could not download {url}: {reason}") from None
            _check_download(tmp, name, verify)
    return root


def _copy(response, out, progress) -> None:
    if progress is None:
        shutil.copyfileobj(response, out, length=1 << 20)
        return
    while chunk := response.read(1 << 20):
        out.write(chunk)
        progress.update(len(chunk))
