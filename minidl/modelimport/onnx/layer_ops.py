"""ONNX ops that become DL4J layers: Conv, BatchNormalization, Gemm / MatMul, pooling and the
activations.

Each converter is ``convert(g, node, inputs, attrs)``: ``g`` the GraphState, ``inputs`` the
node's input Values (None where an optional input is omitted), ``attrs`` its attributes. The
mapping (weights in DL4J's layouts, see DESIGN.md §4):

    Conv group 1                 ConvolutionLayer       W [M, C, kh, kw] as it is
    Conv group C, W [C*m, 1, ..] DepthwiseConvolution2D W -> [kh, kw, C, m]
    Conv other groups            GroupedConvolution2D   W [M, C/g, kh, kw] as it is
    BatchNormalization           BatchNormalization     gamma, beta, mean, var; eps, decay
    Gemm, MatMul (+ Add bias)    DenseLayer             W = alpha * B (B.T with transB)
    MaxPool / AveragePool        SubsamplingLayer       count_include_pad -> include-pad flag
    GlobalAverage/MaxPool,       GlobalPoolingLayer     [batch, C]; a [batch, C, 1, 1] view
    ReduceMean/Max over H, W                            of it for whatever reads ONNX's 4-d
    Relu, Sigmoid, Clip(0, 6)..  the previous layer's activation, else an ActivationLayer

Uneven padding that DL4J's Same mode does not produce becomes a ZeroPaddingLayer in front
(``<name>_pad``); BatchNormalization stays a layer of its own (not folded into the conv), so
fine-tuning and freezing treat it as DL4J does.
"""

import math

import numpy as np

from minidl.nn.conf.enums import Activation, ConvolutionMode, PoolingType
from minidl.nn.layers import (BatchNormalization, ConvolutionLayer, DenseLayer,
                              DepthwiseConvolution2D, GlobalPoolingLayer, GroupedConvolution2D,
                              SubsamplingLayer, ZeroPaddingLayer)
from minidl.modelimport.onnx.windows import window_padding, window_settings

IDENTITY = Activation.IDENTITY


def _padded_input(g, node, x, pads, in_shape, kernel, strides, dilations, name):
    """(input Value, padding, mode) for the layer: a ZeroPaddingLayer first if needed."""
    kind, padding = window_padding(pads, in_shape[1:], kernel, strides, dilations)
    if kind == "truncate":
        return x, padding, ConvolutionMode.Truncate
    if kind == "same":
        return x, (0, 0), ConvolutionMode.Same
    top, bottom, left, right = padding
    pad_shape = (in_shape[0], in_shape[1] + top + bottom, in_shape[2] + left + right)
    pad_name = g.unique(f"{name}_pad")
    g.add(node, ZeroPaddingLayer(padding=padding), [x], name=pad_name, shape=pad_shape)
    return g.values[node.output[0]], (0, 0), ConvolutionMode.Truncate


def conv(g, node, inputs, attrs):
    """Conv: a ConvolutionLayer, DepthwiseConvolution2D or GroupedConvolution2D."""
    x, w = inputs[0], g.constant(node, inputs[1], "the weights W")
    b = g.constant(node, inputs[2], "the bias B") if len(inputs) > 2 and inputs[2] else None
    in_shape = inputs[0].shape
    attrs = dict(attrs, kernel_shape=attrs.get("kernel_shape", w.shape[2:]))
    kernel, strides, dilations, pads = window_settings(g, node, attrs, in_shape)
    name = g.node_name(node)
    x, padding, mode = _padded_input(g, node, x, pads, in_shape, kernel, strides, dilations, name)
    group, c, m = int(attrs.get("group", 1)), in_shape[0], w.shape[0]
    settings = dict(n_in=c, kernel_size=kernel, stride=strides, padding=padding,
                    dilation=dilations, convolution_mode=mode, has_bias=b is not None,
                    activation=IDENTITY)
    params = {} if b is None else {"b": b.astype(np.float32)}
    if group == 1:
        layer, params["W"] = ConvolutionLayer(n_out=m, **settings), w
    elif group == c and w.shape[1] == 1:
        layer = DepthwiseConvolution2D(depth_multiplier=m // c, **settings)
        params["W"] = w.reshape(c, m // c, *kernel).transpose(2, 3, 0, 1)
    else:
        layer, params["W"] = GroupedConvolution2D(n_out=m, groups=group, **settings), w
    params["W"] = np.ascontiguousarray(params["W"], dtype=np.float32)
    g.add(node, layer, [x], params, name=name)


def batch_norm(g, node, inputs, attrs):
    """BatchNormalization (inference form): a BatchNormalization layer."""
    x = inputs[0]
    gamma, beta, mean, var = (g.constant(node, v, what) for v, what in zip(
        inputs[1:5], ("scale", "B", "input_mean", "input_var")))
    shape = inputs[0].shape
    if len(shape) not in (1, 3):
        g.fail(node, f"expects [batch, C] or [batch, C, H, W], got per-example shape {shape}")
    layer = BatchNormalization(n_in=shape[0], n_out=shape[0], eps=float(attrs.get("epsilon",
                               1e-5)), decay=float(attrs.get("momentum", 0.9)),
                               activation=IDENTITY)
    params = {"gamma": gamma, "beta": beta, "mean": mean, "var": var}
    g.add(node, layer, [x], {k: v.astype(np.float32) for k, v in params.items()})


def _dense(g, node, x, weight, bias):
    shape = x.shape
    if len(shape) != 1:
        g.fail(node, f"expects a 2-d input [batch, features], got per-example shape {shape}")
    n_in, n_out = weight.shape
    if n_in != shape[0]:
        g.fail(node, f"the weights take {n_in} features, the input has {shape[0]}")
    params = {"W": np.ascontiguousarray(weight, dtype=np.float32)}
    if bias is not None:
        params["b"] = bias.astype(np.float32)
    layer = DenseLayer(n_in=n_in, n_out=n_out, has_bias=bias is not None, activation=IDENTITY)
    g.add(node, layer, [x], params)


def gemm(g, node, inputs, attrs):
    """Gemm with constant B (and C): a DenseLayer."""
    if attrs.get("transA", 0):
        g.fail(node, "transA=1 (a transposed data input) has no DenseLayer form")
    b = g.constant(node, inputs[1], "B (the weights)")
    weight = (b.T if attrs.get("transB", 0) else b) * float(attrs.get("alpha", 1.0))
    bias = None
    if len(inputs) > 2 and inputs[2] is not None:
        c = g.constant(node, inputs[2], "C (the bias)") * float(attrs.get("beta", 1.0))
        if c.size not in (1, weight.shape[1]):
            g.fail(node, f"the bias C of shape {list(c.shape)} varies over the batch; expected "
                         f"[{weight.shape[1]}] or a scalar")
        bias = np.broadcast_to(c.reshape(-1), (weight.shape[1],)).copy()
    _dense(g, node, inputs[0], weight, bias)


def matmul(g, node, inputs, attrs):
    """MatMul of data with a constant 2-d matrix: a DenseLayer without bias."""
    w = g.constant(node, inputs[1], "the second input (the weights)")
    if w.ndim != 2:
        g.fail(node, f"expects 2-d weights [n_in, n_out], got shape {list(w.shape)}")
    _dense(g, node, inputs[0], w, None)


def _pool(g, node, inputs, attrs, pooling_type):
    if any(g.readers.get(out, 0) for out in node.output[1:]):
        g.fail(node, "the Indices output of MaxPool is not supported")
    in_shape = inputs[0].shape
    kernel, strides, dilations, pads = window_settings(g, node, attrs, in_shape)
    if dilations != (1, 1):
        g.fail(node, f"dilated pooling (dilations {list(dilations)}) has no DL4J layer")
    include_pad = bool(attrs.get("count_include_pad", 0))
    kind, _ = window_padding(pads, in_shape[1:], kernel, strides, dilations)
    if kind == "explicit" and not (pooling_type == PoolingType.AVG and include_pad):
        # zeros in front would change a max, and an average that leaves padding out
        g.fail(node, f"uneven pads {list(pads)} (top, left, bottom, right) other than 'same' "
                     f"padding have no SubsamplingLayer form")
    name = g.node_name(node)
    x, padding, mode = _padded_input(g, node, inputs[0], pads, in_shape, kernel, strides,
                                     dilations, name)
    _check_ceil(g, node, attrs, in_shape, kernel, strides, pads)
    layer = SubsamplingLayer(pooling_type=pooling_type, kernel_size=kernel, stride=strides,
                             padding=padding, convolution_mode=mode,
                             avg_pool_include_pad_in_divisor=include_pad)
    g.add(node, layer, [x], name=name)


def _check_ceil(g, node, attrs, in_shape, kernel, strides, pads):
    if not attrs.get("ceil_mode", 0):
        return
    for size, k, s, before, after in zip(in_shape[1:], kernel, strides, pads[:2], pads[2:]):
        span = size + before + after - k
        if math.ceil(span / s) != span // s:
            g.fail(node, "ceil_mode=1 gives a larger output than DL4J's pooling here; export "
                         "with ceil_mode=False or an input size it does not change")


def max_pool(g, node, inputs, attrs):
    """MaxPool: a SubsamplingLayer (MAX)."""
    _pool(g, node, inputs, attrs, PoolingType.MAX)


def average_pool(g, node, inputs, attrs):
    """AveragePool: a SubsamplingLayer (AVG)."""
    _pool(g, node, inputs, attrs, PoolingType.AVG)


def _global(g, node, x, pooling_type, keep_dims):
    shape = x.shape
    if len(shape) != 3:
        g.fail(node, f"expects [batch, C, H, W], got per-example shape {shape}")
    g.add(node, GlobalPoolingLayer(pooling_type=pooling_type), [x], shape=(shape[0],))
    if keep_dims:  # ONNX's [batch, C, 1, 1]: a view of the layer's [batch, C]
        g.view(node.output[0], g.values[node.output[0]], (shape[0], 1, 1), node)


def global_average_pool(g, node, inputs, attrs):
    """GlobalAveragePool: a GlobalPoolingLayer (AVG), viewed as [N, C, 1, 1]."""
    _global(g, node, inputs[0], PoolingType.AVG, True)


def global_max_pool(g, node, inputs, attrs):
    """GlobalMaxPool: a GlobalPoolingLayer (MAX), viewed as [N, C, 1, 1]."""
    _global(g, node, inputs[0], PoolingType.MAX, True)


def _reduce(g, node, inputs, attrs, pooling_type):
    rank = len(inputs[0].shape) + 1
    if g.opset >= 18:  # axes became an input
        axes = None if len(inputs) < 2 or inputs[1] is None else \
            g.constant(node, inputs[1], "axes").ravel().tolist()
    else:
        axes = attrs.get("axes")
    if axes is None or sorted(a % rank for a in axes) != [2, 3] or rank != 4:
        g.fail(node, f"only the mean / max over the spatial axes [2, 3] of a 4-d input is "
                     f"supported (global pooling), got axes {axes} of a rank-{rank} input")
    _global(g, node, inputs[0], pooling_type, bool(attrs.get("keepdims", 1)))


def reduce_mean(g, node, inputs, attrs):
    """ReduceMean over the spatial axes: a GlobalPoolingLayer (AVG)."""
    _reduce(g, node, inputs, attrs, PoolingType.AVG)


def reduce_max(g, node, inputs, attrs):
    """ReduceMax over the spatial axes: a GlobalPoolingLayer (MAX)."""
    _reduce(g, node, inputs, attrs, PoolingType.MAX)
