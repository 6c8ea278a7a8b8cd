"""ONNX activations: folded into the layer before them where DL4J would hold them there (a
conv, dense or batch norm layer whose output nothing else reads), else an ActivationLayer.

Activations whose parameters are not DL4J's (LeakyRelu's alpha other than 0.01, HardSigmoid's
alpha / beta other than 0.2 / 0.5, Clip bounds other than (0, 6) or (0, inf)) become the small
vertices of ``minidl.nn.conf.onnx_vertices``.
"""

import numpy as np

from minidl.nn.conf.enums import Activation
from minidl.nn.conf.onnx_vertices import ClipVertex, ScaledActivationVertex
from minidl.nn.layers import ActivationLayer


def _activate(g, node, x, activation):
    if not g.fuse_activation(node, x, activation):
        g.add(node, ActivationLayer(activation=activation), [x])


def _simple(activation):
    def convert(g, node, inputs, attrs):
        """The converter of this activation."""
        _activate(g, node, inputs[0], activation)
    return convert


def _scaled(g, node, x, name, alpha, beta, dl4j):
    # attributes are float32 in the file: 0.01 reads back as 0.0099999998
    if np.allclose((alpha, beta), dl4j, rtol=1e-6, atol=1e-9):
        _activate(g, node, x, Activation.parse(name))
    else:
        g.add(node, ScaledActivationVertex(activation=name, alpha=alpha, beta=beta), [x])


def leaky_relu(g, node, inputs, attrs):
    """LeakyRelu: LEAKYRELU for alpha 0.01, else a ScaledActivationVertex."""
    _scaled(g, node, inputs[0], "leakyrelu", float(attrs.get("alpha", 0.01)), 0.0, (0.01, 0.0))


def elu(g, node, inputs, attrs):
    """Elu: ELU for alpha 1, else a ScaledActivationVertex."""
    _scaled(g, node, inputs[0], "elu", float(attrs.get("alpha", 1.0)), 0.0, (1.0, 0.0))


def hard_sigmoid(g, node, inputs, attrs):
    """HardSigmoid: HARDSIGMOID for (0.2, 0.5), else a ScaledActivationVertex."""
    alpha, beta = float(attrs.get("alpha", 0.2)), float(attrs.get("beta", 0.5))
    _scaled(g, node, inputs[0], "hardsigmoid", alpha, beta, (0.2, 0.5))


def _bound(g, node, inputs, index, attrs, key):
    """Clip's min or max: an attribute before opset 11, an optional input from 11 on."""
    if g.opset < 11:
        return attrs.get(key)
    if len(inputs) > index and inputs[index] is not None:
        return float(g.constant(node, inputs[index], key).ravel()[0])
    return None


def clip(g, node, inputs, attrs):
    """Clip: RELU6 for (0, 6), RELU for (0, inf), else a ClipVertex."""
    low, high = _bound(g, node, inputs, 1, attrs, "min"), _bound(g, node, inputs, 2, attrs, "max")
    high = None if high is not None and np.isinf(high) and high > 0 else high
    if low == 0.0 and high == 6.0:
        _activate(g, node, inputs[0], Activation.RELU6)
    elif low == 0.0 and high is None:
        _activate(g, node, inputs[0], Activation.RELU)
    else:
        g.add(node, ClipVertex(min_value=low, max_value=high), [inputs[0]])


def softmax(g, node, inputs, attrs):
    """Softmax over axis 1: SOFTMAX."""
    shape = inputs[0].shape
    rank = len(shape) + 1
    axis = int(attrs.get("axis", 1 if g.opset < 13 else -1)) % rank
    # ours runs over axis 1; before opset 13 ONNX's runs over everything from ``axis`` on
    # (the input flattened to 2-d), which is the same only when nothing follows axis 1
    over_axis_1 = axis == 1 and (g.opset >= 13 or int(np.prod(shape[1:])) == 1)
    if not over_axis_1:
        g.fail(node, f"softmax over axis {attrs.get('axis', 'default')} of a rank-{rank} input; "
                     f"only the softmax over axis 1 (the classes) is supported")
    _activate(g, node, inputs[0], Activation.SOFTMAX)


CONVERTERS = {
    "Relu": _simple(Activation.RELU),
    "Sigmoid": _simple(Activation.SIGMOID),
    "Tanh": _simple(Activation.TANH),
    "HardSwish": _simple(Activation.HARDSWISH),
    "Softplus": _simple(Activation.SOFTPLUS),
    "Softsign": _simple(Activation.SOFTSIGN),
    "LeakyRelu": leaky_relu,
    "Elu": elu,
    "HardSigmoid": hard_sigmoid,
    "Clip": clip,
    "Softmax": softmax,
}
