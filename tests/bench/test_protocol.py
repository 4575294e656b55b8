"""The papers' protocol fields of a time-to-accuracy report: relative error, speed-up, time to fixed
accuracies, the paper-direction verdicts and the parallel-processes flag."""

import json

import pytest

from lessdata.bench import TtaConfig, run_tta
from lessdata.bench.protocol import add_protocol, directions_table, protocol_table
from lessdata.bench.report import timing_notes
from lessdata.bench.summary import summarize
from lessdata.errors import LessdataError


def _run(method, fraction, seed, accuracies, seconds, every=None):
    label = method if every is None else f"{method} (every {every})"
    history = [{"epoch": e, "test_accuracy": a, "cumulative_seconds": t, "selection_seconds": 0.0,
                "train_seconds": 1.0, "selections": 1} for e, (a, t) in enumerate(zip(accuracies, seconds))]
    return {"arm": {"method": method, "fraction": fraction, "every": every, "label": label}, "seed": seed,
            "history": history}


def _runs():
    return [
        _run("full", None, 0, [0.70, 0.85, 0.90], [10, 20, 30]),
        _run("full", None, 1, [0.72, 0.86, 0.90], [10, 20, 30]),
        _run("random", 0.1, 0, [0.60, 0.75, 0.80], [1, 2, 3]),
        _run("random", 0.1, 1, [0.62, 0.76, 0.80], [1, 2, 3]),
        _run("craig", 0.1, 0, [0.65, 0.80, 0.85], [2, 4, 6], every=1),
        _run("craig", 0.1, 1, [0.66, 0.79, 0.85], [2, 4, 6], every=1),
        _run("gradmatch", 0.1, 0, [0.50, 0.60, 0.70], [2, 4, 6], every=5),
        _run("gradmatch", 0.1, 1, [0.50, 0.60, 0.70], [2, 4, 6], every=5),
    ]


def _rows(summary):
    return {r["label"]: r for r in summary["rows"]}


def test_relative_error_speedup_and_time_to_fixed_accuracies():
    runs = _runs()
    summary = add_protocol(summarize(runs), runs, accuracies=(0.8, 0.88))
    rows = _rows(summary)
    # err_full = 0.10: random's 0.20 is 100% more errors, CRAIG's 0.15 is 50% more
    assert rows["random"]["relative_error"] == pytest.approx(1.0)
    assert rows["craig (every 1)"]["relative_error"] == pytest.approx(0.5)
    assert rows["full"]["relative_error"] == pytest.approx(0.0)
    assert rows["craig (every 1)"]["accuracy_drop"] == pytest.approx(0.05)
    assert rows["random"]["speedup_vs_full"] == pytest.approx(10.0)
    # 80%: full at 20 s (both seeds), random at 3 s, CRAIG at 6 s (seed 0 at 4 s reaches it too: 0.80)
    assert rows["full"]["seconds_to_accuracy"]["0.8"] == {"seconds_mean": 20.0, "reached": 2, "runs": 2}
    assert rows["craig (every 1)"]["seconds_to_accuracy"]["0.8"]["seconds_mean"] == pytest.approx(5.0)
    assert rows["random"]["seconds_to_accuracy"]["0.88"] == {"seconds_mean": None, "reached": 0, "runs": 2}
    table = protocol_table(summary)
    assert "| craig (every 1) | 10% | 85.00 ± 0.00 | 50.0% | 5.00 | 6.0 | 5.00× | 5.0 (2/2) | – (0/2) |" in table


def test_paper_directions():
    runs = _runs()
    summary = add_protocol(summarize(runs), runs)
    verdicts = {e["label"]: e["holds"] for e in summary["paper_directions"]}
    # CRAIG: lower relative error than random and faster than full; GradMatch: 10 points below random
    assert verdicts == {"craig (every 1)": True, "gradmatch (every 5)": False}
    text = directions_table(summary)
    assert "| gradmatch (every 5) | 10% |" in text and "**no**" in text
    # a CRAIG arm slower than full data loses its speed-up half of the claim
    slow = [dict(r, history=[dict(h, cumulative_seconds=h["cumulative_seconds"] * 10) for h in r["history"]])
            if r["arm"]["method"] == "craig" else r for r in runs]
    summary = add_protocol(summarize(slow), slow)
    assert {e["label"]: e["holds"] for e in summary["paper_directions"]}["craig (every 1)"] is False


def test_parallel_processes_are_flagged_as_not_for_speed_claims():
    one = {"settings": {"parallel_processes": 1}, "machine": {"cores": 2}}
    assert timing_notes(one) == []
    many = {"settings": {"parallel_processes": 3}, "machine": {"cores": 2}}
    assert "Not for speed claims" in timing_notes(many)[0] and "3 benchmark processes" in timing_notes(many)[0]
    merged = {"settings": {"parts": [{}, {}]}, "machine": {"cores": 16}}
    assert "2 benchmark processes" in timing_notes(merged)[0]


@pytest.mark.parametrize("kwargs, message", [
    ({"accuracy_targets": [1.5]}, "accuracy_targets must be accuracies in \\(0, 1\\)"),
    ({"parallel_processes": 0}, "parallel_processes must be a positive integer"),
])
def test_bad_protocol_settings(kwargs, message):
    with pytest.raises(LessdataError, match=message):
        TtaConfig("digits", "mlp", **kwargs)


@pytest.mark.slow  # trains three arms
def test_a_run_writes_the_protocol_section(tmp_path):
    config = TtaConfig("digits", "mlp", methods=("full", "random", "gradmatch"), fractions=(0.3,), seeds=1,
                       epochs=2, every=(1,), accuracy_targets=(0.5,), parallel_processes=2, name="proto")
    result = run_tta(config, out_dir=tmp_path)
    text = (tmp_path / "proto.md").read_text()
    assert "## Protocol" in text and "Not for speed claims" in text and "s to 50%" in text
    assert "paper's direction" in text
    saved = json.loads((tmp_path / "proto.json").read_text())
    assert saved["settings"]["parallel_processes"] == 2 and saved["summary"]["accuracy_targets"] == [0.5]
    gradmatch = next(r for r in result["summary"]["rows"] if r["method"] == "gradmatch")
    assert gradmatch["relative_error"] is not None and "0.5" in gradmatch["seconds_to_accuracy"]
    assert "--accuracy-targets 0.5 --parallel-processes 2" in config.command()
