"""Run every docstring example in ``src/lessdata`` (one test per module), so the examples stay true.

Examples run with ``numpy as np`` and ``lessdata`` already imported, ``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``.
An example that needs downloads, data files, a GPU or a long training run is marked ``# doctest: +SKIP`` where
it is written. A module whose optional dependency (ray, transformers, lightning...) is not installed is skipped.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import lessdata

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names() -> list[str]:
    names = [lessdata.__name__]
    for info in pkgutil.walk_packages(lessdata.__path__, prefix="lessdata."):
        names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # an optional extra that is not installed
        pytest.skip(f"{name} needs {exc.name or exc}")


def _examples(module) -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(module, module.__name__) if t.examples]
    # only the module's own objects (not what it imports from elsewhere)
    return [t for t in tests if t.filename is None or t.filename == getattr(module, "__file__", None)]


def test_every_file_with_examples_is_collected():
    """Every source file holding ``>>>`` examples is one of the modules run below (none is missed)."""
    root = Path(lessdata.__file__).parent
    with_examples = {".".join(("lessdata", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
                     for path in root.rglob("*.py") if ">>> " in path.read_text()}
    assert len(with_examples) >= 40
    assert with_examples <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    module = _import(name)
    tests = _examples(module)
    if not tests:
        pytest.skip("no examples")
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        test.globs = {"np": np, "lessdata": lessdata, **module.__dict__}
        runner.run(test, clear_globs=True)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} examples failed in {name} (see the output above)"
