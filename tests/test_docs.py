"""The documentation site builds without a warning (strict mode): every API page resolves, every docstring
parses, and the overview and architecture pages are the repository's README and ARCHITECTURE files."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")


@pytest.mark.timeout(300)
def test_the_docs_build_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or "mkdocs"
    done = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-4000:]
    index = (tmp_path / "site" / "index.html").read_text()
    assert "lessdata" in index
    api = (tmp_path / "site" / "api" / "lessdata" / "index.html").read_text()
    assert "select" in api and "Coreset" in api
