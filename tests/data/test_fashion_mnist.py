import contextlib
import functools
import http.server
import importlib
import threading
from pathlib import Path

import numpy as np
import pytest

from lessdata.data import download_fashion_mnist, fashion_mnist, fashion_mnist_classes, write_idx
from lessdata.errors import LessdataError

# The package exports a function of the same name, so fetch the module itself from sys.modules.
fm = importlib.import_module("lessdata.data.fashion_mnist")
SYSTEM = Path("/usr/share/datasets/fashion-mnist")


def make_fake(root: Path, n_train: int = 12, n_test: int = 5, seed: int = 0):
    """Write four small synthetic Fashion-MNIST IDX files into ``root``; return the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images_name, labels_name = fm.FILES[split]
        write_idx(root / images_name, images)
        write_idx(root / labels_name, labels)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def no_system_copy(monkeypatch, tmp_path):
    """Hide the real installed copy and $LESSDATA_DATA so lookups see only what a test creates."""
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "not-installed")
    monkeypatch.delenv("LESSDATA_DATA", raising=False)


def test_read_from_root(tmp_path, no_system_copy):
    arrays = make_fake(tmp_path)
    for split in ("train", "test"):
        X, y = fashion_mnist(tmp_path, split=split)
        assert X.dtype == np.uint8 and y.dtype == np.int64
        np.testing.assert_array_equal(X, arrays[split][0])
        np.testing.assert_array_equal(y, arrays[split][1])


def test_lookup_order(tmp_path, monkeypatch, no_system_copy):
    make_fake(tmp_path / "env" / "fashion-mnist", n_train=3)
    monkeypatch.setenv("LESSDATA_DATA", str(tmp_path / "env"))
    assert len(fashion_mnist()[0]) == 3  # $LESSDATA_DATA/fashion-mnist/
    make_fake(tmp_path / "env", n_train=4)
    assert len(fashion_mnist()[0]) == 4  # $LESSDATA_DATA itself comes first
    make_fake(tmp_path / "root", n_train=6)
    assert len(fashion_mnist(tmp_path / "root")[0]) == 6


def test_unpacked_files_are_read_too(tmp_path, no_system_copy):
    arrays = make_fake(tmp_path)
    for name in fm.FILES["test"]:
        write_idx(tmp_path / name.removesuffix(".gz"), fm.read_idx(tmp_path / name))
        (tmp_path / name).unlink()
    np.testing.assert_array_equal(fashion_mnist(tmp_path, "test")[0], arrays["test"][0])


def test_missing_files_say_how_to_get_them(tmp_path, no_system_copy):
    with pytest.raises(LessdataError) as info:
        fashion_mnist()
    message = str(info.value)
    assert "\n" not in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "download_fashion_mnist" in message
    with pytest.raises(LessdataError, match="dataset-fashion-mnist"):
        fashion_mnist(tmp_path / "empty")
    with pytest.raises(LessdataError, match="unknown Fashion-MNIST split 'val'"):
        fashion_mnist(split="val")


def test_inconsistent_files(tmp_path, no_system_copy):
    make_fake(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(LessdataError, match="has 3 labels but .* has 12 images"):
        fashion_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(12, 10, dtype=np.uint8))
    with pytest.raises(LessdataError, match="label 10"):
        fashion_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((12, 27, 28), dtype=np.uint8))
    with pytest.raises(LessdataError, match="28x28 uint8 images"):
        fashion_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(LessdataError, match="t10k-images"):
        fashion_mnist(tmp_path, "test")


@pytest.mark.skipif(not SYSTEM.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_real_dataset(monkeypatch):
    monkeypatch.delenv("LESSDATA_DATA", raising=False)
    X, y = fashion_mnist()
    assert X.shape == (60000, 28, 28) and X.dtype == np.uint8 and y.shape == (60000,)
    assert np.array_equal(np.bincount(y), np.full(10, 6000))
    X, y = fashion_mnist(split="test")
    assert X.shape == (10000, 28, 28) and sorted(set(y.tolist())) == list(range(10))
    assert len(fashion_mnist_classes) == 10 and fashion_mnist_classes[y[0]] == "Ankle boot"


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` over HTTP on 127.0.0.1; yield (base URL, list of requested paths)."""
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/files/", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_over_http(tmp_path, no_system_copy):
    arrays = make_fake(tmp_path / "site" / "files")
    with serve(tmp_path / "site") as (url, requests):
        root = download_fashion_mnist(tmp_path / "dest", base_url=url, verify=False)
        assert root == tmp_path / "dest" and len(requests) == 4
        download_fashion_mnist(tmp_path / "dest", base_url=url, verify=False)
        assert len(requests) == 4  # valid files already there are kept
    X, y = fashion_mnist(root, "train")
    np.testing.assert_array_equal(X, arrays["train"][0])
    assert sorted(p.name for p in root.iterdir()) == sorted(fm.FILES["train"] + fm.FILES["test"])


def test_download_errors_leave_no_partial_files(tmp_path):
    make_fake(tmp_path / "site" / "files")
    dest = tmp_path / "dest"
    with serve(tmp_path / "site") as (url, _):
        # Synthetic files are not the real dataset: the checksum check rejects them.
        with pytest.raises(LessdataError, match="checksum mismatch"):
            download_fashion_mnist(dest, base_url=url)
        assert not list(dest.iterdir())
        (tmp_path / "site" / "files" / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip, not idx")
        with pytest.raises(LessdataError, match="train-labels-idx1-ubyte.gz is not an IDX file"):
            download_fashion_mnist(dest, base_url=url, verify=False)
        assert [p.name for p in dest.iterdir()] == ["train-images-idx3-ubyte.gz"]
        with pytest.raises(LessdataError, match="could not download .*: HTTP 404"):
            download_fashion_mnist(tmp_path / "other", base_url=url + "missing/", verify=False)
    with pytest.raises(LessdataError, match="could not download"):
        download_fashion_mnist(tmp_path / "x", base_url=(tmp_path / "nowhere").as_uri(), verify=False)


@pytest.mark.skipif(not SYSTEM.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_download_real_files_with_checksums(tmp_path):
    root = download_fashion_mnist(tmp_path, base_url=SYSTEM.as_uri())
    X, y = fashion_mnist(root, "test")
    assert X.shape == (10000, 28, 28)
