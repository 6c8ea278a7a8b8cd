"""GroupedConvolution2D and ConstantArithmeticLayer, the layers ONNX models need beyond DL4J's:
forward against independent computations (per-group convolutions, NumPy, PyTorch), gradients
against finite differences."""

import numpy as np
import pytest

from minidl import Activation, InputType
from minidl.autograd import gradcheck
from minidl.nn.layers import (ConstantArithmeticLayer, Context, ConvolutionLayer,
                              GroupedConvolution2D)

from .helpers import device_params, host_params, ready, run
from devices import host

RNG = np.random.default_rng(3)


def _forward(layer, x, params):
    """The layer's forward on Tensors as they are (run() would wrap them anew)."""
    return layer.forward(x, params, Context(train=False, rng=None))


def _grouped(groups=3, stride=1, padding=1):
    layer = GroupedConvolution2D(n_out=6, kernel_size=3, groups=groups, stride=stride,
                                 padding=padding, activation=Activation.IDENTITY)
    return ready(layer, InputType.convolutional(7, 6, 6))


def test_grouped_convolution_is_one_convolution_per_group(device):
    layer = _grouped(stride=2)
    params = device_params(layer)
    assert tuple(params["W"].shape) == (6, 2, 3, 3)
    x = RNG.normal(size=(2, 6, 7, 6))
    got = host(run(layer, x, params).data)
    w, b = host_params(params)["W"], host_params(params)["b"]
    parts = []
    for g in range(3):
        conv = ready(ConvolutionLayer(n_out=2, kernel_size=3, stride=2, padding=1,
                                      activation=Activation.IDENTITY),
                     InputType.convolutional(7, 6, 2))
        p = device_params(conv, W=w[2 * g:2 * g + 2], b=b[2 * g:2 * g + 2])
        parts.append(host(run(conv, x[:, 2 * g:2 * g + 2], p).data))
    np.testing.assert_allclose(got, np.concatenate(parts, axis=1), rtol=1e-12)


def test_grouped_convolution_equals_torch():
    torch = pytest.importorskip("torch")
    layer = _grouped()
    params = device_params(layer)
    x = RNG.normal(size=(2, 6, 7, 6))
    w, b = host_params(params)["W"], host_params(params)["b"]
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                          torch.from_numpy(b), padding=1, groups=3).numpy()
    np.testing.assert_allclose(host(run(layer, x, params).data), expected, rtol=1e-10)


def test_grouped_convolution_gradients(device):
    layer = _grouped()
    p = device_params(layer)
    x = RNG.normal(size=(1, 6, 5, 4))
    gradcheck(lambda x_, w_, b_: _forward(layer, x_, {"W": w_, "b": b_}), x,
              host(p["W"].data), host(p["b"].data))


def test_groups_must_divide_the_channels():
    layer = GroupedConvolution2D(n_in=6, n_out=4, kernel_size=1, groups=4)
    with pytest.raises(ValueError, match="groups=4 must divide n_in=6 and n_out=4"):
        layer.param_shapes()


@pytest.mark.parametrize("op,first,fn", [("add", False, np.add), ("sub", True, np.subtract),
                                         ("mul", False, np.multiply),
                                         ("div", True, np.divide)])
def test_constant_arithmetic_broadcasts_as_numpy(device, op, first, fn):
    layer = ready(ConstantArithmeticLayer(op=op, constant_shape=(3, 1, 1), constant_first=first),
                  InputType.convolutional(4, 5, 3))
    c = RNG.uniform(0.5, 1.5, (3, 1, 1))
    params = device_params(layer, c=c)
    x = RNG.uniform(0.5, 1.5, (2, 3, 4, 5))
    expected = fn(c, x) if first else fn(x, c)
    np.testing.assert_allclose(host(run(layer, x, params).data), expected, rtol=1e-12)
    assert layer.param_kind("c") == "state"  # a constant of the model: never trained
    gradcheck(lambda x_: _forward(layer, x_, params), x)


def test_constant_arithmetic_initialises_the_neutral_constant():
    for op, neutral in (("add", 0.0), ("mul", 1.0)):
        layer = ConstantArithmeticLayer(op=op, constant_shape=(2,))
        np.testing.assert_array_equal(layer.init_params(RNG)["c"], [neutral, neutral])
    with pytest.raises(ValueError, match="unknown op 'pow'"):
        ConstantArithmeticLayer(op="pow")
