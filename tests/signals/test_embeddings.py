import numpy as np
import pytest

from lessdata.errors import LessdataError
from lessdata.signals.embeddings import latent_classes, spherical_kmeans, zero_shot_classes


def _separable(seed=0, classes=4, per=30, d=16):
    rng = np.random.default_rng(seed)
    centers = np.linalg.qr(rng.normal(size=(d, d)))[0][:classes] * 5
    y = np.repeat(np.arange(classes), per)
    return (centers[y] + rng.normal(scale=0.5, size=(len(y), d))).astype(np.float32), y, centers


def test_zero_shot_recovers_labels_with_template_averaging():
    X, y, centers = _separable()
    rng = np.random.default_rng(1)
    prompts = centers[:, None, :] + rng.normal(scale=1.0, size=(4, 3, centers.shape[1]))  # 3 templates each
    assert (latent_classes(X, class_prompts=prompts) == y).all()
    assert (zero_shot_classes(X, centers) == y).all()  # (C, d) also accepted


def test_kmeans_recovers_partition():
    X, y, _ = _separable()
    assign, centroids = spherical_kmeans(X, 4, seed=0)
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-5)
    # each cluster is one class
    for c in np.unique(assign):
        assert len(np.unique(y[assign == c])) == 1
    assert (latent_classes(X, n_clusters=4, seed=0) == assign).all()


def test_labels_pass_through_and_errors():
    X, y, _ = _separable()
    assert (latent_classes(X, labels=y) == y).all()
    with pytest.raises(LessdataError, match="exactly one"):
        latent_classes(X, labels=y, n_clusters=3)
    with pytest.raises(LessdataError, match="dimension 5"):
        latent_classes(X, class_prompts=np.ones((3, 2, 5)))
    with pytest.raises(LessdataError, match="larger than the number of points"):
        latent_classes(X, n_clusters=10_000)
    with pytest.raises(LessdataError, match="length"):
        latent_classes(X, labels=y[:-1])
