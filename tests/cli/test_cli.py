"""The `lessdata` command: select / methods / inspect / demo, and one-line errors with exit code 2."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import lessdata
from lessdata import Coreset
from lessdata.cli import app
from lessdata.data import write_idx

fm = importlib.import_module("lessdata.data.fashion_mnist")  # the package exports a function of that name
runner = CliRunner()

N_PER_CLASS = 30
NAMES = np.array(["cat", "dog", "eel"])


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.output


def assert_bad_input(result, out: Path | None = None, *fragments):
    """Exit 2, exactly one `error:` line on stderr, nothing on stdout, no traceback, no output file."""
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    if out is not None:
        assert not out.exists()
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.stem}.")]  # no temp file
    return lines[0]


@pytest.fixture
def data(tmp_path):
    """90 points in 4-D, three well separated classes of 30, saved in every input format."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), N_PER_CLASS)
    X = (rng.normal(size=(len(y), 4)) + 5 * y[:, None]).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "d": X[:, 3], "label": NAMES[y]})
    pq.write_table(table, tmp_path / "data.parquet")
    pacsv.write_csv(table, tmp_path / "data.csv")
    (tmp_path / "labels.txt").write_text("\n".join(str(v) for v in y) + "\n")
    return tmp_path, X, y


def check_coreset(path: Path, size: int, n: int = 3 * N_PER_CLASS, labels=None):
    cs = Coreset.load(path)
    assert len(cs) == size and cs.n == n
    assert float(cs.weights.sum()) == pytest.approx(n)
    assert cs.partition is not None
    per_part = size // 3
    assert cs.partition_counts() == {0: per_part, 1: per_part, 2: per_part}
    if labels is not None:
        assert cs.params["partition_labels"] == labels
    return cs


# -------------------------------------------------------------------------------------------- select
def test_select_npy_with_labels_file(data):
    root, X, y = data
    out = root / "out.npz"
    result = run("select", root / "X.npy", "--labels", root / "y.npy", "--fraction", 0.1, "-o", out)
    assert_ok(result)
    assert "selected 9 of 90" in result.stdout and str(out) in result.stdout
    cs = check_coreset(out, 9, labels=[0, 1, 2])
    assert cs.method == "craig" and cs.params["metric"] == "euclidean"
    # same as the library call with the same arguments
    assert cs == lessdata.select(X, fraction=0.1, method="craig", labels=y, seed=0)


def test_select_npz_reads_labels_inside_and_writes_parquet(data):
    root, _, _ = data
    out = root / "out.parquet"
    assert_ok(run("select", root / "data.npz", "--budget", 12, "--metric", "cosine", "--optimizer", "naive",
                  "-o", out))
    cs = check_coreset(out, 12, labels=[0, 1, 2])
    assert cs.params["metric"] == "cosine" and cs.params["optimizer"] == "naive"


def test_select_parquet_with_label_column_and_features(data):
    root, X, y = data
    out = root / "out.npz"
    assert_ok(run("select", root / "data.parquet", "--labels", "label", "--features", "a,b",
                  "--fraction", 0.2, "-o", out))
    cs = check_coreset(out, 18, labels=["cat", "dog", "eel"])
    assert cs == lessdata.select(X[:, :2], fraction=0.2, labels=NAMES[y], seed=0)


def test_select_csv_with_features_and_labels_file(data):
    root, _, _ = data
    out = root / "out.npz"
    assert_ok(run("select", root / "data.csv", "--features", "a,b,c,d", "--labels", root / "labels.txt",
                  "--fraction", 0.1, "--seed", 3, "--method", "random", "-o", out))
    cs = check_coreset(out, 9, labels=[0, 1, 2])
    assert cs.method == "random" and cs.seed == 3


def test_select_param_budget_policy_and_per_part_budgets(data):
    root, _, _ = data
    out = root / "out.npz"
    assert_ok(run("select", root / "data.npz", "--budget-per-part", "0=2,1=3,2=4", "--budget-policy", "equal",
                  "--param", "n_neighbors=8", "--optimizer", "stochastic", "--epsilon", 0.1, "-o", out))
    cs = Coreset.load(out)
    assert cs.partition_counts() == {0: 2, 1: 3, 2: 4}
    assert cs.params["n_neighbors"] == 8 and cs.params["epsilon"] == 0.1


def test_select_is_deterministic_and_shows_sparse_log_unless_quiet(data):
    root, _, _ = data
    args = ("select", root / "data.npz", "--fraction", 0.1, "--param", "memory_cap=1")
    loud = run(*args, "-o", root / "a.npz")
    assert_ok(loud)
    assert "sparse" in loud.stderr  # the engine's INFO log when the dense matrix is over the memory cap
    quiet = run(*args, "--quiet", "-o", root / "b.npz")
    assert_ok(quiet)
    assert quiet.stderr == ""
    assert Coreset.load(root / "a.npz") == Coreset.load(root / "b.npz")


# ------------------------------------------------------------------------------------- methods / inspect
def test_methods_lists_registered_methods():
    result = run("methods")
    assert_ok(result)
    for name in ("craig", "random", "facility_location"):
        assert name in result.stdout


def test_inspect(data):
    root, _, _ = data
    out = root / "cs.parquet"
    assert_ok(run("select", root / "data.parquet", "--labels", "label", "--fraction", 0.1, "-o", out))
    result = run("inspect", out)
    assert_ok(result)
    for text in ("craig", "size", "9", "90", "10.00%", "metric=euclidean", "weights", "cat", "dog", "eel"):
        assert text in result.stdout
    assert "partition_labels" not in result.stdout  # shown as the per-part table instead
    summary = json.loads(run("inspect", out, "--json").stdout)
    assert summary["size"] == 9 and summary["n"] == 90 and summary["method"] == "craig"
    assert summary["partition_counts"] == {"cat": 3, "dog": 3, "eel": 3}
    assert summary["weights"]["sum"] == pytest.approx(90)


def test_inspect_json_without_objective(data):
    root, _, _ = data
    out = root / "cs.npz"
    assert_ok(run("select", root / "X.npy", "--method", "random", "--budget", 5, "-o", out))
    summary = json.loads(run("inspect", out, "--json").stdout)
    assert summary["objective"] is None and summary["partition_counts"] == {}


# ---------------------------------------------------------------------------------------------- demo
@pytest.fixture
def no_fashion_mnist(monkeypatch, tmp_path):
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "not-installed")
    monkeypatch.delenv("LESSDATA_DATA", raising=False)


def test_demo_falls_back_to_digits(no_fashion_mnist, tmp_path):
    out = tmp_path / "demo.npz"
    result = run("demo", "--fraction", 0.05, "-o", out)
    assert_ok(result)
    text = " ".join(result.stdout.split())
    assert "scikit-learn digits" in text and "Fashion-MNIST is not available" in text
    assert "1,797" in text
    cs = Coreset.load(out)
    assert len(cs) == 90 and cs.n == 1797 and cs.method == "craig"
    assert len(cs.partition_counts()) == 10


def test_demo_uses_fashion_mnist_when_files_exist(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10, dtype=np.uint8), 20)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (200, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv("LESSDATA_DATA", str(tmp_path))
    out = tmp_path / "demo.npz"
    result = run("demo", "-o", out)
    assert_ok(result)
    text = " ".join(result.stdout.split())
    assert "Fashion-MNIST train" in text and str(tmp_path) in text
    for name in ("T-shirt/top", "Ankle boot", "Sneaker"):
        assert name in text
    cs = Coreset.load(out)
    assert len(cs) == 20 and cs.n == 200
    assert set(cs.partition_counts().values()) == {2}
    assert cs == lessdata.select(
        fm.fashion_mnist(tmp_path)[0].reshape(200, -1) / np.float32(255), fraction=0.1, method="craig",
        labels=labels.astype(np.int64), metric="euclidean", seed=0,
    )


def test_demo_bad_fraction(no_fashion_mnist):
    assert_bad_input(run("demo", "--fraction", 2), None, "fraction")


# --------------------------------------------------------------------------------------------- errors
def _write_bad_inputs(root: Path):
    (root / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    (root / "corrupt.parquet").write_bytes(b"not parquet at all")
    nan = np.ones((10, 3), dtype=np.float32)
    nan[4, 1] = np.nan
    np.save(root / "nan.npy", nan)
    np.save(root / "flat.npy", np.ones(10))
    np.save(root / "empty.npy", np.ones((0, 3)))
    np.save(root / "short_labels.npy", np.zeros(7, dtype=np.int64))
    (root / "points.txt").write_text("1 2\n3 4\n")


BAD = {
    "missing file": (["select", "{r}/nope.npy", "--fraction", "0.1"], ["nope.npy"]),
    "unknown suffix": (["select", "{r}/points.txt", "--fraction", "0.1"], [".txt"]),
    "corrupt npy": (["select", "{r}/corrupt.npy", "--fraction", "0.1"], ["corrupt.npy"]),
    "corrupt parquet": (["select", "{r}/corrupt.parquet", "--fraction", "0.1"], ["corrupt.parquet"]),
    "NaN in features": (["select", "{r}/nan.npy", "--fraction", "0.1"], ["NaN", "row 4"]),
    "1-D array": (["select", "{r}/flat.npy", "--fraction", "0.1"], ["2-D"]),
    "empty array": (["select", "{r}/empty.npy", "--fraction", "0.1"], ["empty"]),
    "fraction 0": (["select", "{r}/X.npy", "--fraction", "0"], ["fraction"]),
    "fraction 1.5": (["select", "{r}/X.npy", "--fraction", "1.5"], ["fraction"]),
    "fraction not a number": (["select", "{r}/X.npy", "--fraction", "abc"], ["--fraction"]),
    "budget 0": (["select", "{r}/X.npy", "--budget", "0"], ["budget"]),
    "budget > n": (["select", "{r}/X.npy", "--budget", "91"], ["91", "90"]),
    "labels wrong length": (["select", "{r}/X.npy", "--labels", "{r}/short_labels.npy", "--fraction", "0.1"],
                            ["length 7", "90"]),
    "labels column missing": (["select", "{r}/data.csv", "--labels", "nope", "--fraction", "0.1"], ["nope"]),
    "feature column missing": (["select", "{r}/data.csv", "--features", "a,zz", "--fraction", "0.1"], ["zz"]),
    "unknown method": (["select", "{r}/X.npy", "--method", "magic", "--fraction", "0.1"],
                       ["magic", "craig", "facility_location", "random"]),
    "unknown metric": (["select", "{r}/X.npy", "--metric", "manhattan", "--fraction", "0.1"],
                       ["manhattan", "euclidean", "cosine", "rbf"]),
    "unknown optimizer": (["select", "{r}/X.npy", "--optimizer", "fast", "--fraction", "0.1"],
                          ["fast", "lazy", "naive", "stochastic", "lazier_than_lazy", "random_greedy"]),
    "unknown budget policy": (["select", "{r}/X.npy", "--budget-policy", "fair", "--fraction", "0.1"],
                              ["fair", "proportional", "equal"]),
    "metric for a method without one": (["select", "{r}/X.npy", "--method", "random", "--metric", "cosine",
                                         "--fraction", "0.1"], ["metric"]),
    "unknown param": (["select", "{r}/X.npy", "--param", "speed=11", "--fraction", "0.1"], ["speed"]),
    "param without =": (["select", "{r}/X.npy", "--param", "memory_cap", "--fraction", "0.1"], ["KEY=VALUE"]),
    "fraction and budget": (["select", "{r}/X.npy", "--fraction", "0.1", "--budget", "5"], ["exactly one"]),
    "neither fraction nor budget": (["select", "{r}/X.npy"], ["exactly one"]),
    "part smaller than its budget": (["select", "{r}/data.npz", "--budget-per-part", "0=2,1=31"],
                                     ["31", "30"]),
    "per-part budget for unknown label": (["select", "{r}/data.npz", "--budget-per-part", "0=2,9=1"],
                                          ["'9'"]),
    "per-part budget without labels": (["select", "{r}/X.npy", "--budget-per-part", "0=2"], ["labels"]),
    "unknown option": (["select", "{r}/X.npy", "--fraction", "0.1", "--fast"], ["--fast"]),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_one_line_exit_2(data, case):
    root, _, _ = data
    _write_bad_inputs(root)
    args, fragments = BAD[case]
    out = root / "out.npz"
    result = run(*[a.format(r=root) for a in args], "-o", out)
    assert_bad_input(result, out, *fragments)


def test_bad_output_names(data):
    root, _, _ = data
    assert_bad_input(run("select", root / "X.npy", "--fraction", 0.1, "-o", root / "out.csv"),
                     root / "out.csv", ".npz or .parquet")
    assert_bad_input(run("select", root / "X.npy", "--fraction", 0.1, "-o", root / "X.npy" / "out.npz"),
                     None, "not a directory")
    assert_bad_input(run("select", root / "X.npy", "--fraction", 0.1, "-o", root), None, "directory")


def test_failed_run_leaves_existing_output_untouched(data):
    root, _, _ = data
    out = root / "out.npz"
    out.write_bytes(b"previous result")
    assert_bad_input(run("select", root / "X.npy", "--budget", 1000, "-o", out))
    assert out.read_bytes() == b"previous result"


def test_inspect_bad_files(data):
    root, _, _ = data
    _write_bad_inputs(root)
    assert_bad_input(run("inspect", root / "missing.npz"), None, "not found")
    assert_bad_input(run("inspect", root / "data.npz"), None, "Coreset")
    assert_bad_input(run("inspect", root / "data.parquet"), None, "not a lessdata Coreset")
    assert_bad_input(run("inspect", root / "X.npy"), None, ".npz or .parquet")


def test_unknown_command():
    assert_bad_input(run("train"), None, "train")


def test_version():
    result = run("--version")
    assert_ok(result)
    assert result.stdout.strip() == f"lessdata {lessdata.__version__}"


def test_console_script_entry_point(tmp_path):
    """The installed `lessdata` script: a real process prints one line on stderr and exits 2 (one process:
    each start costs seconds on a busy machine; --version is checked in-process above)."""
    script = Path(sys.executable).parent / "lessdata"
    if not script.exists():
        pytest.skip("the lessdata console script is not installed in this environment")
    args = ["select", tmp_path / "nope.npy", "--fraction", "0.1", "-o", tmp_path / "o.npz"]
    bad = subprocess.run([script, *args], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [f"error: input file not found: {tmp_path / 'nope.npy'}"]
    assert not (tmp_path / "o.npz").exists()


def test_rich_progress_adapter_advances_once_per_pick(data):
    import io

    from rich.console import Console

    from lessdata._progress import rich_progress

    _, X, y = data
    console = Console(file=io.StringIO(), force_terminal=True)
    with rich_progress(console, "selecting") as bar:
        lessdata.select(X, budget=12, labels=y, seed=0, progress=bar)
        task = bar._progress.tasks[0]
        assert task.total == 12 and task.completed == 12
    with rich_progress(Console(file=io.StringIO()), "selecting") as bar:
        assert bar is None  # not a terminal: no bar


def test_bench_group_is_mounted():
    result = run("--help")
    assert_ok(result)
    assert "bench" in result.stdout
    result = run("bench", "--help")
    assert_ok(result)
    assert "tta" in result.stdout


# ----------------------------------------------------------------------------- image-text embeddings
@pytest.fixture
def pairs(tmp_path):
    """60 image-caption embedding pairs (d=6) and a partially trained model's (d=4), saved as .npy files."""
    rng = np.random.default_rng(0)
    v = rng.normal(size=(60, 6)).astype(np.float32)
    t = (v + rng.normal(size=(60, 6))).astype(np.float32)
    pv, pt = rng.normal(size=(2, 60, 4)).astype(np.float32)
    prompts = rng.normal(size=(3, 2, 6)).astype(np.float32)
    for name, arr in (("A", v), ("B", t), ("PA", pv), ("PB", pt), ("P", prompts), ("B_short", t[:-1]),
                      ("B_narrow", t[:, :5]), ("PB_short", pt[:-2]), ("P_wide", prompts[..., :5].copy())):
        np.save(tmp_path / f"{name}.npy", arr)
    return tmp_path, v, t, pv, pt, prompts


def test_select_clipcov_from_image_and_text_embeddings(pairs):
    root, v, t, _, _, prompts = pairs
    out = root / "cs.npz"
    result = run("select", "--method", "clipcov", "--image-emb", root / "A.npy", "--text-emb", root / "B.npy",
                 "--fraction", 0.3, "--out", out)
    assert_ok(result)
    assert "selected 18 of 60" in result.stdout
    assert Coreset.load(out) == lessdata.select(v, fraction=0.3, method="clipcov", text=t, seed=0)
    out2 = root / "cs2.parquet"  # zero-shot latent classes from prompt embeddings; INPUT works like --image-emb
    assert_ok(run("select", root / "A.npy", "-m", "clipcov", "--text-emb", root / "B.npy", "--class-prompts",
                  root / "P.npy", "--budget", 12, "--seed", 2, "-o", out2))
    expected = lessdata.select(v, budget=12, method="clipcov", text=t, class_prompts=prompts, seed=2)
    assert Coreset.load(out2) == expected and expected.params["latent_classes"] >= 2


def test_select_targeted_reads_its_query_rows_from_a_file(data):
    root, X, _ = data
    Q = X[:5] + 0.01
    np.save(root / "Q.npy", Q)
    out = root / "cs.npz"
    assert_ok(run("select", root / "X.npy", "-m", "targeted", "--query", root / "Q.npy", "--budget", 7,
                  "-o", out))
    assert Coreset.load(out) == lessdata.select(X, budget=7, method="targeted", query=Q)
    np.save(root / "Q_wide.npy", np.c_[Q, Q])
    assert_bad_input(run("select", root / "X.npy", "-m", "targeted", "--query", root / "Q_wide.npy", "--budget",
                         7, "-o", out.with_name("wide.npz")), out.with_name("wide.npz"),
                     f"--query has {2 * X.shape[1]} columns but INPUT has {X.shape[1]}")
    assert_bad_input(run("select", root / "X.npy", "-m", "targeted", "-p", f"query={root / 'Q.npy'}", "--budget",
                         7, "-o", out.with_name("p.npz")), out.with_name("p.npz"), "give query as --query FILE")
    assert_bad_input(run("select", root / "X.npy", "-m", "craig", "--query", root / "Q.npy", "--budget", 7,
                         "-o", out.with_name("c.npz")), out.with_name("c.npz"), "method 'craig' does not take --query")
    assert_bad_input(run("select", root / "X.npy", "-m", "targeted", "--query", root / "missing.npy",
                         "--budget", 7, "-o", out.with_name("m.npz")), out.with_name("m.npz"), "--query file not found")


def test_param_at_file_reads_an_array_parameter(data):
    root, X, y = data
    X = np.abs(X)  # feature-based coverage needs non-negative features
    np.save(root / "Xpos.npy", X)
    weights = np.array([4.0, 0.5, 1.0, 0.1], dtype=np.float32)
    np.save(root / "w.npy", weights)
    np.savez(root / "w.npz", weights=weights)
    for name in ("w.npy", "w.npz"):
        out = root / f"cs_{name}.npz"
        assert_ok(run("select", root / "Xpos.npy", "-m", "feature_based", "-p", f"feature_weights=@{root / name}",
                      "--budget", 9, "-o", out))
        assert Coreset.load(out) == lessdata.select(X, budget=9, method="feature_based", feature_weights=weights)
    (root / "w.txt").write_text("1\n")
    for value, fragment in ((f"@{root / 'missing.npy'}", "file not found"), (f"@{root / 'w.txt'}", ".npy or .npz"),
                            (f"@{root / 'Xpos.npy'}", "feature_weights")):
        out = root / "bad.npz"
        assert_bad_input(run("select", root / "Xpos.npy", "-m", "feature_based", "-p", f"feature_weights={value}",
                             "--budget", 9, "-o", out), out, fragment)


def test_select_clip_score_and_c_rho_round_trip(pairs):
    root, v, t, pv, pt, _ = pairs
    out = root / "score.npz"
    assert_ok(run("select", "--method", "clip_score", "--image-emb", root / "A.npy", "--text-emb", root / "B.npy",
                  "--budget", 10, "--out", out))
    assert Coreset.load(out) == lessdata.select(v, budget=10, method="clip_score", text=t)
    out = root / "rho.npz"
    assert_ok(run("select", "--method", "c_rho", "--image-emb", root / "A.npy", "--text-emb", root / "B.npy",
                  "--partial-image-emb", root / "PA.npy", "--partial-text-emb", root / "PB.npy",
                  "--fraction", 0.5, "--out", out))
    cs = Coreset.load(out)
    assert cs == lessdata.select(v, fraction=0.5, method="c_rho", text=t, partial_image=pv, partial_text=pt)
    assert len(cs) == 30


@pytest.mark.parametrize("args, fragments", [
    (["-m", "clipcov", "--image-emb", "A.npy", "--text-emb", "B_short.npy"],
     ["--text-emb has 59 rows but --image-emb has 60", "aligned"]),
    (["A.npy", "-m", "clip_score", "--text-emb", "B_short.npy"], ["--text-emb has 59 rows but INPUT has 60"]),
    (["-m", "clipcov", "--image-emb", "A.npy", "--text-emb", "B_narrow.npy"],
     ["--text-emb has dimension 5 but --image-emb has 6"]),
    (["-m", "clipcov", "--image-emb", "A.npy", "--text-emb", "missing.npy"], ["--text-emb file not found"]),
    (["-m", "clipcov", "--image-emb", "missing.npy", "--text-emb", "B.npy"], ["--image-emb file not found"]),
    (["-m", "clipcov", "--image-emb", "A.npy"], ["needs --text-emb"]),
    (["-m", "c_rho", "--image-emb", "A.npy", "--text-emb", "B.npy", "--partial-image-emb", "PA.npy"],
     ["needs --partial-text-emb"]),
    (["-m", "c_rho", "--image-emb", "A.npy", "--text-emb", "B.npy", "--partial-image-emb", "PA.npy",
      "--partial-text-emb", "PB_short.npy"], ["--partial-text-emb has 58 rows but --partial-image-emb has 60"]),
    (["-m", "clipcov", "--image-emb", "A.npy", "--text-emb", "B.npy", "--class-prompts", "P_wide.npy"],
     ["--class-prompts have dimension 5"]),
    (["-m", "clipcov", "--image-emb", "A.npy", "--text-emb", "B.npy", "--class-prompts", "B.txt"],
     ["--class-prompts must be a .npy or .npz"]),
    (["-m", "craig", "--image-emb", "A.npy", "--text-emb", "B.npy"], ["method 'craig' does not take --text-emb"]),
    (["-m", "clip_score", "--image-emb", "A.npy", "--text-emb", "B.npy", "--partial-text-emb", "PB.npy"],
     ["does not take --partial-text-emb"]),
    (["A.npy", "-m", "clipcov", "--image-emb", "A.npy", "--text-emb", "B.npy"], ["not both"]),
    (["-m", "clipcov", "--text-emb", "B.npy"], ["missing the features"]),
])
def test_select_image_text_bad_input(pairs, args, fragments):
    root = pairs[0]
    (root / "B.txt").write_text("1\n")
    out = root / "cs.npz"
    resolved = [root / a if a.endswith((".npy", ".txt")) else a for a in args]
    assert_bad_input(run("select", *resolved, "--fraction", 0.3, "--out", out), out, *fragments)
