import json
import math

import pytest
import torch
from typer.testing import CliRunner

from lessdata.bench import TtaConfig, make_arms, run_tta, seconds_to_target, summarize
from lessdata.bench.cli import bench_app
from lessdata.errors import LessdataError


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _history(accuracies, seconds, selection=None):
    selection = selection or [0.0] * len(accuracies)
    clock, out = 0.0, []
    for epoch, (acc, sec, sel) in enumerate(zip(accuracies, seconds, selection)):
        clock += sec + sel
        out.append({"epoch": epoch, "test_accuracy": acc, "train_seconds": sec, "selection_seconds": sel,
                    "cumulative_seconds": clock, "cpu_seconds": 2 * clock, "selections": int(sel > 0) * (epoch + 1)})
    return out


def _run(method, fraction, seed, history, every=None):
    label = method if method != "craig" else f"craig (every {every})"
    return {"arm": {"method": method, "fraction": fraction, "every": every, "signal": "gradients", "label": label},
            "seed": seed, "history": history}


# ------------------------------------------------------------------------------------------- time to target
def test_seconds_to_target_is_the_clock_at_the_first_epoch_reaching_it():
    h = _history([0.5, 0.8, 0.7, 0.9], [1.0, 2.0, 3.0, 4.0])
    assert seconds_to_target(h, 0.8) == 3.0  # epoch 1 ends at 1 + 2 s; equality counts
    assert seconds_to_target(h, 0.85) == 10.0  # the dip at epoch 2 does not count
    assert seconds_to_target(h, 0.95) is None
    assert seconds_to_target(h, 0.0) == 1.0
    assert seconds_to_target(h, 0.8, clock="cpu_seconds") == 6.0


def test_seconds_to_target_skips_nan_and_tolerates_rounding():
    h = _history([float("nan"), 0.1 + 0.2], [1.0, 1.0])
    assert seconds_to_target(h, 0.3) == 2.0  # 0.1 + 0.2 = 0.30000000000000004 >= 0.3 anyway
    assert seconds_to_target(_history([0.3 - 1e-15], [1.0]), 0.3) == 1.0
    assert seconds_to_target([], 0.5) is None


def test_summarize_targets_speedups_and_checks():
    runs = [
        # full data: final accuracies 0.90 and 0.92 -> reference 0.91, target 0.90; 10 s per run
        _run("full", None, 0, _history([0.85, 0.90], [5.0, 5.0])),
        _run("full", None, 1, _history([0.89, 0.92], [5.0, 5.0])),
        # random 30%: reaches 0.90 after 1.5 s (seed 0) and 3.0 s (seed 1)
        _run("random", 0.3, 0, _history([0.90, 0.905], [1.5, 1.5])),
        _run("random", 0.3, 1, _history([0.88, 0.90], [1.5, 1.5])),
        # CRAIG 30%: one seed never reaches the target; selection 1 s per epoch
        _run("craig", 0.3, 0, _history([0.89, 0.91], [1.5, 1.5], [1.0, 1.0]), every=1),
        _run("craig", 0.3, 1, _history([0.88, 0.895], [1.5, 1.5], [1.0, 1.0]), every=1),
    ]
    s = summarize(runs, target_drop=0.01)
    assert math.isclose(s["reference_accuracy"], 0.91) and math.isclose(s["target_accuracy"], 0.90)
    assert s["full_total_seconds"] == 10.0 and s["full_epoch_train_seconds"] == 5.0
    rows = {r["label"]: r for r in s["rows"]}
    assert [r["label"] for r in s["rows"]] == ["full", "random", "craig (every 1)"]
    assert rows["full"]["seconds_to_target"] == [10.0, 10.0] and rows["full"]["reached"] == 2
    assert rows["random"]["seconds_to_target"] == [1.5, 3.0]
    assert rows["random"]["seconds_to_target_mean"] == 2.25
    assert rows["random"]["time_to_target_vs_full_total"] == 0.225
    assert rows["craig (every 1)"]["seconds_to_target"] == [5.0, None]
    assert rows["craig (every 1)"]["reached"] == 1 and rows["craig (every 1)"]["seconds_to_target_mean"] == 5.0
    assert math.isclose(rows["craig (every 1)"]["final_accuracy_mean"], 0.9025)
    assert rows["craig (every 1)"]["selection_seconds_mean"] == 2.0
    assert rows["craig (every 1)"]["seconds_per_selection_mean"] == 1.0

    half = s["checks"]["half_time_at_fraction"]
    assert half["best"] == "random" and half["met"] and half["ratio"] == 0.225  # CRAIG missed a seed
    cost = s["checks"]["craig_selection_cost"]
    assert cost["entries"][0]["ratio_to_full_epoch"] == 0.2 and not cost["met_vs_full_epoch"]
    losses = s["checks"]["craig_not_better"]
    assert {(x["other"], x["what"]) for x in losses} == {("random", "final accuracy"), ("random", "time to target")}


def test_summarize_without_full_data_has_no_target():
    s = summarize([_run("random", 0.1, 0, _history([0.5], [1.0]))])
    assert s["target_accuracy"] is None and s["rows"][0]["seconds_to_target"] == [None]
    assert "half_time_at_fraction" not in s["checks"]


def test_make_arms():
    arms = make_arms(["full", "random", "craig"], [0.1, 0.3], craig_every=(1, 5))
    assert [(a.label, a.fraction) for a in arms] == [
        ("full", None), ("random", 0.1), ("random", 0.3), ("craig (every 1)", 0.1), ("craig (every 5)", 0.1),
        ("craig (every 1)", 0.3), ("craig (every 5)", 0.3)]
    assert [a.label for a in make_arms(["craig"], [0.1], craig_signal="features")] == ["craig (once)"]


# ----------------------------------------------------------------------------------------- end to end
def test_quick_run_on_digits_writes_the_table_the_plot_and_the_json(tmp_path):
    config = TtaConfig("digits", "mlp", methods=("full", "random", "rs2", "craig"), fractions=(0.3,), seeds=1,
                       epochs=2)
    result = run_tta(config, out_dir=tmp_path)
    files = result["files"]
    assert sorted(files) == ["json", "markdown", "plot"]
    md = (tmp_path / "tta_digits_mlp.md").read_text()
    for text in ("Command:", "lessdata bench tta --dataset digits", "Machine:", "cores", "torch", "Date:",
                 "2 epochs", "batch size 32", "| method |", "| craig (every 1) | 30% |", "![",
                 "tta_digits_mlp.png", "tta_digits_mlp.json"):
        assert text in md
    png = (tmp_path / "tta_digits_mlp.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    data = json.loads((tmp_path / "tta_digits_mlp.json").read_text())
    labels = [run["arm"]["label"] for run in data["runs"]]
    assert labels == ["full", "random", "rs2", "craig (every 1)", "craig (every 5)"]
    by_label = {run["arm"]["label"]: run for run in data["runs"]}
    assert all(len(run["history"]) == 2 for run in data["runs"])
    assert [e["selections"] for e in by_label["craig (every 1)"]["history"]] == [1, 2]
    assert [e["selections"] for e in by_label["craig (every 5)"]["history"]] == [1, 1]
    assert [e["subset_size"] for e in by_label["rs2"]["history"]] == [432, 432]  # ceil(0.3 * 1437)
    assert by_label["full"]["history"][-1]["test_accuracy"] > 0.8
    for run in data["runs"]:
        clock = [e["cumulative_seconds"] for e in run["history"]]
        cpu = [e["cpu_seconds"] for e in run["history"]]
        assert clock == sorted(clock) and cpu == sorted(cpu) and clock[0] > 0
    row = next(r for r in data["summary"]["rows"] if r["label"] == "craig (every 1)")
    assert row["coreset_seconds_per_selection_mean"] <= row["seconds_per_selection_mean"]
    assert data["settings"]["epochs"] == 2 and data["machine"]["cores"] >= 1


def test_run_tta_restores_the_torch_thread_count(tmp_path):
    torch.set_num_threads(2)
    run_tta(TtaConfig("digits", "mlp", methods=("full", "craig"), fractions=(0.1,), seeds=1, epochs=1,
                      craig_every=(1,)), out_dir=None)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dataset": "mnist"}, "unknown dataset"),
        ({"dataset": "digits", "model": "cnn"}, "28x28"),
        ({"dataset": "digits", "model": "mlp", "methods": ("full", "nonsense")}, "unknown method"),
        ({"dataset": "digits", "model": "mlp", "fractions": (1.5,)}, r"fractions must be numbers in \(0, 1\)"),
        ({"dataset": "digits", "model": "mlp", "seeds": 0}, "seeds must be a positive integer"),
        ({"dataset": "digits", "model": "mlp", "epochs": 0}, "epochs must be a positive integer"),
    ],
)
def test_run_tta_rejects_bad_input_with_one_line(kwargs, message, tmp_path):
    with pytest.raises(LessdataError, match=message):
        run_tta(TtaConfig(**kwargs), out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_cli_tta_on_digits(tmp_path):
    result = CliRunner().invoke(bench_app, ["tta", "--dataset", "digits", "--model", "mlp", "--methods",
                                            "full,random", "--fractions", "0.3", "--seeds", "1", "--epochs", "1",
                                            "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tta_digits_mlp.md").exists() and (tmp_path / "tta_digits_mlp.png").exists()
    assert "random" in result.output


@pytest.mark.parametrize("args, message", [
    (["--dataset", "cifar"], "unknown dataset"),
    (["--dataset", "digits", "--model", "mlp", "--fractions", "0.1,x"], "--fractions must be numbers"),
    (["--dataset", "digits", "--model", "mlp", "--craig-every", "0"], "craig_every"),
])
def test_cli_tta_bad_input_exits_2(args, message, tmp_path):
    result = CliRunner().invoke(bench_app, ["tta", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_quick_settings(monkeypatch, tmp_path):
    seen = {}

    def fake_grid(arms, **kwargs):
        seen.update(kwargs, arms=arms)
        return []

    import lessdata.bench.tta as tta

    monkeypatch.setattr(tta, "run_grid", fake_grid)
    out = run_tta(TtaConfig("digits", "mlp", seeds=3, quick=True), out_dir=None)
    assert seen["seeds"] == [0] and seen["epochs"] == tta.DEFAULT_SETTINGS[("digits", "mlp")]["quick_epochs"]
    assert out["settings"]["quick"] and "--quick" in out["command"]
    assert out["summary"]["rows"] == []


def test_summarize_counts_collapsed_runs_and_the_equal_accuracy_time():
    runs = [
        _run("full", None, 0, _history([0.80, 0.90], [5.0, 5.0])),
        _run("craig", 0.1, 0, _history([0.70, 0.82], [1.0, 1.0], [1.0, 1.0]), every=1),
        _run("craig", 0.1, 1, _history([0.10, 0.10], [1.0, 1.0], [1.0, 1.0]), every=1),  # diverged
    ]
    row = next(r for r in summarize(runs)["rows"] if r["method"] == "craig")
    assert row["collapsed"] == 1 and row["final_accuracy_mean_not_collapsed"] == 0.82
    assert math.isclose(row["final_accuracy_mean"], 0.46)
    assert row["full_seconds_to_same_accuracy"] == 5.0  # the full run passed 0.46 after its first epoch


# ------------------------------------------------------------------------------------------------ config
def test_config_is_frozen_checked_and_normalised():
    config = TtaConfig("digits", "mlp", methods="full,craig", fractions=[0.3], craig_every=[5], seed_list=[2, 0])
    assert config.methods == ("full", "craig") and config.fractions == (0.3,) and config.seed_list == (2, 0)
    assert config.seed_values == [2, 0] and config.stem == "tta_digits_mlp_seeds2_0"
    with pytest.raises(AttributeError):
        config.seeds = 5
    assert config.replace(quick=True).run_epochs == 5 and config.run_epochs == 20
    with pytest.raises(LessdataError, match="fractions must be numbers"):
        config.replace(fractions=[0.0])
    assert TtaConfig("digits", "mlp") == TtaConfig("digits", "mlp", methods=["full", "random", "rs2", "craig"])


def test_config_command_names_every_non_default_flag():
    config = TtaConfig("digits", "mlp", methods=("full", "glister"), fractions=(0.1,), every=(None, 2),
                       noise_rate=0.2, train_size=500, threads=2, quick=True)
    assert config.command("out") == ("lessdata bench tta --dataset digits --model mlp --methods full,glister "
                                     "--fractions 0.1 --seeds 1 --epochs 5 --every once,2 --label-noise 0.2 "
                                     "--train-size 500 --threads 2 --quick --out out")


def test_run_tta_takes_a_config_only():
    with pytest.raises(LessdataError, match="TtaConfig"):
        run_tta({"dataset": "digits"}, out_dir=None)


def test_batch_size_reaches_every_arm_and_the_command(monkeypatch):
    seen = {}

    def fake_grid(arms, **kwargs):
        seen.update(kwargs)
        return []

    import lessdata.bench.tta as tta

    monkeypatch.setattr(tta, "run_grid", fake_grid)
    out = run_tta(TtaConfig("digits", "mlp", seeds=1, epochs=1, batch_size=7), out_dir=None)
    assert seen["fit_kwargs"]["batch_size"] == 7 and out["settings"]["batch_size"] == 7
    assert "--batch-size 7" in out["command"]
    run_tta(TtaConfig("digits", "mlp", seeds=1, epochs=1), out_dir=None)
    assert seen["fit_kwargs"]["batch_size"] == tta.DEFAULT_SETTINGS[("digits", "mlp")]["batch_size"]
    for bad in (0, 2.5, True):
        with pytest.raises(LessdataError, match="batch_size must be a positive integer"):
            TtaConfig("digits", "mlp", batch_size=bad)
