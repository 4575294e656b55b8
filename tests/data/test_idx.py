import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from lessdata.data import read_idx, write_idx
from lessdata.errors import LessdataError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    array=st.sampled_from(DTYPES).flatmap(
        lambda dtype: arrays(dtype, array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    ),
    compressed=st.booleans(),
)
def test_round_trip(tmp_path, array, compressed):
    path = tmp_path / ("data-idx.gz" if compressed else "data-idx")
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_header_layout_matches_the_mnist_format(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((2, 3, 4), dtype=np.uint8))
    raw = gzip.decompress((tmp_path / "x.gz").read_bytes())
    assert raw[:4] == bytes([0, 0, 0x08, 3])  # magic 2051, as in train-images-idx3-ubyte
    assert np.frombuffer(raw[4:16], dtype=">u4").tolist() == [2, 3, 4]
    assert len(raw) == 16 + 24


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01x", "bad magic number"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01x", "unknown data type code 0x07"),
        (b"\x00\x00\x08\x00", "zero dimensions"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated"),
        (b"\x00\x00", "only 2 bytes"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", r"shape \(5,\) \(5 data bytes\) but it has 3"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01abc", "but it has 3"),
    ],
)
def test_corrupt_files(tmp_path, content, message):
    for path, data in [(tmp_path / "f-idx", content), (tmp_path / "f-idx.gz", gzip.compress(content))]:
        path.write_bytes(data)
        with pytest.raises(LessdataError, match=message):
            read_idx(path)


def test_bad_gzip_and_missing_file(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01x")[:-6])
    with pytest.raises(LessdataError, match="corrupt gzip"):
        read_idx(path)
    with pytest.raises(LessdataError, match="file not found"):
        read_idx(tmp_path / "nope.gz")


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(LessdataError, match="cannot store dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    assert not list(tmp_path.iterdir())
