"""ConvolutionLayer (minidl/nn/layers/convolution.py) against a loop convolution, its shapes and
bad input.

The forward passes run on both backends (``device``); the expected values are computed on the
host.
"""

import numpy as np
import pytest

from minidl import Activation, ConvolutionLayer, ConvolutionMode, InputType

from .helpers import device_params, host_params, ready, run

RNG = np.random.default_rng(0)


def _conv_loop(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh = (h + 2 * padding[0] - kh) // stride[0] + 1
    ow = (wd + 2 * padding[1] - kw) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w) + b
    return out


def test_convolution_against_a_loop(device):
    layer = ready(ConvolutionLayer(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), n_out=4,
                                    activation=Activation.RELU), InputType.convolutional(7, 6, 3))
    params = device_params(layer, b=[0.1, -0.2, 0.3, 0.0])
    x = RNG.normal(size=(2, 3, 7, 6))
    expected = np.maximum(_conv_loop(x, host_params(params)["W"], host_params(params)["b"], (2, 1), (1, 0)), 0)
    out = run(layer, x, params).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    assert layer.output_type(InputType.convolutional(7, 6, 3)) == \
        InputType.convolutional(4, 5, 4) and out.shape == (2, 4, 4, 5)
    assert layer.param_shapes() == {"W": (4, 3, 3, 2), "b": (4,)}


def test_convolution_same_mode_keeps_the_size(device):
    layer = ready(ConvolutionLayer(kernel_size=(3, 3), n_out=2,
                                    convolution_mode=ConvolutionMode.Same),
                   InputType.convolutional(5, 5, 1))
    assert run(layer, RNG.normal(size=(1, 1, 5, 5)), device_params(layer)).shape == (1, 2, 5, 5)


def test_convolution_wrong_channels_names_the_layer():
    layer = ready(ConvolutionLayer(name="conv1", kernel_size=(3, 3), n_out=2),
                   InputType.convolutional(5, 5, 3))
    with pytest.raises(ValueError, match=r"layer 'conv1' \(ConvolutionLayer\): expected 3 input "
                                         r"channels"):
        run(layer, np.zeros((1, 1, 5, 5)), device_params(layer))
    with pytest.raises(ValueError, match=r"layer 'conv1' \(ConvolutionLayer\): expected input "
                                         r"\[batch, 3, height, width\], got shape \(1, 75\)"):
        run(layer, np.zeros((1, 75)), device_params(layer))
