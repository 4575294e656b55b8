"""Peak memory of the running process, and the /proc fields it is read from."""

import subprocess
import sys

from lessdata import _process
from lessdata._process import peak_rss_bytes


def _touch(n_bytes: int) -> bytearray:
    buf = bytearray(n_bytes)
    buf[::4096] = b"x" * len(buf[::4096])  # write every page, so it is resident
    return buf


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


def test_proc_fields_are_read_in_bytes_and_missing_ones_are_none(tmp_path):
    f = tmp_path / "status"
    f.write_text("Name:\tpython\nVmHWM:\t  1234 kB\nBroken:\tx kB\n")
    assert _process.proc_kib_field(str(f), "VmHWM") == 1234 * 1024
    assert _process.proc_kib_field(str(f), "VmRSS") is None  # no such line
    assert _process.proc_kib_field(str(f), "Broken") is None  # not a number
    assert _process.proc_kib_field(str(tmp_path / "absent"), "VmHWM") is None


def test_without_proc_the_peak_comes_from_getrusage(monkeypatch):
    with_proc = peak_rss_bytes()
    monkeypatch.setattr(_process, "proc_kib_field", lambda path, key: None)
    # ru_maxrss (KiB here, bytes on macOS) converted to bytes: the same order as VmHWM, not 1024 times off
    assert with_proc / 4 < peak_rss_bytes() < with_proc * 4
