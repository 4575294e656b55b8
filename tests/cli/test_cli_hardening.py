"""CLI reproducers: strict JSON from inspect, and input checked before any Ray connection."""

import json

import numpy as np
from typer.testing import CliRunner

from lessdata import Coreset
from lessdata.cli import app

runner = CliRunner()


def _strict(text):
    def refuse(name):
        raise ValueError(f"bare {name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def test_inspect_json_is_strict_json_at_every_depth(tmp_path):
    cs = Coreset(indices=[0, 1], weights=[1, 2], params={"a": float("nan"), "b": [float("inf"), 1.0]}, n=5)
    cs.save(tmp_path / "c.npz")
    result = runner.invoke(app, ["inspect", "--json", str(tmp_path / "c.npz")])
    assert result.exit_code == 0, result.output
    summary = _strict(result.stdout)
    assert summary["objective"] is None and summary["params"] == {"a": None, "b": [None, 1.0]}


def test_bad_input_fails_before_connecting_to_ray(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"not numpy")
    result = runner.invoke(app, ["select", str(tmp_path / "x.npy"), "-o", str(tmp_path / "out.npz"),
                                 "--fraction", "0.1", "--backend", "ray", "--address", "127.0.0.1:1"])
    assert result.exit_code == 2
    assert "Ray cluster" not in result.output and "x.npy" in result.output and not (tmp_path / "out.npz").exists()


def test_unreachable_ray_address_is_one_line(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(50, 4)).astype("float32"))
    result = runner.invoke(app, ["select", str(tmp_path / "x.npy"), "-o", str(tmp_path / "out.npz"),
                                 "--fraction", "0.1", "--backend", "ray", "--address", "127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert "could not connect to the Ray cluster" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out.npz").exists()
