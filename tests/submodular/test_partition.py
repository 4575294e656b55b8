import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lessdata.errors import LessdataError
from lessdata.submodular import make_parts, split_budget


@given(
    sizes=st.lists(st.integers(0, 500), min_size=1, max_size=30).filter(lambda s: sum(s) > 0),
    data=st.data(),
    policy=st.sampled_from(["proportional", "equal"]),
)
def test_budgets_sum_exactly_and_respect_part_sizes(sizes, data, policy):
    budget = data.draw(st.integers(1, sum(sizes)))
    out = split_budget(sizes, budget, policy)
    assert out.sum() == budget
    assert (out >= 0).all() and (out <= np.array(sizes)).all()
    if policy == "proportional":
        share = np.array(sizes) / sum(sizes) * budget
        uncapped = out < np.array(sizes)
        # a part is never given more than the ceiling of its share (surplus only goes to parts with room)
        assert (out[~uncapped] <= np.array(sizes)[~uncapped]).all()
        no_starved = (share[np.array(sizes) > 0] >= 1).all()  # else the at-least-one rule moves picks
        if no_starved and (np.ceil(share - 1e-9) <= np.array(sizes)).all():
            assert (out <= np.ceil(share - 1e-9)).all() and (out >= np.floor(share + 1e-9)).all()


def test_examples():
    assert split_budget([50, 30, 20], 10).tolist() == [5, 3, 2]
    assert split_budget([2, 100, 100], 30, "equal").tolist() == [2, 14, 14]
    assert split_budget([3, 3, 3], 9, "equal").tolist() == [3, 3, 3]
    # shares .42, .42, 4.17: the second part rounds to 0, so it gets one pick taken from the largest
    assert split_budget([1, 1, 10], 5).tolist() == [1, 1, 3]


def test_explicit_per_part_budgets():
    labels = np.array(["a", "b", "c"])
    assert split_budget([5, 5, 5], {"a": 2, "c": 5}, labels=labels).tolist() == [2, 0, 5]
    with pytest.raises(LessdataError, match="part 'b' has 5 points, fewer than its budget 6"):
        split_budget([5, 5, 5], {"b": 6}, labels=labels)
    with pytest.raises(LessdataError, match="not in the labels"):
        split_budget([5, 5, 5], {"z": 1}, labels=labels)
    with pytest.raises(LessdataError, match="negative"):
        split_budget([5, 5, 5], {"a": -1}, labels=labels)


def test_bad_policy_and_budget():
    with pytest.raises(LessdataError, match="unknown budget_policy 'fair'"):
        split_budget([5, 5], 3, "fair")
    with pytest.raises(LessdataError, match="larger than the number of points"):
        split_budget([5, 5], 11)


def test_make_parts_groups_by_sorted_label_and_seeds_differ():
    labels = np.array([2, 0, 2, 1, 0, 2])
    parts = make_parts(labels, 3, seed=0)
    assert [p.label for p in parts] == [0, 1, 2]
    assert [p.indices.tolist() for p in parts] == [[1, 4], [3], [0, 2, 5]]
    assert sum(p.budget for p in parts) == 3
    assert len({p.seed for p in parts}) == 3
    assert [p.seed for p in parts] == [p.seed for p in make_parts(labels, 3, seed=0)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=12), st.data(), st.sampled_from(["proportional", "equal"]))
def test_every_non_empty_part_gets_a_pick_when_the_budget_allows(sizes, data, policy):
    total, nonempty = sum(sizes), sum(1 for s in sizes if s > 0)
    assume(nonempty > 0)
    budget = data.draw(st.integers(nonempty, total))
    out = split_budget(sizes, budget, policy)
    assert out.sum() == budget and (out <= np.array(sizes)).all()
    assert all(b >= 1 for b, s in zip(out, sizes) if s > 0)


def test_a_budget_below_the_part_count_warns(caplog):
    with caplog.at_level("WARNING", logger="lessdata"):
        out = split_budget([1000, 1, 1, 5], 2)
    assert out.sum() == 2 and "3 part(s) get no pick" in caplog.text
