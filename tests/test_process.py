"""Peak memory of the running process."""

import subprocess
import sys

from lessdata import _process
from lessdata._process import peak_rss_bytes


def _touch(n_bytes: int) -> bytearray:
    buf = bytearray(n_bytes)
    buf[::4096] = b"x" * len(buf[::4096])  # write every page, so it is resident
    return buf


def test_a_process_reports_what_it_wrote():
    before = peak_rss_bytes()
    buf = _touch(300 * 2**20)
    assert peak_rss_bytes() - before >= 290 * 2**20 or peak_rss_bytes() >= 300 * 2**20
    del buf


def test_a_worker_reports_its_own_peak_not_its_parents():
    # getrusage's ru_maxrss of a fork + exec child starts at the parent's resident size: with it, a bare
    # interpreter started from this 400 MB process would report 400 MB
    ballast = _touch(400 * 2**20)
    code = ("import importlib.util\n"  # the module alone: a bare interpreter, not all of lessdata
            f"spec = importlib.util.spec_from_file_location('p', {_process.__file__!r})\n"
            "p = importlib.util.module_from_spec(spec); spec.loader.exec_module(p)\n"
            "peak_rss_bytes = p.peak_rss_bytes\n"
            "small = peak_rss_bytes()\n"
            "big = bytearray(200 * 2**20); big[::4096] = b'x' * len(big[::4096])\n"
            "print(small, peak_rss_bytes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    small, grown = map(int, out.split())
    assert small < 100 * 2**20  # the interpreter's own few MB
    assert grown - small >= 190 * 2**20
    del ballast
