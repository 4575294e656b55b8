"""The Ray backend, GreeDi on Ray and the Ray Data signal pipeline, on a local 2-CPU Ray cluster.

One cluster for the whole module (start-up costs seconds). Skipped when Ray is not installed.
"""

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import lessdata
from lessdata import Coreset
from lessdata.cli import app
from lessdata.errors import LessdataError
from lessdata.methods._partitioned import partitioned_coreset
from lessdata.submodular import (
    FacilityLocation,
    evaluate_facility_location,
    facility_location_part,
    greedi,
    knn_similarity,
    maximize,
)

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module", autouse=True)
def cluster():
    import ray.cloudpickle

    # this module's functions run in Ray workers, which cannot import a test module by name
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def assert_same_selection(a: Coreset, b: Coreset):
    """Equal in everything but the backend that ran it (and the time it took)."""
    strip = lambda params: {k: v for k, v in params.items() if k != "backend"}  # noqa: E731
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.weights, b.weights)
    assert np.array_equal(a.gains, b.gains, equal_nan=True)
    assert (a.partition is None) == (b.partition is None)
    if a.partition is not None:
        assert np.array_equal(a.partition, b.partition)
    assert a.objective == b.objective
    assert strip(a.params) == strip(b.params)
    assert (a.method, a.seed, a.n) == (b.method, b.seed, b.n)


# ------------------------------------------------------------------------------- partitioned selection
def test_partitioned_craig_on_ray_equals_local(blobs):
    X, y = blobs(3000, 8, centers=10)
    tiny = np.arange(3000) % 37  # 37 small parts: grouped several to a task
    for labels in (y, tiny):
        local = lessdata.select(X, fraction=0.05, method="craig", labels=labels, seed=3)
        on_ray = lessdata.select(X, fraction=0.05, method="craig", labels=labels, seed=3, backend="ray")
        assert_same_selection(local, on_ray)
        assert on_ray.params["backend"] == "ray"


def flaky(marker_dir: Path, how: str):
    """select_part for CRAIG that fails the first attempt at part 1 (raise) or kills its worker (exit)."""

    def select_part(part):
        marker = marker_dir / f"{how}-{part.id}"
        if part.id == 1 and not marker.exists():
            marker.touch()
            if how == "exit":
                os._exit(1)  # the worker process dies mid-task
            raise RuntimeError("transient failure")
        return facility_location_part(X_FLAKY[part.indices], part.budget, seed=part.seed)

    return select_part


X_FLAKY = None


@pytest.mark.parametrize("how", ["exit"])
def test_failed_task_is_retried_and_the_result_is_unchanged(tmp_path, blobs, how):
    global X_FLAKY
    X_FLAKY, y = blobs(1200, 4, centers=4)
    from lessdata.backends.ray import RayBackend

    backend = RayBackend(min_task_points=1)  # one task per part
    fn = flaky(tmp_path, how)
    on_ray = partitioned_coreset(fn, 1200, 60, y, seed=0, backend=backend)
    assert (tmp_path / f"{how}-1").exists()  # the first attempt did fail
    local = partitioned_coreset(fn, 1200, 60, y, seed=0, backend="local")
    assert_same_selection(local, on_ray)


def test_an_exception_in_the_selection_is_raised_once_as_itself(tmp_path, blobs):
    global X_FLAKY
    X_FLAKY, y = blobs(400, 4, centers=4)
    from lessdata.backends.ray import RayBackend

    with pytest.raises(RuntimeError, match="transient failure"):
        partitioned_coreset(flaky(tmp_path, "raise"), 400, 20, y, seed=0, backend=RayBackend(min_task_points=1))
    assert [p.name for p in tmp_path.iterdir()] == ["raise-1"]  # one attempt, no retry


def test_bad_input_in_a_worker_is_raised_once_not_retried(tmp_path):
    def select_part(part):
        (tmp_path / f"attempt-{os.getpid()}-{len(list(tmp_path.iterdir()))}").touch()
        raise LessdataError(f"part {part.label!r} is bad")

    with pytest.raises(LessdataError, match="part 0 is bad"):
        partitioned_coreset(select_part, 10, 2, None, seed=0, backend="ray")
    assert len(list(tmp_path.iterdir())) == 1


def test_progress_on_ray_counts_every_pick_once_and_changes_nothing(blobs):
    import threading

    class Bar:  # holds a lock: cannot be pickled, like a real progress bar
        total = None
        lock = threading.Lock()

        def __init__(self):
            self.n = 0

        def update(self, n):
            self.n += n

    X, y = blobs(2000, 3)
    for method in ("craig", "random"):
        bar = Bar()
        on_ray = lessdata.select(X, fraction=0.1, labels=y, method=method, backend="ray", progress=bar)
        local = lessdata.select(X, fraction=0.1, labels=y, method=method)
        assert bar.total == 200 and bar.n == 200
        assert on_ray == local


def test_unpicklable_work_is_a_clear_error():
    import threading

    from lessdata.backends.ray import RayBackend

    lock = threading.Lock()
    with pytest.raises(LessdataError, match="cannot be pickled"):
        RayBackend().map(lambda item: (lock, item), [1, 2])


# ---------------------------------------------------------------------------------------------- GreeDi
def test_greedi_on_ray_is_close_to_centralized_lazy_greedy(blobs):
    X, _ = blobs(50_000, 16)
    k = 500
    res = greedi(X, k, n_shards=8, seed=0, backend="ray")
    assert len(res.shard_stats) == 8 and len({s["pid"] for s in res.shard_stats} - {os.getpid()}) >= 1
    # centralized lazy greedy on the sparse k-NN graph of all 50,000 points, scored on the same objective
    central = maximize(FacilityLocation(knn_similarity(X, n_neighbors=32, exact_limit=10_000)), k, "lazy").indices
    central_value = evaluate_facility_location(X, [central], constant=res.constant)[0].value
    assert res.objective >= 0.9 * central_value
    n, c = len(X), res.constant  # and without the constant: total distance to the nearest pick
    assert n * c - res.objective <= 1.1 * (n * c - central_value)


def test_greedi_method_on_ray_equals_local(blobs):
    X, y = blobs(4000, 6)
    for labels in (None, y):
        local = lessdata.select(X, fraction=0.02, method="greedi", labels=labels, n_shards=3, seed=1)
        on_ray = lessdata.select(X, fraction=0.02, method="greedi", labels=labels, n_shards=3, seed=1,
                                 backend="ray")
        assert_same_selection(local, on_ray)


# ------------------------------------------------------------------------------------ signal pipeline
def failing_model(marker: Path):
    """A factory (called once per actor) for a model that fails on rows with id >= 750 while marker exists."""

    def build():
        import torch

        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))

        class Guard(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, x):
                if marker.exists() and float(x[:, 0].max()) >= 750:
                    raise RuntimeError("node lost")
                return self.net(x)

        return Guard()

    return build


def test_signal_pipeline_resumes_without_recomputing_finished_shards(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lessdata.signals import last_layer_gradients
    from lessdata.signals.pipeline import compute_signals, read_signals, shard_name

    n = 1000
    rng = np.random.default_rng(0)
    X = np.column_stack([np.arange(n), rng.normal(size=(n, 3))]).astype(np.float32)  # column 0 = row id
    y = rng.integers(3, size=n)
    (tmp_path / "src").mkdir()
    for i, (a, b) in enumerate([(0, 400), (400, n)]):
        cols = {f"x{j}": X[a:b, j] for j in range(4)}
        pq.write_table(pa.table({**cols, "label": y[a:b]}), tmp_path / "src" / f"part-{i}.parquet",
                       row_group_size=128)
    marker = tmp_path / "crash"
    marker.touch()
    out = tmp_path / "signals"
    kwargs = {"signal": "last_layer_gradients", "rows_per_shard": 150, "num_workers": 1}
    with pytest.raises(LessdataError, match=r"stopped with 5 of 7 shards complete .*node lost.*rerun"):
        compute_signals(tmp_path / "src", out, failing_model(marker), **kwargs)
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.parquet")}
    assert sorted(finished) == [shard_name(s) for s in range(5)]  # ids 0..749; one actor goes in order
    with pytest.raises(LessdataError, match="incomplete: shard.s. 5, 6 of 7 missing"):
        read_signals(out)

    marker.unlink()
    again = compute_signals(tmp_path / "src", out, failing_model(marker), **kwargs)
    assert again.computed == [5, 6] and again.skipped == [0, 1, 2, 3, 4]
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == finished  # untouched
    S, labels, ids = read_signals(out)
    assert np.array_equal(ids, np.arange(n)) and np.array_equal(labels, y)
    assert np.allclose(S, last_layer_gradients(failing_model(marker)(), X, y), atol=1e-6)
    assert compute_signals(tmp_path / "src", out, failing_model(marker), **kwargs).computed == []

    with pytest.raises(LessdataError, match="other settings .rows_per_shard."):
        compute_signals(tmp_path / "src", out, failing_model(marker), **{**kwargs, "rows_per_shard": 100})

    # `lessdata select` reads the shards directly, here with GreeDi on the same cluster
    cs_path = tmp_path / "cs.npz"
    result = CliRunner().invoke(app, [
        "select", str(out), "-o", str(cs_path), "--method", "greedi", "-f", "0.05", "--backend", "ray",
        "--param", "n_shards=2", "-q"])
    assert result.exit_code == 0, result.output
    cs = Coreset.load(cs_path)
    assert_same_selection(cs, lessdata.select(S, fraction=0.05, method="greedi", labels=y, n_shards=2))


def test_signal_pipeline_on_an_image_folder(tmp_path):
    import json

    import torch
    from PIL import Image

    from lessdata.signals.pipeline import MANIFEST, compute_signals, read_signals

    rng = np.random.default_rng(0)
    images = {}
    for cls, count in (("cat", 5), ("dog", 4)):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "img" / cls / f"{i}.png")
            images[f"{cls}/{i}.png"] = pixels
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 5, 4))
    out = compute_signals(tmp_path / "img", tmp_path / "sig", model, rows_per_shard=4, num_workers=1)
    assert (out.n, out.dim, out.n_shards) == (9, 4, 3)
    S, y, ids = read_signals(tmp_path / "sig")
    assert y.tolist() == [0] * 5 + [1] * 4
    assert json.loads((tmp_path / "sig" / MANIFEST).read_text())["classes"] == ["cat", "dog"]
    pixels = np.stack([images[name] for name in sorted(images)]).transpose(0, 3, 1, 2) / np.float32(255)
    with torch.no_grad():
        expected = model(torch.from_numpy(pixels.astype(np.float32))).numpy()
    assert np.allclose(S, expected, atol=1e-6)
