"""Coreset files and objects with bad contents: one LessdataError line each, never a raw traceback."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lessdata import Coreset
from lessdata.errors import LessdataError


def _coreset():
    return Coreset(indices=[3, 1, 4], weights=[1.0, 2.0, 3.0], objective=1.5, method="craig", params={}, seed=0,
                   n=10)


def _tamper_npz(path, **meta_changes):
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    meta = json.loads(str(data["meta"]))
    for k, v in meta_changes.items():
        if v is _DROP:
            meta.pop(k)
        else:
            meta[k] = v
    data["meta"] = np.array(json.dumps(meta))
    np.savez(path, **data)


_DROP = object()


@pytest.mark.parametrize("change, message", [
    ({"objective": _DROP}, "no 'objective'"),
    ({"n": "10"}, "metadata 'n'"),
    ({"seed": 1.5}, "metadata 'seed'"),
    ({"params": [1, 2]}, "metadata 'params'"),
    ({"method": None}, "metadata 'method'"),
])
def test_tampered_metadata_is_one_line(tmp_path, change, message):
    path = _coreset().save(tmp_path / "c.npz")
    _tamper_npz(path, **change)
    with pytest.raises(LessdataError, match=message):
        Coreset.load(path)


def test_metadata_that_is_not_a_mapping(tmp_path):
    path = _coreset().save(tmp_path / "c.npz")
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    data["meta"] = np.array(json.dumps([1, 2, 3]))
    np.savez(path, **data)
    with pytest.raises(LessdataError, match="not a mapping"):
        Coreset.load(path)


def test_float_indices_are_refused_not_truncated(tmp_path):
    path = _coreset().save(tmp_path / "c.npz")
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    data["indices"] = np.array([3.5, 1.0, 4.0])
    np.savez(path, **data)
    with pytest.raises(LessdataError, match="indices must be integers, got 3.5"):
        Coreset.load(path)
    # whole floats are fine
    assert Coreset(indices=np.array([2.0, 0.0]), weights=[1, 1]).indices.tolist() == [2, 0]


def test_list_typed_weight_column_is_refused(tmp_path):
    path = _coreset().save(tmp_path / "c.parquet")
    table = pq.read_table(path)
    weights = pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    table = table.set_column(table.column_names.index("weight"), "weight", weights)
    pq.write_table(table, path)
    with pytest.raises(LessdataError, match="weights"):
        Coreset.load(path)


def test_round_trip_is_unchanged(tmp_path):
    cs = _coreset()
    for suffix in (".npz", ".parquet"):
        assert Coreset.load(cs.save(tmp_path / f"c{suffix}")) == cs


def test_sampler_and_subset_bad_arguments():
    cs = _coreset()
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(LessdataError, match="num_samples must be a positive integer"):
            cs.to_sampler(num_samples=bad)
    with pytest.raises(LessdataError, match="map-style"):
        cs.to_subset(iter(range(10)))


def test_save_onto_a_directory(tmp_path):
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(LessdataError, match="is a directory"):
        _coreset().save(tmp_path / "d.npz")
