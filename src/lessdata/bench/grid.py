"""Training every arm once per seed (seed outer, arm inner), with a process CPU-time clock next to fit's wall
clock, label noise per seed, and one log line per finished run."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .arms import Arm, ArmOptions, SeedContext, Selections, fit_crest, make_schedule, pin_threads
from .datasets import relabel
from .machine import loadavg
from .noise import NoiseTracker, flip_labels

__all__ = ["pct", "run_grid", "warm_up", "warm_up_device"]


class _Clock:
    """fit callback: a process CPU-time clock (training + selection, evaluation excluded) per epoch, and
    the greedy part of each epoch's selection (``coreset_seconds``)."""

    def __init__(self, selections: Selections | None, threads: int | None = None):
        self.selections, self.threads = selections, threads
        self.cpu = 0.0
        self.steps: int | None = None  # steps per epoch when not one pass over the loader (CREST)

    def on_fit_start(self, model, loader):
        self.loader, self.cpu, self.mark, self.seen = loader, 0.0, time.process_time(), 0

    def on_epoch_start(self, epoch, model, loader):
        pin_threads(self.threads)
        now = time.process_time()
        self.cpu += now - self.mark  # selection (and loader setup) since the last evaluation ended
        self.mark, self.batches = now, self.steps or len(loader)
        self.train_end = None

    def on_batch_end(self, epoch, model, batch):
        if batch.step == self.batches - 1:
            self.train_end = time.process_time()

    def on_epoch_end(self, epoch, model, record):
        end = self.train_end if self.train_end is not None else time.process_time()
        self.cpu += end - self.mark
        record["cpu_seconds"] = self.cpu
        self.mark = time.process_time()  # evaluation is left out of the clock
        if self.selections is not None:
            new = self.selections.seconds[self.seen:]
            if new:
                record["coreset_weight_max"] = self.selections.weight_max[-1]
            self.seen = len(self.selections.seconds)
            record["coreset_seconds"] = float(sum(new))


class _RunProgress:
    """Forwards fit's per-epoch updates to the harness-wide progress object, which keeps its own total."""

    def __init__(self, outer, label: str):
        self.outer, self.total = outer, None
        if hasattr(outer, "set_description"):
            outer.set_description(label)

    def update(self, n: int = 1):
        self.outer.update(n)

    def set_postfix(self, **kwargs):
        if hasattr(self.outer, "set_postfix"):
            self.outer.set_postfix(**kwargs)


def warm_up(labels: np.ndarray) -> None:
    """Compile / load the numba kernels once, so that the first timed selection does not pay for it."""
    import lessdata

    rng = np.random.default_rng(0)
    small = np.asarray(labels[:200])
    lessdata.select(rng.normal(size=(len(small), 8)).astype(np.float32), fraction=0.1, method="craig",
                    labels=small, seed=0)
    classes = int(np.max(labels)) + 1
    grads = rng.normal(size=(len(small), classes)).astype(np.float32)
    lessdata.select(grads, fraction=0.3, method="gradmatch", labels=small, seed=0)
    lessdata.select(grads, fraction=0.3, method="glister", labels=small, seed=0, update="exact",
                    validation_logits=rng.normal(size=(50, classes)).astype(np.float32),
                    validation_labels=np.asarray(small[:50]))


def warm_up_device(model_factory: Callable[[], Any], train, device, batch_size: int) -> None:
    """A few training steps on ``device`` (CUDA context, kernels, allocator), so no timed run pays for it."""
    import torch

    from lessdata.data.torch_data import iter_batches

    model = model_factory().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    x, y = next(iter(iter_batches(train, batch_size=batch_size)))
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def run_grid(
    arms: Sequence[Arm],
    *,
    train,
    test,
    labels: np.ndarray,
    model_factory: Callable[[], Any],
    seeds: int | Sequence[int],
    epochs: int,
    fit_kwargs: dict[str, Any],
    features: np.ndarray | None = None,
    threads: int = 1,
    progress=None,
    log: Callable[[str], None] | None = None,
    noise_rate: float = 0.0,
    options: ArmOptions | None = None,
) -> list[dict[str, Any]]:
    """Train every arm once per seed (seed outer, arm inner) and return one dict per run.

    ``seeds`` is a count (seeds ``0..seeds-1``) or the list of seeds to run. With ``noise_rate > 0`` each
    seed flips that share of the training labels (:func:`~lessdata.bench.noise.flip_labels` with the seed)
    and every arm of that seed trains on the same noisy labels; runs then carry ``noise_rate``,
    ``noisy_fractions`` and ``noisy_weight_fractions`` (one entry per selection).
    """
    import torch

    from lessdata.training import fit

    seed_values = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    options = ArmOptions() if options is None else options
    device = fit_kwargs.get("device")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    if progress is not None and hasattr(progress, "total"):
        progress.total = len(arms) * len(seed_values) * epochs
    runs = []
    try:
        warm_up(labels)
        if device is not None and torch.device(device).type != "cpu":
            warm_up_device(model_factory, train, device, fit_kwargs.get("batch_size", 128))
        for seed in seed_values:
            seed_train, seed_labels, flipped = train, np.asarray(labels), None
            if noise_rate:
                seed_labels, flipped = flip_labels(labels, noise_rate, seed=seed)
                seed_train = relabel(train, seed_labels)
            ctx = SeedContext(seed_train, seed_labels, seed, model_factory, fit_kwargs, epochs, threads, features,
                              options)
            for arm in arms:
                selections = charge = schedule = None
                if arm.method != "crest":
                    schedule, selections, charge = make_schedule(arm, ctx)
                clock = _Clock(selections, threads)
                tracker = None if flipped is None else NoiseTracker(flipped)
                callbacks = [c for c in (clock, charge, tracker) if c is not None]
                pin_threads(threads)
                torch.manual_seed(seed)
                model = model_factory()
                load_before = loadavg()
                run_progress = None if progress is None else _RunProgress(
                    progress, f"{arm.label} {pct(arm.fraction)} seed {seed}")
                if arm.method == "crest":
                    result, _ = fit_crest(arm, ctx, model, test, callbacks=callbacks, progress=run_progress)
                else:
                    result = fit(model, seed_train, test, schedule=schedule, epochs=epochs, seed=seed,
                                 callbacks=callbacks, progress=run_progress, **fit_kwargs)
                run = {"arm": arm.to_dict(), "seed": seed, "history": result.history,
                       "loadavg_before": load_before, "loadavg_after": loadavg()}
                if flipped is not None:
                    run["noise_rate"] = float(noise_rate)
                    if arm.method == "full":  # it trains on every example, the flipped ones included
                        tracker.fractions = tracker.weight_fractions = [float(flipped.mean())]
                    run["noisy_fractions"] = tracker.fractions
                    run["noisy_weight_fractions"] = tracker.weight_fractions
                runs.append(run)
                if log is not None:
                    last = result.history[-1]
                    noisy = (f"  noisy picks {np.mean(tracker.fractions):.1%}"
                             if tracker is not None and tracker.fractions else "")
                    log(f"{arm.label:20s} {pct(arm.fraction):>5s} seed {seed}: acc {last['test_accuracy']:.4f}  "
                        f"{last['cumulative_seconds']:7.1f} s (selection {result.selection_seconds:6.1f} s, "
                        f"{last['selections']} selections){noisy}")
    finally:
        torch.set_num_threads(old_threads)
    return runs


def pct(fraction) -> str:
    """``'30%'``, or ``'100%'`` for the full data (fraction None)."""
    return "100%" if fraction is None else f"{fraction:.0%}"

