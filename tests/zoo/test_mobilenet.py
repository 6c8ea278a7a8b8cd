"""MobileNetV2: the Keras h5 weights in their places (checked against PyTorch holding the same
arrays, with Keras' TF padding and epsilon), torchvision's .pth (its own padding and epsilon),
the layout, include_top=False at any size, transfer learning with frozen batch norms, init(),
refused files, and the download + convert + cache path without an md5.

The weight files are full-size MobileNetV2s with random weights and randomised batch-norm
statistics, written by the tests (tests/zoo/mobilenet_files.py; 10 classes); inputs are 64x64,
so the last feature map is 2x2. Downloads come from a local HTTP server; nothing touches the
network.
"""

import hashlib
import shutil

import numpy as np
import pytest

import zoo.pretrained
from minidl import Adam, DataSet, OutputLayer, Sgd
from minidl import serde
from minidl.data.normalizers import NormalizerStandardize
from minidl.nn.conf import (ActivationLayer, BatchNormalization, DenseLayer,
                            DepthwiseConvolution2D, LossFunction)
from minidl.nn.conf.enums import Activation
from minidl.nn.graph import ComputationGraph
from mobilenet_files import (keras_layers, random_arrays, torch_keras_mobilenetv2,
                             torchvision_mobilenetv2)
from transfer import FineTuneConfiguration, TransferLearning
from transfer_checks import check_transfer_keeps_the_frozen_part
from weight_files import write_keras_h5
from zoo import MODELS, MobileNetV2, PretrainedType, WeightFileError, convert, load_converted
from zoo.mobilenet import TORCHVISION
from zoo.mobilenet_weights import weights_from_keras

N_CLASSES = 10
SIZE = 64
NOTOP_URL_PATH = "/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
NOTOP_PARAMS = 2257984  # Keras' count_params() without the top (moving statistics included)
POOL = "global_average_pooling2d"


@pytest.fixture(scope="module")
def arrays():
    return random_arrays(N_CLASSES)


@pytest.fixture(scope="module")
def files(arrays, tmp_path_factory):
    """{"nested": Keras 2 names (Conv1/kernel:0), "keras3": (Conv1/kernel), "notop"}."""
    folder = tmp_path_factory.mktemp("mobilenet")
    names = [name for name, _, _ in keras_layers(N_CLASSES)]
    notop = [name for name, _, _ in keras_layers(0)]
    return {"nested": write_keras_h5(folder / "nested.h5", arrays, names, style="nested"),
            "keras3": write_keras_h5(folder / "keras3.h5", arrays, names, style="keras3"),
            "notop": write_keras_h5(folder / "notop.h5", arrays, notop, style="nested")}


@pytest.fixture(scope="module")
def net(files):
    return MobileNetV2(input_shape=(3, SIZE, SIZE)).init_pretrained(weights=files["nested"])


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).uniform(-1, 1, (2, 3, SIZE, SIZE)).astype(np.float32)


def _torch_run(model, x):
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        return [None if t is None else t.numpy()
                for t in model.double()(torch.from_numpy(x).double())]


@pytest.fixture(scope="module")
def torch_outputs(arrays, x):
    """(out_relu, pooled, predictions) of the PyTorch Keras MobileNetV2, float64."""
    pytest.importorskip("torch")
    return _torch_run(torch_keras_mobilenetv2(arrays), x)


def assert_close(ours, theirs, rtol=1e-4):
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.abs(theirs).max())


def assert_every_tensor_in_place(graph, arrays, include_top=True):
    for name, kind, _ in keras_layers(N_CLASSES if include_top else 0):
        if kind in ("conv", "depthwise"):
            (kernel,) = arrays[name]
            # Keras conv (kh, kw, n_in, n_out) -> ours [n_out, n_in, kh, kw]; depthwise unchanged
            expected = np.einsum("abio->oiab", kernel) if kind == "conv" else kernel
            np.testing.assert_array_equal(graph.get_param(f"{name}_W"), expected)
            assert f"{name}_b" not in graph.param_table()
        elif kind == "bn":
            for param, value in zip(("gamma", "beta", "mean", "var"), arrays[name]):
                np.testing.assert_array_equal(graph.get_param(f"{name}_{param}"), value)
        elif kind == "dense":
            np.testing.assert_array_equal(graph.get_param("predictions_W"), arrays[name][0])
            np.testing.assert_array_equal(graph.get_param("predictions_b"), arrays[name][1])


def test_keras_h5_every_tensor_in_its_place(net, arrays):
    assert_every_tensor_in_place(net, arrays)
    # 52 convs + 52 batch norms x 4 + the dense layer's 2: Keras' 262 weight tensors
    assert len(net.param_table()) == 262
    assert net.num_params() == NOTOP_PARAMS + 1281 * N_CLASSES


def test_matches_pytorch_with_the_same_weights(net, x, torch_outputs):
    features, pooled, predictions = torch_outputs
    acts = net.feed_forward(x)
    assert_close(acts[POOL], pooled)
    np.testing.assert_allclose(acts["predictions"], predictions, rtol=0, atol=1e-5)
    assert_close(acts["out_relu"], features)
    # the check has teeth: the classes are told apart, the two images differ, ReLU6 not saturated
    assert predictions.max() < 0.9 and predictions.min() > 1e-4
    assert not np.allclose(predictions[0], predictions[1], atol=1e-3)
    assert not np.allclose(predictions, 1 / N_CLASSES, atol=1e-2)
    assert (features < 6).mean() > 0.9


def test_torchvision_padding_would_compute_something_else(arrays, net, x):
    # the Keras weights in torchvision's layout (symmetric padding): other numbers (§2.3)
    graph = ComputationGraph(MobileNetV2(input_shape=(3, SIZE, SIZE)).pretrained_conf(
        N_CLASSES, True, TORCHVISION))
    graph.init_from_tables(graph.tables_from_flat(net.param_table())[0])
    assert not np.allclose(graph.feed_forward(x)[POOL], net.feed_forward(x)[POOL], atol=1e-2)


def test_keras3_names_load_identically(net, files):
    other = MobileNetV2(input_shape=(3, SIZE, SIZE)).init_pretrained(weights=files["keras3"])
    assert other.param_table().keys() == net.param_table().keys()
    for key, value in net.param_table().items():
        np.testing.assert_array_equal(other.get_param(key), value)


def test_the_layout_is_keras(net):
    vertices = net.conf.vertices
    assert net.input_names == ["input_1"] and net.output_names == ["predictions"]
    expected = [name for name, _, _ in keras_layers(N_CLASSES)][1:]
    assert set(vertices) == set(expected) and len(expected) == 155  # Keras' 156 less the input
    assert [name for name in vertices if name.endswith("_add")] == [
        f"block_{k}_add" for k in (2, 4, 5, 7, 8, 9, 11, 12, 14, 15)]
    assert [name for name in vertices if name.endswith("_pad")] == [
        f"block_{k}_pad" for k in (1, 3, 6, 13)]
    # TF "same" at stride 2 on even maps: nothing before, one after (Keras' correct_pad)
    for k in (1, 3, 6, 13):
        assert vertices[f"block_{k}_pad"].padding == (0, 1, 0, 1)
        assert vertices[f"block_{k}_depthwise"].stride == (2, 2)
    depthwise = vertices["block_2_depthwise"]
    assert isinstance(depthwise, DepthwiseConvolution2D) and not depthwise.has_bias
    assert vertices["block_2_depthwise"].padding == (1, 1)
    bn = vertices["block_5_project_BN"]
    assert isinstance(bn, BatchNormalization) and bn.eps == 1e-3 and bn.decay == 0.999
    relu = vertices["block_5_expand_relu"]
    assert isinstance(relu, ActivationLayer) and relu.activation == Activation.RELU6
    assert not vertices["Conv1"].has_bias and vertices["Conv_1"].n_out == 1280
    predictions = vertices["predictions"]
    assert isinstance(predictions, DenseLayer) and not isinstance(predictions, OutputLayer)
    assert predictions.activation == Activation.SOFTMAX and predictions.n_out == N_CLASSES
    assert net.conf.vertex_inputs["predictions"] == [POOL]
    # Keras' "tf" preprocessing: RGB, x / 127.5 - 1
    assert isinstance(net.pre_processor, NormalizerStandardize)
    assert net.preprocessing == {"channel_order": "RGB", "mean": [127.5] * 3, "std": [127.5] * 3}
    image = np.repeat(np.array([0.0, 127.5, 255.0], np.float32), 4).reshape(1, 3, 2, 2)
    ds = DataSet(image, np.zeros((1, 1), np.float32))
    net.pre_processor.pre_process(ds)
    np.testing.assert_allclose(ds.features[0, :, 0, 0], [-1.0, 0.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("which", ["nested", "notop"])
def test_include_top_false_ends_at_out_relu(files, arrays, x, torch_outputs, which):
    notop = MobileNetV2(input_shape=(3, SIZE, SIZE)).init_pretrained(weights=files[which],
                                                                     include_top=False)
    assert notop.output_names == ["out_relu"]
    assert not {POOL, "predictions"} & set(notop.conf.vertices)
    assert_every_tensor_in_place(notop, arrays, include_top=False)
    assert notop.num_params() == NOTOP_PARAMS
    out = notop.output_single(x)
    assert out.shape == (2, 1280, 2, 2)
    assert_close(out, torch_outputs[0])


def test_any_input_size_with_or_without_the_top(files, arrays):
    pytest.importorskip("torch")
    # 40x80 -> 20x40 -> 10x20 -> 5x10 -> 3x5 -> 2x3: where a side is odd, correct_pad pads one
    # before it too
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 40, 80)).astype(np.float32)
    features, _, predictions = _torch_run(torch_keras_mobilenetv2(arrays), x)
    top = MobileNetV2(input_shape=(3, 40, 80)).init_pretrained(weights=files["keras3"])
    notop = MobileNetV2(input_shape=(3, 40, 80)).init_pretrained(weights=files["notop"],
                                                                  include_top=False)
    assert top.conf.vertices["block_13_pad"].padding == (1, 1, 1, 1)
    assert top.conf.vertices["block_6_pad"].padding == (1, 1, 0, 1)
    assert notop.output_single(x).shape == (1, 1280, 2, 3) == features.shape
    assert_close(notop.output_single(x), features)
    np.testing.assert_allclose(top.output_single(x), predictions, atol=1e-5)


def test_converted_npz_loads_identically_and_records_the_source(files, net, tmp_path):
    npz = convert(files["nested"], tmp_path / "mobilenetv2.npz")
    weights, metadata = load_converted(npz)
    assert metadata["architecture"] == "mobilenetv2" and metadata["include_top"] is True
    assert metadata["source"]["sha256"] == hashlib.sha256(files["nested"].read_bytes()).hexdigest()
    assert metadata["channel_order"] == "RGB" and metadata["mean"] == [127.5] * 3
    from_npz = MobileNetV2(input_shape=(3, SIZE, SIZE)).init_pretrained(weights=npz)
    for key, value in net.param_table().items():
        np.testing.assert_array_equal(from_npz.get_param(key), value)
    assert from_npz.preprocessing == net.preprocessing


# -- transfer learning ----------------------------------------------------------------------

def _batch(n, seed):
    rng = np.random.default_rng(seed)
    return DataSet(rng.uniform(-1, 1, (n, 3, SIZE, SIZE)).astype(np.float32),
                   np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)])


def _with_new_head(mobilenet):
    return (TransferLearning.GraphBuilder(mobilenet)
            .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Sgd(0.1)).seed(7)
                                     .build())
            .set_feature_extractor(POOL)
            .remove_vertex_keep_connections("predictions")
            .add_layer("predictions", OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD,
                                                  n_in=1280, n_out=3,
                                                  activation=Activation.SOFTMAX), POOL)
            .build())


def test_transfer_with_frozen_batch_norms_in_inference_mode(net):
    edited = _with_new_head(net)
    assert edited.get_layer("block_3_depthwise_BN").frozen
    check_transfer_keeps_the_frozen_part(net, edited, POOL, 1280, _batch(4, 3), "bn_Conv1_mean")


# -- init() -------------------------------------------------------------------------------

def test_init_has_an_output_layer_on_the_pooling():
    conf = MobileNetV2.builder().numClasses(4).inputShape((3, 32, 32)).build().conf()
    head = conf.vertices["predictions"]
    assert isinstance(head, OutputLayer) and head.n_out == 4 and head.n_in == 1280
    assert head.loss == LossFunction.NEGATIVELOGLIKELIHOOD
    assert conf.vertex_inputs["predictions"] == [POOL]
    assert conf.vertices.keys() == MobileNetV2().pretrained_conf(4, True).vertices.keys()


def test_init_trains():
    model = MobileNetV2.builder().numClasses(4).inputShape((3, 32, 32)).seed(3).updater(
        Adam(1e-3)).build()
    net = model.init()
    assert net.num_params() == NOTOP_PARAMS + 1281 * 4
    rng = np.random.default_rng(0)
    data = DataSet(rng.uniform(-1, 1, (4, 3, 32, 32)).astype(np.float32),
                   np.eye(4, dtype=np.float32)[[0, 1, 2, 3]])
    before = net.get_param("bn_Conv1_mean").copy()
    net.fit(data)
    assert np.isfinite(net.score(data))
    assert not np.allclose(net.get_param("bn_Conv1_mean"), before)
    assert net.output_single(data.features).shape == (4, 4)


def test_pretrained_conf_survives_json():
    conf = MobileNetV2(input_shape=(3, 32, 32)).pretrained_conf(5, include_top=True)
    assert serde.from_json(serde.to_json(conf)) == conf


def test_zoo_lists_it_with_the_keras_sources():
    assert MODELS["mobilenetv2"] is MobileNetV2
    model = MobileNetV2()
    assert model.pretrained_available(PretrainedType.IMAGENET)
    assert model.pretrained_url().endswith(
        "/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5")
    assert model.pretrained_url(include_top=False).endswith("_1.0_224_no_top.h5")
    assert model.pretrained_checksum() is None  # Keras publishes none: the layers are checked


# -- files that are not this MobileNetV2 ----------------------------------------------------

def _layers(arrays):
    return {name: list(value) for name, value in arrays.items()}


def test_a_narrower_mobilenet_names_the_first_layer_that_does_not_fit(arrays, tmp_path):
    layers = _layers(arrays)  # alpha 0.5's stem has 16 filters
    layers["Conv1"] = [np.zeros((3, 3, 3, 16), np.float32)]
    names = [name for name, _, _ in keras_layers(N_CLASSES)]
    path = write_keras_h5(tmp_path / "narrow.h5", layers, names, style="nested")
    with pytest.raises(WeightFileError, match=r"narrow.h5: layer Conv1 does not fit MobileNetV2: "
                                              r"its weights have shapes \[\(3, 3, 3, 16\)\], "
                                              r"MobileNetV2 needs \[\(3, 3, 3, 32\)\]"):
        MobileNetV2().init_pretrained(weights=path)


def test_a_changed_depthwise_shape_names_its_layer(arrays):
    layers = _layers(arrays)
    layers["block_7_depthwise"] = [np.zeros((5, 5, 384, 1), np.float32)]
    with pytest.raises(WeightFileError, match=r"layer block_7_depthwise does not fit MobileNetV2: "
                                              r"its weights have shapes \[\(5, 5, 384, 1\)\], "
                                              r"MobileNetV2 needs \[\(3, 3, 384, 1\)\]"):
        weights_from_keras(layers, "f.h5")


def test_missing_and_extra_layers_are_named(arrays):
    layers = _layers(arrays)
    del layers["block_9_expand_BN"]
    with pytest.raises(WeightFileError, match="no layer block_9_expand_BN, which MobileNetV2 "
                                              "needs"):
        weights_from_keras(layers, "f.h5")
    layers = _layers(arrays)
    layers["block_17_project"] = layers["block_16_project"]
    with pytest.raises(WeightFileError, match=r"layers \['block_17_project'\] are not in "
                                              r"MobileNetV2"):
        weights_from_keras(layers, "f.h5")


# -- the download path, with no md5 ----------------------------------------------------------

def _refuse(*args, **kwargs):
    raise AssertionError("a cached load must not download or convert")


def test_download_without_md5_converts_once_then_loads_from_the_cache(files, arrays, local_http,
                                                                      minidl_home, monkeypatch):
    local_http.add(NOTOP_URL_PATH, files["notop"].read_bytes())
    monkeypatch.setenv(zoo.pretrained.BASE_URL_VARIABLE, local_http.url(""))
    model = MobileNetV2(input_shape=(3, 32, 32))
    first = model.init_pretrained(PretrainedType.IMAGENET, include_top=False, progress=False)
    assert [entry[2] for entry in local_http.log] == [200]
    cached = zoo.pretrained.cached_path("mobilenetv2", PretrainedType.IMAGENET, include_top=False)
    assert sorted(p.name for p in minidl_home.rglob("*") if p.is_file()) == [cached.name]
    assert_every_tensor_in_place(first, arrays, include_top=False)
    _, metadata = load_converted(cached)
    assert metadata["source"]["sha256"] == hashlib.sha256(files["notop"].read_bytes()).hexdigest()

    monkeypatch.setattr(zoo.pretrained, "convert", _refuse)
    monkeypatch.setattr(zoo.pretrained, "download", _refuse)
    second = model.initPretrained(PretrainedType.IMAGENET, include_top=False)
    assert len(local_http.log) == 1
    for key, value in first.param_table().items():
        np.testing.assert_array_equal(second.get_param(key), value)
    assert second.preprocessing == first.preprocessing


# -- torchvision's MobileNetV2 --------------------------------------------------------------

@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory):
    torch = pytest.importorskip("torch")
    model = torchvision_mobilenetv2(N_CLASSES)
    path = tmp_path_factory.mktemp("tv") / "mobilenet_v2-small.pth"
    torch.save(model.state_dict(), path)  # with num_batches_tracked, as torchvision's files
    return model, path


def test_torchvision_pth_builds_its_variant_and_matches_torch(torchvision_file):
    model, path = torchvision_file
    net = MobileNetV2(input_shape=(3, SIZE, SIZE)).init_pretrained(weights=path)
    vertices = net.conf.vertices
    assert vertices["block_1_pad"].padding == (1, 1, 1, 1)  # torchvision: 1 on every side
    assert vertices["bn_Conv1"].eps == 1e-5 and vertices["block_4_project_BN"].decay == 0.9
    np.testing.assert_array_equal(net.get_param("block_3_depthwise_W"),
                                  model.features[4].conv[1][0].weight.detach().numpy()
                                  .transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(net.get_param("expanded_conv_project_W"),
                                  model.features[1].conv[1].weight.detach().numpy())
    np.testing.assert_array_equal(net.get_param("Conv_1_bn_var"),
                                  model.features[18][1].running_var.numpy())
    np.testing.assert_array_equal(net.get_param("predictions_W"),
                                  model.classifier[1].weight.detach().numpy().T)

    x = np.random.default_rng(4).uniform(-1, 1, (2, 3, SIZE, SIZE)).astype(np.float32)
    features, pooled, predictions = _torch_run(model, x)
    acts = net.feed_forward(x)
    assert_close(acts[POOL], pooled)
    np.testing.assert_allclose(acts["predictions"], predictions, rtol=0, atol=1e-5)
    assert predictions.max() < 0.9 and not np.allclose(predictions, 1 / N_CLASSES, atol=1e-2)
    # torchvision's weights want RGB (x / 255 - mean) / std
    assert isinstance(net.pre_processor, NormalizerStandardize)
    assert net.preprocessing["channel_order"] == "RGB" and net.preprocessing["mean"][0] > 100
    _, metadata = load_converted(convert(path, path.with_suffix(".npz")))
    assert metadata["architecture"] == "mobilenetv2_torchvision"


def test_torchvision_file_name_sha256_prefix_is_checked(torchvision_file, tmp_path):
    _, path = torchvision_file
    wrong = shutil.copy(path, tmp_path / "mobilenet_v2-b0353104.pth")
    with pytest.raises(WeightFileError, match=r"does not start with b0353104, as torchvision's "
                                              r"mobilenet_v2-b0353104.pth does"):
        MobileNetV2().init_pretrained(weights=wrong)


def test_a_torchvision_file_with_a_misfit_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    state = torchvision_mobilenetv2(0).state_dict()
    state["features.19.0.weight"] = state["features.18.0.weight"]
    torch.save(state, tmp_path / "longer.pth")
    with pytest.raises(WeightFileError, match=r"keys \['features.19.0.weight'\] are not in "
                                              r"torchvision's MobileNetV2"):
        MobileNetV2().init_pretrained(weights=tmp_path / "longer.pth", include_top=False)
    del state["features.19.0.weight"], state["features.7.conv.1.1.running_mean"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(WeightFileError, match=r"no features.7.conv.1.1.running_mean "
                                              r"\(block_6_depthwise_BN\)"):
        MobileNetV2().init_pretrained(weights=tmp_path / "cut.pth", include_top=False)
