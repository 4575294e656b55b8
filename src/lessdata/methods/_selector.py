"""State an epoch selector (``model -> Coreset``, for :class:`~lessdata.training.EveryKEpochs`) keeps between
calls: the labels, read from the data once, and a call counter from which each call derives its own seed."""

from __future__ import annotations

import numpy as np


class SelectorState:
    def __init__(self, data, labels, seed: int, batch_size: int = 512):
        self._data = data
        self._labels = None if labels is None else np.asarray(labels)
        self.seed = seed
        self.batch_size = batch_size
        self.calls = 0

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:
            from ..signals.hessian import _read_labels

            self._labels = _read_labels(self._data, None, self.batch_size)
        return self._labels

    def next_seed(self) -> int:
        """A distinct, reproducible seed for each call: call t of selector seed s gets SeedSequence([s, t])."""
        seed = int(np.random.SeedSequence([self.seed, self.calls]).generate_state(1)[0])
        self.calls += 1
        return seed
