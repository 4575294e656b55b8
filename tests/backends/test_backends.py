"""Backends without a Ray cluster: choosing one, grouping parts, and a clear error when Ray is missing."""

import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import lessdata
from lessdata.backends import LocalBackend, get_backend
from lessdata.cli import app
from lessdata.errors import LessdataError, MissingExtraError


class Item:
    def __init__(self, size, budget=1):
        self.size, self.budget = size, budget


def test_get_backend_names_and_objects():
    assert isinstance(get_backend("local"), LocalBackend)
    mine = LocalBackend()
    assert get_backend(mine) is mine
    with pytest.raises(LessdataError, match="unknown backend 'spark'; choose one of: local, ray"):
        get_backend("spark")


def test_group_items_keeps_order_and_reaches_the_target():
    from lessdata.backends.ray import group_items

    groups = group_items([Item(s) for s in (5, 1, 1, 9, 2, 2)], 4)
    assert groups == [[0], [1, 2, 3], [4, 5]]
    assert [i for g in groups for i in g] == list(range(6))
    assert group_items([Item(1)] * 3, 1) == [[0], [1], [2]]


@pytest.fixture
def no_ray(monkeypatch):
    """Make `import ray` fail, whether or not Ray is installed."""
    monkeypatch.setitem(sys.modules, "ray", None)


def test_ray_backend_without_ray_names_the_extra(no_ray, blobs):
    X, y = blobs(200, 4)
    with pytest.raises(MissingExtraError, match=r"the Ray backend needs the optional package 'ray'.*lessdata\[ray\]"):
        get_backend("ray")
    with pytest.raises(MissingExtraError, match=r"lessdata\[ray\]"):
        lessdata.select(X, fraction=0.1, method="craig", labels=y, backend="ray")
    with pytest.raises(MissingExtraError, match=r"lessdata\[ray\]"):
        lessdata.select(X, fraction=0.1, method="greedi", backend="ray")


def test_signal_pipeline_without_ray_names_the_extra(no_ray, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from lessdata.signals.pipeline import compute_signals

    pq.write_table(pa.table({"x": np.arange(10, dtype=np.float32)}), tmp_path / "a.parquet")
    with pytest.raises(MissingExtraError, match=r"lessdata\[ray\]"):
        compute_signals(tmp_path / "a.parquet", tmp_path / "out", torch.nn.Linear(1, 2))


def test_cli_backend_ray_without_ray_is_one_line(no_ray, tmp_path, blobs):
    X, y = blobs(100, 3)
    np.save(tmp_path / "X.npy", X)
    out = tmp_path / "out.npz"
    result = CliRunner().invoke(app, ["select", str(tmp_path / "X.npy"), "-f", "0.1", "-o", str(out),
                                      "--backend", "ray"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: the Ray backend needs the optional package 'ray': install it with `pip install 'lessdata[ray]'`"]
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "spark"], "unknown backend 'spark'; choose one of: local, ray"),
        (["--address", "auto"], "--address is the Ray cluster address: it needs --backend ray"),
        (["--backend", "ray", "--method", "rs2"], "method 'rs2' does not run partitioned selection"),
        (["--backend", "ray", "--param", "backend=local"], "--backend and --param backend= are both given"),
    ],
)
def test_cli_backend_option_errors(tmp_path, blobs, args, message):
    X, _ = blobs(50, 3)
    np.save(tmp_path / "X.npy", X)
    result = CliRunner().invoke(app, ["select", str(tmp_path / "X.npy"), "-f", "0.1", "-o",
                                      str(tmp_path / "o.npz"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_cli_reads_a_folder_that_is_not_signal_shards(tmp_path):
    (tmp_path / "d").mkdir()
    result = CliRunner().invoke(app, ["select", str(tmp_path / "d"), "-f", "0.1", "-o", str(tmp_path / "o.npz")])
    assert result.exit_code == 2
    assert "is a folder but not one of signal shards" in result.stderr


@pytest.mark.parametrize("address, message", [
    ("127.0.0.1:1", "could not connect to the Ray cluster at '127.0.0.1:1'"),
    ("ray://127.0.0.1:1", "could not connect"),
    ("not an address", "not of the form host:port"),
])
def test_an_unreachable_ray_address_fails_in_seconds(address, message):
    import time

    from lessdata.backends.ray import _probe

    start = time.perf_counter()
    with pytest.raises(LessdataError, match=message):
        _probe(address)
    assert time.perf_counter() - start < 6


def test_auto_and_none_addresses_are_not_probed():
    from lessdata.backends.ray import _probe

    _probe(None)
    _probe("auto")
