"""Whole models: a small CNN exported by torch.onnx.export, a tf2onnx-style NHWC model, and
transfer learning, saving and naming on what the importer makes."""

import numpy as np
import pytest

from onnx_cases import check, helper, model, rand, reference, vertex_types

from minidl import Activation, ComputationGraph, DataSet
from minidl.modelimport import OnnxModelImport, import_model

node = helper.make_node


def _torch_cnn(torch):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(c)

        def forward(self, x):
            return x + nn.functional.relu6(self.bn(self.conv(x)))

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU())
            self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8),
                                    nn.ReLU6())
            self.block = Block(8)
            self.pool = nn.MaxPool2d(3, stride=2, padding=1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            x = self.block(self.dw(self.stem(x)))
            x = nn.functional.adaptive_avg_pool2d(self.pool(x), 1)
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(0)
    net = SmallCNN().eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):  # untrained statistics would hide a mix-up
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return net


@pytest.fixture(scope="module")
def torch_onnx(tmp_path_factory):
    """A torch CNN exported with folded BN, Clip, an Add skip, global pooling and Gemm."""
    torch = pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("torch") / "small_cnn.onnx"
    net = _torch_cnn(torch)
    x = torch.randn(2, 3, 16, 16)
    try:
        torch.onnx.export(net, x, str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}})
    except Exception as e:  # an exporter that needs what is not installed (onnxscript)
        pytest.skip(f"torch.onnx.export failed here: {e}")
    return path, net, torch


def test_torch_export_equals_onnxruntime_and_torch(torch_onnx):
    path, torch_net, torch = torch_onnx
    x = rand(3, 3, 16, 16)
    net = OnnxModelImport.import_model(path)
    got = net.output_single(x)
    np.testing.assert_allclose(got, reference(path, x), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(got, torch_net(torch.from_numpy(x)).numpy(), rtol=1e-4,
                                   atol=1e-5)
    types = vertex_types(net)
    assert "BatchNormalization" not in types.values()  # torch folded it into the convs
    assert "DepthwiseConvolution2D" in types.values() and "GlobalPoolingLayer" in types.values()
    assert "ElementWiseVertex" in types.values() and types and "DenseLayer" in types.values()


def test_vertex_names_come_from_node_names(torch_onnx):
    path, _, _ = torch_onnx
    net = import_model(str(path))  # the package-level entry picks the importer by suffix
    names = set(net.conf.vertices)
    assert "fc_Gemm" in names and "stem_stem.0_Conv" in names
    assert net.input_names == ["image"]
    text = net.summary()
    assert "stem_stem.0_Conv (ConvolutionLayer)" in text and "fc_Gemm (DenseLayer)" in text


def test_transfer_helper_featurize_then_output_equals_full_output(torch_onnx):
    from transfer import TransferLearningHelper
    path, _, _ = torch_onnx
    net = OnnxModelImport.import_model(path)
    x = rand(4, 3, 16, 16)
    full = net.output_single(x)
    helper_ = TransferLearningHelper(net, "block_Add")
    featurized = helper_.featurize(DataSet(x, np.zeros((4, 5), np.float32)))
    np.testing.assert_allclose(helper_.output_from_featurized(featurized.features), full,
                               rtol=1e-5, atol=1e-6)
    frozen = {n for n, v in net.conf.vertices.items() if v.frozen}
    ancestors = net.conf.ancestors(["block_Add"]) - set(net.input_names)
    assert frozen == ancestors and "fc_Gemm" not in frozen


def test_set_feature_extractor_on_an_imported_name(torch_onnx):
    from transfer import TransferLearning
    path, _, _ = torch_onnx
    net = OnnxModelImport.import_model(path)
    edited = TransferLearning.GraphBuilder(net).set_feature_extractor("dw_dw.0_Conv").build()
    frozen = sorted(n for n, v in edited.conf.vertices.items() if v.frozen)
    assert frozen == ["dw_dw.0_Conv", "stem_stem.0_Conv"]
    x = rand(2, 3, 16, 16)
    np.testing.assert_allclose(edited.output_single(x), net.output_single(x), rtol=1e-6)


def test_imported_graph_saves_and_loads(tmp_path):
    """The ONNX-only vertices and layers serialize with the model zip like the others."""
    nodes = [node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             node("Mul", ["t", "scale"], ["m"]), node("LeakyRelu", ["m"], ["l"], alpha=0.3),
             node("Conv", ["l", "W"], ["c"], group=2),
             node("Clip", ["c", "lo", "hi"], ["k"]), node("GlobalAveragePool", ["k"], ["g"]),
             node("Mul", ["k", "g"], ["y"])]
    inits = {"scale": rand(4, 1, 1), "W": rand(6, 2, 1, 1), "lo": np.float32(-0.5),
             "hi": np.float32(0.5)}
    x = rand(2, 5, 6, 4)
    net = check(tmp_path, model(nodes, x.shape, inits), x)
    net.save(str(tmp_path / "net.zip"))
    restored = ComputationGraph.load(str(tmp_path / "net.zip"))
    np.testing.assert_array_equal(restored.output_single(x), net.output_single(x))
    assert vertex_types(restored) == vertex_types(net)


def test_tf2onnx_style_nhwc_model_takes_nhwc(tmp_path):
    """NHWC input, a leading Transpose, a Keras-style decomposed BN (Mul / Add constants), a
    Transpose back before the flatten, and a shape subgraph feeding the Reshape."""
    from onnx import TensorProto
    h, w, c = 8, 8, 3
    nodes = [node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2], name="transpose_in"),
             node("Conv", ["nchw", "W", "B"], ["conv"], pads=[0, 0, 1, 1], strides=[2, 2],
                  name="model/conv2d/Conv2D"),
             node("Mul", ["conv", "gamma"], ["bn_mul"], name="model/bn/mul"),
             node("Add", ["bn_mul", "beta"], ["bn"], name="model/bn/add"),
             node("Relu", ["bn"], ["relu"], name="model/relu/Relu"),
             node("Transpose", ["relu"], ["nhwc"], perm=[0, 2, 3, 1], name="transpose_out"),
             node("Shape", ["nhwc"], ["shape"]),
             node("Slice", ["shape", "zero", "one"], ["batch"]),
             node("Concat", ["batch", "minus1"], ["target"], axis=0),
             node("Cast", ["target"], ["target64"], to=TensorProto.INT64),
             node("Reshape", ["nhwc", "target64"], ["flat"], name="model/flatten/Reshape"),
             node("MatMul", ["flat", "K"], ["mm"], name="model/dense/MatMul"),
             node("Add", ["mm", "bias"], ["y"], name="model/dense/BiasAdd")]
    inits = {"W": rand(4, c, 3, 3), "B": rand(4), "gamma": rand(1, 4, 1, 1),
             "beta": rand(1, 4, 1, 1), "zero": np.array([0], np.int64),
             "one": np.array([1], np.int64), "minus1": np.array([-1], np.int64),
             "K": rand(4 * 4 * 4, 6), "bias": rand(6)}
    x = rand(3, h, w, c)
    net = check(tmp_path, model(nodes, x.shape, inits, opset=15), x)
    assert net.conf.input_types == []  # NHWC has no DL4J input type
    assert vertex_types(net)["transpose_in"] == "TransposeVertex"
    assert vertex_types(net)["model_dense_MatMul"] == "DenseLayer"
    assert net.conf.vertices["model_dense_MatMul"].has_bias


def test_an_imported_graph_fine_tunes_with_a_new_head(torch_onnx):
    """A new output layer on the imported backbone trains, and so do the imported weights
    (they are the network's own, writable arrays)."""
    from minidl import LossFunction, OutputLayer, Sgd
    from transfer import FineTuneConfiguration, TransferLearning
    path, _, _ = torch_onnx
    net = OnnxModelImport.import_model(path)
    features = net.conf.vertex_inputs["fc_Gemm"][0]
    ftc = FineTuneConfiguration.Builder().updater(Sgd(0.1)).build()
    edited = (TransferLearning.GraphBuilder(net).fine_tune_configuration(ftc)
              .remove_vertex_keep_connections("fc_Gemm")
              .add_layer("fc_Gemm", OutputLayer(loss=LossFunction.MCXENT, n_in=8, n_out=3,
                                                activation=Activation.SOFTMAX), features)
              .build())
    before = {k: v.copy() for k, v in edited.param_table().items()}
    data = DataSet(rand(4, 3, 16, 16), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    edited.fit(data)
    changed = {k for k, v in edited.param_table().items() if not np.array_equal(v, before[k])}
    assert "fc_Gemm_W" in changed and "stem_stem.0_Conv_W" in changed


def test_torch_export_without_constant_folding_keeps_batch_norms(tmp_path):
    """do_constant_folding=False keeps BatchNormalization nodes (and the Cast in Clip's
    bounds); keep_initializers_as_inputs lists every weight as a graph input too."""
    torch = pytest.importorskip("torch")
    net = _torch_cnn(torch)
    path = tmp_path / "unfolded.onnx"
    try:
        torch.onnx.export(net, torch.randn(2, 3, 16, 16), str(path), dynamo=False,
                          opset_version=13, do_constant_folding=False,
                          keep_initializers_as_inputs=True)
    except Exception as e:
        pytest.skip(f"torch.onnx.export failed here: {e}")
    x = rand(2, 3, 16, 16)
    imported = OnnxModelImport.import_model(path)
    np.testing.assert_allclose(imported.output_single(x), reference(path, x), rtol=1e-4,
                               atol=1e-5)
    layers = list(vertex_types(imported).values())
    assert layers.count("BatchNormalization") == 3 and "ConstantArithmeticLayer" not in layers
