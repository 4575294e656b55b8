"""Reproducers of bad input to the public API: each gives one LessdataError line or a correct result."""

import numpy as np
import pytest

import lessdata
from lessdata.errors import LessdataError

X = np.random.default_rng(0).normal(size=(120, 6)).astype("float32")
Y = np.repeat(np.arange(3), 40)


@pytest.mark.parametrize("labels, message", [
    (np.array([None] + [1] * 119, dtype=object), "contain None"),
    (np.array(["a"] + [1] * 119, dtype=object), "one type"),
    (np.array([np.nan] + [1.0] * 119, dtype=object), "NaN"),
    (np.array([[1, 2]] * 120), "1-D"),
])
def test_bad_object_labels(labels, message):
    with pytest.raises(LessdataError, match=message):
        lessdata.select(X, fraction=0.1, method="craig", labels=labels)


def test_object_labels_of_one_type_select_like_plain_ones():
    plain = lessdata.select(X, fraction=0.1, method="craig", labels=Y, seed=1)
    boxed = lessdata.select(X, fraction=0.1, method="craig", labels=Y.astype(object), seed=1)
    np.testing.assert_array_equal(plain.indices, boxed.indices)
    assert float(boxed.weights.sum()) == 120.0


@pytest.mark.parametrize("budget", [{0: 2.5, 1: 2, 2: 2}, {0: True, 1: 2, 2: 2}, {0: -1, 1: 2, 2: 2},
                                    {0: "2", 1: 2, 2: 2}])
def test_per_part_budgets_must_be_integers(budget):
    with pytest.raises(LessdataError, match="per-part budgets must be non-negative integers"):
        lessdata.select(X, budget=budget, method="craig", labels=Y)


def test_progress_true_false_and_bad():
    a = lessdata.select(X, fraction=0.1, progress=True, seed=0)
    b = lessdata.select(X, fraction=0.1, progress=False, seed=0)
    assert a == b
    with pytest.raises(LessdataError, match="progress must be"):
        lessdata.select(X, fraction=0.1, progress=3)


@pytest.mark.parametrize("method, kwargs", [("semdedup", {}), ("prototypes", {"labels": Y}),
                                            ("sas", {"n_clusters": 3}), ("s2l", {})])
def test_seeds_beyond_a_c_int_work_with_faiss_clustering(method, kwargs):
    signal = np.abs(X) if method == "s2l" else X  # S2L reads loss trajectories: non-negative
    cs = lessdata.select(signal, fraction=0.1, method=method, seed=2**40, **kwargs)
    assert len(cs) == 12 and cs.seed == 2**40
    assert cs == lessdata.select(signal, fraction=0.1, method=method, seed=2**40, **kwargs)
