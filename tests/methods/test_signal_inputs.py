"""Methods check that their X is the signal they declare (score methods refuse raw features), and the
bad inputs the every-method suite found: complex features, a bad ``n``, an empty result, counts beyond a C int,
non-numeric array parameters."""

import numpy as np
import pytest
from typer.testing import CliRunner

import lessdata
from lessdata._validation import C_COUNT, NUMBERS, check_param
from lessdata.cli import app
from lessdata.errors import LessdataError
from lessdata.methods import get_method
from lessdata.methods.registry import SIGNAL_VALUES, SignalValues, check_signal

RNG = np.random.default_rng(0)
RAW = RNG.normal(size=(40, 6)).astype(np.float32)  # raw features: negative values, any range
PIXELS = RNG.random((40, 784)).astype(np.float32)  # non-negative features with many columns
CHECKED = [name for name in lessdata.methods()
           if get_method(name).signals and get_method(name).signals[0] in SIGNAL_VALUES
           and name != "feature_based"]  # feature_based also takes plain non-negative features


def test_the_checked_methods_are_the_score_methods():
    assert set(CHECKED) == {"cartography", "el2n", "forgetting", "grand", "high_learnability", "least_confidence",
                            "middle_perplexity", "s2l", "uncertainty"}


@pytest.mark.parametrize("name", CHECKED)
def test_score_methods_refuse_raw_features(name):
    with pytest.raises(LessdataError, match=rf"method '{name}': X must be .*got the value -?\d"):
        lessdata.select(RAW, budget=5, method=name)


@pytest.mark.parametrize("name, signal, match", [
    ("el2n", PIXELS, "at most 100 columns.*got 784 columns"),
    ("grand", PIXELS, "got 784 columns"),
    ("el2n", np.full((40, 2), 1.5, np.float32), r"values in \[0, √2\].*got the value 1.5 at row 0, column 0"),
    ("forgetting", np.full((40, 3), 0.5, np.float32), "values 0 or 1.*0.5"),
    ("cartography", np.full((40, 3), 1.2, np.float32), r"values in \[0, 1\]"),
    ("uncertainty", np.full((40, 3), 0.2, np.float32), "rows summing to 1.*got row 0 summing to 0.6"),
    ("uncertainty", np.ones((40, 1), np.float32), "at least 2 columns"),
])
def test_the_value_and_shape_problem_is_named(name, signal, match):
    with pytest.raises(LessdataError, match=match):
        lessdata.select(signal, budget=5, method=name)


def test_the_right_signals_are_accepted():
    correct = (RNG.random((40, 4)) < 0.5).astype(np.float32)
    assert len(lessdata.select(correct, budget=5, method="forgetting")) == 5
    assert len(lessdata.select(np.full((40, 2), np.sqrt(2), np.float32), budget=5, method="el2n")) == 5
    assert len(lessdata.select(RAW, budget=5, method="uncertainty", from_logits=True)) == 5  # logits: any values
    with pytest.raises(LessdataError, match="logits of at least 2 classes"):
        lessdata.select(RAW[:, :1], budget=5, method="uncertainty", from_logits=True)
    # precomputed scores are one value per example and take any sign
    assert len(lessdata.select(n=40, budget=5, method="el2n", scores=RAW[:, 0])) == 5


def test_signal_values_describe_and_check_directly():
    assert SignalValues(0.0, np.sqrt(2), max_columns=100).describe() == "values in [0, √2], at most 100 columns"
    assert SignalValues(binary=True).describe() == "values 0 or 1"
    assert SignalValues(0.0, 1.0, rows_sum_to_one=True, min_columns=2).problem(np.eye(3, dtype=np.float32)) is None
    assert check_signal(RAW, "features", "x") is RAW  # feature signals take any finite values


def test_lessdata_methods_says_what_each_method_reads():
    result = CliRunner().invoke(app, ["methods"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 3}
    assert "el2n_scores, dynamics; or scores=" in lines["el2n"]
    assert "no signal (n= only)" in lines["random"]
    assert "query=" in lines["targeted"]
    assert "values in [0, √2], at most 100 columns" in result.stdout  # the signal vocabulary with its ranges
    assert "values 0 or 1" in result.stdout


# ---------------------------------------------------------------------- found by the every-method bad-input suite
def test_complex_features_are_refused_not_cast():
    with pytest.raises(LessdataError, match="real numbers"):
        lessdata.select(RAW + 1j, budget=5, method="craig")


@pytest.mark.parametrize("n", ["60", 2.5, True, 0, -3, 2**70])
def test_a_bad_number_of_points_is_one_line(n):
    with pytest.raises(LessdataError, match="n must be a positive integer"):
        lessdata.select(n=n, budget=3, method="random")


def test_more_points_than_memory_can_index_is_one_line():
    with pytest.raises(LessdataError, match=r"n=1,000,000,000,000 points need 7,450.6 GiB for their indices"):
        lessdata.select(n=10**12, budget=3, method="random")


def test_an_empty_result_is_an_error():
    emb = RAW / np.linalg.norm(RAW, axis=1, keepdims=True)
    with pytest.raises(LessdataError, match="method 'sas' selected no point of 40 with lam=100"):
        lessdata.select(emb, budget=5, method="sas", lam=100.0)  # random greedy: no gain is positive
    with pytest.raises(LessdataError, match="all would be dropped"):
        lessdata.select(RAW, budget=1, method="epic", labels=np.arange(40))  # one point per class


@pytest.mark.parametrize("method, params", [
    ("kmq", {"iterations": 2**31}), ("prototypes", {"restarts": 2**31}), ("s2l", {"iterations": 2**31}),
    ("semdedup", {"restarts": 2**40}),
])
def test_faiss_counts_beyond_a_c_int_are_refused(method, params):
    with pytest.raises(LessdataError, match=r"must be an int in \[1, 2147483647\]"):
        lessdata.select(np.abs(RAW), budget=5, method=method, **params)
    assert check_param("x", "iterations", 2**31 - 1, C_COUNT) == 2**31 - 1


@pytest.mark.parametrize("value, ok", [
    (np.ones(3), True), ([1, 2.5], True), ((1, 2), True), (np.array([True]), True),
    (np.array(["a"]), False), ([1, "a"], False), ([[1, 2], [1]], False), (np.ones(2) + 1j, False), ("12", False),
    (3.0, False), (np.array([None], dtype=object), False),
])
def test_numeric_array_parameters(value, ok):
    assert NUMBERS.accepts(value) is ok
    if not ok:
        with pytest.raises(LessdataError, match="'less': target must be an array of real numbers or None"):
            lessdata.select(RAW, budget=5, method="less", target=value)
