"""Files saved by Keras itself (optional: Keras 3 on the torch backend; skipped without it)
import and equal ``model.predict``: a small model with most layers in the default run, the
Keras applications VGG16, ResNet50 and MobileNetV2 (weights=None, randomised batch-norm
statistics) and a nested transfer model marked slow."""

import numpy as np
import pytest

from minidl import ComputationGraph, MultiLayerNetwork
from minidl.modelimport import KerasModelImport, import_model

# Keras' own variables warn about NumPy 2's copy keyword on every np.array(variable)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    """Keras on the torch backend; KERAS_BACKEND is set only while it is imported."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_BACKEND", "torch")
        keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras was imported earlier with the {keras.backend.backend()} backend")
    keras.utils.set_random_seed(0)
    return keras


def randomise_batch_norms(keras, model, seed=0):
    """Random moving statistics, gamma and beta: fresh ones (0, 1, 1, 0) hide layout errors."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.2, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0, 0.2, n).astype("float32"))


def nhwc_input(model, seed=0, n=2):
    shape = tuple(model.input_shape[1:])
    return np.random.default_rng(seed).standard_normal((n,) + shape).astype(np.float32)


def assert_close(ours, theirs, rtol):
    """Equal to ``rtol`` relative to the largest value (small entries would not be)."""
    theirs = np.asarray(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.abs(theirs).max())


def small_model(keras):
    layers = keras.layers
    inner = keras.Sequential([keras.Input((9, 9, 8)), layers.Conv2D(8, 3, padding="same"),
                              layers.BatchNormalization(center=False)], name="inner")
    x = inp = keras.Input((17, 17, 3), name="img")
    x = layers.Rescaling(1 / 127.5, offset=-1)(x)
    norm = layers.Normalization(name="norm")
    norm.adapt(np.random.default_rng(0).uniform(0, 2, (8, 17, 17, 3)).astype("float32"))
    x = norm(x)
    x = layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    a = layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    a = layers.LeakyReLU(0.1)(a)
    b = layers.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, name="sep")(x)
    b = inner(b)
    x = layers.Add(name="add")([a, b])
    x = layers.Concatenate(name="concat")([x, a])
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = layers.Cropping2D(((1, 0), (0, 1)))(x)
    x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.Activation("swish")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(5, activation="softmax", name="predictions")(x)
    model = keras.Model(inp, x)
    randomise_batch_norms(keras, model)
    return model


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_a_small_keras_saved_model_equals_predict(keras, tmp_path, suffix):
    model = small_model(keras)
    path = tmp_path / f"small{suffix}"
    model.save(path)
    net = import_model(path)
    assert isinstance(net, ComputationGraph)
    x = nhwc_input(model)
    assert_close(net.output_single(x.transpose(0, 3, 1, 2)), model.predict(x, verbose=0), 1e-5)


def test_a_grouped_convolution_equals_predict(keras, tmp_path):
    layers = keras.layers
    x = inp = keras.Input((10, 10, 6))
    x = layers.Conv2D(9, 3, groups=3, padding="same", name="grouped")(x)
    x = layers.Conv2D(4, 1, groups=1, name="mix")(x)
    model = keras.Model(inp, x)
    model.save(tmp_path / "grouped.keras")
    net = import_model(tmp_path / "grouped.keras")
    assert type(net.get_layer("grouped")).__name__ == "GroupedConvolution2D"
    x = nhwc_input(model)
    assert_close(net.output_single(x.transpose(0, 3, 1, 2)),
                 model.predict(x, verbose=0).transpose(0, 3, 1, 2), 1e-5)


def strip_group_names(path):
    """Rewrite a .keras file's weights as Keras < 3.6 wrote them: no layer names on the groups."""
    import io
    import zipfile
    h5py = pytest.importorskip("h5py")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "a") as f:
        f.visititems(lambda name, obj: obj.attrs.__delitem__("name")
                     if name.endswith("vars") and "name" in obj.attrs else None)
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_keras_saved_file_without_group_names_keras_before_3_6(keras, tmp_path):
    model = small_model(keras)
    model.save(tmp_path / "small.keras")
    strip_group_names(tmp_path / "small.keras")
    net = import_model(tmp_path / "small.keras")
    x = nhwc_input(model)
    assert_close(net.output_single(x.transpose(0, 3, 1, 2)), model.predict(x, verbose=0), 1e-5)


def test_a_keras_sequential_becomes_a_multilayer_network(keras, tmp_path):
    layers = keras.layers
    model = keras.Sequential([keras.Input((12, 12, 3)), layers.Conv2D(4, 3, activation="relu"),
                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(6),
                              layers.ELU(), layers.Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    model.save(tmp_path / "seq.keras")
    net = KerasModelImport.import_keras_sequential_model_and_weights(tmp_path / "seq.keras",
                                                                     enforce_training_config=True)
    assert isinstance(net, MultiLayerNetwork)
    assert type(net.get_layer(4)).__name__ == "OutputLayer"
    x = nhwc_input(model)
    assert_close(net.output(x.transpose(0, 3, 1, 2)), model.predict(x, verbose=0), 1e-5)


# the pooled features: VGG16's fc2 (its flatten is in Keras' (h, w, c) order, ours (c, h, w))
APPLICATIONS = [("VGG16", 64, "fc2"), ("ResNet50", 64, "avg_pool"), ("MobileNetV2", 96, None)]


@pytest.mark.slow
@pytest.mark.parametrize("name, size, pooled", APPLICATIONS)
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_keras_applications_equal_predict(keras, tmp_path, name, size, pooled, suffix):
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    randomise_batch_norms(keras, model)
    path = tmp_path / f"{name}{suffix}"
    model.save(path)
    net = KerasModelImport.import_keras_model_and_weights(path)
    pooled = pooled or model.layers[-2].name  # MobileNetV2's global_average_pooling2d[_N]
    x = nhwc_input(model)
    features = keras.Model(model.input, model.get_layer(pooled).output).predict(x, verbose=0)
    ours = net.feed_forward(x.transpose(0, 3, 1, 2), until=[pooled, "predictions"])
    assert_close(ours[pooled], features, 1e-4)
    assert_close(ours["predictions"], model.predict(x, verbose=0), 1e-5)


@pytest.mark.slow
def test_a_keras_application_nested_in_a_transfer_model(keras, tmp_path):
    base = keras.applications.MobileNetV2(weights=None, include_top=False,
                                          input_shape=(96, 96, 3))
    randomise_batch_norms(keras, base)
    model = keras.Sequential([keras.Input((96, 96, 3)), base,
                              keras.layers.GlobalAveragePooling2D(name="pool"),
                              keras.layers.Dense(4, activation="softmax", name="head")])
    model.save(tmp_path / "transfer.keras")
    net = import_model(tmp_path / "transfer.keras")
    assert {"Conv1", "block_16_project_BN", "pool", "head"} <= set(
        net.get_configuration().known_names())
    x = nhwc_input(model)
    assert_close(net.output_single(x.transpose(0, 3, 1, 2)), model.predict(x, verbose=0), 1e-5)
