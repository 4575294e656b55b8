import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lessdata.data import ArrayDataset
from lessdata.errors import LessdataError
from lessdata.signals import features, standardize


def test_features_flatten_and_scale_images():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    flat = features(images)
    assert flat.dtype == np.float32 and flat.shape == (7, 784)
    np.testing.assert_allclose(flat, images.reshape(7, -1) / 255.0, rtol=1e-6)
    # The same rows whether given as arrays, an (X, y) pair or a Dataset that scales them itself.
    labels = np.arange(7)
    np.testing.assert_allclose(features((images, labels)), flat)
    np.testing.assert_allclose(features(ArrayDataset(images, labels, shape=(1, 28, 28))), flat)


def test_features_keep_float_values():
    X = np.array([[1.5, -2.0], [3.0, 4.0]])
    out = features(X)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, X.astype(np.float32))


def test_features_errors():
    with pytest.raises(LessdataError, match="NaN"):
        features(np.array([[1.0, np.nan]]))
    with pytest.raises(LessdataError, match="cannot read examples from a dict"):
        features({"x": 1})


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(2, 20), st.integers(1, 5)),
        elements=st.floats(-1e3, 1e3, allow_nan=False),
    )
)
def test_standardize_gives_zero_mean_unit_std(X):
    Z, mean, std = standardize(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-3)
    varying = X.astype(np.float32).std(axis=0) > 1e-2
    np.testing.assert_allclose(Z.std(axis=0)[varying], 1, atol=1e-3)
    np.testing.assert_allclose(Z[:, ~varying], (X[:, ~varying] - mean[~varying]) / std[~varying], atol=1e-3)
    # Reusing the statistics reproduces the same transform.
    np.testing.assert_allclose(standardize(X, mean, std)[0], Z)


def test_standardize_constant_column_and_errors():
    Z, _, std = standardize(np.array([[1.0, 2.0], [1.0, 4.0]]))
    assert std[0] == 1 and np.all(Z[:, 0] == 0)
    with pytest.raises(LessdataError, match="one value per column"):
        standardize(np.ones((3, 2)), mean=np.zeros(3))
    with pytest.raises(LessdataError, match="positive"):
        standardize(np.ones((3, 2)), std=np.zeros(2))
