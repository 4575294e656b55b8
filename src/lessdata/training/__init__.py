"""Training with coresets, inside your own loop or ours.

- :class:`CoresetLoader` yields ``(x, y, w)`` batches of the current subset with per-example weights;
  :func:`weighted_loss` turns per-example losses and weights into the loss to minimise.
- A :class:`Schedule` says which subset each epoch trains on: :class:`SelectOnce`, :class:`EveryKEpochs`,
  :class:`WarmStart`, :class:`RS2Rounds`, :class:`FullData`.
- :class:`CrestTrainer` is CREST's per-step loop (Yang et al., 2023): it yields weighted batches for your loop
  and reselects when its quadratic loss model fails; :meth:`CrestTrainer.fit` is its reference loop.
- Selectors for :class:`EveryKEpochs`, all one :class:`ModelSelector` (a signal computed with the current
  model, then a registered method; call ``t`` of seed ``s`` selects with :func:`call_seed` ``(s, t)``):
  :func:`gradient_selector` (CRAIG and any registered method), :func:`adacore_selector`,
  :func:`gradmatch_selector`, :func:`glister_selector`, :func:`crest_selector`.
- :class:`RhoLossSelector` is RHO-LOSS's per-step selection (Mindermann et al., 2022): each step keeps the
  points of a large batch with the largest training loss minus irreducible (holdout-model) loss; use it in
  your loop, in :func:`fit` (``batch_selector=``) or in a Hugging Face ``RhoLossTrainer``.
- :func:`fit` is a compact reference loop recording time-to-accuracy; :class:`CoresetCallback` does the same
  inside PyTorch Lightning (optional extra, imported on first use), and :class:`DynamicsCallback` records
  per-example training dynamics there.
- :func:`early_training_scores` trains a few fresh models briefly and averages their EL2N / GraNd scores.

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

from .crest import CheckResult, CrestTrainer, QuadraticModel
from .early_scores import early_training_scores
from .fit import BatchResult, Callback, FitResult, evaluate, fit
from .probe import probe_accuracy
from .rho_loss import RhoLossSelector, irreducible_losses, train_irreducible_model
from .samplers import CoresetLoader, CoresetSampler, weighted_loss
from .schedules import EveryKEpochs, FullData, RS2Rounds, Schedule, SelectOnce, WarmStart
from .selectors import (
    ModelSelector,
    adacore_selector,
    call_seed,
    crest_selector,
    glister_selector,
    gradient_selector,
    gradmatch_selector,
)

__all__ = [
    "BatchResult",
    "Callback",
    "CheckResult",
    "CoresetCallback",
    "CoresetLoader",
    "CoresetSampler",
    "CrestTrainer",
    "DynamicsCallback",
    "EveryKEpochs",
    "FitResult",
    "FullData",
    "ModelSelector",
    "QuadraticModel",
    "RhoLossSelector",
    "RS2Rounds",
    "Schedule",
    "SelectOnce",
    "WarmStart",
    "adacore_selector",
    "call_seed",
    "crest_selector",
    "early_training_scores",
    "evaluate",
    "fit",
    "glister_selector",
    "gradient_selector",
    "gradmatch_selector",
    "irreducible_losses",
    "probe_accuracy",
    "train_irreducible_model",
    "weighted_loss",
]


def __getattr__(name: str):
    if name in ("CoresetCallback", "DynamicsCallback"):  # Lightning is optional: import it only when asked for
        from .lightning import CoresetCallback, DynamicsCallback

        return {"CoresetCallback": CoresetCallback, "DynamicsCallback": DynamicsCallback}[name]
    if name in ("ColmSelector", "ColmTrainer", "RhoLossTrainer", "SelectiveTrainer", "select_minibatch"):
        import importlib  # transformers is optional too: import the adapter module only now

        return getattr(importlib.import_module(f"{__name__}.transformers"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
