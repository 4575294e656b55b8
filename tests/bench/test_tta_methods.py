"""The issue-4 arms of the time-to-accuracy harness: CREST, AdaCore, GradMatch, GLISTER, EL2N, forgetting,
cartography; label noise; seeds as separate processes merged into one report."""

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import lessdata
from lessdata.bench import TtaConfig, run_tta, summarize
from lessdata.bench.arms import METHODS, ArmOptions, make_arms
from lessdata.bench.cli import bench_app
from lessdata.bench.noise import NoiseTracker, flip_labels, noisy_fraction
from lessdata.bench.protocol import add_protocol
from lessdata.bench.tta import load_benchmark_data, merge_files, merge_results
from lessdata.coreset import Coreset
from lessdata.errors import LessdataError

NEW = ("crest", "adacore", "gradmatch", "glister", "el2n", "forgetting", "cartography")


# ------------------------------------------------------------------------------------------ every new method
@pytest.fixture(scope="module")
def new_methods_run():
    config = TtaConfig("digits", "mlp", methods=("full", *NEW), fractions=(0.3,), quick=True, epochs=2, every=(1,))
    return run_tta(config, out_dir=None)


def test_every_new_method_runs_on_digits_in_quick_mode(new_methods_run):
    runs = {run["arm"]["method"]: run for run in new_methods_run["runs"]}
    assert set(runs) == {"full", *NEW}
    n = new_methods_run["settings"]["n_train"]
    budget = math.ceil(0.3 * n)
    for method in NEW:
        history = runs[method]["history"]
        assert len(history) == 2, method
        assert all(0.0 <= e["test_accuracy"] <= 1.0 for e in history), method
        assert history[-1]["selections"] >= 1, method
        # CREST's first epoch is its warm-up on random batches (the reference's): no selection before epoch 1
        assert history[1 if method == "crest" else 0]["selection_seconds"] > 0, method
        clock = [e["cumulative_seconds"] for e in history]
        assert clock == sorted(clock) and clock[-1] >= sum(e["selection_seconds"] for e in history) - 1e-9
        if method not in ("crest",):
            assert history[-1]["subset_size"] == budget, method  # GLISTER too, from the smaller pool
    # every 1 epoch: two selections for the epoch selectors, one for the score methods
    assert [runs[m]["history"][-1]["selections"] for m in ("adacore", "gradmatch", "glister")] == [2, 2, 2]
    assert [runs[m]["history"][-1]["selections"] for m in ("el2n", "forgetting", "cartography")] == [1, 1, 1]
    assert runs["crest"]["history"][-1]["checks"] >= 1
    assert runs["full"]["history"][-1]["test_accuracy"] > 0.7


def test_score_arms_are_charged_for_their_training_runs(new_methods_run):
    runs = {run["arm"]["method"]: run for run in new_methods_run["runs"]}
    # forgetting and cartography read one recorded run: both are charged its whole cost
    forgetting, cartography = (runs[m]["history"][0]["selection_seconds"] for m in ("forgetting", "cartography"))
    assert abs(forgetting - cartography) < 0.5 * max(forgetting, cartography)
    full_epoch = runs["full"]["history"][0]["train_seconds"]
    assert forgetting > 0.5 * full_epoch  # at least most of one full-data epoch (2 epochs of score training)
    assert runs["el2n"]["history"][0]["selection_seconds"] > 0.5 * full_epoch
    settings = new_methods_run["settings"]["method_settings"]
    assert settings["el2n_epochs"] == 1 and settings["dynamics_epochs"] == 2 and settings["el2n_runs"] == 2


def test_summary_has_the_crest_check(new_methods_run):
    summary = new_methods_run["summary"]
    crest = summary["checks"]["crest_speedup"]
    assert crest["entries"][0]["fraction"] == 0.3 and isinstance(crest["met"], bool)
    row = next(r for r in summary["rows"] if r["method"] == "crest")
    assert row["checks_mean"] >= 1 and row["selections"] >= 1


def test_make_arms_with_the_new_methods():
    arms = make_arms(["full", "crest", "adacore", "el2n"], [0.1, 0.3], craig_every=(1,), every=(2, None))
    assert [(a.label, a.fraction) for a in arms] == [
        ("full", None), ("crest", 0.1), ("crest", 0.3), ("adacore (every 2)", 0.1), ("adacore (once)", 0.1),
        ("adacore (every 2)", 0.3), ("adacore (once)", 0.3), ("el2n", 0.1), ("el2n", 0.3)]
    assert set(NEW) < set(METHODS)


def test_glister_selects_from_the_pool_left_after_its_validation_split():
    from lessdata.bench.arms import Arm, SeedContext, make_schedule, stratified_split
    from lessdata.bench.tta import model_factory

    train, _, labels, d = load_benchmark_data("digits", "mlp")
    fit_kwargs = {"batch_size": 32, "lr": 0.05}
    ctx = SeedContext(train, labels, 3, model_factory("mlp", d), fit_kwargs, epochs=1)
    schedule, selections, charge = make_schedule(Arm("glister", 0.2, 1), ctx)
    coreset = schedule.coreset_for_epoch(0, model_factory("mlp", d)())
    _, held_out = stratified_split(labels, 0.1, seed=3)
    assert len(coreset) == math.ceil(0.2 * len(labels)) and coreset.n == len(labels)
    assert not set(coreset.indices.tolist()) & set(held_out.tolist())
    assert charge is None and selections.seconds


def test_glister_per_class_option_balances_the_classes():
    from lessdata.bench.arms import Arm, ArmOptions, SeedContext, make_schedule
    from lessdata.bench.tta import model_factory
    from lessdata.training import fit

    train, _, labels, d = load_benchmark_data("digits", "mlp")
    torch.manual_seed(0)
    model = model_factory("mlp", d)()
    fit(model, train, None, epochs=5, lr=0.05, batch_size=32)  # a trained model's gains favour some classes
    counts = {}
    for per_class in (False, True):
        ctx = SeedContext(train, labels, 0, model_factory("mlp", d), {"batch_size": 32, "lr": 0.05}, epochs=1,
                          options=ArmOptions(glister_per_class=per_class, first_call="model"))
        schedule, _, _ = make_schedule(Arm("glister", 0.1, 1), ctx)
        coreset = schedule.coreset_for_epoch(0, model)
        counts[per_class] = np.bincount(labels[coreset.indices], minlength=10)
    expected = 0.1 * np.bincount(labels, minlength=10)
    assert np.abs(counts[True] - expected).max() <= 2  # proportional per-class budgets
    assert np.abs(counts[False] - expected).max() > 2  # one selection over all classes is not balanced


# --------------------------------------------------------------------------------------------- label noise
@given(n=st.integers(1, 300), classes=st.integers(2, 12), rate=st.floats(0.0, 0.99), seed=st.integers(0, 2**31))
def test_flip_labels_changes_exactly_round_p_n_labels_to_other_classes(n, classes, rate, seed):
    labels = np.random.default_rng(seed).integers(classes, size=n)
    noisy, flipped = flip_labels(labels, rate, seed=seed, num_classes=classes)
    changed = noisy != labels
    assert changed.sum() == round(rate * n) == flipped.sum()
    assert np.array_equal(changed, flipped)  # a flipped label never lands on its own class
    assert noisy.min() >= 0 and noisy.max() < classes
    again, flipped_again = flip_labels(labels, rate, seed=seed, num_classes=classes)
    assert np.array_equal(again, noisy) and np.array_equal(flipped_again, flipped)


def test_flip_labels_differs_between_seeds_and_spreads_over_classes():
    labels = np.arange(3000) % 10
    a, fa = flip_labels(labels, 0.2, seed=0)
    b, fb = flip_labels(labels, 0.2, seed=1)
    assert fa.sum() == fb.sum() == 600 and not np.array_equal(fa, fb)
    offsets = (a[fa] - labels[fa]) % 10
    assert set(np.unique(offsets).tolist()) == set(range(1, 10))  # every other class is reachable


@pytest.mark.parametrize("rate", [1.0, -0.1, float("nan"), True, "0.2", None])
def test_noise_rate_outside_0_1_is_one_clear_error(rate):
    with pytest.raises(LessdataError, match="label-noise rate must be"):
        flip_labels(np.arange(10) % 2, rate)


def test_noisy_fraction_on_a_constructed_case():
    flipped = np.zeros(10, dtype=bool)
    flipped[[1, 3, 5]] = True
    assert noisy_fraction([0, 1, 2, 3], flipped) == 0.5
    assert noisy_fraction([1, 3], flipped, weights=[1.0, 3.0]) == 1.0
    assert noisy_fraction([0, 1, 2, 3], flipped, weights=[4.0, 1.0, 4.0, 1.0]) == 0.2
    with pytest.raises(LessdataError, match="out|in \\["):
        noisy_fraction([11], flipped)
    with pytest.raises(LessdataError, match="empty"):
        noisy_fraction([], flipped)


def test_noise_tracker_counts_each_new_subset_once():
    class Loader:
        coreset = None

    flipped = np.array([True, False, False, False, True, False])
    tracker, loader = NoiseTracker(flipped), Loader()
    tracker.on_fit_start(None, loader)
    tracker.on_epoch_start(0, None, loader)  # full data: nothing to count
    first = Coreset(indices=[0, 1], weights=[1.0, 3.0], n=6)
    loader.coreset = first
    tracker.on_batch_end(0, None, None)
    tracker.on_batch_end(0, None, None)  # the same subset again
    tracker.on_epoch_start(1, None, loader)
    loader.coreset = Coreset(indices=[2, 3, 4, 5], weights=[1.0] * 4, n=6)
    tracker.on_batch_end(1, None, None)
    assert tracker.fractions == [0.5, 0.25] and tracker.weight_fractions == [0.25, 0.25]


def test_noise_run_trains_on_flipped_labels_and_records_the_random_arm_exactly():
    result = run_tta(TtaConfig("digits", "mlp", methods=("full", "random", "craig"), fractions=(0.3,), seed_list=[2],
                               epochs=1, craig_every=(1,), noise_rate=0.25), out_dir=None)
    _, _, labels, _ = load_benchmark_data("digits", "mlp")
    noisy, flipped = flip_labels(labels, 0.25, seed=2)
    runs = {run["arm"]["method"]: run for run in result["runs"]}
    expected = lessdata.select(None, fraction=0.3, method="random", labels=noisy, seed=2, n=len(labels))
    assert runs["random"]["noisy_fractions"] == [noisy_fraction(expected.indices, flipped)]
    assert runs["full"]["noisy_fractions"] == [flipped.mean()]
    assert len(runs["craig"]["noisy_fractions"]) == 1 and runs["craig"]["noise_rate"] == 0.25
    row = next(r for r in result["summary"]["rows"] if r["method"] == "random")
    assert row["noisy_fraction_mean"] == runs["random"]["noisy_fractions"][0] and row["noise_rate"] == 0.25
    assert result["settings"]["noise_rate"] == 0.25


def test_noise_report_has_the_table_and_the_bar_chart(tmp_path):
    result = run_tta(TtaConfig("digits", "mlp", methods=("full", "random"), fractions=(0.3,), seeds=1, epochs=1,
                               noise_rate=0.2), out_dir=tmp_path)
    md = (tmp_path / "tta_digits_mlp_noise.md").read_text()
    for text in ("20% of training labels flipped", "noisy share of picks", "Label noise", "clean test set",
                 "tta_digits_mlp_noise_noisy.png"):
        assert text in md
    assert (tmp_path / "tta_digits_mlp_noise_noisy.png").read_bytes()[:4] == b"\x89PNG"
    assert result["files"]["noise_plot"].endswith("_noisy.png")


# ------------------------------------------------------------------------------------------------ merging
@pytest.fixture(scope="module")
def merged_parts(tmp_path_factory):
    out = tmp_path_factory.mktemp("parts")
    base = TtaConfig("digits", "mlp", methods=("full", "random", "craig"), fractions=(0.3,), epochs=2,
                     craig_every=(1,), name="m")
    one = run_tta(base.replace(seeds=2), out_dir=None)
    a = run_tta(base.replace(seed_list=[0]), out_dir=out)  # seed 0, every arm
    b = run_tta(base.replace(seed_list=[1], methods=("full", "random")), out_dir=out)  # seed 1, split by arm
    c = run_tta(base.replace(seed_list=[1], methods=("craig",), name="m_craig"), out_dir=out)
    return one, a, b, c, out


def test_merging_processes_split_by_seed_and_arm_equals_one_run(merged_parts, tmp_path):
    one, a, b, c, out = merged_parts
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.{ext}" for stem in ("m_craig_seeds1", "m_seeds0",
                                                                                  "m_seeds1")
                                                     for ext in ("json", "md", "png")]
    assert c["summary"]["target_accuracy"] is None  # no full-data run in that part
    merged = merge_files([a["files"]["json"], c["files"]["json"], b["files"]["json"]], tmp_path)
    assert [(r["arm"]["label"], r["seed"]) for r in merged["runs"]] == [(r["arm"]["label"], r["seed"])
                                                                        for r in one["runs"]]
    s1, s2 = one["summary"], merged["summary"]
    assert s2["reference_accuracy"] == s1["reference_accuracy"] and s2["target_accuracy"] == s1["target_accuracy"]
    keys = ("label", "fraction", "seeds", "epochs", "final_accuracy_mean", "final_accuracy_std", "selections",
            "reached", "best_accuracy_mean")
    assert [{k: r[k] for k in keys} for r in s2["rows"]] == [{k: r[k] for k in keys} for r in s1["rows"]]
    recomputed = add_protocol(summarize(merged["runs"], 0.01), merged["runs"])  # from the joined runs
    assert s2 == json.loads(json.dumps(recomputed))
    assert merged["settings"]["seed_list"] == [0, 1] and merged["settings"]["seeds"] == 2
    assert [p["seed_list"] for p in merged["settings"]["parts"]] == [[0], [1], [1]]
    assert merged["settings"]["methods"] == ["full", "random", "craig"]
    md = (tmp_path / "m.md").read_text()
    assert "3 processes side by side" in md and "--seed-list 0" in md and (tmp_path / "m.png").exists()


def test_merge_rejects_overlapping_seeds_other_settings_and_non_results(merged_parts, tmp_path):
    _, a, b, _, _ = merged_parts
    with pytest.raises(LessdataError, match="seed 0 of full at 100% is in part 1 and part 2"):
        merge_results([a, a])
    other = json.loads(json.dumps(b))
    other["settings"]["epochs"] = 5
    with pytest.raises(LessdataError, match="epochs differs"):
        merge_results([a, other])
    with pytest.raises(LessdataError, match="not a time-to-accuracy result"):
        merge_results([a, {"runs": []}])
    with pytest.raises(LessdataError, match="nothing to merge"):
        merge_results([])
    with pytest.raises(LessdataError, match="cannot read"):
        merge_files([tmp_path / "missing.json"])


def test_cli_tta_merge(merged_parts, tmp_path):
    _, a, b, _, _ = merged_parts
    result = CliRunner().invoke(bench_app, ["tta-merge", a["files"]["json"], b["files"]["json"], "--out",
                                            str(tmp_path), "--name", "joined"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "joined.md").exists() and "craig" in result.output
    bad = CliRunner().invoke(bench_app, ["tta-merge", a["files"]["json"], a["files"]["json"], "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "seed 0" in bad.output and "Traceback" not in bad.output


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, message", [
    ({"methods": ("full", "crest", "nope")}, "unknown method 'nope'"),
    ({"noise_rate": 1.0}, r"label-noise rate must be in \[0, 1\)"),
    ({"noise_rate": -0.2}, r"label-noise rate must be in \[0, 1\)"),
    ({"device": "tpu"}, "device"),
    ({"seed_list": [0, 0]}, "seed_list lists a seed twice"),
    ({"seed_list": [-1]}, "seed_list must be non-negative"),
    ({"every": (0,)}, "every must be positive integers"),
    ({"train_size": 5}, "train_size 5 is too small"),
    ({"name": "a/b"}, "name must be a file stem"),
    ({"options": ArmOptions(glister_validation_fraction=0.9)}, "glister_validation_fraction"),
    ({"options": ArmOptions(el2n_runs=0)}, "el2n_runs must be a positive integer"),
])
def test_run_tta_rejects_bad_method_input(kwargs, message, tmp_path):
    with pytest.raises(LessdataError, match=message):
        run_tta(TtaConfig("digits", "mlp", fractions=(0.3,), seeds=1, epochs=1, **kwargs), out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(LessdataError, match="no CUDA GPU"):
        run_tta(TtaConfig("digits", "mlp", seeds=1, epochs=1, device="cuda"), out_dir=tmp_path)


@pytest.mark.parametrize("args, message", [
    (["--label-noise", "1.5"], "label-noise rate must be in [0, 1)"),
    (["--label-noise", "lots"], "--label-noise must be a number"),
    (["--methods", "full,crest,nope"], "unknown method 'nope'"),
    (["--every", "x"], "--every must be positive integers or 'once'"),
    (["--seed-list", "0,a"], "--seed-list must be positive integers"),
])
def test_cli_bad_method_input_exits_2(args, message, tmp_path):
    result = CliRunner().invoke(bench_app, ["tta", "--dataset", "digits", "--model", "mlp", *args,
                                            "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------------------- summary checks
def _run(method, fraction, seed, accuracies, seconds, selection=0.0, **extra):
    clock, history = 0.0, []
    for epoch, (acc, sec) in enumerate(zip(accuracies, seconds)):
        clock += sec + (selection if epoch == 0 else 0.0)
        history.append({"epoch": epoch, "test_accuracy": acc, "train_seconds": sec,
                        "selection_seconds": selection if epoch == 0 else 0.0, "cumulative_seconds": clock,
                        "selections": 1 if method != "full" else 0})
    return {"arm": {"method": method, "fraction": fraction, "every": None, "signal": "gradients", "label": method},
            "seed": seed, "history": history, **extra}


def test_crest_check_is_met_only_when_every_seed_is_twice_as_fast():
    full = [_run("full", None, s, [0.80, 0.90], [5.0, 5.0]) for s in (0, 1)]  # target 0.89, full total 10 s
    fast = [_run("crest", 0.1, s, [0.895, 0.90], [2.0, 2.0], selection=1.0) for s in (0, 1)]  # 3 s to target
    check = summarize(full + fast)["checks"]["crest_speedup"]
    assert check["met"] and check["entries"][0]["speedup_vs_full_total"] == pytest.approx(10 / 3)
    assert check["entries"][0]["speedup_vs_full_to_target"] == pytest.approx(10 / 3)
    slow = [fast[0], _run("crest", 0.1, 1, [0.80, 0.85], [2.0, 2.0], selection=1.0)]  # one seed never reaches it
    assert not summarize(full + slow)["checks"]["crest_speedup"]["met"]
    late = [_run("crest", 0.1, s, [0.80, 0.90], [3.0, 3.0]) for s in (0, 1)]  # 6 s: only 1.7x
    assert not summarize(full + late)["checks"]["crest_speedup"]["met"]


def test_summary_averages_the_noisy_fraction_over_selections_then_seeds():
    runs = [_run("full", None, 0, [0.9], [1.0], noise_rate=0.2, noisy_fractions=[0.2], noisy_weight_fractions=[0.2]),
            _run("random", 0.1, 0, [0.8], [1.0], noise_rate=0.2, noisy_fractions=[0.1, 0.3],
                 noisy_weight_fractions=[0.1, 0.1]),
            _run("random", 0.1, 1, [0.8], [1.0], noise_rate=0.2, noisy_fractions=[0.4],
                 noisy_weight_fractions=[0.3])]
    row = next(r for r in summarize(runs)["rows"] if r["method"] == "random")
    assert row["noisy_fraction_mean"] == pytest.approx(0.3) and row["noisy_weight_fraction_mean"] == pytest.approx(0.2)
    assert row["noisy_fraction_std"] == pytest.approx(np.std([0.2, 0.4], ddof=1)) and row["noise_rate"] == 0.2
