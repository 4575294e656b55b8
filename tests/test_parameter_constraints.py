"""Declared parameter constraints: one table per method, one check, one message format."""

import numpy as np
import pytest

import lessdata
from lessdata._validation import (
    ARRAY,
    BOOL,
    CALLABLE,
    Interval,
    NameOr,
    Options,
    Satisfies,
    check_param,
    describe_forms,
)
from lessdata.errors import LessdataError
from lessdata.methods.registry import _REGISTRY, Method, register

X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
Y = np.arange(40) % 2


@pytest.mark.parametrize("forms, good, bad, text", [
    ([Interval(int, 1, None)], [1, 7, np.int64(3)], [0, -1, 1.0, True, "1", None], "an int ≥ 1"),
    ([Interval(int, 0, None, closed="neither")], [1], [0], "an int > 0"),
    ([Interval(int)], [-5, 0, 5], [0.5, False], "an int"),
    ([Interval(float, 0, 1, closed="neither")], [0.5, 1e-9, np.float32(0.2)], [0, 1, "0.1", float("nan"), True],
     "a number in (0, 1)"),
    ([Interval(float, 0, 1, closed="left")], [0, 0.99], [1, -0.1], "a number in [0, 1)"),
    ([Interval(float, 0, 1, closed="right")], [1, 0.5], [0], "a number in (0, 1]"),
    ([Interval(float, 0, None)], [0, 3, 2.5], [-1e-9, float("inf"), "3"], "a number ≥ 0"),
    ([Interval(float, None, 2, closed="neither")], [-4, 1.9], [2], "a number < 2"),
    ([Options("hard", "easy")], ["hard", "easy"], ["HARD", 1, None], "one of 'hard', 'easy'"),
    ([BOOL], [True, False, np.bool_(True)], [0, 1, "yes", None], "a bool"),
    ([ARRAY], [np.ones(3), [1, 2], (1,)], [3, "abc", None], "an array"),
    ([CALLABLE], [len, lambda x: x], [3, "f"], "a callable"),
    ([Interval(int, 1, None), None], [None, 3], [0, "x"], "an int ≥ 1 or None"),
    ([Options("a"), BOOL, None], ["a", True, None], ["b", 0], "one of 'a', a bool or None"),
    ([Satisfies("an even int", lambda v: isinstance(v, int) and v % 2 == 0)], [2, 0], [1, "2"], "an even int"),
])
def test_each_form_accepts_rejects_and_names_itself(forms, good, bad, text):
    assert describe_forms(forms) == text
    for value in good:
        check_param("thing", "p", value, forms)
    for value in bad:
        with pytest.raises(LessdataError) as info:
            check_param("thing", "p", value, forms)
        assert str(info.value) == f"thing: p must be {text}, got {value!r}"


def test_name_or_object():
    class Backend:
        def map(self, fn, items):
            return [fn(i) for i in items]

    forms = [NameOr(("local", "ray"), "map")]
    for value in ("local", "ray", Backend()):
        check_param("method 'x'", "backend", value, forms)
    for value in ("dask", object(), 3):
        with pytest.raises(LessdataError, match=r"^method 'x': backend must be one of 'local', 'ray' or an "
                                                r"object with map\(\), got "):
            check_param("method 'x'", "backend", value, forms)


def test_long_values_and_arrays_are_shown_short():
    with pytest.raises(LessdataError, match=r"got <ndarray shape=\(1000,\)>$"):
        check_param("m", "p", np.zeros(1000), [BOOL])
    with pytest.raises(LessdataError) as info:
        check_param("m", "p", "x" * 500, [BOOL])
    assert len(str(info.value)) < 120


@pytest.mark.parametrize("method, params, message", [
    ("crest", {"minibatch_size": 0}, "method 'crest': minibatch_size must be an int ≥ 1, got 0"),
    ("crest", {"minibatch_size": True}, "method 'crest': minibatch_size must be an int ≥ 1, got True"),
    ("craig", {"epsilon": "0.1"}, "method 'craig': epsilon must be a number in (0, 1), got '0.1'"),
    ("craig", {"backend": "dask"}, "method 'craig': backend must be one of 'local', 'ray' or an object with map()"),
    ("adacore", {"metric": "precomputed"}, "method 'adacore': metric must be one of 'euclidean', 'cosine', 'rbf'"),
    ("glister", {"eta": 0}, "method 'glister': eta must be a number > 0, got 0"),
    ("s2l", {"weights": "cluster-size"}, "method 's2l': weights must be one of 'uniform', 'cluster'"),
    ("semdedup", {"epsilon": 3}, "method 'semdedup': epsilon must be a number in [0, 2] or None, got 3"),
    ("el2n", {"dynamics": []}, "method 'el2n': dynamics must be a DynamicsRecorder or the path of one saved to "
                               ".npz, a non-empty list of them or None, got []"),
    ("rs2", {"replacement": 1}, "method 'rs2': replacement must be a bool, got 1"),
    ("greedi", {"optimizer": "random_greedy"}, "method 'greedi': optimizer must be one of 'naive', 'lazy'"),
])
def test_select_reports_bad_parameters_in_one_format(method, params, message):
    with pytest.raises(LessdataError) as info:
        lessdata.select(X, budget=4, method=method, labels=Y, n=40, **params)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_a_backend_object_is_accepted_where_a_name_is():
    from lessdata.backends import LocalBackend

    by_name = lessdata.select(X, budget=6, method="craig", labels=Y, backend="local")
    by_object = lessdata.select(X, budget=6, method="craig", labels=Y, backend=LocalBackend())
    assert by_name == by_object


@pytest.mark.parametrize("name", sorted(_REGISTRY))
def test_every_registered_method_declares_every_parameter(name):
    cls = _REGISTRY[name]
    assert set(cls.parameter_constraints) == set(cls.defaults)
    for key, value in cls.defaults.items():  # the defaults satisfy the table
        check_param(f"method {name!r}", key, value, cls.parameter_constraints[key])


def test_register_refuses_an_incomplete_or_inconsistent_table():
    class Missing(Method):
        name = "test_missing_constraint"
        defaults = {"k": 1, "mode": "a"}
        parameter_constraints = {"k": [Interval(int, 1, None)]}

    with pytest.raises(TypeError, match=r"missing \['mode'\]"):
        register(Missing)

    class BadDefault(Method):
        name = "test_bad_default"
        defaults = {"k": 0}
        parameter_constraints = {"k": [Interval(int, 1, None)]}

    with pytest.raises(TypeError, match="k must be an int ≥ 1, got 0"):
        register(BadDefault)
    assert "test_missing_constraint" not in _REGISTRY and "test_bad_default" not in _REGISTRY


class PlainGreedy:
    """An optimizer object: plain greedy written against the objective's public gains()/add()."""

    def run(self, objective, k, n, rng, epsilon, progress):
        picks, gains = [], []
        for _ in range(k):
            candidates = np.setdiff1d(np.arange(n), picks)
            g = objective.gains(candidates)
            best = int(np.argmax(g))
            objective.add(int(candidates[best]))
            picks.append(int(candidates[best]))
            gains.append(float(g[best]))
        return picks, gains, k * n


class FirstPartsFirst:
    """A budget policy object: fill the parts in order."""

    def split(self, sizes, budget):
        out = np.zeros(len(sizes), dtype=np.int64)
        for i, size in enumerate(sizes):
            out[i] = min(size, budget - out.sum())
        return out


def test_an_optimizer_object_is_accepted_where_a_name_is():
    by_object = lessdata.select(X, budget=8, method="craig", labels=Y, optimizer=PlainGreedy())
    by_name = lessdata.select(X, budget=8, method="craig", labels=Y, optimizer="naive")
    assert np.array_equal(by_object.indices, by_name.indices) and np.allclose(by_object.weights, by_name.weights)
    assert by_object.params["optimizer"].startswith("<")  # recorded by repr, so the Coreset still saves


def test_a_budget_policy_object_is_accepted_where_a_name_is():
    y = np.repeat([0, 1, 2], [10, 20, 10])
    cs = lessdata.select(X, budget=25, method="random", labels=y, budget_policy=FirstPartsFirst())
    assert cs.partition_counts() == {0: 10, 1: 15}


def test_objects_without_the_interface_or_breaking_it_are_one_line_errors():
    with pytest.raises(LessdataError, match=r"optimizer must be one of .* or an object with run\(\), got "):
        lessdata.select(X, budget=4, method="craig", optimizer=object())

    class Repeats:
        def run(self, objective, k, n, rng, epsilon, progress):
            return [0] * k, [1.0] * k, k

    with pytest.raises(LessdataError, match="expected at most 4 distinct candidates"):
        lessdata.select(X, budget=4, method="craig", optimizer=Repeats())

    class Short:
        def split(self, sizes, budget):
            return np.zeros(len(sizes), dtype=np.int64)

    with pytest.raises(LessdataError, match="Short.split returned"):
        lessdata.select(X, budget=4, method="random", labels=Y, budget_policy=Short())


def test_public_helper_functions_use_the_same_format():
    from lessdata.methods.crest import random_subset_size
    from lessdata.methods.geometric import kcenter_greedy, prototype_distances
    from lessdata.methods.gradmatch import nonnegative_omp

    cases = [
        (lambda: random_subset_size(100, 8, subset_fraction="0.1"),
         "random_subset_size: subset_fraction must be a number in (0, 1], got '0.1'"),
        (lambda: random_subset_size(100, 8, subset_size=0), "random_subset_size: subset_size must be an int ≥ 1"),
        (lambda: nonnegative_omp(X, X[0], 2, lam=-1), "nonnegative_omp: lam must be a number ≥ 0, got -1"),
        (lambda: nonnegative_omp(X, X[0], True), "nonnegative_omp: k must be an int ≥ 0, got True"),
        (lambda: prototype_distances(X, 41), "prototype_distances: clusters must be an int in [1, 40], got 41"),
        (lambda: kcenter_greedy(X, 3, init="far"), "kcenter_greedy: init must be one of 'random', 'mean'"),
    ]
    for call, message in cases:
        with pytest.raises(LessdataError) as info:
            call()
        assert str(info.value).startswith(message)
