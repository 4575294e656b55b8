"""The benchmarks' quiet-machine check: CPU time split into the benchmark's own, other processes' and steal."""

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_common", Path(__file__).parents[1] / "benchmarks" / "_common.py")
bench_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_common)

pytestmark = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs /proc/stat")


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_own_work_and_waited_children_count_as_the_benchmarks_own():
    watch = bench_common.CpuWatch()
    _spin(0.3)
    subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.3\n"
                    "while time.process_time() < end: pass"], check=True)
    text, numbers = watch.note()
    assert numbers["own_cpu_seconds"] >= 0.5  # 0.3 s here plus 0.3 s in the child (and its start)
    # the benchmark's own CPU time is not counted as other processes' (the load average would count it)
    assert numbers["other_cpu_seconds"] < numbers["own_cpu_seconds"]
    assert set(numbers) == {"wall_seconds", "own_cpu_seconds", "other_cpu_seconds", "steal_seconds", "cores", "quiet"}
    assert ("quiet machine:" in text) == numbers["quiet"]


def test_busy_machine_is_reported_as_not_quiet(monkeypatch):
    watch = bench_common.CpuWatch()
    wall, busy, steal, own = watch.start
    # pretend another process used a whole core for the 10 s the benchmark ran
    monkeypatch.setattr(bench_common.CpuWatch, "_snapshot", staticmethod(lambda: (wall + 10, busy + 10, steal, own)))
    text, numbers = watch.note()
    assert not numbers["quiet"] and numbers["other_cpu_seconds"] == 10.0
    assert text.startswith("**Timing was not taken on a quiet machine**")


def test_without_proc_stat_the_note_says_it_was_not_measured(monkeypatch):
    monkeypatch.setattr(bench_common.CpuWatch, "_snapshot", staticmethod(lambda: None))
    text, numbers = bench_common.CpuWatch().note()
    assert numbers == {} and text.startswith("CPU use of other processes not measured")


def test_the_benchmarks_memory_reading_is_the_workers_own_and_loads_no_lessdata():
    # a peer library's worker (apricot, submodlib) imports _common: it must not load lessdata, and it reports
    # its own peak, not the 300 MB of the process that started it
    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"x" * len(ballast[::4096])
    code = ("import sys\n"
            f"sys.path.insert(0, {str(Path(bench_common.__file__).parent)!r})\n"
            "import _common\n"
            "print('lessdata' in sys.modules, _common.peak_rss_gib())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False"
    assert float(out[1]) < 0.1
    del ballast
