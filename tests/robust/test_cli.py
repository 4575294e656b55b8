"""`lessdata robust crust / epic`: every bad input is one error line, exit 2 and no output; a small run
writes its measurements."""

import json

import pytest
from typer.testing import CliRunner

import lessdata.cli as cli

runner = CliRunner()
SMALL = ["--dataset", "digits", "--epochs", "2", "--quiet"]


def run(*args):
    return runner.invoke(cli.app, ["robust", *[str(a) for a in args]])


def assert_error(result, fragment, out):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert not out.exists() and not list(out.parent.glob(".*"))  # nothing written, no temporary left


@pytest.mark.parametrize("args,fragment", [
    (["--noise", "1.0"], "noise rate"),
    (["--noise", "-0.1"], "noise rate"),
    (["--radius", "0"], "radius"),
    (["--radius", "-1"], "radius"),
    (["--fl-ratio", "0"], "fl_ratio"),
    (["--fl-ratio", "1.5"], "fl_ratio"),
    (["--warmup", "2"], "warmup"),
    (["--arm", "magic"], "arm"),
    (["--noise-type", "pairwise"], "noise type"),
    (["--dataset", "cifar"], "dataset"),
])
def test_crust_bad_input(tmp_path, args, fragment):
    out = tmp_path / "out" / "r.json"
    assert_error(run("crust", "-o", out, *SMALL, "--warmup", "1", *args), fragment, out)


@pytest.mark.parametrize("args,fragment", [
    (["--poison-rate", "1.0"], "poison rate"),
    (["--target", "10"], "target class"),
    (["--target", "-1"], "target class"),
    (["--trigger-size", "9"], "larger than the images"),
    (["--trigger-size", "0"], "trigger size"),
    (["--cluster-thresh", "-1"], "cluster_thresh"),
    (["--subset-size", "0"], "subset_size"),
    (["--subset-freq", "0"], "subset_freq"),
    (["--arm", "crust"], "arm"),
])
def test_epic_bad_input(tmp_path, args, fragment):
    out = tmp_path / "out" / "r.json"
    assert_error(run("epic", "-o", out, *SMALL, *args), fragment, out)


def test_output_must_be_json(tmp_path):
    out = tmp_path / "r.csv"
    assert_error(run("crust", "-o", out, *SMALL), ".json", out)


@pytest.mark.slow
def test_small_runs_write_json(tmp_path):
    out = tmp_path / "crust.json"
    result = run("crust", "-o", out, *SMALL, "--warmup", "1", "--noise", "0.4")
    assert result.exit_code == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["arm"] == "crust" and data["noise"] == 0.4 and len(data["clean_shares"]) == 1
    assert 0 <= data["final_accuracy"] <= 1 and "clean test accuracy" in result.stdout
    out = tmp_path / "epic.json"
    result = run("epic", "-o", out, *SMALL, "--drop-after", "1", "--subset-freq", "1", "--trigger-size", "2",
                 "--poison-rate", "0.05")
    assert result.exit_code == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["poisons"] == round(0.05 * 1257) and 0 <= data["attack_success_rate"] <= 1
    assert data["dropped"] == sum(e["dropped"] for e in data["selections"])
