"""Training with coresets, inside your own loop or ours.

- :class:`CoresetLoader` yields ``(x, y, w)`` batches of the current subset with per-example weights;
  :func:`weighted_loss` turns per-example losses and weights into the loss to minimise.
- A :class:`Schedule` says which subset each epoch trains on: :class:`SelectOnce`, :class:`EveryKEpochs`,
  :class:`WarmStart`, :class:`RS2Rounds`, :class:`FullData`.
- :func:`fit` is a compact reference loop recording time-to-accuracy; :class:`CoresetCallback` does the same
  inside PyTorch Lightning (optional extra, imported on first use).

Example::

    from lessdata.training import CoresetLoader, EveryKEpochs, gradient_selector, weighted_loss

    loader = CoresetLoader(train_set, batch_size=128)
    schedule = EveryKEpochs(gradient_selector(train_set, labels, fraction=0.1), k=1)
    for epoch in range(epochs):
        loader.set_coreset(schedule.coreset_for_epoch(epoch, model))
        for x, y, w in loader:
            loss = weighted_loss(nn.CrossEntropyLoss(reduction="none"), model(x), y, w)
            opt.zero_grad(); loss.backward(); opt.step()
"""

from .fit import BatchResult, Callback, FitResult, evaluate, fit
from .samplers import CoresetLoader, CoresetSampler, weighted_loss
from .schedules import EveryKEpochs, FullData, RS2Rounds, Schedule, SelectOnce, WarmStart, gradient_selector

__all__ = [
    "BatchResult",
    "Callback",
    "CoresetCallback",
    "CoresetLoader",
    "CoresetSampler",
    "EveryKEpochs",
    "FitResult",
    "FullData",
    "RS2Rounds",
    "Schedule",
    "SelectOnce",
    "WarmStart",
    "evaluate",
    "fit",
    "gradient_selector",
    "weighted_loss",
]


def __getattr__(name: str):
    if name == "CoresetCallback":  # Lightning is optional: import it only when the callback is asked for
        from .lightning import CoresetCallback

        return CoresetCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
