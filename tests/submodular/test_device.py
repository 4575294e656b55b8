"""The torch device path: the same similarity, picks and weights as the CPU engine; torch stays lazy."""

import subprocess
import sys

import numpy as np
import pytest

from lessdata.errors import LessdataError
from lessdata.submodular import dense_similarity, facility_location_part
from lessdata.submodular.device import DeviceFacilityLocation, device_similarity

torch = pytest.importorskip("torch")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "rbf"])
def test_device_similarity_equals_the_cpu_one(metric, blobs):
    X, _ = blobs(300, 7, seed=1)
    S = device_similarity(X, metric, "cpu").numpy()
    np.testing.assert_allclose(S, dense_similarity(X, metric=metric), rtol=1e-4, atol=1e-4 * np.abs(S).max())
    if metric != "cosine":
        assert (np.diagonal(S) == S.max()).all()  # a point is its own nearest, exactly


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("optimizer", ["lazy", "naive", "stochastic"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_picks_and_weights_as_the_cpu_path(device, metric, optimizer, seed, blobs):
    X, _ = blobs(400, 5, seed=seed)
    cpu = facility_location_part(X, 40, metric=metric, optimizer=optimizer, seed=seed)
    dev = facility_location_part(X, 40, metric=metric, optimizer=optimizer, seed=seed, device=device)
    assert dev.indices.tolist() == cpu.indices.tolist()
    np.testing.assert_array_equal(dev.weights, cpu.weights)
    assert dev.objective == pytest.approx(cpu.objective, rel=1e-5)
    np.testing.assert_allclose(dev.gains, cpu.gains, rtol=1e-4)


def test_duplicates_break_ties_to_the_lowest_index_on_both_paths():
    X = np.repeat(np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32), 3, axis=0)
    cpu = facility_location_part(X, 15, metric="euclidean")
    dev = facility_location_part(X, 15, metric="euclidean", device="cpu")
    assert dev.indices.tolist() == cpu.indices.tolist()


def test_precomputed_and_point_weights_on_the_device():
    rng = np.random.default_rng(3)
    S = rng.random((50, 50)).astype(np.float32)
    w = rng.random(50).astype(np.float32)
    cpu = facility_location_part(None, 8, metric="precomputed", precomputed=S, point_weights=w)
    dev = DeviceFacilityLocation(S, "cpu", w)
    from lessdata.submodular import maximize

    assert maximize(dev, 8, "lazy").indices.tolist() == cpu.indices.tolist()


def test_bad_devices_are_one_clear_error(blobs):
    X, _ = blobs(50, 3)
    with pytest.raises(LessdataError, match="unknown device"):
        facility_location_part(X, 5, device="nonsense")
    if not torch.cuda.is_available():
        with pytest.raises(LessdataError, match="CUDA is not available"):
            facility_location_part(X, 5, device="cuda")
    with pytest.raises(LessdataError, match="memory_cap"):
        facility_location_part(X, 5, device="cpu", memory_cap=1000)


def test_importing_the_engine_does_not_import_torch():
    code = "import sys, lessdata.submodular; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_select_with_a_device_per_class_equals_the_cpu_coreset(blobs):
    import lessdata

    X, y = blobs(600, 6, seed=4)
    cpu = lessdata.select(X, budget=60, method="craig", labels=y % 3, seed=1)
    dev = lessdata.select(X, budget=60, method="craig", labels=y % 3, seed=1, device="cpu")
    assert dev.indices.tolist() == cpu.indices.tolist()
    np.testing.assert_array_equal(dev.weights, cpu.weights)
