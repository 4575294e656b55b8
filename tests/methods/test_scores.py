"""Score-based methods: each keeps examples in the order its paper prescribes, on constructed cases."""

import numpy as np
import pytest
import torch

import lessdata
from lessdata.errors import LessdataError
from lessdata.methods.scores import (
    cartography_statistics,
    forgetting_events,
    forgetting_scores,
    rank,
    uncertainty_scores,
)
from lessdata.signals.dynamics import DynamicsRecorder

nan = np.nan


def picks(cs):
    return cs.indices.tolist()


# ------------------------------------------------------------------------------------ forgetting
def test_forgetting_counts_on_a_hand_made_correctness_matrix():
    correct = np.array(
        [
            [1, 1, 1, 1, 1, 1],  # learned at once, never forgotten
            [0, 1, 0, 1, 0, 1],  # forgotten twice
            [0, 0, 0, 0, 0, 0],  # never learned
            [1, 0, 0, 1, 1, 0],  # forgotten twice
            [0, 0, 1, 1, 1, 1],  # learned late, never forgotten
            [1, nan, 0, nan, 1, 0],  # unseen epochs skipped: 1 -> 0 and 1 -> 0
            [1, 0, nan, 0, 1, 1],  # forgotten once (0 -> unseen -> 0 is no event)
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(forgetting_events(correct), [0, 2, 0, 2, 0, 2, 1])
    np.testing.assert_array_equal(forgetting_scores(correct), [0, 2, 6, 2, 0, 2, 1])  # never learned: T = 6
    assert np.isnan(forgetting_scores([[nan, nan], [1, 0]])[0])


def test_forgetting_keeps_the_most_forgotten_then_never_learned_first():
    correct = np.array([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 1], [0, 1, 1, 1]], dtype=float)
    # scores: 0, 2, 4 (never learned), 1, 0
    cs = lessdata.select(correct, budget=3, method="forgetting")
    assert picks(cs) == [2, 1, 3]
    np.testing.assert_array_equal(cs.gains, [4, 2, 1])
    easy = lessdata.select(correct, budget=2, method="forgetting", keep="easy")
    assert sorted(picks(easy)) == [0, 4]


def test_forgetting_from_a_recorder_and_from_its_saved_file(tmp_path):
    rec = DynamicsRecorder(4, fields=("correct",))
    right, wrong = torch.tensor([[4.0, 0.0]]), torch.tensor([[0.0, 4.0]])
    history = {0: [right, right, right], 1: [right, wrong, right], 2: [right, wrong, wrong], 3: [None, None, None]}
    for epoch in range(3):
        rec.start_column(epoch)
        for i, row in history.items():
            if row[epoch] is not None:
                rec.update([i], logits=row[epoch], targets=[0])
    cs = lessdata.select(n=4, budget=3, method="forgetting", dynamics=rec)
    assert picks(cs)[:2] in ([1, 2], [2, 1]) and picks(cs)[2] == 0  # the unseen example (NaN) ranks last
    path = rec.save(tmp_path / "dyn.npz")
    again = lessdata.select(n=4, budget=3, method="forgetting", dynamics=str(path))
    assert picks(again) == picks(cs) and np.array_equal(again.gains, cs.gains, equal_nan=True)


# ------------------------------------------------------------------------------ EL2N and GraNd
@pytest.mark.parametrize("method", ["el2n", "grand"])
def test_el2n_and_grand_keep_the_highest_mean_score(method):
    runs = np.array([[0.1, 0.3], [0.9, 0.7], [0.5, 0.5], [0.2, 1.0], [0.0, 0.0]])  # means .2 .8 .5 .6 0
    cs = lessdata.select(runs, budget=3, method=method)
    assert picks(cs) == [1, 3, 2]
    np.testing.assert_allclose(cs.gains, [0.8, 0.6, 0.5])
    assert picks(lessdata.select(runs, budget=2, method=method, keep="easy")) == [4, 0]
    # skip drops the very hardest share first (Paul et al. Sec. 5): 20% of 5 = the top one
    assert picks(lessdata.select(runs, budget=2, method=method, skip=0.2)) == [3, 2]
    assert picks(lessdata.select(n=5, budget=2, method=method, scores=runs.mean(axis=1))) == [1, 3]


def test_el2n_from_recorders_averages_the_chosen_column_over_runs(tmp_path):
    def recorder(first, last):
        rec = DynamicsRecorder(3, fields=("error_norm",))
        for epoch, logits in enumerate((first, last)):
            rec.start_column(epoch)
            rec.update([0, 1, 2], logits=torch.tensor(logits), targets=[0, 0, 0])
        return rec

    easy, mid, hard = [6.0, 0.0], [0.0, 0.0], [0.0, 6.0]
    a = recorder([easy, mid, hard], [hard, mid, easy])  # last column reverses the first
    b = recorder([easy, hard, mid], [hard, easy, mid])
    assert picks(lessdata.select(n=3, budget=1, method="el2n", dynamics=a)) == [0]
    assert picks(lessdata.select(n=3, budget=1, method="el2n", dynamics=a, column=0)) == [2]
    # over the two runs at column 0: example 0 easy twice, 1 mid + hard, 2 hard + mid: 1 and 2 tie above 0
    both = lessdata.select(n=3, budget=2, method="el2n", dynamics=[a, b], column=0)
    assert sorted(picks(both)) == [1, 2]
    assert both.params["dynamics"] == [repr(a), repr(b)]  # described, so the Coreset saves as JSON
    both.save(tmp_path / "cs.npz")
    listed = lessdata.select(n=3, budget=2, method="el2n", scores=[0.1, 0.5, 0.9])
    assert listed.params["scores"] == "<3 precomputed scores>"
    with pytest.raises(LessdataError, match="column"):
        lessdata.select(n=3, budget=1, method="el2n", dynamics=a, column=5)


# ------------------------------------------------------------------------------------ cartography
def test_cartography_statistics_and_regions():
    traj = np.array(
        [
            [0.95, 0.97, 0.96, 0.98],  # easy to learn: high confidence, low variability
            [0.10, 0.90, 0.20, 0.80],  # ambiguous: high variability
            [0.05, 0.02, 0.04, 0.03],  # hard to learn: low confidence, low variability
            [0.30, 0.40, 0.35, 0.35],  # middling
        ]
    )
    conf, var = cartography_statistics(traj)
    np.testing.assert_allclose(conf, traj.mean(axis=1))
    np.testing.assert_allclose(var, traj.std(axis=1))
    assert picks(lessdata.select(traj, budget=1, method="cartography")) == [1]
    assert picks(lessdata.select(traj, budget=2, method="cartography", region="hard")) == [2, 3]
    assert picks(lessdata.select(traj, budget=2, method="cartography", region="easy")) == [0, 1]
    cs = lessdata.select(traj, budget=4, method="cartography")
    np.testing.assert_allclose(cs.gains, np.sort(var)[::-1], rtol=1e-5)  # X passes through float32


# ------------------------------------------------------------------------------------ uncertainty
PROBS = np.array(
    [
        [0.98, 0.01, 0.01],  # certain
        [0.34, 0.33, 0.33],  # uniform: least confident, highest entropy
        [0.50, 0.495, 0.005],  # near two-way tie: smallest margin, yet lower entropy than row 3
        [0.70, 0.20, 0.10],
    ]
)


def test_uncertainty_scores_order_on_a_constructed_case():
    assert rank(uncertainty_scores(PROBS, "least_confidence")).tolist() == [1, 2, 3, 0]
    assert rank(uncertainty_scores(PROBS, "entropy")).tolist() == [1, 3, 2, 0]
    assert rank(uncertainty_scores(PROBS, "margin"), descending=False).tolist() == [2, 1, 3, 0]
    np.testing.assert_allclose(uncertainty_scores([[0.5, 0.5]], "entropy"), [np.log(2)])
    assert uncertainty_scores([[1.0, 0.0]], "entropy")[0] == 0.0  # 0 log 0 = 0


@pytest.mark.parametrize("score, first", [("least_confidence", 1), ("entropy", 1), ("margin", 2)])
def test_uncertainty_method_keeps_the_least_certain(score, first):
    cs = lessdata.select(PROBS, budget=1, method="uncertainty", score=score)
    assert picks(cs) == [first]
    assert picks(lessdata.select(PROBS, budget=1, method="uncertainty", score=score, keep="certain")) == [0]
    logits = np.log(PROBS) + 3.0
    assert picks(lessdata.select(logits, budget=1, method="uncertainty", score=score, from_logits=True)) == [first]


def test_uncertainty_from_a_recorder_with_logits():
    rec = DynamicsRecorder(4, logits=True, fields=())
    rec.start_column(0)
    rec.update([0, 1, 2, 3], logits=torch.tensor(np.log(PROBS), dtype=torch.float32), targets=[0, 0, 0, 0])
    assert picks(lessdata.select(n=4, budget=2, method="uncertainty", dynamics=rec)) == [1, 2]
    with pytest.raises(LessdataError, match="no logits"):
        no_logits = DynamicsRecorder(4, fields=("loss",))
        no_logits.update([0], losses=[1.0])
        lessdata.select(n=4, budget=2, method="uncertainty", dynamics=no_logits)


# ---------------------------------------------------------------------------------- shared contract
def test_class_balanced_selection_weights_and_gains():
    rng = np.random.default_rng(0)
    scores = rng.random(100)
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    cs = lessdata.select(scores[:, None], budget=10, method="el2n", labels=labels)
    assert cs.partition_counts() == {0: 5, 1: 3, 2: 2}
    for part, (start, stop, k) in enumerate([(0, 50, 5), (50, 80, 3), (80, 100, 2)]):
        chosen = cs.indices[cs.partition == part]
        assert sorted(chosen.tolist()) == sorted((start + np.argsort(-scores[start:stop])[:k]).tolist())
        np.testing.assert_allclose(cs.weights[cs.partition == part], (stop - start) / k)
    assert float(cs.weights.sum()) == pytest.approx(100)
    np.testing.assert_allclose(cs.gains, scores[cs.indices])
    assert cs.method == "el2n" and cs.params["keep"] == "hard"


def test_ties_are_broken_at_random_but_deterministically():
    flat = np.zeros((50, 1))
    a = lessdata.select(flat, budget=10, method="grand", seed=1)
    assert a == lessdata.select(flat, budget=10, method="grand", seed=1)
    assert picks(a) != picks(lessdata.select(flat, budget=10, method="grand", seed=2))
    assert picks(a) != list(range(10))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "el2n", "keep": "middle"}, "keep"),
        ({"method": "el2n", "skip": 1.0}, "skip"),
        ({"method": "cartography", "region": "north"}, "region"),
        ({"method": "uncertainty", "score": "variance"}, "score"),
        ({"method": "grand", "dynamics": None}, "unknown parameter"),
        ({"method": "el2n", "scores": np.ones(4)}, "not both"),
        ({"method": "el2n", "X": None, "n": 5, "scores": np.ones(4)}, "4 scores for 5"),
        ({"method": "el2n", "X": None, "n": 5, "scores": [1, 2, np.inf, 0, 0]}, "infinite"),
        ({"method": "forgetting", "X": None, "n": 5}, "needs features"),
        ({"method": "forgetting", "X": None, "n": 5, "dynamics": "missing.npz"}, "no such file"),
        ({"method": "forgetting", "X": None, "n": 5, "dynamics": 3}, "DynamicsRecorder"),
        ({"method": "forgetting", "X": None, "n": 5, "dynamics": DynamicsRecorder(5)}, "empty"),
        ({"method": "uncertainty", "X": np.full((5, 2), 0.9)}, "from_logits"),
        ({"method": "el2n", "X": None, "n": 5, "scores": np.ones(5), "dynamics": DynamicsRecorder(5)}, "not both"),
    ],
)
def test_bad_inputs_give_one_line_errors(kwargs, match):
    kwargs = {"X": np.ones((5, 2)), **kwargs}
    with pytest.raises(LessdataError, match=match) as info:
        lessdata.select(budget=2, **kwargs)
    assert "\n" not in str(info.value)
