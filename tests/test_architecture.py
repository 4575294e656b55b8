"""The layering rules of ARCHITECTURE.md, checked on the source: every import (at module level or inside a
function, absolute or relative) points to the importer's own layer or a lower one; domain packages never
import each other; no module imports another package's private names; every module belongs to a layer; and
importing the core does not load torch."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "lessdata"

# the top-level module or package under src/lessdata -> its layer (imports may only point to the same number
# or a lower one); "__init__" is the package root, lessdata/__init__.py, the public API
LAYERS = {
    "errors": 0, "_validation": 0, "_io": 0, "_progress": 0, "_threads": 0, "_process": 0,  # helpers
    "coreset": 1, "backends": 1,                                                # the result type; where work runs
    "submodular": 2, "data": 2, "models": 2,                                    # engine; loaders; reference models
    "signals": 3,                                                               # arrays from data + a model
    "methods": 4,                                                               # arrays in, Coreset out
    "training": 5,                                                              # loaders, schedules, fit, selectors
    "contrastive": 6, "llm": 6, "distill": 6, "robust": 6, "shaping": 6,        # domain packages
    "__init__": 7,                                                              # the public API
    "bench": 8, "cli": 8, "cli_inputs": 8, "demo": 8,                           # harnesses and the command line
}
DOMAIN = {"contrastive", "llm", "distill", "robust", "shaping"}
HELPERS = {name for name, layer in LAYERS.items() if layer == 0}  # private-looking names, shared on purpose


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _unit(module: str) -> str:
    """``lessdata.x.y`` -> ``x``; ``lessdata`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(module: str) -> bool:
    path = SRC.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def lessdata_imports(path: Path):
    """``(line, target module, imported names)`` for every import of lessdata code in ``path``, anywhere in it."""
    return imports_in(path.read_text(), *_module_name(path), filename=str(path))


def imports_in(text: str, module: str, is_package: bool = False, filename: str = "<source>"):
    """The lessdata imports of source ``text`` belonging to ``module`` (see :func:`lessdata_imports`)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(text, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lessdata" or alias.name.startswith("lessdata."):
                    yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != "lessdata" and not target.startswith("lessdata."):
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if _is_module(submodule):  # `from . import x` / `from lessdata import methods`
                    yield node.lineno, submodule, []
                else:
                    yield node.lineno, target, [alias.name]


def _sources():
    return sorted(SRC.rglob("*.py"))


@functools.cache
def _all_imports() -> tuple[tuple[Path, tuple], ...]:
    return tuple((path, tuple(lessdata_imports(path))) for path in _sources())


def test_every_module_is_in_a_layer():
    unplaced = sorted({str(p.relative_to(SRC)) for p in _sources() if _unit(_module_name(p)[0]) not in LAYERS})
    assert not unplaced, ("modules in no layer; add their package to LAYERS in tests/test_architecture.py and "
                          f"to ARCHITECTURE.md: {unplaced}")


def test_imports_point_down_and_domain_packages_stay_apart():
    bad = []
    for path, imports in _all_imports():
        source = _unit(_module_name(path)[0])
        if source not in LAYERS:
            continue  # reported by test_every_module_is_in_a_layer
        for line, target, names in imports:
            dest = _unit(target)
            where = f"{path.relative_to(SRC)}:{line} imports {target}{' ' + str(names) if names else ''}"
            if dest not in LAYERS:
                bad.append(f"{where}: {dest!r} is in no layer")
            elif LAYERS[dest] > LAYERS[source]:
                bad.append(f"{where}: up from {source} (layer {LAYERS[source]}) to {dest} (layer {LAYERS[dest]})")
            elif source in DOMAIN and dest in DOMAIN and source != dest:
                bad.append(f"{where}: domain package {source} imports domain package {dest}")
    assert not bad, "imports against the layers of ARCHITECTURE.md:\n" + "\n".join(bad)


def test_no_private_names_across_packages():
    bad = []
    for path, imports in _all_imports():
        source = _unit(_module_name(path)[0])
        for line, target, names in imports:
            dest = _unit(target)
            if dest == source or dest in HELPERS:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            private += [m for m in target.split(".")[2:] if m.startswith("_") and not m.startswith("__")]
            if private:
                bad.append(f"{path.relative_to(SRC)}:{line} imports {private} from {target}")
    assert not bad, "private names imported from another package (make them public there):\n" + "\n".join(bad)


def test_the_checker_sees_relative_absolute_and_function_level_imports():
    text = ("import lessdata\nimport numpy\nfrom .. import training\nfrom . import registry\n\n\ndef f():\n"
            "    from ..signals import x\n    from lessdata.llm import y\n    from .registry import _z\n")
    found = [(line, target, names) for line, target, names in imports_in(text, "lessdata.methods.probe")]
    assert found == [(1, "lessdata", []), (3, "lessdata.training", []), (4, "lessdata.methods.registry", []),
                     (8, "lessdata.signals", ["x"]), (9, "lessdata.llm", ["y"]),
                     (10, "lessdata.methods.registry", ["_z"])]


def test_the_core_imports_without_torch():
    code = "import sys, lessdata, lessdata.methods, lessdata.submodular; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing lessdata, lessdata.methods or lessdata.submodular loads torch"
