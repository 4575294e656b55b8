"""Benchmarks: the time-to-accuracy harness (:func:`run_tta`), its reports, and the ``lessdata bench`` command.

Example::

    from lessdata.bench import TtaConfig, run_tta
    result = run_tta(TtaConfig(dataset="fashion-mnist", model="cnn", quick=True))   # a few minutes on a CPU
    print(result["files"]["markdown"])
"""

from .arms import Arm, ArmOptions, make_arms
from .config import TtaConfig
from .grid import run_grid
from .summary import seconds_to_target, summarize
from .tta import run_tta

__all__ = ["Arm", "ArmOptions", "TtaConfig", "make_arms", "run_grid", "run_tta", "seconds_to_target", "summarize"]
