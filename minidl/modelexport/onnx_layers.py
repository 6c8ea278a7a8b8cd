"""How each layer and vertex is written as ONNX nodes (the importer's mapping, backwards).

Each writer is ``write(w, name, vertex, xs, params, shapes)``: ``w`` the OnnxWriter, ``xs`` the
ONNX tensor names of the vertex's inputs, ``params`` its {param: NumPy array}, ``shapes`` the
per-example shapes of its inputs; it returns the ONNX tensor name of its output. Weights go
from DL4J's layouts to ONNX's: dense W [n_in, n_out] is Gemm's B as it is; depthwise W
[kh, kw, C, m] -> [C*m, 1, kh, kw]; a layer's activation follows as its own node.
"""

import numpy as np

from minidl.nn.conf.enums import ConvolutionMode, PoolingType
from minidl.ops.window import axis_padding

_SIMPLE_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh",
                       "softplus": "Softplus", "softsign": "Softsign"}


def activation(w, name, x, act, shape):
    """The nodes of activation ``act`` (a name such as "relu") after tensor ``x``."""
    act = str(getattr(act, "value", act) or "identity").lower()
    if act == "identity":
        return x
    if act in _SIMPLE_ACTIVATIONS:
        return w.node(_SIMPLE_ACTIVATIONS[act], [x], name=f"{name}/{act}")
    if act == "softmax":
        if w.opset < 13 and len(shape) != 1:
            w.fail(name, "a softmax over the channels of a feature map needs opset >= 13")
        return w.node("Softmax", [x], name=f"{name}/softmax", axis=1)
    if act in ("leakyrelu", "elu"):
        return w.node("LeakyRelu" if act == "leakyrelu" else "Elu", [x], name=f"{name}/{act}",
                      alpha=0.01 if act == "leakyrelu" else 1.0)
    if act in ("relu6", "hardtanh"):
        low, high = (0.0, 6.0) if act == "relu6" else (-1.0, 1.0)
        return w.node("Clip", [x, w.const(f"{name}/min", np.float32(low)),
                               w.const(f"{name}/max", np.float32(high))], name=f"{name}/{act}")
    if act == "hardsigmoid":
        return w.node("HardSigmoid", [x], name=f"{name}/{act}", alpha=0.2, beta=0.5)
    if act == "hardswish":
        if w.opset < 14:
            w.fail(name, "HardSwish needs opset >= 14")
        return w.node("HardSwish", [x], name=f"{name}/{act}")
    if act == "swish":
        s = w.node("Sigmoid", [x], name=f"{name}/swish_sigmoid")
        return w.node("Mul", [x, s], name=f"{name}/swish")
    w.fail(name, f"activation {act!r} has no ONNX form here")


def _window_pads(layer, shape):
    """ONNX pads [top, left, bottom, right] of a conv / pooling layer on per-example shape."""
    mode = (layer.convolution_mode or ConvolutionMode.Truncate).value
    dilation = getattr(layer, "dilation", (1, 1))
    splits = [axis_padding(layer.describe(), mode, size, k, s, p, d, axis)[:2]
              for size, k, s, p, d, axis in zip(shape[1:], layer.kernel_size, layer.stride,
                                                layer.padding, dilation, ("height", "width"))]
    return [splits[0][0], splits[1][0], splits[0][1], splits[1][1]]


def _conv(w, name, layer, x, weight, bias, group, shape, node_name=None):
    inputs = [x, w.const(f"{name}/W", weight)] + \
        ([w.const(f"{name}/b", bias)] if bias is not None else [])
    return w.node("Conv", inputs, name=node_name or name, kernel_shape=list(layer.kernel_size),
                  strides=list(layer.stride), dilations=list(layer.dilation),
                  pads=_window_pads(layer, shape), group=group)


def convolution(w, name, layer, xs, params, shapes):
    """ConvolutionLayer: Conv, then its activation."""
    y = _conv(w, name, layer, xs[0], params["W"], params.get("b"), 1, shapes[0])
    return activation(w, name, y, layer.activation, None)


def grouped_convolution(w, name, layer, xs, params, shapes):
    """GroupedConvolution2D: Conv with ``group``, then its activation."""
    y = _conv(w, name, layer, xs[0], params["W"], params.get("b"), layer.groups, shapes[0])
    return activation(w, name, y, layer.activation, None)


def depthwise(w, name, layer, xs, params, shapes):
    """DepthwiseConvolution2D: Conv with group = C, W as [C*m, 1, kh, kw]."""
    kh, kw, c, m = params["W"].shape
    weight = params["W"].reshape(kh, kw, 1, c * m).transpose(3, 2, 0, 1)
    y = _conv(w, name, layer, xs[0], weight, params.get("b"), c, shapes[0])
    return activation(w, name, y, layer.activation, None)


def separable(w, name, layer, xs, params, shapes):
    """SeparableConvolution2D: a depthwise Conv, then a 1x1 Conv, then the activation."""
    m, c, kh, kw = params["W"].shape
    weight = params["W"].transpose(1, 0, 2, 3).reshape(c * m, 1, kh, kw)
    y = _conv(w, name, layer, xs[0], weight, None, c, shapes[0], f"{name}/depthwise")
    y = w.node("Conv", [y, w.const(f"{name}/pW", params["pW"])] +
               ([w.const(f"{name}/b", params["b"])] if "b" in params else []),
               name=name, kernel_shape=[1, 1])
    return activation(w, name, y, layer.activation, None)


def dense(w, name, layer, xs, params, shapes):
    """DenseLayer / OutputLayer: Gemm, then the activation (the loss is not exported)."""
    inputs = [xs[0], w.const(f"{name}/W", params["W"])] + \
        ([w.const(f"{name}/b", params["b"])] if "b" in params else [])
    y = w.node("Gemm", inputs, name=name)
    return activation(w, name, y, layer.activation, (layer.n_out,))


def loss_layer(w, name, layer, xs, params, shapes):
    """LossLayer: its activation."""
    return activation(w, name, xs[0], layer.activation, shapes[0])


def batch_norm(w, name, layer, xs, params, shapes):
    """BatchNormalization: the ONNX op with the running statistics."""
    n = layer.n_out or layer.n_in
    gamma = params.get("gamma", np.full(n, layer.gamma, np.float32))
    beta = params.get("beta", np.full(n, layer.beta, np.float32))
    inputs = [xs[0]] + [w.const(f"{name}/{k}", v) for k, v in
                        (("gamma", gamma), ("beta", beta), ("mean", params["mean"]),
                         ("var", params["var"]))]
    y = w.node("BatchNormalization", inputs, name=name, epsilon=float(layer.eps),
               momentum=float(layer.decay))
    return activation(w, name, y, layer.activation, shapes[0])


def subsampling(w, name, layer, xs, params, shapes):
    """SubsamplingLayer: MaxPool or AveragePool."""
    kind = layer.pooling_type
    if kind not in (PoolingType.MAX, PoolingType.AVG):
        w.fail(name, f"{kind.name} pooling has no ONNX form here (MAX and AVG have)")
    attrs = dict(kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
                 pads=_window_pads(layer, shapes[0]))
    if kind == PoolingType.AVG:
        attrs["count_include_pad"] = int(bool(layer.avg_pool_include_pad_in_divisor))
    return w.node("MaxPool" if kind == PoolingType.MAX else "AveragePool", xs,
                  name=name, **attrs)


def global_pooling(w, name, layer, xs, params, shapes):
    """GlobalPoolingLayer: GlobalAveragePool / GlobalMaxPool, then Flatten."""
    ops = {PoolingType.AVG: "GlobalAveragePool", PoolingType.MAX: "GlobalMaxPool"}
    if layer.pooling_type not in ops or len(shapes[0]) != 3:
        w.fail(name, f"{layer.pooling_type.name} global pooling of per-example shape "
                     f"{shapes[0]} has no ONNX form here (AVG and MAX of feature maps have)")
    y = w.node(ops[layer.pooling_type], xs, name=name)
    return w.node("Flatten", [y], name=f"{name}/flatten", axis=1)


def zero_padding(w, name, layer, xs, params, shapes):
    """ZeroPaddingLayer: Pad with zeros."""
    top, bottom, left, right = layer.padding
    pads = w.const(f"{name}/pads", np.array([0, 0, top, left, 0, 0, bottom, right], np.int64))
    return w.node("Pad", [xs[0], pads], name=name, mode="constant")


def activation_layer(w, name, layer, xs, params, shapes):
    """ActivationLayer: its activation."""
    return activation(w, name, xs[0], layer.activation, shapes[0])


def passthrough(w, name, layer, xs, params, shapes):
    """Dropout: the identity at inference."""
    return xs[0]


def constant_arithmetic(w, name, layer, xs, params, shapes):
    """ConstantArithmeticLayer: the op with the constant as initializer."""
    c = w.const(f"{name}/c", params["c"])
    inputs = [c, xs[0]] if layer.constant_first else [xs[0], c]
    return w.node(layer.op.capitalize(), inputs, name=name)
