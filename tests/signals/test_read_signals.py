"""read_signals on hand-made folders: a good one reads back; every damaged one is one clear error."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lessdata.errors import LessdataError
from lessdata.signals.pipeline import MANIFEST, read_signals, shard_name


def _write(root, n=6, n_shards=2, dim=3, manifest=None):
    root.mkdir(exist_ok=True)
    X = np.arange(n * dim, dtype=np.float32).reshape(n, dim)
    for s, ids in enumerate(np.array_split(np.arange(n), n_shards)):
        signal = pa.FixedSizeListArray.from_arrays(pa.array(X[ids].ravel()), dim)
        pq.write_table(pa.table({"id": ids, "signal": signal, "label": ids % 2}), root / shard_name(s))
    body = {"format_version": 1, "settings": {"n": n}, "n_shards": n_shards} if manifest is None else manifest
    (root / MANIFEST).write_text(body if isinstance(body, str) else json.dumps(body))
    return X


def test_a_good_folder_reads_back(tmp_path):
    X = _write(tmp_path / "s")
    got, y, ids = read_signals(tmp_path / "s")
    np.testing.assert_array_equal(got, X)
    np.testing.assert_array_equal(y, np.arange(6) % 2)
    np.testing.assert_array_equal(ids, np.arange(6))


@pytest.mark.parametrize("manifest, message", [
    ("{not json", "cannot read the signal manifest"),
    ([1, 2], "damaged"),
    ({"settings": {"n": 6}}, "damaged"),
    ({"settings": {"n": "6"}, "n_shards": 2}, "damaged"),
    ({"settings": {"n": 6}, "n_shards": True}, "damaged"),
    ({"settings": {"n": 6}, "n_shards": 0}, "damaged"),
    ({"settings": [], "n_shards": 2}, "damaged"),
    ({"settings": {"n": 6}, "n_shards": 7}, "7 shards for 6 rows"),
])
def test_a_damaged_manifest_is_one_line(tmp_path, manifest, message):
    _write(tmp_path / "s", manifest=manifest)
    with pytest.raises(LessdataError, match=message):
        read_signals(tmp_path / "s")


def test_a_huge_claimed_shard_count_answers_at_once(tmp_path):
    _write(tmp_path / "s", manifest={"settings": {"n": 10**12}, "n_shards": 10**8})
    with pytest.raises(LessdataError, match=r"shard\(s\) 2, 3, .*of 100000000 missing"):
        read_signals(tmp_path / "s")


def test_garbage_shard_and_missing_columns(tmp_path):
    _write(tmp_path / "s")
    (tmp_path / "s" / shard_name(1)).write_bytes(b"not parquet at all")
    with pytest.raises(LessdataError, match="cannot read the signal shard"):
        read_signals(tmp_path / "s")
    _write(tmp_path / "t")
    pq.write_table(pa.table({"id": np.arange(3, 6)}), tmp_path / "t" / shard_name(1))
    with pytest.raises(LessdataError, match="no 'signal' or 'id' column"):
        read_signals(tmp_path / "t")
    _write(tmp_path / "u")
    pq.write_table(pa.table({"id": np.arange(3, 6), "signal": np.ones(3)}), tmp_path / "u" / shard_name(1))
    with pytest.raises(LessdataError, match="not a fixed-size list"):
        read_signals(tmp_path / "u")
