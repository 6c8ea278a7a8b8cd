"""Zoo architectures against DL4J's conf() (deeplearning4j-zoo, read for the facts only).

Expected layer lists and parameter counts are written out by hand here, from DL4J's sources and
the published VGG16 total (138,357,544), not derived from zoo/models.py. VGG nets are checked on
their configuration (no parameters allocated) at 224x224 and initialised only at 32x32. The tests
that build a network and compute run on each backend (``device``), comparing on the host.
"""

import math

import numpy as np
import pytest

from devices import devices_of, host
from minidl.data.dataset import DataSet
from minidl.data.normalizers import VGG16ImagePreProcessor
from minidl.learning.updaters import Sgd
from minidl.nn.conf import (ActivationLayer, BatchNormalization, ConvolutionLayer, ConvolutionMode,
                            DenseLayer, DropoutLayer, GlobalPoolingLayer, OutputLayer, PoolingType,
                            PreprocessorVertex, SubsamplingLayer)
from minidl.nn.conf.enums import Activation, LossFunction
from minidl.nn.conf.layers import Layer
from minidl.nn.conf.weight_init import WeightInit
from minidl.nn.graph import ComputationGraph
from minidl.nn.multilayer import MultiLayerNetwork
from zoo import VGG16, VGG19, LeNet, ModelMetaData, PretrainedType, SimpleCNN, ZooType

VGG16_CONVS = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
VGG19_CONVS = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
               512, 512, 512, 512, "M"]


def conv_params(n_in, n_out, k):
    return n_out * n_in * k * k + n_out


def dense_params(n_in, n_out):
    return n_in * n_out + n_out


def vgg_param_count(convs, dense, n_classes, side):
    """Hand count: 3x3 convs, then dense layers from the 512 x side x side map to the classes."""
    total, n_in = 0, 3
    for c in convs:
        if c != "M":
            total, n_in = total + conv_params(n_in, c, 3), c
    sizes = [512 * side * side] + dense + [n_classes]
    return total + sum(dense_params(a, b) for a, b in zip(sizes, sizes[1:]))


def conf_param_count(conf):
    """Parameters a configuration will allocate, from its layers' shapes (nothing allocated)."""
    layers = conf.vertices.values() if hasattr(conf, "vertices") else conf.layers
    return sum(math.prod(shape) for layer in layers if isinstance(layer, Layer)
               for shape in layer.param_shapes().values())


# -- VGG16 / VGG19 conf() -------------------------------------------------------------------

@pytest.mark.parametrize("model, convs, n_dense", [(VGG16, VGG16_CONVS, 2), (VGG19, VGG19_CONVS, 1)])
def test_vgg_conf_is_dl4j_layout(model, convs, n_dense):
    conf = model().conf()
    n = len(convs) + n_dense + 1
    assert list(conf.vertices) == [str(i) for i in range(n)]
    assert conf.network_inputs == ["in"] and conf.network_outputs == [str(n - 1)]
    previous = "in"
    for i, c in enumerate(convs):  # a chain: each vertex reads the one before
        layer = conf.vertices[str(i)]
        assert conf.vertex_inputs[str(i)] == [previous]
        if c == "M":
            assert isinstance(layer, SubsamplingLayer) and layer.pooling_type == PoolingType.MAX
            assert layer.kernel_size == (2, 2) and layer.stride == (2, 2)
        else:
            assert type(layer) is ConvolutionLayer and layer.n_out == c
            assert (layer.kernel_size, layer.stride, layer.padding) == ((3, 3), (1, 1), (1, 1))
            assert layer.convolution_mode == ConvolutionMode.Truncate  # DL4J's default, never set
            assert layer.activation == Activation.RELU
        previous = str(i)
    for i in range(len(convs), n - 1):
        dense = conf.vertices[str(i)]
        assert type(dense) is DenseLayer and dense.n_out == 4096 and dense.dropout == 0.5
    output = conf.vertices[str(n - 1)]
    assert isinstance(output, OutputLayer) and output.name == "output"
    assert output.loss == LossFunction.NEGATIVELOGLIKELIHOOD and output.activation == Activation.SOFTMAX
    assert output.n_out == 1000 and conf.vertices["0"].n_in == 3


def test_vgg16_conf_has_138_357_544_params():
    conf = VGG16().conf()
    assert vgg_param_count(VGG16_CONVS, [4096, 4096], 1000, 7) == 138_357_544  # the published total
    assert conf_param_count(conf) == 138_357_544
    assert conf.vertices["18"].n_in == 25088  # 512 x 7 x 7


def test_vgg19_conf_has_one_dense_layer_like_dl4j():
    # standard VGG19 has 143,667,240 parameters; DL4J's conf() drops the second Dense(4096)
    assert conf_param_count(VGG19().conf()) == 143_667_240 - dense_params(4096, 4096) == 126_885_928


def test_vgg16_init_small_input_num_classes_and_forward_matches_torch(device):
    torch = pytest.importorskip("torch")
    net = VGG16(input_shape=(3, 32, 32), num_classes=7, seed=3).init()
    assert isinstance(net, ComputationGraph) and devices_of(net) == {device}
    assert net.num_params() == vgg_param_count(VGG16_CONVS, [4096, 4096], 7, 1)
    assert net.get_param("20_W").shape == (4096, 7) and net.get_param("0_W").shape == (64, 3, 3, 3)
    x = np.random.default_rng(0).uniform(0, 1, (2, 3 * 32 * 32)).astype(np.float32)
    out = host(net.output_single(x))  # convolutional_flat input: [batch, c*h*w]
    # the same network in PyTorch from the same parameters (dropout off in inference)
    F, p = torch.nn.functional, {k: torch.from_numpy(v) for k, v in host(net.param_table()).items()}
    h, i = torch.from_numpy(x).reshape(2, 3, 32, 32), 0
    for c in VGG16_CONVS:
        h = F.max_pool2d(h, 2) if c == "M" else F.relu(F.conv2d(h, p[f"{i}_W"], p[f"{i}_b"], padding=1))
        i += 1
    h = h.flatten(1)
    for k in (18, 19):
        h = F.relu(h @ p[f"{k}_W"] + p[f"{k}_b"])
    expected = torch.softmax(h @ p["20_W"] + p["20_b"], dim=1).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)
    assert out.shape == (2, 7) and np.allclose(out.sum(axis=1), 1, atol=1e-5)


def test_init_is_seeded(device):
    a = host(LeNet(seed=5).init().params())
    assert np.array_equal(a, host(LeNet(seed=5).init().params()))
    assert not np.array_equal(a, host(LeNet(seed=6).init().params()))


# -- VGG16 pretrained layout ----------------------------------------------------------------

def test_vgg16_pretrained_conf_has_keras_names():
    conf = VGG16().pretrained_conf(1000, include_top=True)
    blocks = [f"block{b}_conv{k}" for b, n in enumerate((2, 2, 3, 3, 3), 1) for k in range(1, n + 1)]
    expected = []
    for b in range(1, 6):
        expected += [name for name in blocks if name.startswith(f"block{b}_")] + [f"block{b}_pool"]
    assert list(conf.vertices) == expected + ["flatten", "fc1", "fc2", "predictions"]
    assert conf.network_inputs == ["input_1"] and conf.network_outputs == ["predictions"]
    predictions = conf.vertices["predictions"]
    assert type(predictions) is DenseLayer and predictions.activation == Activation.SOFTMAX
    assert not isinstance(predictions, OutputLayer)
    assert isinstance(conf.vertices["flatten"], PreprocessorVertex)
    assert conf.vertices["fc1"].n_in == 25088
    assert all(conf.vertices[name].convolution_mode == ConvolutionMode.Same for name in blocks)
    assert conf_param_count(conf) == 138_357_544

    notop = VGG16().pretrained_conf(0, include_top=False)
    assert list(notop.vertices) == expected and notop.network_outputs == ["block5_pool"]


# -- LeNet ------------------------------------------------------------------------------------

def test_lenet_is_dl4j_lenet(device):
    net = LeNet().init()
    assert isinstance(net, MultiLayerNetwork) and devices_of(net) == {device}
    layers = net.conf.layers
    assert [(type(l), l.name) for l in layers] == [
        (ConvolutionLayer, "cnn1"), (SubsamplingLayer, "maxpool1"), (ConvolutionLayer, "cnn2"),
        (SubsamplingLayer, "maxpool2"), (DenseLayer, "ffn1"), (OutputLayer, "output")]
    assert [l.n_out for l in (layers[0], layers[2], layers[4], layers[5])] == [20, 50, 500, 10]
    assert all(l.convolution_mode == ConvolutionMode.Same for l in layers[:4])
    assert [layers[i].activation for i in (0, 2, 4, 5)] == [Activation.RELU] * 3 + [Activation.SOFTMAX]
    assert layers[5].loss == LossFunction.MCXENT and layers[0].weight_init == WeightInit.XAVIER
    # Same mode: 28 -> 28 -> 14 -> 14 -> 7, so ffn1 sees 50 x 7 x 7
    assert layers[4].n_in == 2450
    expected = conv_params(1, 20, 5) + conv_params(20, 50, 5) + dense_params(2450, 500) + dense_params(500, 10)
    assert net.num_params() == expected == 1_256_080
    out = host(net.output(np.random.default_rng(0).uniform(0, 1, (3, 784)).astype(np.float32)))
    assert out.shape == (3, 10) and np.allclose(out.sum(axis=1), 1, atol=1e-5)


def test_lenet_trains_and_num_classes_is_settable(device):
    net = LeNet(num_classes=3, updater=Sgd(0.05)).init()
    rng = np.random.default_rng(1)
    data = DataSet(rng.uniform(0, 1, (8, 784)).astype(np.float32),
                   np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)])
    assert net.get_param("5_W").shape == (500, 3)
    before = net.score(data)
    for _ in range(5):
        net.fit(data)
    assert net.score(data) < before
    assert devices_of(net) == {device}


# -- SimpleCNN --------------------------------------------------------------------------------

def test_simplecnn_is_dl4j_simplecnn(device):
    net = SimpleCNN(num_classes=5).init()
    layers = net.conf.layers
    block = lambda: [ConvolutionLayer, BatchNormalization, ConvolutionLayer, BatchNormalization,  # noqa: E731
                     ActivationLayer, SubsamplingLayer, DropoutLayer]
    assert [type(l) for l in layers] == block() * 4 + [
        ConvolutionLayer, BatchNormalization, ConvolutionLayer, GlobalPoolingLayer, ActivationLayer]
    assert layers[0].name == "image_array"
    convs = [l for l in layers if type(l) is ConvolutionLayer]
    assert [(l.kernel_size[0], l.n_out) for l in convs] == [
        (7, 16), (7, 16), (5, 32), (5, 32), (3, 64), (3, 64), (3, 128), (3, 128), (3, 256), (3, 5)]
    assert all(l.convolution_mode == ConvolutionMode.Same and l.activation == Activation.IDENTITY
               and l.weight_init == WeightInit.RELU for l in convs)
    pools = [l for l in layers if isinstance(l, SubsamplingLayer)]
    assert all(p.pooling_type == PoolingType.AVG and p.kernel_size == (2, 2) for p in pools)
    assert all(l.dropout == 0.5 for l in layers if isinstance(l, DropoutLayer))
    assert layers[-1].activation == Activation.SOFTMAX
    assert layers[-2].pooling_type == PoolingType.AVG
    n_bn = [16, 16, 32, 32, 64, 64, 128, 128, 256]  # gamma, beta, mean, var each
    n_in = [3, 16, 16, 32, 32, 64, 64, 128, 128, 256]
    expected = sum(conv_params(a, b, k) for a, (k, b) in zip(n_in, [(c.kernel_size[0], c.n_out) for c in convs]))
    assert net.num_params() == expected + 4 * sum(n_bn)
    x = np.random.default_rng(0).standard_normal((2, 3, 48, 48)).astype(np.float32)
    acts = host(net.feed_forward(x))
    assert acts[-7].shape == (2, 128, 3, 3)  # Same mode: 48 -> 24 -> 12 -> 6 -> 3
    out = acts[-1]
    assert out.shape == (2, 5) and np.allclose(out.sum(axis=1), 1, atol=1e-5)


# -- pretrained availability ------------------------------------------------------------------

def test_pretrained_available():
    assert VGG16().pretrained_available(PretrainedType.IMAGENET)
    assert VGG19().pretrained_available("IMAGENET")
    assert not VGG16().pretrained_available(PretrainedType.CIFAR10)
    assert not LeNet().pretrained_available(PretrainedType.MNIST)
    assert not SimpleCNN().pretrained_available(PretrainedType.IMAGENET)


KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"


def test_pretrained_url_and_checksum(monkeypatch):
    monkeypatch.delenv("MINIDL_WEIGHTS_BASE_URL", raising=False)
    vgg16 = VGG16()
    # the Keras release and its md5 (shared/reference/vgg16-weights.md)
    assert vgg16.pretrainedUrl(PretrainedType.IMAGENET) == \
        KERAS + "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    assert vgg16.pretrainedChecksum(PretrainedType.IMAGENET) == "64373286793e3c8b2b4e3219cbf3544b"
    assert vgg16.pretrained_url(include_top=False) == \
        KERAS + "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert vgg16.pretrained_checksum(include_top=False) == "6d6bbae143d832006294945121d1f1fc"
    # none of this type: DL4J's null; available means a URL exists, as in DL4J
    assert vgg16.pretrained_url(PretrainedType.CIFAR10) is None
    assert vgg16.pretrained_checksum("cifar10") is None
    assert LeNet().pretrained_url(PretrainedType.MNIST) is None


@pytest.mark.parametrize("model, network", [(VGG16, ComputationGraph), (VGG19, ComputationGraph),
                                            (LeNet, MultiLayerNetwork),
                                            (SimpleCNN, MultiLayerNetwork)])
def test_model_type_is_dl4j_network_class(model, network):
    assert model().modelType() is network


def test_init_builds_the_model_type():
    assert type(LeNet().init()) is MultiLayerNetwork


def test_meta_data_is_dl4j_model_meta_data():
    meta = VGG16.builder().inputShape(3, 64, 64).build().metaData()
    assert meta.getInputShape() == ((3, 64, 64),) and meta.getNumOutputs() == 1
    assert meta.getZooType() is ZooType.CNN and not meta.useMDS()
    assert LeNet().meta_data().input_shape == ((1, 28, 28),)
    assert ModelMetaData(((3, 8, 8), (3, 8, 8)), 1, ZooType.CNN).use_mds()  # two inputs


def test_set_input_shape_takes_dl4j_int_2d_array():
    model = SimpleCNN()
    model.setInputShape([[1, 32, 32]])
    assert model.input_shape == (1, 32, 32)
    with pytest.raises(ValueError, match=r"SimpleCNN has one input: expected \[\[channels"):
        model.set_input_shape((1, 32, 32))


def test_cache_and_workspace_modes_are_accepted_and_ignored():
    from minidl import CacheMode, ConvolutionLayer, WorkspaceMode
    ported = (LeNet.builder().cacheMode(CacheMode.NONE).workspaceMode(WorkspaceMode.ENABLED)
              .cudnnAlgoMode(ConvolutionLayer.AlgoMode.PREFER_FASTEST).build())
    assert ported == LeNet() and ported.conf().to_json() == LeNet().conf().to_json()


def test_vgg_preprocessor_default_is_dl4j_vgg16_mean():
    from zoo import image_preprocessor
    assert isinstance(image_preprocessor({"channel_order": "BGR", "mean": [103.939, 116.779, 123.68],
                                          "std": [1.0, 1.0, 1.0]}), VGG16ImagePreProcessor)


def test_builder_is_dl4j_fluent_constructor():
    # DL4J: VGG16.builder().numClasses(5).seed(42).build(); ZooModel subclasses get it generated
    assert VGG16.builder().build() == VGG16()
    assert VGG16.builder().numClasses(5).seed(42).build() == VGG16(num_classes=5, seed=42)
    assert LeNet.builder().inputShape(1, 28, 28).build().input_shape == (1, 28, 28)
    with pytest.raises(AttributeError, match="no setting 'numClass'"):
        VGG16.builder().numClass(5)
