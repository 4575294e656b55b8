"""`lessdata distill ...` round trips on a tiny image set, and exit code 2 with nothing written on bad input."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import lessdata.cli as cli
from lessdata.distill import DistilledSet

from .conftest import toy_images

runner = CliRunner()
TINY = ["--width", "4", "--device", "cpu", "-q"]


def run(*args):
    return runner.invoke(cli.app, [str(a) for a in args])


def assert_error(result, fragment):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


@pytest.fixture
def data(tmp_path):
    X, y = toy_images(n_per_class=6)
    path = tmp_path / "toy.npz"
    np.savez(path, images=X.numpy(), labels=y.numpy())
    return path


def test_experts_mtt_resume_info_evaluate(data, tmp_path):
    buf, out, ckpt = tmp_path / "buf", tmp_path / "set.pt", tmp_path / "run.ckpt.pt"
    r = run("distill", "experts", buf, "--data", data, "--experts", "1", "--epochs", "2", "--batch-size", "4", *TINY)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert "1 experts x 2 epochs" in r.stdout
    mtt = ["distill", "mtt", buf, "-o", out, "--data", data, "--ipc", "1", "--syn-steps", "2", "--max-start-epoch",
           "0", "--expert-epochs", "1", "--lr-img", "10", "--checkpoint", ckpt, "--checkpoint-every", "1", *TINY]
    r = run(*mtt, "--iterations", "2")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert int(torch.load(ckpt, weights_only=True)["iteration"]) == 2
    r = run(*mtt, "--iterations", "3", "--resume")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert int(torch.load(ckpt, weights_only=True)["iteration"]) == 3
    s = DistilledSet.load(out)
    assert s.images.shape == (2, 1, 8, 8) and s.labels.tolist() == [0, 1] and s.provenance["method"] == "mtt"
    r = run("distill", "info", out)
    assert r.exit_code == 0 and "images (2, 1, 8, 8)" in r.stdout
    report = tmp_path / "eval.json"
    r = run("distill", "evaluate", out, "--data", data, "--test-data", data, "--seeds", "0", "--seeds", "1",
            "--epochs", "1", "--full-accuracy", "0.9", "--json", report, *TINY)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    values = json.loads(report.read_text())
    assert len(values["IOR"]) == 2 and "LRS" in values and "IOR" in r.stdout


def test_bad_input_exits_2_and_writes_nothing(data, tmp_path):
    buf, out = tmp_path / "buf", tmp_path / "set.pt"
    assert run("distill", "experts", buf, "--data", data, "--experts", "1", "--epochs", "2", *TINY).exit_code == 0
    base = ["distill", "mtt", buf, "-o", out, "--data", data, "--iterations", "1", "--max-start-epoch", "0",
            "--expert-epochs", "1"]
    assert_error(run(*base, "--ipc", "7", *TINY), "larger than class 0")
    assert_error(run(*base, "--ipc", "1", "--width", "5", "--device", "cpu", "-q"), "another model or data")
    assert_error(run(*base[:-4], "--max-start-epoch", "2", "--expert-epochs", "1", "--ipc", "1", *TINY), "too short")
    assert_error(run("distill", "mtt", buf, "-o", tmp_path / "set.npz", "--data", data, *TINY), "must end in .pt")
    assert_error(run("distill", "mtt", buf, "-o", out, "--data", tmp_path / "nope.npz", *TINY), "not found")
    assert_error(run("distill", "mtt", buf, "-o", out, "--data", data, "--resume", *TINY), "--resume needs")
    X, y = toy_images(n_per_class=6)
    X[0, 0, 0, 0] = float("nan")
    np.savez(tmp_path / "nan.npz", images=X.numpy(), labels=y.numpy())
    assert_error(run(*base[:5], "--data", tmp_path / "nan.npz", "--ipc", "1", *TINY), "NaN")
    np.savez(tmp_path / "flat.npz", images=np.zeros((12, 64), np.float32), labels=y.numpy())
    assert_error(run(*base[:5], "--data", tmp_path / "flat.npz", "--ipc", "1", *TINY), "must be images")
    assert_error(run("distill", "info", tmp_path / "missing.pt"), "not found")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buf", "flat.npz", "nan.npz", "toy.npz"]


def test_mkdt_and_pdd_commands(data, tmp_path):
    teacher = tmp_path / "teacher.ts"
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))), str(teacher))
    kd = tmp_path / "kd"
    r = run("distill", "experts", kd, "--data", data, "--teacher", teacher, "--experts", "1", "--epochs", "2",
            "--lr", "0.1", *TINY)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    r = run("distill", "mkdt", kd, "-o", tmp_path / "m.pt", "--teacher", teacher, "--size", "3", "--data", data,
            "--iterations", "2", "--syn-steps", "2", "--max-start-epoch", "0", "--expert-epochs", "1", "--lr-lr",
            "1e-7", *TINY)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    m = DistilledSet.load(tmp_path / "m.pt")
    assert m.targets.shape == (3, 3) and m.labels is None
    assert_error(run("distill", "mkdt", kd, "-o", tmp_path / "m2.pt", "--teacher", tmp_path / "none.ts", "--size",
                     "3", "--data", data, *TINY), "teacher file")
    r = run("distill", "pdd", tmp_path / "work", "-o", tmp_path / "p.pt", "--data", data, "--ipc", "2", "--stages",
            "2", "--experts", "1", "--iterations", "1", "--syn-steps", "2", "--max-start-epoch", "0",
            "--expert-epochs", "1", *TINY)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    p = DistilledSet.load(tmp_path / "p.pt")
    assert p.stages.tolist() == [0, 0, 1, 1] and p.num_stages == 2 and p.labels.tolist() == [0, 1, 0, 1]
