"""Normalizers: statistics against NumPy on the whole data, exact inverses, per-channel images,
iterator fitting, use as a pre-processor."""

import numpy as np
import pytest

from minidl.data import (ArrayDataSetIterator, DataSet, ImagePreProcessingScaler,
                         NormalizerStandardize, VGG16ImagePreProcessor)

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(50, 4)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, -2.0, 100.0]).astype(np.float64)
Y = np.eye(2)[np.arange(50) % 2]


def test_standardize_per_column():
    norm = NormalizerStandardize().fit(DataSet(X, Y))
    np.testing.assert_allclose(norm.get_mean(), X.mean(axis=0))
    np.testing.assert_allclose(norm.get_std(), X.std(axis=0))  # population std, as ND4J
    z = norm.transform(X)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, rtol=1e-12)
    np.testing.assert_allclose(norm.revert_features(z), X, rtol=1e-12)


def test_fit_on_an_iterator_equals_fit_on_all_the_data():
    # uneven batches (16, 16, 16, 2) exercise the merge of running moments
    norm = NormalizerStandardize().fit(ArrayDataSetIterator(X, Y, 16, shuffle=True, seed=3))
    np.testing.assert_allclose(norm.mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.std, X.std(axis=0), rtol=1e-12)


def test_standardize_images_per_channel():
    images = RNG.normal(size=(6, 3, 5, 4)) * np.array([1, 2, 3]).reshape(1, 3, 1, 1) + \
        np.array([10, 20, 30]).reshape(1, 3, 1, 1)
    norm = NormalizerStandardize().fit(DataSet(images, np.zeros((6, 2))))
    np.testing.assert_allclose(norm.mean, images.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(norm.std, images.std(axis=(0, 2, 3)))
    z = norm.transform(images)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(norm.revert_features(z), images, rtol=1e-12)


def test_constant_column_is_divided_by_the_floor_not_zero():
    x = np.ones((5, 2))
    x[:, 1] = np.arange(5)
    norm = NormalizerStandardize().fit(DataSet(x, None))
    assert norm.std[0] == 1e-5
    assert np.all(np.isfinite(norm.transform(x)))


def test_pre_process_replaces_features_and_labels_when_asked():
    shared = X.copy()
    ds = DataSet(shared, X[:, :2].copy())
    norm = NormalizerStandardize().fit_label(True).fit(ds)
    norm.pre_process(ds)
    np.testing.assert_array_equal(shared, X)  # the caller's array is not written into
    np.testing.assert_allclose(ds.labels.mean(axis=0), 0, atol=1e-12)
    norm.revert(ds)
    np.testing.assert_allclose(ds.features, X, rtol=1e-12)
    np.testing.assert_allclose(ds.labels, X[:, :2], rtol=1e-12)


def test_as_iterator_pre_processor():
    norm = NormalizerStandardize().fit(DataSet(X, Y))
    it = ArrayDataSetIterator(X, Y, 20)
    it.setPreProcessor(norm)
    got = np.concatenate([b.features for b in it])
    np.testing.assert_allclose(got, (X - X.mean(0)) / X.std(0), rtol=1e-12)


def test_standardize_errors():
    with pytest.raises(ValueError, match="not fitted"):
        NormalizerStandardize().transform(X)
    norm = NormalizerStandardize().fit(DataSet(X, Y))
    with pytest.raises(ValueError, match=r"fitted on 4 columns/channels but the features have "
                                         r"shape \(3, 5\)"):
        norm.transform(np.zeros((3, 5)))


def test_image_scaler():
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    scaled = ImagePreProcessingScaler().transform(pixels)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[0.0, 0.2, 1.0]], rtol=1e-6)
    to_pm1 = ImagePreProcessingScaler(-1, 1)
    np.testing.assert_allclose(to_pm1.transform(pixels), [[-1.0, -0.6, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(to_pm1.revert_features(to_pm1.transform(pixels)), pixels,
                               rtol=1e-6)
    ten_bit = ImagePreProcessingScaler(0, 1, max_bits=10)
    np.testing.assert_allclose(ten_bit.transform(np.array([[1023.0]])), [[1.0]])


def test_vgg16_preprocessor_subtracts_bgr_means_per_channel():
    images = np.full((2, 3, 2, 2), 200.0, dtype=np.float32)
    out = VGG16ImagePreProcessor().transform(images)
    np.testing.assert_allclose(out[:, 0], 200 - 103.939, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], 200 - 116.779, rtol=1e-6)
    np.testing.assert_allclose(out[:, 2], 200 - 123.68, rtol=1e-6)
    np.testing.assert_array_equal(VGG16ImagePreProcessor().revert_features(out), images)
    ds = DataSet(images.copy(), np.zeros((2, 5)))
    VGG16ImagePreProcessor().pre_process(ds)
    np.testing.assert_array_equal(ds.features, out)
    with pytest.raises(ValueError, match=r"NCHW images with 3 \(BGR\) channels, got shape"):
        VGG16ImagePreProcessor().transform(np.zeros((2, 2, 2, 3)))
