"""Read and write IDX files, the format of MNIST and Fashion-MNIST (optionally gzip-compressed).

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian uint32
dimension sizes, then the data in C order, big-endian (LeCun et al., http://yann.lecun.com/exdb/mnist/).

Examples:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
    >>> write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
    >>> read_idx(path)
    array([3, 1, 4], dtype=uint8)
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import LessdataError

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def idx_header(buffer: bytes, name: str = "IDX data") -> tuple[np.dtype, tuple[int, ...], int]:
    """Parse an IDX header: return ``(dtype, shape, header_size)`` or raise naming what is wrong."""
    if len(buffer) < 4:
        raise LessdataError(f"{name} is not an IDX file: only {len(buffer)} bytes")
    if buffer[0] != 0 or buffer[1] != 0:
        raise LessdataError(f"{name} is not an IDX file: bad magic number 0x{buffer[:4].hex()}")
    code, ndim = buffer[2], buffer[3]
    if code not in IDX_DTYPES:
        raise LessdataError(f"{name} is not an IDX file: unknown data type code 0x{code:02x}")
    if ndim == 0:
        raise LessdataError(f"{name} is not an IDX file: zero dimensions in the header")
    header_size = 4 + 4 * ndim
    if len(buffer) < header_size:
        raise LessdataError(f"{name} is truncated: the header declares {ndim} dimensions")
    shape = tuple(int(d) for d in np.frombuffer(buffer, dtype=">u4", count=ndim, offset=4))
    return IDX_DTYPES[code], shape, header_size


def parse_idx(buffer: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into an array in native byte order."""
    dtype, shape, header_size = idx_header(buffer, name)
    expected = math.prod(shape) * dtype.itemsize
    actual = len(buffer) - header_size
    if actual != expected:
        raise LessdataError(
            f"{name} is corrupt: header says shape {shape} ({expected} data bytes) but it has {actual}"
        )
    data = np.frombuffer(buffer, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """Return the uncompressed bytes of an IDX file, gunzipping it when it is gzip-compressed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LessdataError(f"file not found: {path}") from None
    except OSError as exc:
        raise LessdataError(f"could not read {path}: {exc.strerror or exc}") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise LessdataError(f"{path} is a corrupt gzip file: {exc}") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into a numpy array in native byte order.

    Raises :class:`LessdataError` for a missing file, a corrupt gzip stream, a bad magic number, or a
    data size that does not match the header.
    """
    return parse_idx(read_idx_bytes(path), name=str(path))


def write_idx(path: str | os.PathLike, array) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``), atomically."""
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise LessdataError(
            f"IDX cannot store dtype {array.dtype}; use one of uint8, int8, int16, int32, float32, float64"
        )
    if not 1 <= array.ndim <= 255:
        raise LessdataError(f"IDX needs an array with 1 to 255 dimensions, got shape {array.shape}")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".gz":
            # mtime=0 keeps the output byte-for-byte reproducible.
            tmp.write_bytes(gzip.compress(payload, mtime=0))
        else:
            tmp.write_bytes(payload)
