import time

import numpy as np
import pytest

from lessdata.coreset import Coreset
from lessdata.errors import LessdataError
from lessdata.training import EveryKEpochs, FullData, RS2Rounds, SelectOnce, WarmStart


class CountingSelector:
    """A fake selector: records the model it was called with and returns a new subset each call."""

    def __init__(self, n=100, size=10, sleep=0.0):
        self.n, self.size, self.sleep = n, size, sleep
        self.calls = []

    def __call__(self, model, *round_):
        self.calls.append((model, *round_))
        if self.sleep:
            time.sleep(self.sleep)
        start = (len(self.calls) - 1) * self.size % self.n
        return Coreset(
            indices=np.arange(start, start + self.size) % self.n, weights=np.ones(self.size), n=self.n
        )


def _run(schedule, epochs, model="model"):
    """Ask for every epoch; return the epochs at which the selector ran and what came back."""
    answers = [schedule.coreset_for_epoch(epoch, model=f"{model}@{epoch}") for epoch in range(epochs)]
    return [entry["epoch"] for entry in schedule.log], answers


def test_full_data_never_selects():
    schedule = FullData()
    assert _run(schedule, 4)[1] == [None] * 4 and schedule.selections == 0


def test_select_once_selects_only_at_the_first_epoch():
    selector = CountingSelector()
    schedule = SelectOnce(selector)
    epochs, answers = _run(schedule, 5)
    assert epochs == [0] and selector.calls == [("model@0",)]
    assert all(a is answers[0] for a in answers) and schedule.selections == 1


@pytest.mark.parametrize(
    "k, expected", [(1, [0, 1, 2, 3, 4, 5, 6]), (2, [0, 2, 4, 6]), (3, [0, 3, 6]), (10, [0])]
)
def test_every_k_epochs_reselects_with_the_current_model(k, expected):
    selector = CountingSelector()
    schedule = EveryKEpochs(selector, k=k)
    epochs, answers = _run(schedule, 7)
    assert epochs == expected and schedule.selections == len(expected)
    assert [call[0] for call in selector.calls] == [f"model@{e}" for e in expected]
    for epoch in range(7):  # between selections the same subset is reused
        last = max(e for e in expected if e <= epoch)
        assert answers[epoch] is answers[last]


def test_asking_twice_about_one_epoch_does_not_reselect():
    selector = CountingSelector()
    schedule = EveryKEpochs(selector, k=1)
    first = schedule.coreset_for_epoch(0, None)
    assert schedule.coreset_for_epoch(0, None) is first and len(selector.calls) == 1


def test_warm_start_trains_on_full_data_for_the_first_ceil_kappa_epochs():
    inner = EveryKEpochs(CountingSelector(), k=2)
    schedule = WarmStart(inner, warm_fraction=0.25, epochs=10)  # ceil(2.5) = 3 warm epochs
    assert schedule.warm_epochs == 3
    epochs, answers = _run(schedule, 10)
    assert answers[:3] == [None, None, None] and all(a is not None for a in answers[3:])
    assert epochs == [3, 5, 7, 9]  # the inner schedule starts counting at its first epoch
    assert schedule.selections == inner.selections == 4
    assert schedule.selection_seconds == inner.selection_seconds


@pytest.mark.parametrize("kappa, epochs, warm", [(0.0, 5, 0), (1.0, 5, 5), (0.5, 4, 2), (0.1, 3, 1)])
def test_warm_start_epoch_count(kappa, epochs, warm):
    schedule = WarmStart(SelectOnce(CountingSelector()), warm_fraction=kappa, epochs=epochs)
    answers = _run(schedule, epochs)[1]
    assert schedule.warm_epochs == warm and answers.count(None) == warm


def test_rs2_rounds_pass_consecutive_rounds_to_the_selector():
    selector = CountingSelector()
    schedule = RS2Rounds(selector)
    epochs, _ = _run(schedule, 4)
    assert epochs == [0, 1, 2, 3]
    assert [call[1] for call in selector.calls] == [0, 1, 2, 3]
    schedule.coreset_for_epoch(3, None)  # same epoch again: same round, no new selection
    assert schedule.selections == 4


def test_rs2_rounds_after_warm_start_start_at_round_zero():
    selector = CountingSelector()
    _run(WarmStart(RS2Rounds(selector), warm_fraction=0.5, epochs=4), 4)
    assert [call[1] for call in selector.calls] == [0, 1]


def test_rs2_rounds_sampling_itself_covers_the_data_without_replacement():
    schedule = RS2Rounds(n=50, fraction=0.2, seed=3)
    _, answers = _run(schedule, 10)
    for first in (0, 5):  # two passes of 50 / 10 rounds
        seen = np.concatenate([a.indices for a in answers[first : first + 5]])
        assert sorted(seen.tolist()) == list(range(50))
    assert all(a.method == "rs2" and a.n == 50 and len(a) == 10 for a in answers)
    again = _run(RS2Rounds(n=50, fraction=0.2, seed=3), 10)[1]
    assert all(a == b for a, b in zip(answers, again, strict=True))  # deterministic


def test_selection_seconds_are_recorded():
    schedule = EveryKEpochs(CountingSelector(sleep=0.02), k=2)
    _run(schedule, 4)
    assert schedule.selections == 2
    assert schedule.selection_seconds >= 0.04
    assert all(entry["seconds"] >= 0.02 and entry["size"] == 10 for entry in schedule.log)


def test_reset_forgets_selections():
    selector = CountingSelector()
    schedule = SelectOnce(selector)
    _run(schedule, 2)
    schedule.reset()
    assert schedule.selections == 0 and schedule.selection_seconds == 0.0 and schedule.log == []
    _run(schedule, 2)
    assert len(selector.calls) == 2


def test_selector_must_return_a_coreset():
    schedule = SelectOnce(lambda model: np.arange(3))
    with pytest.raises(LessdataError, match="must return a lessdata Coreset"):
        schedule.coreset_for_epoch(0, None)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: SelectOnce("craig"), "callable"),
        (lambda: EveryKEpochs(CountingSelector(), k=0), "EveryKEpochs: k must be an int ≥ 1, got 0"),
        (lambda: EveryKEpochs(CountingSelector(), k=True), "EveryKEpochs: k must be an int ≥ 1, got True"),
        (lambda: WarmStart(SelectOnce(CountingSelector()), warm_fraction=1.5),
         r"WarmStart: warm_fraction must be a number in \[0, 1\], got 1.5"),
        (lambda: WarmStart(SelectOnce(CountingSelector()), epochs=0), "WarmStart: epochs must be an int ≥ 1"),
        (lambda: RS2Rounds(n=10, fraction=0.5, seed=-1), "RS2Rounds: seed must be an int ≥ 0, got -1"),
        (lambda: WarmStart(CountingSelector()), "wraps a Schedule"),
        (lambda: RS2Rounds(), "needs n="),
        (lambda: RS2Rounds(CountingSelector(), n=10, fraction=0.5), "not both"),
        (lambda: RS2Rounds(n=10), "exactly one of fraction"),
    ],
)
def test_bad_schedule_arguments_raise_one_clear_error(build, message):
    with pytest.raises(LessdataError, match=message):
        build()
