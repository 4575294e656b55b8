import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.registry import get_method
from lessdata.methods.rs2 import Rs2Method, rs2_round_indices


def _round(n, budget, round_, seed=0, **params):
    return Rs2Method(round=round_, **params)(None, budget, labels=None, seed=seed, n=n)


@settings(max_examples=60, deadline=None)
@given(rounds_per_pass=st.integers(1, 12), budget=st.integers(1, 25), seed=st.integers(0, 2**32 - 1))
def test_every_example_is_visited_exactly_once_per_pass_when_budget_divides_n(rounds_per_pass, budget, seed):
    n = rounds_per_pass * budget
    for pass_ in range(3):
        chunks = [
            _round(n, budget, pass_ * rounds_per_pass + c, seed).indices for c in range(rounds_per_pass)
        ]
        assert sorted(np.concatenate(chunks).tolist()) == list(range(n))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(1, 300), seed=st.integers(0, 1000))
def test_rounds_never_hold_duplicates_and_passes_cover_every_example(data, n, seed):
    budget = data.draw(st.integers(1, n))
    per_pass = math.ceil(n / budget)
    for pass_ in range(2):
        counts = np.zeros(n, dtype=int)
        for chunk in range(per_pass):
            cs = _round(n, budget, pass_ * per_pass + chunk, seed)
            assert len(cs) == budget and len(np.unique(cs.indices)) == budget
            assert cs.indices.min() >= 0 and cs.indices.max() < n
            counts[cs.indices] += 1
        assert counts.min() == 1 and counts.max() <= 2  # everyone once; the last chunk's top-up twice


def test_same_seed_and_round_give_the_same_coreset():
    assert _round(1000, 100, 7, seed=4) == _round(1000, 100, 7, seed=4)
    assert not np.array_equal(_round(1000, 100, 7, seed=4).indices, _round(1000, 100, 7, seed=5).indices)
    # round 10 starts a new pass with a new permutation, not a replay of round 0
    assert not np.array_equal(_round(1000, 100, 0).indices, _round(1000, 100, 10).indices)


def test_round_is_stateless():
    """Round t alone decides the subset, so it matches the shuffle-once-take-chunks definition."""
    perm1 = np.random.default_rng([9, 1]).permutation(40)
    assert np.array_equal(rs2_round_indices(40, 8, round=7, seed=9), perm1[16:24])  # pass 1, chunk 2


def test_coreset_fields():
    cs = _round(100, 10, 3, seed=2)
    assert cs.method == "rs2" and cs.n == 100 and cs.seed == 2
    assert cs.params == {"round": 3, "replacement": False, "pass": 0}
    assert cs.weights.dtype == np.float32 and np.all(cs.weights == 1.0)
    assert cs.partition is None
    assert Rs2Method.needs_features is False
    assert get_method("rs2") is Rs2Method


def test_with_replacement_rounds_are_independent_uniform_subsets():
    a, b = _round(50, 10, 0, replacement=True), _round(50, 10, 1, replacement=True)
    assert len(np.unique(a.indices)) == 10 and len(np.unique(b.indices)) == 10
    assert a == _round(50, 10, 0, replacement=True)
    assert a.params["pass"] is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 10, "budget": 11, "round": 0}, "budget 11 is larger than the number of points"),
        ({"n": 10, "budget": 0, "round": 0}, "budget must be at least 1"),
        ({"n": 10, "budget": 5, "round": -1}, "method 'rs2': round must be an int ≥ 0, got -1"),
        ({"n": 10, "budget": 5, "round": 1.5}, "method 'rs2': round must be an int ≥ 0, got 1.5"),
        ({"n": 10, "budget": 5, "round": True}, "round must be an int ≥ 0, got True"),
        ({"n": 10, "budget": 5, "round": 0, "seed": None}, "seed must be a non-negative integer"),
    ],
)
def test_bad_parameters_raise_one_clear_error(kwargs, message):
    with pytest.raises(LessdataError, match=message):  # checked once, by select() and the method's table
        lessdata.select(None, method="rs2", **kwargs)


def test_unknown_parameter_is_rejected():
    with pytest.raises(LessdataError, match="unknown parameter"):
        Rs2Method(rounds=2)
