"""Benchmarks: the time-to-accuracy harness (:func:`run_tta`), its reports, and the ``lessdata bench`` command.

Example::

    from lessdata.bench import run_tta
    result = run_tta(dataset="fashion-mnist", model="cnn", quick=True)   # a few minutes on a CPU
    print(result["files"]["markdown"])
"""

from .tta import Arm, make_arms, run_grid, run_tta, seconds_to_target, summarize

__all__ = ["Arm", "make_arms", "run_grid", "run_tta", "seconds_to_target", "summarize"]
