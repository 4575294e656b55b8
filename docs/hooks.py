"""MkDocs hook: the overview and the architecture pages are the repository's README.md and ARCHITECTURE.md,
so the site and the repository never disagree."""

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"index.md": "README.md", "architecture.md": "ARCHITECTURE.md"}


def on_files(files, config):
    for page, source in PAGES.items():
        files.append(File.generated(config, page, content=(ROOT / source).read_text(encoding="utf-8")))
    return files
