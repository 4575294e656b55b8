"""Every ```python block of the README runs as written (each on its own, in a fresh namespace and folder).

A block that needs what a test machine lacks (a GPU, a download, minutes of training) is fenced as
```python no-run and is only checked to be valid Python."""

import ast
import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)


def _blocks():
    text = README.read_text(encoding="utf-8")
    out = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        out.append(pytest.param(match.group(2), "no-run" in match.group(1), id=f"line{line}"))
    return out


BLOCKS = _blocks()


def test_the_readme_has_runnable_examples():
    assert sum(1 for p in BLOCKS if not p.values[1]) >= 3


@pytest.mark.parametrize("code, no_run", BLOCKS)
def test_readme_block(code, no_run, tmp_path, monkeypatch):
    ast.parse(code)
    if no_run:
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LESSDATA_README_TEST", "1")
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    assert os.getcwd() == str(tmp_path)
