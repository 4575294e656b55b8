import os
import stat

import pytest

from lessdata._io import atomic_path
from lessdata.errors import LessdataError


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_write_has_the_mode_open_would_give(tmp_path, umask):
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "out.txt").st_mode)
    assert mode == stat.S_IMODE(os.stat(plain).st_mode) == 0o666 & ~umask


def test_atomic_write_onto_a_directory_is_one_clear_error(tmp_path):
    with pytest.raises(LessdataError, match="is a directory"), atomic_path(tmp_path):
        pass


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.npz") as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
