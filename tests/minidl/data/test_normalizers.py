"""Normalizers: statistics against NumPy on the whole data, exact inverses, per-channel images,
iterator fitting, use as a pre-processor, saving as plain data (``state()``) and back.

Every test runs on both devices (the ``device`` fixture): the data goes to the device with
``to_device``, ``fit`` reads it (the statistics are kept in float64 NumPy on the host, as
minidl computes them there), transforms and reverts run on the device and come back with
``host`` before meeting the NumPy truths.
"""

import json

import numpy as np
import pytest

from devices import host
from minidl.backend import device_of, to_device
from minidl.data import (ArrayDataSetIterator, DataNormalization, DataSet,
                         ImagePreProcessingScaler, NormalizerStandardize, VGG16ImagePreProcessor)

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(50, 4)) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, -2.0, 100.0]).astype(np.float64)
Y = np.eye(2)[np.arange(50) % 2]
# drawn once here, so that every device case sees the same images
IMAGES = RNG.normal(size=(6, 3, 5, 4)) * np.array([1, 2, 3]).reshape(1, 3, 1, 1) + \
    np.array([10, 20, 30]).reshape(1, 3, 1, 1)


def test_standardize_per_column(device):
    x = to_device(X)
    norm = NormalizerStandardize().fit(DataSet(x, to_device(Y)))
    np.testing.assert_allclose(norm.get_mean(), X.mean(axis=0))
    np.testing.assert_allclose(norm.get_std(), X.std(axis=0))  # population std, as ND4J
    z = norm.transform(x)
    assert device_of(z) == device
    np.testing.assert_allclose(host(z).mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(host(z).std(axis=0), 1, rtol=1e-12)
    reverted = norm.revert_features(z)
    assert device_of(reverted) == device
    np.testing.assert_allclose(host(reverted), X, rtol=1e-12)


def test_standardize_with_given_statistics(device):
    # DL4J's NormalizerStandardize(mean, std): the statistics may come from the device too;
    # they are kept on the host, as fit() keeps them
    given = NormalizerStandardize(mean=to_device(X.mean(axis=0)), std=to_device(X.std(axis=0)))
    fitted = NormalizerStandardize().fit(DataSet(X, Y))
    np.testing.assert_array_equal(given.get_mean(), fitted.get_mean())
    np.testing.assert_array_equal(given.get_std(), fitted.get_std())
    z = given.transform(to_device(X))
    assert device_of(z) == device
    np.testing.assert_allclose(host(z), host(fitted.transform(to_device(X))), rtol=1e-12)
    np.testing.assert_allclose(host(given.revert_features(z)), X, rtol=1e-12)


def test_fit_on_an_iterator_equals_fit_on_all_the_data(device):
    # uneven batches (16, 16, 16, 2) exercise the merge of running moments
    norm = NormalizerStandardize().fit(ArrayDataSetIterator(to_device(X), to_device(Y), 16,
                                                            shuffle=True, seed=3))
    np.testing.assert_allclose(norm.mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.std, X.std(axis=0), rtol=1e-12)


def test_fit_on_an_iterator_leaves_it_reset_for_the_first_epoch(device):
    # DL4J's normalizer.fit(trainIter); trainIter.setPreProcessor(normalizer);
    # while (trainIter.hasNext()) ...: the loop must see every batch of the first epoch
    it = ArrayDataSetIterator(to_device(X), to_device(Y), 16)
    it.next()  # a used iterator is reset before fitting too
    norm = NormalizerStandardize().fit(it)
    np.testing.assert_allclose(norm.mean, X.mean(axis=0), rtol=1e-12)
    it.set_pre_processor(norm)
    first_epoch = []
    while it.has_next():
        first_epoch.append(host(it.next().features))
    np.testing.assert_allclose(np.concatenate(first_epoch), (X - X.mean(0)) / X.std(0),
                               rtol=1e-12)


def test_standardize_images_per_channel(device):
    images = IMAGES
    on_device = to_device(images)
    norm = NormalizerStandardize().fit(DataSet(on_device, to_device(np.zeros((6, 2)))))
    np.testing.assert_allclose(norm.mean, images.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(norm.std, images.std(axis=(0, 2, 3)))
    z = norm.transform(on_device)
    assert device_of(z) == device
    np.testing.assert_allclose(host(z).mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(host(norm.revert_features(z)), images, rtol=1e-12)


def test_constant_column_is_divided_by_the_floor_not_zero(device):
    x = np.ones((5, 2))
    x[:, 1] = np.arange(5)
    norm = NormalizerStandardize().fit(DataSet(to_device(x), None))
    assert norm.std[0] == 1e-5
    assert np.all(np.isfinite(host(norm.transform(to_device(x)))))


def test_pre_process_replaces_features_and_labels_when_asked(device):
    shared = to_device(X.copy())
    ds = DataSet(shared, to_device(X[:, :2].copy()))
    norm = NormalizerStandardize().fit_label(True).fit(ds)
    norm.pre_process(ds)
    np.testing.assert_array_equal(host(shared), X)  # the caller's array is not written into
    assert device_of(ds.features) == device_of(ds.labels) == device
    np.testing.assert_allclose(host(ds.labels).mean(axis=0), 0, atol=1e-12)
    norm.revert(ds)
    assert device_of(ds.features) == device_of(ds.labels) == device
    np.testing.assert_allclose(host(ds.features), X, rtol=1e-12)
    np.testing.assert_allclose(host(ds.labels), X[:, :2], rtol=1e-12)


def test_as_iterator_pre_processor(device):
    norm = NormalizerStandardize().fit(DataSet(X, Y))  # fitted on the host, used on the device
    it = ArrayDataSetIterator(to_device(X), to_device(Y), 20)
    it.setPreProcessor(norm)
    batches = list(it)
    assert {device_of(b.features) for b in batches} == {device}
    got = np.concatenate([host(b.features) for b in batches])
    np.testing.assert_allclose(got, (X - X.mean(0)) / X.std(0), rtol=1e-12)


def test_standardize_errors(device):
    with pytest.raises(ValueError, match="not fitted"):
        NormalizerStandardize().transform(to_device(X))
    norm = NormalizerStandardize().fit(DataSet(to_device(X), to_device(Y)))
    with pytest.raises(ValueError, match=r"fitted on 4 columns/channels but the features have "
                                         r"shape \(3, 5\)"):
        norm.transform(to_device(np.zeros((3, 5))))


def test_image_scaler(device):
    host_pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    pixels = to_device(host_pixels)
    scaled = ImagePreProcessingScaler().transform(pixels)
    assert scaled.dtype == np.float32 and device_of(scaled) == device
    np.testing.assert_allclose(host(scaled), [[0.0, 0.2, 1.0]], rtol=1e-6)
    to_pm1 = ImagePreProcessingScaler(-1, 1)
    np.testing.assert_allclose(host(to_pm1.transform(pixels)), [[-1.0, -0.6, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(host(to_pm1.revert_features(to_pm1.transform(pixels))),
                               host_pixels, rtol=1e-6)
    ten_bit = ImagePreProcessingScaler(0, 1, max_bits=10)
    np.testing.assert_allclose(host(ten_bit.transform(to_device(np.array([[1023.0]])))), [[1.0]])


def test_vgg16_preprocessor_subtracts_bgr_means_per_channel(device):
    images = np.full((2, 3, 2, 2), 200.0, dtype=np.float32)
    on_device = VGG16ImagePreProcessor().transform(to_device(images))
    assert device_of(on_device) == device and on_device.dtype == np.float32
    out = host(on_device)
    np.testing.assert_allclose(out[:, 0], 200 - 103.939, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], 200 - 116.779, rtol=1e-6)
    np.testing.assert_allclose(out[:, 2], 200 - 123.68, rtol=1e-6)
    np.testing.assert_array_equal(host(VGG16ImagePreProcessor().revert_features(on_device)),
                                  images)
    ds = DataSet(to_device(images.copy()), to_device(np.zeros((2, 5))))
    VGG16ImagePreProcessor().pre_process(ds)
    assert device_of(ds.features) == device
    np.testing.assert_array_equal(host(ds.features), out)
    with pytest.raises(ValueError, match=r"NCHW images with 3 \(BGR\) channels, got shape"):
        VGG16ImagePreProcessor().transform(to_device(np.zeros((2, 2, 2, 3))))


# -- state(): a normalizer as plain data and back ----------------------------------------------

def _fitted_standardize():
    return NormalizerStandardize().fit_label(True).fit(DataSet(IMAGES, X[:6, :2]))


@pytest.mark.parametrize("make, shape", [
    (_fitted_standardize, IMAGES.shape),
    (lambda: NormalizerStandardize().fit(DataSet(X, Y)), X.shape),  # no label statistics
    (lambda: ImagePreProcessingScaler(-1, 1, max_bits=10), (4, 3)),
    (VGG16ImagePreProcessor, IMAGES.shape),
], ids=["standardize-labels", "standardize", "scaler", "vgg16"])
def test_state_round_trip_gives_the_same_transform(make, shape, device):
    normalizer = make()
    settings, arrays = normalizer.state()
    settings = json.loads(json.dumps(settings))  # as a file would hold it
    restored = DataNormalization.from_state(settings, {k: a.copy() for k, a in arrays.items()})
    assert type(restored) is type(normalizer) and restored.fit_labels == normalizer.fit_labels
    rng = np.random.default_rng(1)
    data = to_device(rng.normal(size=shape) * 50 + 100)
    np.testing.assert_array_equal(host(restored.transform(data)),
                                  host(normalizer.transform(data)))
    if normalizer.fit_labels:
        labels = to_device(rng.normal(size=(4, 2)))
        np.testing.assert_array_equal(host(restored.revert_labels(labels)),
                                      host(normalizer.revert_labels(labels)))


def test_state_holds_the_documented_fields():
    settings, arrays = _fitted_standardize().state()
    assert settings == {"type": "NormalizerStandardize", "fit_labels": True}
    assert sorted(arrays) == ["label_mean", "label_std", "mean", "std"]
    np.testing.assert_array_equal(arrays["mean"], IMAGES.mean(axis=(0, 2, 3)))
    settings, arrays = ImagePreProcessingScaler(-1, 1, max_bits=10).state()
    assert settings == {"type": "ImagePreProcessingScaler", "fit_labels": False,
                        "min_range": -1.0, "max_range": 1.0, "max_pixel_value": 1023.0}
    assert arrays == {}


def test_an_unfitted_standardize_cannot_be_saved():
    with pytest.raises(ValueError, match=r"cannot save an unfitted NormalizerStandardize "
                                         r"\(it has no mean, std\): call fit"):
        NormalizerStandardize().state()
    # fitted before fit_label(True): the label statistics are missing
    with pytest.raises(ValueError, match=r"no label_mean, label_std"):
        NormalizerStandardize().fit(DataSet(X, Y)).fit_label(True).state()


def test_from_state_refuses_unknown_types_and_incomplete_states():
    with pytest.raises(ValueError, match=r"unknown DataNormalization type 'NormalizerMinMax' "
                                         r"\(known: .*ImagePreProcessingScaler, "
                                         r"NormalizerStandardize, VGG16ImagePreProcessor"):
        DataNormalization.from_state({"type": "NormalizerMinMax"}, {})
    settings, arrays = NormalizerStandardize().fit(DataSet(X, Y)).state()
    with pytest.raises(ValueError, match=r"NormalizerStandardize: the saved state lacks std"):
        DataNormalization.from_state(settings, {"mean": arrays["mean"]})
    with pytest.raises(ValueError, match=r"expected settings \['fit_labels', 'type'\]"):
        DataNormalization.from_state({**settings, "colour": "red"}, arrays)
