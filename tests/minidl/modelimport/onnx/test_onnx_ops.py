"""Every supported ONNX op and attribute combination, built with onnx.helper, imported and
compared with onnxruntime on the same input; the mapping onto DL4J layers is checked too."""

import numpy as np
import pytest

from onnx_cases import check, helper, model, rand, vertex_types

node = helper.make_node
X4 = (2, 4, 9, 10)  # odd and even spatial sizes: "same" splits differ between the two


def conv_model(attrs, w_shape=(6, 4, 3, 3), bias=True, x_shape=X4, opset=17):
    inputs = ["x", "W"] + (["B"] if bias else [])
    inits = {"W": rand(*w_shape), **({"B": rand(w_shape[0])} if bias else {})}
    return model([node("Conv", inputs, ["y"], **attrs)], x_shape, inits, opset)


CONV_CASES = {
    "symmetric_pads_stride_dilation": (dict(pads=[2, 1, 2, 1], strides=[2, 1],
                                            dilations=[2, 1]), "ConvolutionLayer"),
    "same_upper_stride2": (dict(auto_pad="SAME_UPPER", strides=[2, 2]), "ConvolutionLayer"),
    "same_lower_stride2": (dict(auto_pad="SAME_LOWER", strides=[2, 2]), "ZeroPaddingLayer"),
    "uneven_pads": (dict(pads=[0, 1, 2, 0]), "ZeroPaddingLayer"),
    "valid": (dict(auto_pad="VALID", kernel_shape=[3, 3]), "ConvolutionLayer"),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_padding_forms(tmp_path, case):
    attrs, expected_type = CONV_CASES[case]
    net = check(tmp_path, conv_model(attrs), rand(*X4))
    assert expected_type in vertex_types(net).values()


def test_conv_without_bias_opset11(tmp_path):
    net = check(tmp_path, conv_model({"pads": [1, 1, 1, 1]}, bias=False, opset=11), rand(*X4))
    assert not net.conf.vertices["y"].has_bias


def test_depthwise_conv_with_multiplier_maps_to_depthwise_layer(tmp_path):
    proto = conv_model({"group": 4, "pads": [1, 1, 1, 1], "strides": [2, 2]}, (8, 1, 3, 3))
    net = check(tmp_path, proto, rand(*X4))
    layer = net.conf.vertices["y"]
    assert type(layer).__name__ == "DepthwiseConvolution2D" and layer.depth_multiplier == 2


def test_grouped_conv(tmp_path):
    net = check(tmp_path, conv_model({"group": 2, "pads": [1, 1, 1, 1]}, (6, 2, 3, 3)),
                rand(*X4))
    assert vertex_types(net)["y"] == "GroupedConvolution2D"


def test_batch_norm_then_relu_folds_into_one_layer(tmp_path):
    c = X4[1]
    inits = {"s": rand(c), "b": rand(c), "m": rand(c), "v": np.abs(rand(c)) + 0.5}
    proto = model([node("BatchNormalization", ["x", "s", "b", "m", "v"], ["t"], epsilon=1e-3),
                   node("Relu", ["t"], ["y"])], X4, inits)
    net = check(tmp_path, proto, rand(*X4))
    (layer,) = net.conf.vertices.values()
    assert type(layer).__name__ == "BatchNormalization" and layer.activation.name == "RELU"
    assert layer.eps == pytest.approx(1e-3)


ACTIVATIONS = {
    "relu": ("Relu", {}), "sigmoid": ("Sigmoid", {}), "tanh": ("Tanh", {}),
    "leakyrelu_default": ("LeakyRelu", {}), "leakyrelu_0.2": ("LeakyRelu", {"alpha": 0.2}),
    "elu_default": ("Elu", {}), "elu_0.5": ("Elu", {"alpha": 0.5}),
    "hardsigmoid_default": ("HardSigmoid", {}),
    "hardsigmoid_torch": ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}),
    "hardswish": ("HardSwish", {}),
}


@pytest.mark.parametrize("case", sorted(ACTIVATIONS))
def test_activation_after_conv(tmp_path, case):
    op, attrs = ACTIVATIONS[case]
    nodes = [node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]), node(op, ["c"], ["y"], **attrs)]
    check(tmp_path, model(nodes, X4, {"W": rand(3, 4, 3, 3)}), rand(*X4, scale=3.0))


@pytest.mark.parametrize("bounds,opset,fused", [((0.0, 6.0), 17, True), ((0.0, 6.0), 11, True),
                                                ((0.0, None), 13, True),
                                                ((-1.0, 2.0), 17, False)])
def test_clip_bounds_as_inputs(tmp_path, bounds, opset, fused):
    inits = {"W": rand(3, 4, 1, 1), "lo": np.float32(bounds[0])}
    names = ["c", "lo"] + (["hi"] if bounds[1] is not None else [])
    if bounds[1] is not None:
        inits["hi"] = np.float32(bounds[1])
    nodes = [node("Conv", ["x", "W"], ["c"]), node("Clip", names, ["y"])]
    net = check(tmp_path, model(nodes, X4, inits, opset), rand(*X4, scale=4.0))
    assert (len(net.conf.vertices) == 1) == fused


@pytest.mark.parametrize("opset", [11, 13])
def test_gemm_softmax_folds_into_dense(tmp_path, opset):
    inits = {"B": rand(5, 12), "C": rand(5)}
    nodes = [node("Gemm", ["x", "B", "C"], ["g"], transB=1, alpha=0.5, beta=2.0),
             node("Softmax", ["g"], ["y"], axis=1)]
    net = check(tmp_path, model(nodes, (3, 12), inits, opset), rand(3, 12))
    (layer,) = net.conf.vertices.values()
    assert type(layer).__name__ == "DenseLayer" and layer.activation.name == "SOFTMAX"


def test_gemm_untransposed_with_row_bias(tmp_path):
    proto = model([node("Gemm", ["x", "B", "C"], ["y"])], (3, 12),
                  {"B": rand(12, 5), "C": rand(1, 5)})
    check(tmp_path, proto, rand(3, 12))


def test_matmul_add_is_one_dense_layer(tmp_path):
    nodes = [node("MatMul", ["x", "W"], ["m"]), node("Add", ["m", "b"], ["y"])]
    net = check(tmp_path, model(nodes, (3, 12), {"W": rand(12, 7), "b": rand(7)}), rand(3, 12))
    (layer,) = net.conf.vertices.values()
    assert type(layer).__name__ == "DenseLayer" and layer.has_bias


CONSTANT_ARITHMETIC = {
    "add_per_channel": ("Add", False, (1, 4, 1, 1)), "sub_scalar": ("Sub", False, ()),
    "mul_per_channel": ("Mul", False, (4, 1, 1)), "div_per_channel": ("Div", False, (4, 1, 1)),
    "sub_constant_first": ("Sub", True, (4, 1, 1)), "div_constant_first": ("Div", True, ()),
}


@pytest.mark.parametrize("case", sorted(CONSTANT_ARITHMETIC))
def test_arithmetic_with_a_constant(tmp_path, case):
    op, first, shape = CONSTANT_ARITHMETIC[case]
    c = np.abs(rand(*shape)) + 0.5 if shape else np.float32(1.7)
    inputs = ["c", "x"] if first else ["x", "c"]
    x = np.abs(rand(*X4)) + 0.5
    net = check(tmp_path, model([node(op, inputs, ["y"])], X4, {"c": c}), x)
    assert vertex_types(net)["y"] == "ConstantArithmeticLayer"


@pytest.mark.parametrize("op,vertex", [("Add", "ElementWiseVertex"), ("Sub", "ElementWiseVertex"),
                                       ("Mul", "ElementWiseVertex"), ("Div", "BroadcastVertex")])
def test_arithmetic_of_two_branches(tmp_path, op, vertex):
    nodes = [node("Relu", ["x"], ["a"]), node("Sigmoid", ["x"], ["b"]), node(op, ["a", "b"], ["y"])]
    net = check(tmp_path, model(nodes, X4), rand(*X4))
    assert vertex_types(net)["y"] == vertex


def test_squeeze_excite_broadcast_mul(tmp_path):
    nodes = [node("GlobalAveragePool", ["x"], ["g"]), node("Conv", ["g", "W"], ["s"]),
             node("Sigmoid", ["s"], ["z"]), node("Mul", ["x", "z"], ["y"])]
    net = check(tmp_path, model(nodes, X4, {"W": rand(4, 4, 1, 1)}), rand(*X4))
    assert vertex_types(net)["y"] == "BroadcastVertex"


def test_variadic_sum_mean_max(tmp_path):
    nodes = [node("Relu", ["x"], ["a"]), node("Tanh", ["x"], ["b"]),
             node("Sum", ["a", "b", "x"], ["s"]), node("Mean", ["a", "s"], ["m"]),
             node("Max", ["m", "b"], ["y"])]
    check(tmp_path, model(nodes, X4), rand(*X4))


POOLS = {
    "max_pads_stride": ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    "max_same_upper": ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2],
                                       auto_pad="SAME_UPPER")),
    "avg_exclude_pad": ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2],
                                            pads=[1, 1, 1, 1])),
    "avg_include_pad": ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                            count_include_pad=1)),
    "avg_uneven_include_pad": ("AveragePool", dict(kernel_shape=[2, 2], pads=[0, 0, 1, 1],
                                                   count_include_pad=1)),
}


@pytest.mark.parametrize("case", sorted(POOLS))
def test_pooling(tmp_path, case):
    op, attrs = POOLS[case]
    net = check(tmp_path, model([node(op, ["x"], ["y"], **attrs)], X4), rand(*X4))
    assert "SubsamplingLayer" in vertex_types(net).values()


@pytest.mark.parametrize("op,then", [("GlobalAveragePool", "Flatten"),
                                     ("GlobalMaxPool", "Squeeze")])
def test_global_pooling_then_dense_reads_the_pooling_layer(tmp_path, op, then):
    extra = {"axes": [2, 3]} if then == "Squeeze" else {}
    nodes = [node(op, ["x"], ["p"]), node(then, ["p"], ["f"], **extra) if then == "Flatten"
             else node(then, ["p", "ax"], ["f"]), node("Gemm", ["f", "B"], ["y"], transB=1)]
    inits = {"B": rand(3, 4), "ax": np.array([2, 3], np.int64)}
    net = check(tmp_path, model(nodes, X4, inits), rand(*X4))
    assert sorted(vertex_types(net).values()) == ["DenseLayer", "GlobalPoolingLayer"]


@pytest.mark.parametrize("opset,keepdims", [(13, 0), (18, 1)])
def test_reduce_mean_over_space(tmp_path, opset, keepdims):
    if opset >= 18:
        nodes = [node("ReduceMean", ["x", "axes"], ["y"], keepdims=keepdims)]
        inits = {"axes": np.array([2, 3], np.int64)}
    else:
        nodes, inits = [node("ReduceMean", ["x"], ["y"], axes=[-2, -1], keepdims=keepdims)], {}
    check(tmp_path, model(nodes, X4, inits, opset), rand(*X4))


def test_flatten_reshape_transpose_and_unsqueeze(tmp_path):
    nodes = [node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
             node("Reshape", ["t", "shape"], ["r"]), node("Unsqueeze", ["r", "ax"], ["u"]),
             node("Flatten", ["u"], ["f"]), node("Gemm", ["f", "B"], ["y"])]
    inits = {"shape": np.array([0, -1], np.int64), "ax": np.array([2], np.int64),
             "B": rand(360, 5)}
    net = check(tmp_path, model(nodes, X4, inits), rand(*X4))
    assert "TransposeVertex" in vertex_types(net).values()


def test_concat_along_channels_is_a_merge_vertex(tmp_path):
    nodes = [node("Conv", ["x", "W1"], ["a"]), node("Conv", ["x", "W2"], ["b"]),
             node("Concat", ["a", "b"], ["y"], axis=1)]
    net = check(tmp_path, model(nodes, X4, {"W1": rand(2, 4, 1, 1), "W2": rand(3, 4, 1, 1)}),
                rand(*X4))
    assert vertex_types(net)["y"] == "MergeVertex"


@pytest.mark.parametrize("opset", [11, 18])
def test_pad_constant_zero(tmp_path, opset):
    inits = {"pads": np.array([0, 0, 1, 2, 0, 0, 3, 0], np.int64)}
    inputs = ["x", "pads"]
    if opset >= 18:
        inits = {"pads": np.array([1, 2, 3, 0], np.int64), "axes": np.array([2, 3], np.int64)}
        inputs = ["x", "pads", "", "axes"]
    net = check(tmp_path, model([node("Pad", inputs, ["y"], mode="constant")], X4, inits,
                                opset), rand(*X4))
    assert vertex_types(net)["y"] == "ZeroPaddingLayer"


def test_identity_dropout_cast_vanish(tmp_path):
    from onnx import TensorProto
    nodes = [node("Identity", ["x"], ["i"]), node("Dropout", ["i"], ["d"]),
             node("Cast", ["d"], ["c"], to=TensorProto.FLOAT), node("Relu", ["c"], ["y"])]
    net = check(tmp_path, model(nodes, X4), rand(*X4))
    assert list(vertex_types(net).values()) == ["ActivationLayer"]


def test_dynamic_batch_shape_chain_folds(tmp_path):
    """torch's x.view(x.size(0), -1) with a dynamic batch, and pads made by ConstantOfShape."""
    from onnx import TensorProto
    zero = helper.make_tensor("z", TensorProto.INT64, [1], [0])
    two = helper.make_tensor("t", TensorProto.INT64, [1], [2])
    nodes = [node("Constant", [], ["two"], value=two),
             node("ConstantOfShape", ["two"], ["zeros"], value=zero),
             node("Concat", ["zeros", "one_one", "zeros", "one_one"], ["pads"], axis=0),
             node("Pad", ["x", "pads"], ["p"]),
             node("Shape", ["p"], ["s"]), node("Gather", ["s", "i0"], ["n"], axis=0),
             node("Unsqueeze", ["n", "i0_1d"], ["n1"]),
             node("Slice", ["s", "st", "en"], ["chw"]),
             node("Cast", ["chw"], ["chw_f"], to=TensorProto.INT64),
             node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             node("Reshape", ["p", "shape"], ["r"]), node("Gemm", ["r", "B"], ["y"])]
    inits = {"one_one": np.array([1, 1], np.int64), "i0": np.array(0, np.int64),
             "i0_1d": np.array([0], np.int64), "minus1": np.array([-1], np.int64),
             "st": np.array([1], np.int64), "en": np.array([4], np.int64),
             "B": rand(4 * 11 * 12, 3)}
    net = check(tmp_path, model(nodes, X4, inits), rand(*X4))
    check(tmp_path, model(nodes, X4, inits), rand(5, *X4[1:]), "batch5.onnx")
    assert sorted(vertex_types(net).values()) == ["DenseLayer", "PreprocessorVertex",
                                                  "ZeroPaddingLayer"]


def test_an_activation_is_not_folded_into_a_layer_something_else_reads(tmp_path):
    nodes = [node("Conv", ["x", "W"], ["c"]), node("Identity", ["c"], ["i"]),
             node("Relu", ["i"], ["r"]), node("Add", ["i", "r"], ["y"])]
    net = check(tmp_path, model(nodes, X4, {"W": rand(4, 4, 1, 1)}), rand(*X4))
    assert sorted(vertex_types(net).values()) == ["ActivationLayer", "ConvolutionLayer",
                                                  "ElementWiseVertex"]


def test_keras_style_runtime_same_padding_folds(tmp_path):
    """Keras' exporter computes "same" pads at run time from the input's size: Shape (with
    start / end, opset 15), Gather, integer Sub / Mul / Div, Concat, Cast, then Pad."""
    from onnx import TensorProto
    k, s = 3, 2
    nodes = [node("Shape", ["x"], ["hw"], start=2, end=4),
             node("Div", ["hw", "stride"], ["q"]), node("Add", ["q", "round"], ["n"]),
             node("Sub", ["n", "one"], ["m"]), node("Mul", ["m", "stride"], ["span"]),
             node("Add", ["span", "kernel"], ["reach"]), node("Sub", ["reach", "hw"], ["total"]),
             node("Div", ["total", "two"], ["before"]), node("Sub", ["total", "before"], ["after"]),
             node("Concat", ["zeros", "before", "zeros", "after"], ["pads32"], axis=0),
             node("Cast", ["pads32"], ["pads"], to=TensorProto.INT64),
             node("Pad", ["x", "pads"], ["p"]),
             node("Conv", ["p", "W"], ["y"], strides=[s, s])]
    inits = {"stride": np.array([s, s], np.int64), "round": np.array([1, 0], np.int64),
             "one": np.array([1], np.int64), "kernel": np.array([k], np.int64),
             "two": np.array([2], np.int64), "zeros": np.array([0, 0], np.int64),
             "W": rand(5, 4, k, k)}
    x = rand(*X4)  # 9 x 10: ceil(9 / 2) = 5 needs the +1 above, 10 / 2 does not
    net = check(tmp_path, model(nodes, X4, inits, opset=15), x)
    assert net.conf.vertices["p"].padding == (1, 1, 0, 1)
