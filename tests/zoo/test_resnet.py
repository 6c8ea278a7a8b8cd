"""ResNet50: the Keras h5 weights in their places (checked against PyTorch holding the same
arrays), the layout, include_top=False at any size, transfer learning with frozen batch norms,
init(), refused files, and the download + convert + cache path.

The weight files are full-size ResNet50s with random weights and randomised batch-norm
statistics, written by the tests (tests/zoo/resnet_files.py; 10 classes); inputs are 64x64, so
the last feature map is 2x2. Downloads come from a local HTTP server; nothing touches the network.
"""

import hashlib

import numpy as np
import pytest

import zoo.pretrained
from minidl import Adam, DataSet, OutputLayer, RmsProp, Sgd, WeightInit
from minidl.data.normalizers import VGG16ImagePreProcessor
from minidl import serde
from minidl.nn.conf import (BatchNormalization, DenseLayer, ElementWiseVertex, LossFunction,
                            ZeroPaddingLayer)
from minidl.nn.conf.enums import Activation
from resnet_files import EPS, blocks, keras_layers, random_arrays, torch_resnet50
from transfer import FineTuneConfiguration, TransferLearning
from transfer_checks import check_transfer_keeps_the_frozen_part
from weight_files import KERAS_LAYERS, keras_arrays, write_keras_h5
from zoo import MODELS, PretrainedType, ResNet50, WeightFileError, convert, load_converted
from zoo.resnet_weights import weights_from_keras

N_CLASSES = 10
SIZE = 64
NOTOP_URL_PATH = "/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.fixture(scope="module")
def arrays():
    return random_arrays(N_CLASSES)


@pytest.fixture(scope="module")
def files(arrays, tmp_path_factory):
    """{"nested": Keras 2 names (conv1_conv/kernel:0), "keras3": (conv1_conv/kernel),
    "notop": no top, nested names}."""
    folder = tmp_path_factory.mktemp("resnet")
    names = [name for name, _, _ in keras_layers(N_CLASSES)]
    notop = [name for name, _, _ in keras_layers(0)]
    return {"nested": write_keras_h5(folder / "nested.h5", arrays, names, style="nested"),
            "keras3": write_keras_h5(folder / "keras3.h5", arrays, names, style="keras3"),
            "notop": write_keras_h5(folder / "notop.h5", arrays, notop, style="nested")}


@pytest.fixture(scope="module")
def net(files):
    return ResNet50(input_shape=(3, SIZE, SIZE)).init_pretrained(weights=files["nested"])


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).uniform(-1, 1, (2, 3, SIZE, SIZE)).astype(np.float32)


@pytest.fixture(scope="module")
def torch_outputs(arrays, x):
    """(conv5_block3_out, avg_pool, predictions) of the PyTorch ResNet50, float64."""
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        return [t.numpy() for t in torch_resnet50(arrays)(torch.from_numpy(x).double())]


def conv_names():
    yield "conv1_conv"
    for prefix, _, _, _, projection in blocks():
        yield from [f"{prefix}_{part}_conv" for part in ("0123" if projection else "123")]


def assert_every_tensor_in_place(graph, arrays, include_top=True):
    for name in conv_names():
        kernel, bias = arrays[name]
        # Keras (kh, kw, n_in, n_out) -> ours [n_out, n_in, kh, kw]: W[o, i, a, b] == kernel[a, b, i, o]
        np.testing.assert_array_equal(graph.get_param(f"{name}_W"), np.einsum("abio->oiab", kernel))
        np.testing.assert_array_equal(graph.get_param(f"{name}_b"), bias)
        bn = name.replace("_conv", "_bn")
        for param, value in zip(("gamma", "beta", "mean", "var"), arrays[bn]):
            np.testing.assert_array_equal(graph.get_param(f"{bn}_{param}"), value)
    if include_top:
        np.testing.assert_array_equal(graph.get_param("predictions_W"), arrays["predictions"][0])
        np.testing.assert_array_equal(graph.get_param("predictions_b"), arrays["predictions"][1])


def test_keras_h5_every_tensor_in_its_place(net, arrays):
    assert_every_tensor_in_place(net, arrays)
    # 53 convs x 2 + 53 batch norms x 4 + the dense layer's 2: Keras' 320 weight tensors
    assert len(net.param_table()) == 320
    assert net.num_params() == 23587712 + 2049 * N_CLASSES  # Keras' count_params(), notop + top


def test_matches_pytorch_with_the_same_weights(net, x, torch_outputs):
    features, pooled, predictions = torch_outputs
    acts = net.feed_forward(x)
    np.testing.assert_allclose(acts["avg_pool"], pooled, rtol=1e-4, atol=1e-4 * np.abs(pooled).max())
    np.testing.assert_allclose(acts["predictions"], predictions, rtol=0, atol=1e-5)
    np.testing.assert_allclose(acts["conv5_block3_out"], features, rtol=1e-4,
                               atol=1e-4 * np.abs(features).max())
    # the check has teeth: the classes are told apart, and the two images differ
    assert predictions.max() < 0.9 and predictions.min() > 1e-4
    assert not np.allclose(predictions[0], predictions[1], atol=1e-3)
    assert not np.allclose(predictions, 1 / N_CLASSES, atol=1e-2)


def test_keras3_names_load_identically(net, files):
    other = ResNet50(input_shape=(3, SIZE, SIZE)).init_pretrained(weights=files["keras3"])
    assert other.param_table().keys() == net.param_table().keys()
    for key, value in net.param_table().items():
        np.testing.assert_array_equal(other.get_param(key), value)


def test_the_layout_is_keras(net):
    vertices = net.conf.vertices
    assert net.input_names == ["input_1"] and net.output_names == ["predictions"]
    expected = {"conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad", "pool1_pool",
                "avg_pool", "predictions"}
    for prefix, _, _, _, projection in blocks():
        parts = ("0", "1", "2", "3") if projection else ("1", "2", "3")
        expected |= {f"{prefix}_{p}_{k}" for p in parts for k in ("conv", "bn")}
        expected |= {f"{prefix}_1_relu", f"{prefix}_2_relu", f"{prefix}_add", f"{prefix}_out"}
    assert set(vertices) == expected and len(expected) == 176  # Keras' 177 layers less the input
    assert vertices["conv1_pad"].padding == (3, 3, 3, 3)
    assert isinstance(vertices["pool1_pad"], ZeroPaddingLayer)
    assert vertices["conv3_block1_1_conv"].stride == (2, 2)  # the stride is on the first 1x1
    assert vertices["conv3_block1_2_conv"].stride == (1, 1)
    assert vertices["conv3_block1_0_conv"].stride == (2, 2)
    assert all(v.eps == EPS and v.decay == 0.99 for v in vertices.values()
               if isinstance(v, BatchNormalization))
    assert isinstance(vertices["conv4_block3_add"], ElementWiseVertex)
    assert set(net.conf.vertex_inputs["conv4_block3_add"]) == {"conv4_block2_out", "conv4_block3_3_bn"}
    predictions = net.get_layer("predictions")
    assert type(predictions) is DenseLayer and not isinstance(predictions, OutputLayer)
    assert predictions.activation == Activation.SOFTMAX and predictions.n_out == N_CLASSES
    assert isinstance(net.pre_processor, VGG16ImagePreProcessor)  # caffe: BGR minus the mean
    assert net.preprocessing == {"channel_order": "BGR", "mean": [103.939, 116.779, 123.68],
                                 "std": [1.0, 1.0, 1.0]}


@pytest.mark.parametrize("which", ["nested", "notop"])
def test_include_top_false_ends_at_conv5_block3_out(files, arrays, x, torch_outputs, which):
    model = ResNet50(input_shape=(3, SIZE, SIZE))
    notop = model.init_pretrained(weights=files[which], include_top=False)
    assert notop.output_names == ["conv5_block3_out"]
    assert not {"avg_pool", "predictions"} & set(notop.conf.vertices)
    assert_every_tensor_in_place(notop, arrays, include_top=False)
    out = notop.output_single(x)
    assert out.shape == (2, 2048, 2, 2)
    np.testing.assert_allclose(out, torch_outputs[0], rtol=1e-4,
                               atol=1e-4 * np.abs(torch_outputs[0]).max())


def test_any_input_size_with_or_without_the_top(files, arrays):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 40, 72)).astype(np.float32)
    with torch.no_grad():
        features, _, predictions = torch_resnet50(arrays)(torch.from_numpy(x).double())
    top = ResNet50(input_shape=(3, 40, 72)).init_pretrained(weights=files["keras3"])
    notop = ResNet50(input_shape=(3, 40, 72)).init_pretrained(weights=files["notop"],
                                                               include_top=False)
    assert notop.output_single(x).shape == (1, 2048, 2, 3)
    np.testing.assert_allclose(notop.output_single(x), features.numpy(), rtol=1e-4,
                               atol=1e-4 * features.abs().max().item())
    np.testing.assert_allclose(top.output_single(x), predictions.numpy(), atol=1e-5)


def test_converted_npz_loads_identically_and_records_the_source(files, net, tmp_path):
    npz = convert(files["nested"], tmp_path / "resnet50.npz")
    weights, metadata = load_converted(npz)
    assert metadata["architecture"] == "resnet50" and metadata["include_top"] is True
    assert metadata["source"]["sha256"] == hashlib.sha256(files["nested"].read_bytes()).hexdigest()
    assert metadata["channel_order"] == "BGR"
    from_npz = ResNet50(input_shape=(3, SIZE, SIZE)).init_pretrained(weights=npz)
    for key, value in net.param_table().items():
        np.testing.assert_array_equal(from_npz.get_param(key), value)
    assert isinstance(from_npz.pre_processor, VGG16ImagePreProcessor)
    _, notop_metadata = load_converted(convert(files["notop"], tmp_path / "notop.npz"))
    assert notop_metadata["include_top"] is False


# -- transfer learning ----------------------------------------------------------------------

def _batch(n, seed):
    rng = np.random.default_rng(seed)
    return DataSet(rng.uniform(-1, 1, (n, 3, SIZE, SIZE)).astype(np.float32),
                   np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)])


def _with_new_head(resnet):
    return (TransferLearning.GraphBuilder(resnet)
            .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Sgd(0.1)).seed(7).build())
            .set_feature_extractor("avg_pool")
            .remove_vertex_keep_connections("predictions")
            .add_layer("predictions", OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD,
                                                  n_in=2048, n_out=3, activation=Activation.SOFTMAX),
                       "avg_pool")
            .build())


def test_transfer_with_frozen_batch_norms_in_inference_mode(net):
    edited = _with_new_head(net)
    assert edited.get_layer("conv2_block1_1_bn").frozen
    check_transfer_keeps_the_frozen_part(net, edited, "avg_pool", 2048, _batch(4, 3), "conv1_bn_mean")


# -- init() -------------------------------------------------------------------------------

def test_init_has_dl4j_settings_and_an_output_layer():
    conf = ResNet50.builder().numClasses(4).inputShape((3, 32, 32)).build().conf()
    head = conf.vertices["predictions"]
    assert isinstance(head, OutputLayer) and head.n_out == 4 and head.n_in == 2048
    assert head.loss == LossFunction.NEGATIVELOGLIKELIHOOD
    assert conf.vertex_inputs["predictions"] == ["avg_pool"]
    assert conf.vertices.keys() == ResNet50().pretrained_conf(4, True).vertices.keys()
    conv = conf.vertices["conv1_conv"]
    assert conv.l2 == 5e-5 and conv.l1 == 1e-7
    assert conv.updater == RmsProp(0.1, 0.96, 0.001) and conv.weight_init == WeightInit.RELU


def test_init_trains():
    # DL4J's RmsProp(0.1, ...) diverges from scratch: a gentler updater, as a user would set
    model = ResNet50.builder().numClasses(4).inputShape((3, 32, 32)).seed(3).updater(Adam(1e-3)).build()
    net = model.init()
    assert net.num_params() == 23587712 + 2049 * 4
    rng = np.random.default_rng(0)
    data = DataSet(rng.uniform(-1, 1, (4, 3, 32, 32)).astype(np.float32),
                   np.eye(4, dtype=np.float32)[[0, 1, 2, 3]])
    before = net.get_param("conv1_bn_mean").copy()
    net.fit(data)  # a training step: batch statistics, running averages move
    assert np.isfinite(net.score(data))
    assert not np.allclose(net.get_param("conv1_bn_mean"), before)
    assert net.output_single(data.features).shape == (4, 4)


def test_pretrained_conf_survives_json():
    conf = ResNet50(input_shape=(3, 32, 32)).pretrained_conf(5, include_top=True)
    assert serde.from_json(serde.to_json(conf)) == conf


def test_zoo_lists_it_with_the_keras_sources():
    assert MODELS["resnet50"] is ResNet50
    model = ResNet50()
    assert model.pretrained_available(PretrainedType.IMAGENET)
    assert model.pretrained_url().endswith("/resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5")
    assert model.pretrained_checksum() == "2cb95161c43110f7111970584f804107"
    assert model.pretrained_checksum(include_top=False) == "4d473c1dd8becc155b73f8504c6f6626"


# -- files that are not this ResNet50 -----------------------------------------------------

def test_a_vgg16_file_names_the_first_layer_that_does_not_fit(tmp_path):
    path = write_keras_h5(tmp_path / "vgg.h5", keras_arrays(), [n for n, _ in KERAS_LAYERS])
    with pytest.raises(ValueError, match=r"ResNet50: layer 'conv1_conv' \(ConvolutionLayer\): no "
                                         r"array given for parameter 'conv1_conv_W' \(the "
                                         r"weights: vgg-like, source: vgg.h5\)"):
        ResNet50(input_shape=(3, 32, 32)).init_pretrained(weights=path, include_top=False)


def _layers(arrays):
    return {name: list(value) for name, value in arrays.items()}


def test_a_changed_shape_names_its_layer(arrays):
    layers = _layers(arrays)
    layers["conv3_block2_2_conv"] = [np.zeros((3, 3, 128, 64), np.float32), np.zeros(64, np.float32)]
    with pytest.raises(WeightFileError, match=r"f.h5: layer conv3_block2_2_conv does not fit "
                                              r"ResNet50: its weights have shapes \[\(3, 3, 128, "
                                              r"64\), \(64,\)\], ResNet50 needs \[\(3, 3, 128, "
                                              r"128\), \(128,\)\]"):
        weights_from_keras(layers, "f.h5")


def test_missing_and_extra_layers_are_named(arrays):
    layers = _layers(arrays)
    del layers["conv4_block6_3_bn"]
    with pytest.raises(WeightFileError, match="no layer conv4_block6_3_bn, which ResNet50 needs"):
        weights_from_keras(layers, "f.h5")
    layers = _layers(arrays)  # a ResNet101 has blocks 7..23 in stage 4
    layers["conv4_block7_1_conv"] = layers["conv4_block6_1_conv"]
    with pytest.raises(WeightFileError, match=r"layers \['conv4_block7_1_conv'\] are not in "
                                              r"ResNet50"):
        weights_from_keras(layers, "f.h5")


def test_the_older_keras_resnet50_file_is_refused_clearly(tmp_path):
    rng = np.random.default_rng(0)
    old = {"conv1": [rng.standard_normal((7, 7, 3, 64)).astype(np.float32), np.zeros(64, np.float32)],
           "bn_conv1": [np.ones(64, np.float32)] * 4,
           "res2a_branch2a": [np.zeros((1, 1, 64, 64), np.float32), np.zeros(64, np.float32)]}
    path = write_keras_h5(tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5", old,
                          ["input_1", "conv1_pad", *old], style="nested")
    with pytest.raises(WeightFileError, match=r"older Keras ResNet50 .*\['conv1', 'bn_conv1', "
                                              r"'res2a_branch2a'\].*epsilon 1e-3.*"
                                              r"2cb95161c43110f7111970584f804107"):
        ResNet50().init_pretrained(weights=path)


# -- the download path ----------------------------------------------------------------------

def _refuse(*args, **kwargs):
    raise AssertionError("a cached load must not download or convert")


def test_download_checks_converts_once_then_loads_from_the_cache(files, arrays, local_http,
                                                                 minidl_home, monkeypatch):
    data = files["notop"].read_bytes()
    local_http.add(NOTOP_URL_PATH, data)
    monkeypatch.setenv(zoo.pretrained.BASE_URL_VARIABLE, local_http.url(""))
    url = zoo.pretrained.KERAS_BASE + NOTOP_URL_PATH
    monkeypatch.setitem(zoo.pretrained.SOURCES, ("resnet50", False),
                        (url, hashlib.md5(data).hexdigest()))
    model = ResNet50(input_shape=(3, 32, 32))
    first = model.init_pretrained(PretrainedType.IMAGENET, include_top=False, progress=False)
    assert [entry[2] for entry in local_http.log] == [200]
    cached = zoo.pretrained.cached_path("resnet50", PretrainedType.IMAGENET, include_top=False)
    assert sorted(p.name for p in minidl_home.rglob("*") if p.is_file()) == [cached.name]
    assert_every_tensor_in_place(first, arrays, include_top=False)
    assert isinstance(first.pre_processor, VGG16ImagePreProcessor)

    monkeypatch.setattr(zoo.pretrained, "convert", _refuse)
    monkeypatch.setattr(zoo.pretrained, "download", _refuse)
    second = model.initPretrained(PretrainedType.IMAGENET, include_top=False)
    assert len(local_http.log) == 1
    for key, value in first.param_table().items():
        np.testing.assert_array_equal(second.get_param(key), value)
    assert isinstance(second.pre_processor, VGG16ImagePreProcessor)


# -- torchvision's ResNet-50 (v1.5) -------------------------------------------------------

def test_torchvision_pth_builds_v1_5_and_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from minidl.data.normalizers import NormalizerStandardize
    from resnet_files import torchvision_resnet50
    model = torchvision_resnet50(N_CLASSES)
    path = tmp_path / "resnet50-small.pth"
    torch.save(model.state_dict(), path)  # with num_batches_tracked, as torchvision's files
    net = ResNet50(input_shape=(3, SIZE, SIZE)).init_pretrained(weights=path)

    vertices = net.conf.vertices
    assert vertices["conv3_block1_1_conv"].stride == (1, 1)  # v1.5: the stride on the 3x3
    assert vertices["conv3_block1_2_conv"].stride == (2, 2)
    assert not vertices["conv1_conv"].has_bias and vertices["conv1_bn"].eps == 1e-5
    np.testing.assert_array_equal(net.get_param("conv4_block2_3_conv_W"),
                                  model.layer3[1].conv3.weight.detach().numpy())
    np.testing.assert_array_equal(net.get_param("conv2_block1_0_bn_var"),
                                  model.layer1[0].downsample[1].running_var.numpy())
    np.testing.assert_array_equal(net.get_param("predictions_W"), model.fc.weight.detach().numpy().T)

    x = np.random.default_rng(4).uniform(-1, 1, (2, 3, SIZE, SIZE)).astype(np.float32)
    with torch.no_grad():
        features, pooled, predictions = [t.numpy() for t in model.double()(
            torch.from_numpy(x).double())]
    acts = net.feed_forward(x)
    np.testing.assert_allclose(acts["avg_pool"], pooled, rtol=1e-4, atol=1e-4 * np.abs(pooled).max())
    np.testing.assert_allclose(acts["predictions"], predictions, rtol=0, atol=1e-5)
    assert predictions.max() < 0.9 and not np.allclose(predictions, 1 / N_CLASSES, atol=1e-2)
    # torchvision's weights want RGB (x / 255 - mean) / std
    assert isinstance(net.pre_processor, NormalizerStandardize)
    assert net.preprocessing["channel_order"] == "RGB"


def test_a_torchvision_file_of_another_depth_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    from resnet_files import torchvision_resnet50
    state = torchvision_resnet50(0).state_dict()
    state["layer3.6.conv1.weight"] = state["layer3.5.conv1.weight"]  # a ResNet-101 has more
    torch.save(state, tmp_path / "deeper.pth")
    with pytest.raises(WeightFileError, match=r"keys \['layer3.6.conv1.weight'\] are not in "
                                              r"torchvision's ResNet-50"):
        ResNet50().init_pretrained(weights=tmp_path / "deeper.pth", include_top=False)
    del state["layer3.6.conv1.weight"], state["layer2.3.bn2.running_var"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(WeightFileError, match=r"no layer2.3.bn2.running_var \(conv3_block4_2_bn\)"):
        ResNet50().init_pretrained(weights=tmp_path / "cut.pth", include_top=False)
