"""One converter per Keras layer class: Keras' config (and weights) -> minidl layers/vertices.

A converter takes the ``KerasLayer``, the InputTypes it reads (NCHW: a Keras (h, w, c) map is
``InputType.convolutional(h, w, c)``), its weights ``{name: array}`` and the ``Import`` context,
and returns a ``Mapped``: the steps to add to the network (usually one, under the Keras name)
and the parameters of the Keras-named step in minidl's layouts (``kernels``).

What a Keras layer computes and what it becomes (reference/modern-cnns.md §3.5, §4.4-4.5):
"same" padding is ConvolutionMode.Same (the extra pixel bottom/right, as TF), "valid" is
Truncate; average pooling leaves padded cells out of the divisor; a channels-last axis (-1 or
3) is NCHW's axis 1; Flatten is a CnnToFeedForward reshape, and the Dense it feeds has its rows
reordered from Keras' (h, w, c) flatten (``Mapped.hwc``). Anything else is an
UnsupportedKerasConfigurationException naming the layer, never a different computation.
"""

import dataclasses

import numpy as np

from minidl.modelimport.keras.errors import UnsupportedKerasConfigurationException
from minidl.modelimport.keras.kernels import conv_kernel
from minidl.nn.conf.enums import Activation, ConvolutionMode, PoolingType
from minidl.nn.conf.preprocessors import (CnnToFeedForwardPreProcessor,
                                          FeedForwardToCnnPreProcessor)
from minidl.nn.conf.vertices import ElementWiseVertex, MergeVertex, Op
from minidl.nn.layers import (ActivationLayer, BatchNormalization, ConvolutionLayer, Cropping2D,
                              DenseLayer, DepthwiseConvolution2D, DropoutLayer,
                              GlobalPoolingLayer, GroupedConvolution2D, RescalingLayer,
                              SeparableConvolution2D,
                              SubsamplingLayer, ZeroPaddingLayer)


@dataclasses.dataclass
class Mapped:
    """A converter's result: ``steps`` [(vertex name, layer | vertex | preprocessor)], the last
    one under the Keras name; ``params`` of the layer that has them; ``hwc``: (c, h, w) when
    the output is a feature map flattened in Keras' (h, w, c) order."""

    steps: list
    params: dict = None
    hwc: tuple = None


def _one(layer, vertex, params=None):
    return Mapped([(layer.name, vertex)], params)


def _pair(value):
    return tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else (int(value),) * 2


def _mode(layer, ctx):
    padding = layer.config.get("padding", "valid")
    if padding not in ("same", "valid"):
        ctx.unsupported(layer, f"padding={padding!r} (supported: 'same', 'valid')")
    return ConvolutionMode.Same if padding == "same" else ConvolutionMode.Truncate


def _bias(layer, weights, params):
    if layer.config.get("use_bias", True):
        params["b"] = weights["bias"]
    return params


def _window_settings(layer, ctx):
    c = layer.config
    return dict(kernel_size=_pair(c["kernel_size"]), stride=_pair(c.get("strides", 1)),
                dilation=_pair(c.get("dilation_rate", 1)), convolution_mode=_mode(layer, ctx),
                has_bias=c.get("use_bias", True),
                activation=ctx.activation(c.get("activation"), layer))


def conv2d(layer, types, weights, ctx):
    # groups > 1: filter group g sees input channels group g only; Keras' kernel
    # (kh, kw, n_in / groups, n_out) transposes to GroupedConvolution2D's W as a plain kernel does
    groups = int(layer.config.get("groups", 1))
    settings = dict(n_out=layer.config["filters"], **_window_settings(layer, ctx))
    conv = (ConvolutionLayer(**settings) if groups == 1
            else GroupedConvolution2D(groups=groups, **settings))
    return _one(layer, conv, _bias(layer, weights, {"W": conv_kernel(weights["kernel"])}))


def depthwise_conv2d(layer, types, weights, ctx):
    conv = DepthwiseConvolution2D(depth_multiplier=layer.config.get("depth_multiplier", 1),
                                  **_window_settings(layer, ctx))
    return _one(layer, conv, _bias(layer, weights, {"W": weights["kernel"]}))


def separable_conv2d(layer, types, weights, ctx):
    conv = SeparableConvolution2D(n_out=layer.config["filters"],
                                  depth_multiplier=layer.config.get("depth_multiplier", 1),
                                  **_window_settings(layer, ctx))
    params = {"W": conv_kernel(weights["depthwise_kernel"]),
              "pW": conv_kernel(weights["pointwise_kernel"])}
    return _one(layer, conv, _bias(layer, weights, params))


def dense(layer, types, weights, ctx):
    if types[0].is_convolutional:
        ctx.unsupported(layer, f"a Dense on a feature map {types[0]} (Keras applies it at every "
                               f"position; minidl's DenseLayer takes [batch, n]): add a Flatten")
    c = layer.config
    layer_ = DenseLayer(n_out=c["units"], has_bias=c.get("use_bias", True),
                        activation=ctx.activation(c.get("activation"), layer))
    return _one(layer, layer_, _bias(layer, weights, {"W": weights["kernel"]}))


def _channel_axis(layer, types, ctx, key="axis"):
    """Check that ``layer``'s axis is the channel (feature) axis, Keras' last."""
    axis = layer.config.get(key, -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    last = 3 if types[0].is_convolutional else 1
    if axis not in (-1, last):
        ctx.unsupported(layer, f"{key}={layer.config.get(key)!r} on {types[0]} (only the "
                               f"channel axis, -1, is)")


def batch_normalization(layer, types, weights, ctx):
    _channel_axis(layer, types, ctx)
    c = layer.config
    n = weights["moving_mean"].shape[0]
    bn = BatchNormalization(eps=c.get("epsilon", 1e-3), decay=c.get("momentum", 0.99),
                            activation=Activation.IDENTITY)
    # DL4J's rule: without scale (center) a fixed gamma of ones (beta of zeros) stands in
    ones, zeros = np.ones(n, np.float32), np.zeros(n, np.float32)
    params = {"gamma": weights.get("gamma", ones), "beta": weights.get("beta", zeros),
              "mean": weights["moving_mean"], "var": weights["moving_variance"]}
    return _one(layer, bn, params)


def _pooling(kind):
    def convert(layer, types, weights, ctx):
        c = layer.config
        kernel = _pair(c.get("pool_size", 2))
        strides = c.get("strides")
        pool = SubsamplingLayer(pooling_type=kind, kernel_size=kernel,
                                stride=_pair(strides) if strides is not None else kernel,
                                padding=(0, 0), convolution_mode=_mode(layer, ctx),
                                avg_pool_include_pad_in_divisor=False)
        return _one(layer, pool)
    return convert


def _global_pooling(kind):
    def convert(layer, types, weights, ctx):
        pool = GlobalPoolingLayer(pooling_type=kind)
        if not layer.config.get("keepdims", False):
            return _one(layer, pool)
        # keepdims: [batch, c] back to a [batch, c, 1, 1] map, under the Keras name
        reshape = FeedForwardToCnnPreProcessor(1, 1, types[0].channels)
        return Mapped([(f"{layer.name}_pooled", pool), (layer.name, reshape)])
    return convert


def _four(value):
    """Keras' ((top, bottom), (left, right)) / (vertical, horizontal) / int -> 4 ints."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        return tuple(int(v) for pair in value for v in pair)
    pair = _pair(value)
    return (pair[0], pair[0], pair[1], pair[1])


def zero_padding2d(layer, types, weights, ctx):
    return _one(layer, ZeroPaddingLayer(padding=_four(layer.config.get("padding", 1))))


def cropping2d(layer, types, weights, ctx):
    return _one(layer, Cropping2D(cropping=_four(layer.config.get("cropping", 0))))


def flatten(layer, types, weights, ctx):
    t = types[0]
    if not t.is_convolutional:
        return _one(layer, ActivationLayer(activation=Activation.IDENTITY))
    mapped = _one(layer, CnnToFeedForwardPreProcessor(t.height, t.width, t.channels))
    if t.height * t.width > 1:  # (h, w, c) and (c, h, w) orders differ
        mapped.hwc = (t.channels, t.height, t.width)
    return mapped


def reshape(layer, types, weights, ctx):
    """Reshape of a feature vector: (n,) <-> (1, 1, n), where NHWC and NCHW orders agree."""
    target = [int(v) for v in layer.config["target_shape"]]
    t, n = types[0], types[0].flat_size()
    if t.is_convolutional and t.height * t.width != 1:
        ctx.unsupported(layer, f"a Reshape of the feature map {t} (NHWC and NCHW element orders "
                               f"differ); only feature vectors [batch, n] <-> (1, 1, n) are")
    if target in ([n], [-1]):
        vertex = (CnnToFeedForwardPreProcessor(1, 1, n) if t.is_convolutional
                  else ActivationLayer(activation=Activation.IDENTITY))
    elif len(target) == 3 and target[:2] == [1, 1] and target[2] in (n, -1):
        vertex = (ActivationLayer(activation=Activation.IDENTITY) if t.is_convolutional
                  else FeedForwardToCnnPreProcessor(1, 1, n))
    else:
        ctx.unsupported(layer, f"target_shape {tuple(target)} for {t} (supported: (n,) and "
                               f"(1, 1, n) of n features)")
    return _one(layer, vertex)


def dropout(layer, types, weights, ctx):
    rate = float(layer.config.get("rate", 0.0))
    return _one(layer, DropoutLayer(dropout=1.0 - rate))  # DL4J's retain probability


def activation_layer(layer, types, weights, ctx):
    return _one(layer, ActivationLayer(
        activation=ctx.activation(layer.config.get("activation"), layer)))


def relu(layer, types, weights, ctx):
    c = layer.config
    max_value, slope = c.get("max_value"), float(c.get("negative_slope") or 0.0)
    threshold = float(c.get("threshold") or 0.0)
    if slope == 0 and threshold == 0 and max_value in (None, 6, 6.0):
        kind = Activation.RELU if max_value is None else Activation.RELU6
        return _one(layer, ActivationLayer(activation=kind))
    return _one(layer, ActivationLayer(
        activation=Activation.RELU, alpha=slope, threshold=threshold,
        max_value=None if max_value is None else float(max_value)))


def leaky_relu(layer, types, weights, ctx):
    c = layer.config
    slope = c.get("negative_slope", c.get("alpha", 0.3))
    return _one(layer, ActivationLayer(activation=Activation.LEAKYRELU, alpha=float(slope)))


def elu(layer, types, weights, ctx):
    alpha = float(layer.config.get("alpha", 1.0))
    return _one(layer, ActivationLayer(activation=Activation.ELU, alpha=alpha))


def softmax(layer, types, weights, ctx):
    _channel_axis(layer, types, ctx)
    return _one(layer, ActivationLayer(activation=Activation.SOFTMAX))


def _element_wise(op):
    def convert(layer, types, weights, ctx):
        return _one(layer, ElementWiseVertex(op=op))
    return convert


def concatenate(layer, types, weights, ctx):
    _channel_axis(layer, types, ctx)
    return _one(layer, MergeVertex())


def rescaling(layer, types, weights, ctx):
    c = layer.config
    return _one(layer, RescalingLayer(scale=c.get("scale", 1.0), offset=c.get("offset", 0.0)))


def normalization(layer, types, weights, ctx):
    """(x - mean) / max(sqrt(var), 1e-7), or its inverse: a fixed scale and offset."""
    _channel_axis(layer, types, ctx)
    c = layer.config
    mean = c.get("mean") if c.get("mean") is not None else weights["mean"]
    std = np.maximum(np.sqrt(np.asarray(c.get("variance") if c.get("variance") is not None
                                        else weights["variance"], np.float64)), 1e-7)
    mean = np.asarray(mean, np.float64)
    if c.get("invert", False):
        return _one(layer, RescalingLayer(scale=std, offset=mean))
    return _one(layer, RescalingLayer(scale=1.0 / std, offset=-mean / std))


CONVERTERS = {
    "Conv2D": conv2d, "Convolution2D": conv2d, "DepthwiseConv2D": depthwise_conv2d,
    "SeparableConv2D": separable_conv2d, "Dense": dense,
    "BatchNormalization": batch_normalization,
    "MaxPooling2D": _pooling(PoolingType.MAX), "AveragePooling2D": _pooling(PoolingType.AVG),
    "GlobalAveragePooling2D": _global_pooling(PoolingType.AVG),
    "GlobalMaxPooling2D": _global_pooling(PoolingType.MAX),
    "ZeroPadding2D": zero_padding2d, "Cropping2D": cropping2d, "Flatten": flatten,
    "Reshape": reshape, "Dropout": dropout, "SpatialDropout2D": dropout,
    "Activation": activation_layer, "ReLU": relu, "LeakyReLU": leaky_relu, "ELU": elu,
    "Softmax": softmax, "Add": _element_wise(Op.Add), "Subtract": _element_wise(Op.Subtract),
    "Multiply": _element_wise(Op.Product), "Average": _element_wise(Op.Average),
    "Maximum": _element_wise(Op.Max), "Concatenate": concatenate, "Rescaling": rescaling,
    "Normalization": normalization,
}


def weight_names(layer):
    """The names of ``layer``'s weights in Keras' ``layer.weights`` order (how a Keras 3
    weights file lists them, by position)."""
    c, cls = layer.config, layer.class_name
    bias = ["bias"] if c.get("use_bias", True) else []
    if cls in ("Conv2D", "Convolution2D", "DepthwiseConv2D", "Dense"):
        return ["kernel"] + bias
    if cls == "SeparableConv2D":
        return ["depthwise_kernel", "pointwise_kernel"] + bias
    if cls == "BatchNormalization":
        return ([n for n, on in (("gamma", c.get("scale", True)), ("beta", c.get("center", True)))
                 if on] + ["moving_mean", "moving_variance"])
    if cls == "Normalization" and c.get("mean") is None:
        return ["mean", "variance", "count"]
    return []


# weight names of older writers -> Keras' current ones, per layer class
ALIASES = {"W": "kernel", "b": "bias"}
CLASS_ALIASES = {"DepthwiseConv2D": {"depthwise_kernel": "kernel"}}


def canonical_weight_name(layer, name):
    """A file's name for one of ``layer``'s weights -> the name ``weight_names`` uses."""
    return CLASS_ALIASES.get(layer.class_name, {}).get(name, ALIASES.get(name, name))


def supported_layers():
    """The Keras layer classes the importer reads, sorted (for error messages and docs)."""
    return sorted(list(CONVERTERS) + ["InputLayer", "Sequential", "Functional", "Model"])


def check_data_format(layer, ctx):
    if layer.config.get("data_format") not in (None, "channels_last"):
        ctx.unsupported(layer, f"data_format={layer.config['data_format']!r} (minidl imports "
                               f"channels_last models and gives them NCHW input)")


def require_supported(layer, path):
    """Raise UnsupportedKerasConfigurationException unless ``layer``'s class has a converter."""
    if layer.class_name not in CONVERTERS:
        raise UnsupportedKerasConfigurationException(
            f"{path}: unsupported Keras layer type {layer.class_name} (layer "
            f"{layer.name!r}); supported: {', '.join(supported_layers())}")


def convert(layer, types, weights, ctx):
    """The ``Mapped`` of one Keras layer (see the module docstring)."""
    require_supported(layer, ctx.path)
    check_data_format(layer, ctx)
    return CONVERTERS[layer.class_name](layer, types, weights, ctx)
