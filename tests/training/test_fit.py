import json
import time

import numpy as np
import pytest
import torch

from lessdata.coreset import Coreset
from lessdata.errors import LessdataError
from lessdata.training import (
    Callback,
    EveryKEpochs,
    FitResult,
    RS2Rounds,
    SelectOnce,
    WarmStart,
    evaluate,
    fit,
    gradient_selector,
)

TIMING_KEYS = {"train_seconds", "selection_seconds", "eval_seconds", "cumulative_seconds", "wall_seconds"}


def _balanced_selector(labels, size_per_class, sleep=0.0):
    """A fake CRAIG: a class-balanced subset with cluster-size-like weights, different each call."""
    labels = np.asarray(labels)
    calls = []

    def select(model):
        calls.append(model)
        rng = np.random.default_rng(len(calls))
        if sleep:
            time.sleep(sleep)
        picks = np.concatenate(
            [
                rng.choice(np.flatnonzero(labels == c), size_per_class, replace=False)
                for c in np.unique(labels)
            ]
        )
        return Coreset(indices=picks, weights=rng.integers(1, 20, len(picks)), n=len(labels))

    select.calls = calls
    return select


def test_two_epochs_on_digits_beat_the_untrained_model(digits, make_mlp):
    train, test = digits
    model = make_mlp()
    before = evaluate(model, test)["accuracy"]
    result = fit(model, train, test, epochs=2, batch_size=32, lr=0.05)
    assert len(result.history) == 2
    assert result.final_accuracy > before + 0.4 and result.final_accuracy > 0.8
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]
    assert all(
        r["subset_size"] == 1400 and r["fraction"] == 1.0 and r["selections"] == 0 for r in result.history
    )


def test_fit_is_deterministic_on_cpu(digits, make_mlp):
    train, test = digits
    labels = train.tensors[1].numpy()
    runs = []
    for _ in range(2):
        schedule = EveryKEpochs(_balanced_selector(labels, 20), k=1)
        result = fit(make_mlp(), train, test, schedule=schedule, epochs=2, batch_size=16, seed=3)
        runs.append([{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in result.history])
    assert runs[0] == runs[1]


def test_fit_with_a_schedule_records_selection_time_separately(digits, make_mlp):
    train, test = digits
    selector = _balanced_selector(train.tensors[1].numpy(), 10, sleep=0.05)
    result = fit(make_mlp(), train, test, schedule=EveryKEpochs(selector, k=2), epochs=3, batch_size=32)
    sel = [r["selection_seconds"] for r in result.history]
    assert sel[0] >= 0.05 and sel[2] >= 0.05 and sel[1] < 0.05  # selected at epochs 0 and 2
    assert [r["selections"] for r in result.history] == [1, 1, 2]
    assert [r["subset_size"] for r in result.history] == [100, 100, 100]
    assert np.isclose(
        result.total_seconds, sum(r["train_seconds"] + r["selection_seconds"] for r in result.history)
    )
    assert all(
        r["train_seconds"] > 0 and r["wall_seconds"] >= r["cumulative_seconds"] for r in result.history
    )
    assert len(selector.calls) == 2 and all(m is selector.calls[0] for m in selector.calls)  # the live model
    assert result.selection_seconds >= 0.1


def test_each_epoch_trains_on_exactly_the_scheduled_subset(digits, make_mlp):
    train, test = digits
    seen = {}

    class Recorder(Callback):
        def on_epoch_start(self, epoch, model, loader):
            seen[epoch] = {"subset": sorted(loader.indices.tolist()), "batches": []}

        def on_batch_end(self, epoch, model, batch):
            assert batch.losses.shape == batch.weights.shape == batch.indices.shape
            assert batch.outputs.shape == (len(batch.indices), 10) and not batch.outputs.requires_grad
            seen[epoch]["batches"].extend(batch.indices.tolist())

        def on_epoch_end(self, epoch, model, record):
            record["seen"] = len(seen[epoch]["batches"])

    schedule = WarmStart(RS2Rounds(n=1400, fraction=0.1), warm_fraction=0.25, epochs=4)
    result = fit(make_mlp(), train, test, schedule=schedule, epochs=4, batch_size=64, callbacks=[Recorder()])
    assert [r["subset_size"] for r in result.history] == [1400, 140, 140, 140]
    assert [r["seen"] for r in result.history] == [1400, 140, 140, 140]
    for epoch in range(4):
        assert sorted(seen[epoch]["batches"]) == seen[epoch]["subset"]
    assert seen[1]["subset"] != seen[2]["subset"]  # a new RS2 round each epoch


def test_result_helpers_and_serialisation(digits, make_mlp):
    train, test = digits
    selector = _balanced_selector(train.tensors[1].numpy(), 30)
    result = fit(
        make_mlp(), train, test, schedule=SelectOnce(selector), epochs=2, batch_size=32, lr_schedule="step"
    )
    accs = [r["test_accuracy"] for r in result.history]
    assert result.final_accuracy == accs[-1] and result.best_accuracy == max(accs)
    first = result.history[0]
    assert result.seconds_to_accuracy(accs[0]) == first["cumulative_seconds"]
    assert result.seconds_to_accuracy(1.01) is None
    data = json.loads(json.dumps(result.to_dict()))
    assert data["history"][0]["epoch"] == 0 and data["n_train"] == 1400
    assert FitResult().final_accuracy != FitResult().final_accuracy  # NaN when empty


def test_optimizer_factories_and_progress(digits, make_mlp):
    train, test = digits
    updates = []

    class Bar:
        total = None

        def update(self, n):
            updates.append(n)

    bar = Bar()
    model = make_mlp()
    result = fit(
        model,
        train,
        None,
        epochs=2,
        optimizer=lambda p: torch.optim.Adam(p, lr=1e-3),
        lr_schedule=None,
        progress=bar,
    )
    assert updates == [1, 1] and bar.total == 2
    assert np.isnan(result.final_accuracy)  # no test set


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"optimizer": "lbfgs"}, "unknown optimizer"),
        ({"lr_schedule": "linear"}, "unknown lr_schedule"),
        ({"schedule": "craig"}, "Schedule"),
    ],
)
def test_fit_rejects_bad_arguments(digits, make_mlp, kwargs, message):
    train, test = digits
    with pytest.raises(LessdataError, match=message):
        fit(make_mlp(), train, test, **kwargs)


def test_craig_reselection_on_last_layer_gradients(digits, make_mlp):
    """The real pipeline: per-class CRAIG on the live model's last-layer gradients, every epoch."""
    train, test = digits
    model = make_mlp()
    before = evaluate(model, test)["accuracy"]
    schedule = EveryKEpochs(gradient_selector(train, fraction=0.2, seed=0), k=1)
    result = fit(model, train, test, schedule=schedule, epochs=2, batch_size=32, lr=0.05)
    assert [r["subset_size"] for r in result.history] == [280, 280]
    assert [r["selections"] for r in result.history] == [1, 2]
    assert all(r["selection_seconds"] > 0 for r in result.history)
    assert all(entry["size"] == 280 for entry in schedule.log)
    assert result.final_accuracy > before + 0.2
