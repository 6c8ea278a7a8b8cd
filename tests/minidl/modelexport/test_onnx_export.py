"""ONNX export: onnxruntime on the exported file equals minidl's output (VGG-, ResNet- and
MobileNet-shaped graphs, a MultiLayerNetwork, frozen networks), and import(export(net))
equals net."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from minidl import (Activation, ComputationGraph, ConvolutionLayer, DenseLayer,  # noqa: E402
                    ElementWiseVertex, GlobalPoolingLayer, InputType, LossFunction,
                    MergeVertex, MultiLayerNetwork, NeuralNetConfiguration, OutputLayer,
                    PoolingType, SubsamplingLayer)
from minidl.modelexport import OnnxModelExport  # noqa: E402
from minidl.modelimport import OnnxModelImport  # noqa: E402
from minidl.nn.conf.enums import ConvolutionMode  # noqa: E402
from minidl.nn.conf.onnx_vertices import (BroadcastVertex, ClipVertex,  # noqa: E402
                                          ReshapeVertex, ScaledActivationVertex,
                                          TransposeVertex)
from minidl.nn.conf.vertices import SubsetVertex  # noqa: E402
from minidl.nn.layers import (ActivationLayer, BatchNormalization,  # noqa: E402
                              ConstantArithmeticLayer, DepthwiseConvolution2D, DropoutLayer,
                              GroupedConvolution2D, SeparableConvolution2D, ZeroPaddingLayer)

SAME, RELU, RELU6 = ConvolutionMode.Same, Activation.RELU, Activation.RELU6
RNG = np.random.default_rng(1)


def _graph(input_shape, add):
    c, h, w = input_shape
    b = (NeuralNetConfiguration.Builder().seed(7).activation(Activation.IDENTITY)
         .graph_builder().add_inputs("in").set_input_types(InputType.convolutional(h, w, c)))
    out = add(b)
    net = ComputationGraph(b.set_outputs(out).build()).init()
    return _randomized(net)


def _randomized(net):
    """Batch norm statistics and constants away from their neutral initial values."""
    for _, name, tensor in net.param_items():
        shape = tensor.data.shape
        if name in ("mean", "beta", "b", "c"):
            tensor.data[...] = RNG.uniform(-0.5, 0.5, shape)
        elif name in ("var", "gamma"):
            tensor.data[...] = RNG.uniform(0.5, 1.5, shape)
    return net


def _out(n_out=5):
    return OutputLayer(loss=LossFunction.MCXENT, n_out=n_out, activation=Activation.SOFTMAX)


def vgg_like(b):
    b.add_layer("conv1", ConvolutionLayer(n_out=8, kernel_size=3, padding=1, activation=RELU), "in")
    b.add_layer("conv2", ConvolutionLayer(n_out=8, kernel_size=3, padding=1, activation=RELU),
                "conv1")
    b.add_layer("pool1", SubsamplingLayer(kernel_size=2, stride=2), "conv2")
    b.add_layer("conv3", ConvolutionLayer(n_out=16, kernel_size=3, convolution_mode=SAME,
                                          activation=RELU), "pool1")
    b.add_layer("pool2", SubsamplingLayer(PoolingType.AVG, kernel_size=3, stride=2, padding=1),
                "conv3")
    b.add_layer("fc1", DenseLayer(n_out=12, activation=RELU), "pool2")
    b.add_layer("drop", DropoutLayer(dropout=0.5), "fc1")
    b.add_layer("predictions", _out(), "drop")
    return "predictions"


def _conv_bn(b, name, x, n_out, kernel, stride=1, mode=None, act=RELU):
    b.add_layer(name, ConvolutionLayer(n_out=n_out, kernel_size=kernel, stride=stride,
                                       convolution_mode=mode, has_bias=False), x)
    b.add_layer(f"{name}_bn", BatchNormalization(eps=1.001e-5), name)
    if act is None:
        return f"{name}_bn"
    b.add_layer(f"{name}_relu", ActivationLayer(act), f"{name}_bn")
    return f"{name}_relu"


def resnet_like(b):
    b.add_layer("pad", ZeroPaddingLayer(padding=(3, 3)), "in")
    x = _conv_bn(b, "conv1", "pad", 8, 7, stride=2)
    b.add_layer("pool1_pad", ZeroPaddingLayer(padding=(1, 1)), x)
    b.add_layer("pool1", SubsamplingLayer(kernel_size=3, stride=2), "pool1_pad")
    shortcut = _conv_bn(b, "proj", "pool1", 16, 1, stride=2, act=None)
    y = _conv_bn(b, "b1", "pool1", 8, 3, stride=2, mode=SAME)
    y = _conv_bn(b, "b2", y, 16, 1, act=None)
    b.add_vertex("add", ElementWiseVertex(ElementWiseVertex.Op.Add), shortcut, y)
    b.add_layer("out_relu", ActivationLayer(RELU), "add")
    b.add_layer("avg_pool", GlobalPoolingLayer(PoolingType.AVG), "out_relu")
    b.add_layer("predictions", _out(), "avg_pool")
    return "predictions"


def mobilenet_like(b):
    x = _conv_bn(b, "Conv1", "in", 8, 3, stride=2, mode=SAME, act=RELU6)
    b.add_layer("dw", DepthwiseConvolution2D(kernel_size=3, stride=2, convolution_mode=SAME,
                                             depth_multiplier=2, has_bias=False), x)
    b.add_layer("dw_bn", BatchNormalization(eps=1e-3, activation=RELU6), "dw")
    b.add_layer("sep", SeparableConvolution2D(n_out=16, kernel_size=3, padding=1,
                                              activation=Activation.HARDSWISH), "dw_bn")
    b.add_layer("project", ConvolutionLayer(n_out=16, kernel_size=1), "dw_bn")
    b.add_vertex("block_add", ElementWiseVertex(ElementWiseVertex.Op.Add), "sep", "project")
    b.add_layer("gmp", GlobalPoolingLayer(PoolingType.MAX), "block_add")
    b.add_layer("predictions", DenseLayer(n_out=5, activation=Activation.SOFTMAX), "gmp")
    return "predictions"


def odd_vertices(b):
    """The ONNX-only vertices, grouped convolution, merge, subset and constant arithmetic."""
    b.add_layer("g", GroupedConvolution2D(n_out=6, kernel_size=3, groups=3, padding=1,
                                          activation=Activation.LEAKYRELU), "in")
    b.add_layer("scale", ConstantArithmeticLayer(op="mul", constant_shape=(6, 1, 1)), "g")
    b.add_vertex("clip", ClipVertex(min_value=-0.5, max_value=0.7), "scale")
    b.add_vertex("elu", ScaledActivationVertex("elu", 0.5), "clip")
    b.add_layer("gap", GlobalPoolingLayer(PoolingType.AVG), "g")
    b.add_vertex("gap4", ReshapeVertex((6, 1, 1)), "gap")
    b.add_vertex("se", BroadcastVertex("mul"), "elu", "gap4")
    b.add_vertex("t", TransposeVertex((1, 2, 0)), "se")
    b.add_vertex("back", TransposeVertex((2, 0, 1)), "t")
    b.add_vertex("merge", MergeVertex(), "back", "g")
    b.add_vertex("subset", SubsetVertex(2, 9), "merge")
    b.add_layer("act", ActivationLayer(Activation.SWISH), "subset")
    b.add_layer("predictions", _out(3), "act")
    return "predictions"


NETWORKS = {"vgg": (vgg_like, (3, 16, 16)), "resnet": (resnet_like, (3, 32, 32)),
            "mobilenet": (mobilenet_like, (3, 17, 16)), "odd_vertices": (odd_vertices, (3, 8, 8))}


def _onnxruntime(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _round_trip(tmp_path, net, x, opset=17):
    path = tmp_path / "net.onnx"
    OnnxModelExport.export_model(net, path, opset=opset)
    expected = net.output(x)
    expected = expected[0] if isinstance(expected, list) else expected
    np.testing.assert_allclose(_onnxruntime(path, x), expected, rtol=1e-4, atol=1e-6)
    back = OnnxModelImport.import_model(path)
    np.testing.assert_allclose(back.output_single(x), expected, rtol=1e-4, atol=1e-6)
    return back


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_graph_round_trip(tmp_path, kind):
    add, shape = NETWORKS[kind]
    net = _graph(shape, add)
    _round_trip(tmp_path, net, RNG.normal(size=(2,) + shape).astype(np.float32))


def test_reimport_keeps_vertex_names_and_batch_norms(tmp_path):
    net = _graph((3, 32, 32), resnet_like)
    back = _round_trip(tmp_path, net, RNG.normal(size=(1, 3, 32, 32)).astype(np.float32))
    assert {"conv1", "conv1_bn", "add", "avg_pool", "predictions"} <= set(back.conf.vertices)
    assert type(back.conf.vertices["conv1_bn"]).__name__ == "BatchNormalization"


def test_multilayer_network_round_trip_at_opset_11(tmp_path):
    conf = (NeuralNetConfiguration.Builder().seed(3).activation(Activation.TANH).list()
            .layer(ConvolutionLayer(n_out=4, kernel_size=3, stride=2))
            .layer(SubsamplingLayer(kernel_size=2, stride=1))
            .layer(BatchNormalization())
            .layer(DenseLayer(n_out=10))
            .layer(_out(3))
            .set_input_type(InputType.convolutional(9, 9, 2)).build())
    net = _randomized(MultiLayerNetwork(conf).init())
    _round_trip(tmp_path, net, RNG.normal(size=(3, 2, 9, 9)).astype(np.float32), opset=11)


def test_frozen_network_exports_what_it_computes(tmp_path):
    from transfer import TransferLearning
    net = _graph((3, 16, 16), vgg_like)
    frozen = TransferLearning.GraphBuilder(net).set_feature_extractor("pool2").build()
    assert frozen.conf.vertices["conv1"].frozen
    _round_trip(tmp_path, frozen, RNG.normal(size=(2, 3, 16, 16)).astype(np.float32))


def test_a_layer_with_no_onnx_form_is_named(tmp_path):
    def pnorm(b):
        b.add_layer("pnorm_pool", SubsamplingLayer(PoolingType.PNORM, kernel_size=2), "in")
        b.add_layer("gap", GlobalPoolingLayer(PoolingType.AVG), "pnorm_pool")
        b.add_layer("predictions", _out(2), "gap")
        return "predictions"
    with pytest.raises(ValueError, match="'pnorm_pool'.*PNORM pooling has no ONNX form"):
        OnnxModelExport.export_model(_graph((1, 4, 4), pnorm), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["VGG16", "ResNet50", "MobileNetV2"])
def test_zoo_models_round_trip(tmp_path, name):
    import zoo
    shape = (3, 32, 32) if name == "VGG16" else (3, 64, 64)
    net = _randomized(getattr(zoo, name)(num_classes=5, input_shape=shape).init())
    x = RNG.normal(size=(2,) + shape).astype(np.float32)
    _round_trip(tmp_path, net, x.reshape(2, -1) if name == "VGG16" else x)
