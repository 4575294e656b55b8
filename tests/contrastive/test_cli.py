"""`lessdata contrastive train-simclr / embed`: train, save, embed, train on a coreset; every bad input is one
line and exit code 2 with no output file."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import lessdata
import lessdata.cli as cli
from lessdata.contrastive import embed, load_model
from lessdata.data import find_fashion_mnist
from lessdata.errors import LessdataError

runner = CliRunner()
TINY = ["--width", "4", "--epochs", "1", "--batch-size", "16", "--quiet"]


def run(*args):
    return runner.invoke(cli.app, [str(a) for a in args])


def assert_error(result, fragment):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    path = tmp_path_factory.mktemp("images") / "X.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, size=(40, 28, 28), dtype=np.uint8))
    return path


@pytest.fixture(scope="module")
def model(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "simclr.pt"
    result = run("contrastive", "train-simclr", images, "--out", out, *TINY)
    assert result.exit_code == 0, result.stderr
    assert "trained on 40 images for 1 epochs (2 steps)" in result.stdout
    return out


def test_train_then_embed_matches_the_library(model, images, tmp_path):
    out = tmp_path / "emb.npy"
    result = run("contrastive", "embed", model, images, "--out", out, "--augmentations", "2", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    got = np.load(out)
    want = embed(load_model(model), np.load(images), augmentations=2, seed=3)
    assert got.shape == (40, 16) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_train_on_a_coreset_uses_its_rows_only(images, tmp_path):
    X = np.load(images)
    cs = lessdata.select(X.reshape(len(X), -1).astype(np.float32), budget=20, method="random", seed=0)
    cs.save(tmp_path / "cs.npz")
    out = tmp_path / "sub.pt"
    result = run("contrastive", "train-simclr", images, "--out", out, "--subset", tmp_path / "cs.npz", *TINY)
    assert result.exit_code == 0, result.stderr
    assert "trained on 20 images for 1 epochs (1 steps)" in result.stdout
    assert isinstance(load_model(out), lessdata.contrastive.SimCLR)


def test_the_same_seed_gives_the_same_model(images, tmp_path):
    paths = {name: tmp_path / f"{name}.pt" for name in ("a", "b", "other")}
    for name, seed in (("a", 0), ("b", 0), ("other", 1)):
        assert run("contrastive", "train-simclr", images, "--out", paths[name], "--seed", seed, *TINY).exit_code == 0
    a, b, other = (load_model(paths[name]).state_dict() for name in ("a", "b", "other"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], other[k]) for k in a)


@pytest.mark.slow
def test_fashion_mnist_with_a_linear_probe(tmp_path):
    try:
        find_fashion_mnist()
    except LessdataError:
        pytest.skip("Fashion-MNIST is not available locally")
    out = tmp_path / "fm.pt"
    result = run("contrastive", "train-simclr", "--out", out, "--limit", "64", *TINY)
    assert result.exit_code == 0, result.stderr
    accuracy = float(result.stdout.split("test split:")[1].split()[0])
    assert 0.1 < accuracy <= 1.0  # better than chance on 10 classes, even after one epoch on 64 images


def test_bad_input_is_one_line(images, model, tmp_path):
    out = tmp_path / "m.pt"
    cases = [
        (("train-simclr", tmp_path / "X.csv", "--out", out), "must be 'fashion-mnist' or an .npy file"),
        (("train-simclr", tmp_path / "missing.npy", "--out", out), "no such file"),
        (("train-simclr", images, "--out", tmp_path / "m.pth"), "must end in .pt"),
        (("train-simclr", images, "--out", out, "--limit", "1"), "--limit must be at least 2"),
        (("train-simclr", images, "--out", out, "--device", "tpu9"), "unknown device"),
        (("train-simclr", images, "--out", out, "--epochs", "0"), "training: epochs must be an int ≥ 1, got 0"),
        (("embed", tmp_path / "none.pt", images, "--out", tmp_path / "e.npy"), "no such model file"),
        (("embed", images, images, "--out", tmp_path / "e.npy"), "not a readable lessdata contrastive model"),
        (("embed", model, images, "--out", tmp_path / "e.txt"), "must end in .npy"),
        (("embed", model, images, "--out", tmp_path / "e.npy", "--augmentations", "-1"), "augmentations"),
    ]
    for args, fragment in cases:
        assert_error(run("contrastive", *args), fragment)
    assert not out.exists() and not (tmp_path / "e.npy").exists()
    ragged = tmp_path / "obj.npy"
    np.save(ragged, np.array([1, "a"], dtype=object), allow_pickle=True)
    assert_error(run("contrastive", "train-simclr", ragged, "--out", out), "not a readable .npy array")
    X = np.load(images)
    small = lessdata.select(X[:10].reshape(10, -1).astype(np.float32), budget=4, method="random")
    small.save(tmp_path / "small.npz")
    assert_error(run("contrastive", "train-simclr", images, "--out", out, "--subset", tmp_path / "small.npz"),
                 "selected from 10 examples but IMAGES has 40")


def test_the_group_is_listed():
    result = run("--help")
    assert result.exit_code == 0 and "contrastive" in result.stdout
