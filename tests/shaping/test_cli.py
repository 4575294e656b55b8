"""`lessdata shaping`: separate / useful / targeted, and one-line errors with exit code 2 and nothing written."""

import numpy as np
import pytest
from typer.testing import CliRunner

from lessdata import Coreset
from lessdata.cli import app
from lessdata.shaping import Separation

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_bad_input(result, out, fragment):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.stem}.")]


@pytest.fixture
def arrays(tmp_path):
    """Two classes of 2-D points: an easy blob far from the boundary and a hard one near it, per class."""
    rng = np.random.default_rng(0)
    X = np.concatenate([np.c_[s * m + 0.3 * rng.normal(size=40), rng.normal(size=40)]
                        for s in (-1, 1) for m in (3.0, 0.15)]).astype(np.float32)
    y = np.repeat([0, 1], 80)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path


@pytest.fixture
def separation_file(tmp_path):
    sep = Separation(slow=np.array([True, False, False, True, False]), labels=np.array([0, 0, 1, 1, 1]), epoch=1,
                     train_error=np.array([0.5, 0.2]), mean_loss={0: (0.1, 0.5), 1: (0.2, 0.6)})
    return sep.save(tmp_path / "sep.npz")


def test_separate_then_useful_then_inspect(arrays):
    out = arrays / "sep.npz"
    result = run("shaping", "separate", arrays / "X.npy", "--labels", arrays / "y.npy", "--epochs", "3",
                 "--epoch", "2", "--lr", "0.05", "--batch-size", "16", "-q", "-o", out)
    assert result.exit_code == 0, result.output
    assert "slow-learnable" in result.stdout
    sep = Separation.load(out)
    assert sep.n == 160 and sep.epoch == 2 and 0 < sep.slow.sum() < 160
    useful = arrays / "useful.npz"
    assert run("shaping", "useful", out, "-o", useful).exit_code == 0
    cs = Coreset.load(useful)
    np.testing.assert_array_equal(cs.multiplicities, 1 + sep.slow)
    shown = run("inspect", useful)
    assert shown.exit_code == 0 and f"per epoch: {160 + int(sep.slow.sum()):,} visits" in shown.stdout


def test_useful_baselines_and_targeted(separation_file, tmp_path):
    assert run("shaping", "useful", separation_file, "--baseline", "upweight", "-o", tmp_path / "w.npz").exit_code == 0
    w = Coreset.load(tmp_path / "w.npz")
    assert w.weights.tolist() == [2, 1, 1, 2, 1] and w.epoch_size == 5
    assert run("shaping", "useful", separation_file, "--baseline", "random", "--factor", "2",
               "-o", tmp_path / "r.parquet").exit_code == 0
    r = Coreset.load(tmp_path / "r.parquet")
    assert sorted(r.multiplicities.tolist()) == [1, 1, 1, 3, 3]
    assert run("shaping", "targeted", separation_file, "-o", tmp_path / "t.npz").exit_code == 0
    assert Coreset.load(tmp_path / "t.npz").indices.tolist() == [0, 1, 2, 3, 4, 5, 8]


def test_bad_inputs_exit_2_and_write_nothing(arrays, separation_file, tmp_path):
    out = tmp_path / "o.npz"
    assert_bad_input(run("shaping", "useful", separation_file, "--factor", "0", "-o", out), out, "positive integer")
    assert_bad_input(run("shaping", "useful", separation_file, "--baseline", "best", "-o", out), out, "baseline")
    assert_bad_input(run("shaping", "useful", tmp_path / "missing.npz", "-o", out), out, "not found")
    assert_bad_input(run("shaping", "useful", separation_file, "-o", tmp_path / "o.csv"), tmp_path / "o.csv", ".npz")
    sep_args = ("shaping", "separate", arrays / "X.npy", "--labels", arrays / "y.npy", "-q", "-o", out)
    assert_bad_input(run(*sep_args, "--epochs", "3", "--epoch", "5"), out, "beyond the run")
    assert_bad_input(run(*sep_args, "--epoch", "soon"), out, "--epoch")
    assert_bad_input(run(*sep_args, "--model", "vit"), out, "unknown model")
    y = np.load(arrays / "y.npy")
    y[0] = 2  # a class of one example
    np.save(arrays / "y1.npy", y)
    assert_bad_input(run("shaping", "separate", arrays / "X.npy", "--labels", arrays / "y1.npy", "-q", "-o", out),
                     out, "class 2 has 1 example")
    assert_bad_input(run("shaping", "separate", arrays / "X.npy", "-o", out), out, "--labels")
