"""`lessdata contrastive safeclip`: every bad input is one error line, exit 2 and no output."""

import pytest
from typer.testing import CliRunner

import lessdata.cli as cli

runner = CliRunner()


@pytest.mark.parametrize("args,fragment", [
    (["--attack", "flood"], "attack"),
    (["--arm", "crust"], "arm"),
    (["--poison-rate", "1.0"], "poison rate"),
    (["--target", "10"], "target"),
    (["--trigger-size", "29"], "larger than the images"),
    (["--trigger-size", "0"], "trigger size"),
    (["--n-poisons", "0"], "n_poisons"),
    (["--train-size", "1"], "train_size"),
    (["--epochs", "0"], "epochs"),
])
def test_bad_input(tmp_path, args, fragment):
    out = tmp_path / "o" / "r.json"
    result = runner.invoke(cli.app, ["contrastive", "safeclip", "-o", str(out), "--quiet", *args])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert not out.exists()


def test_output_must_be_json(tmp_path):
    result = runner.invoke(cli.app, ["contrastive", "safeclip", "-o", str(tmp_path / "r.npy"), "--quiet"])
    assert result.exit_code == 2 and ".json" in result.stderr
