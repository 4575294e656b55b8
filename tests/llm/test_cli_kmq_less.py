"""`lessdata llm kmq / less-features / less-select` from the command line."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import lessdata.cli as cli
from lessdata import Coreset

pytest.importorskip("transformers")

runner = CliRunner()
ROWS = [{"question": f"What is {i} plus {i % 4}?", "answer": f"{i} + {i % 4} = {i + i % 4}\n#### {i + i % 4}"}
        for i in range(30)]


@pytest.fixture(autouse=True)
def mounted(monkeypatch):
    monkeypatch.setitem(cli._LAZY_GROUPS, "llm", ("lessdata.llm.cli", "llm_app"))


def run(*args):
    return runner.invoke(cli.app, [str(a) for a in args])


def assert_error(result, fragment):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    return path


def test_kmq_static_and_bad_inputs(jsonl, tmp_path):
    emb = tmp_path / "emb.npy"
    np.save(emb, np.random.default_rng(0).normal(size=(30, 4)).astype("float32"))
    out = tmp_path / "cs.npz"
    result = run("llm", "kmq", jsonl, "--embeddings", emb, "--budget", 7, "--n-clusters", 3, "-o", out)
    assert result.exit_code == 0, result.stderr
    cs = Coreset.load(out)
    assert len(cs) == 7 and len(set(cs.indices.tolist())) == 7 and cs.method == "kmq"
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((29, 4), dtype="float32"))
    out2 = tmp_path / "cs2.npz"
    assert_error(run("llm", "kmq", jsonl, "--embeddings", bad, "--budget", 7, "-o", out2), "row-aligned")
    assert_error(run("llm", "kmq", jsonl, "--embeddings", emb, "--budget", 31, "-o", out2), "larger than")
    assert_error(run("llm", "kmq", jsonl, "--embeddings", emb, "--budget", 3, "--rounds", 0, "-o", out2), "--rounds")
    assert_error(run("llm", "kmq", jsonl, "--embeddings", emb, "--budget", 3, "-o", tmp_path / "x.txt"), ".npz")
    assert not out2.exists()


def test_less_bad_inputs_write_nothing(jsonl, tmp_path):
    out = tmp_path / "f.npz"
    assert_error(run("llm", "less-features", jsonl, "--model", tmp_path, "--proj-dim", 0, "-o", out),
                 "--proj-dim must be a positive integer")
    assert_error(run("llm", "less-features", jsonl, "--model", tmp_path / "none", "-o", out), "is not a folder")
    assert_error(run("llm", "less-select", jsonl, "--features", tmp_path / "missing.npz", "--model", tmp_path,
                     "--budget", 3, "-o", tmp_path / "cs.npz"), "not a LESS feature file")
    assert not out.exists() and not (tmp_path / "cs.npz").exists()


@pytest.mark.slow
def test_less_features_then_select(jsonl, tmp_path):
    from lessdata.llm import get_tokenizer, load_instructions, tiny_causal_lm

    data = load_instructions(jsonl)
    tok = get_tokenizer(texts=data.texts(), vocab_size=300)
    model_dir = tmp_path / "base"
    tiny_causal_lm(vocab_size=len(tok), max_length=64, pad_token_id=tok.pad_token_id,
                   eos_token_id=tok.eos_token_id).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    feats = tmp_path / "train.less.npz"
    result = run("llm", "less-features", jsonl, "--model", model_dir, "--proj-dim", 16, "--epochs", 2,
                 "--lora-r", 2, "--lora-alpha", 4, "--warmup-fraction", 0.2, "--lr", 1e-3, "--max-length", 64,
                 "-o", feats, "-q")
    assert result.exit_code == 0, result.stderr
    target = tmp_path / "target.jsonl"
    target.write_text("\n".join(json.dumps(r) for r in ROWS[:3]) + "\n")
    out, tgt = tmp_path / "cs.npz", tmp_path / "target.npy"
    result = run("llm", "less-select", target, "--features", feats, "--model", model_dir, "--budget", 5,
                 "--max-length", 64, "--target-out", tgt, "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    assert len(Coreset.load(out)) == 5 and np.load(tgt).shape == (3, 32)
